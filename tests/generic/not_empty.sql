{#- Rule "not empty": the table has at least one row (returns one row when it has none). -#}
{% test not_empty(model) %}

select 'table has no rows' as problem
where not exists (select 1 from {{ model }})

{% endtest %}
