{#- The model has as many rows as `compare_model` (optionally filtered). -#}
{% test row_count_equals(model, compare_model, compare_filter=none) %}

with model_rows as (

    select count(*) as row_count from {{ model }}

),

compare_rows as (

    select count(*) as row_count from {{ compare_model }}
    {%- if compare_filter %}
    where {{ compare_filter }}
    {%- endif %}

)

select
    model_rows.row_count as model_row_count,
    compare_rows.row_count as expected_row_count

from model_rows
cross join compare_rows
where model_rows.row_count != compare_rows.row_count

{% endtest %}
