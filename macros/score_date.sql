{#-
    SQL expression for the scoring date: var `score_date` ('YYYY-MM-DD') when
    set, else the day after the latest order (the data's "today").
-#}
{% macro score_date() -%}
    {%- set value = var('score_date') -%}
    {%- if value -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value | string) -%}
            {{ exceptions.raise_compiler_error(
                "var 'score_date' must be a date written YYYY-MM-DD, got '" ~ value ~ "'") }}
        {%- endif -%}
        date '{{ value }}'
    {%- else -%}
        (select max(order_date) + 1 from {{ ref('stg_raw__orders') }})
    {%- endif -%}
{%- endmacro %}
