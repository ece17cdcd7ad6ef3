{#-
    Trimmed text of `column`, or NULL when it holds a missing-value token
    (var `missing_value_tokens`, compared case-insensitively) or, for numeric
    columns, one of the given numeric `sentinels` (e.g. -1, 999).
-#}
{% macro missing_to_null(column, sentinels=[]) -%}
    {%- set tokens = var('missing_value_tokens', ['', 'unknown', 'n/a', 'na', 'null', 'none', '-', '?']) -%}
    case
        when lower(trim(cast({{ column }} as varchar))) in (
            {%- for token in tokens %}'{{ token | lower | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor -%}
        ) then null
        {%- if sentinels %}
        when try_cast(trim(cast({{ column }} as varchar)) as double) in ({{ sentinels | join(', ') }}) then null
        {%- endif %}
        else trim(cast({{ column }} as varchar))
    end
{%- endmacro %}
