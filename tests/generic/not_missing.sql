{#-
    Rule "not missing": no value of `column_name` is NULL or a missing-value
    token ('', 'unknown', 'n/a', ...; see macro missing_to_null). For raw
    business keys, which staging casts and dedupes on. Rows returned are the
    offending values.
-#}
{% test not_missing(model, column_name) %}

select {{ column_name }} as offending_value

from {{ model }}
where {{ missing_to_null(column_name) }} is null

{% endtest %}
