{#-
    Rule "not in the future": no value of `column_name` (a date or timestamp)
    lies after the run date: var `as_of_run_date` ('YYYY-MM-DD') when set,
    else today. Rows returned are the offending values.
-#}
{% test not_in_future(model, column_name) %}

{%- set run_date = var('as_of_run_date', none) %}
{%- if run_date and not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', run_date | string) %}
    {{ exceptions.raise_compiler_error(
        "var 'as_of_run_date' must be a date written YYYY-MM-DD, got '" ~ run_date ~ "'") }}
{%- endif %}

select {{ column_name }} as offending_value

from {{ model }}
where cast({{ column_name }} as date) > {{ "date '" ~ run_date ~ "'" if run_date else 'current_date' }}

{% endtest %}
