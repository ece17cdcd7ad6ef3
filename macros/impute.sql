{#-
    `relation` with the NULLs of each column in `rules` filled and flagged.
    rules: {column: 'mean' | 'median' | 'mode' | 'unknown'}; 'unknown' fills
    the literal level 'unknown'. Adds `is_<column>_imputed` (true where filled).
    The fill values come from one joined aggregate row (faster than window
    aggregates over the whole table). The mean is taken in decimal arithmetic:
    a parallel floating-point sum varies in its last bits between runs, which
    would make identical data look changed.
-#}
{% macro impute(relation, rules) -%}
    {%- set statistics = {'mean': 'avg', 'median': 'median', 'mode': 'mode'} -%}
    {%- for column, rule in rules.items() -%}
        {%- if rule not in statistics and rule != 'unknown' -%}
            {{ exceptions.raise_compiler_error(
                "impute: rule '" ~ rule ~ "' for column '" ~ column
                ~ "' is not one of mean, median, mode, unknown") }}
        {%- endif -%}
    {%- endfor -%}
    with fill_values as (
        select
            {%- for column, rule in rules.items() %}
            {% if rule == 'unknown' %}'unknown'{% elif rule == 'mean' %}cast(avg(cast({{ column }} as decimal(38, 6))) as double){% else %}{{ statistics[rule] }}({{ column }}){% endif %} as {{ column }}__fill{{ "," if not loop.last }}
            {%- endfor %}
        from {{ relation }}
    )

    select
        imputed_source.* replace (
            {%- for column in rules %}
            coalesce(imputed_source.{{ column }}, fill_values.{{ column }}__fill) as {{ column }}{{ "," if not loop.last }}
            {%- endfor %}
        ),
        {%- for column in rules %}
        imputed_source.{{ column }} is null as is_{{ column }}_imputed{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }} as imputed_source
    cross join fill_values
{%- endmacro %}
