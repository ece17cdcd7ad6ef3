{#-
    Rule "not missing": no value of `column_name` is NULL or a missing-value
    token ('', 'unknown', 'n/a', ...; see macro missing_to_null). For raw
    business keys, which staging casts and dedupes on. Rows returned are the
    offending values. Tokens are looked for in text columns only: typeof() is
    folded to a constant, so a typed column (Parquet) costs a NULL check, not
    a cast of every value to text (6 s on 80M orders).
-#}
{% test not_missing(model, column_name) %}

select {{ column_name }} as offending_value

from {{ model }}
where
    {{ column_name }} is null
    or (typeof({{ column_name }}) = 'VARCHAR' and {{ missing_to_null(column_name) }} is null)

{% endtest %}
