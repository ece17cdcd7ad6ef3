{#-
    Rule "numeric or missing": every value of a raw column is a number or a
    missing-value token. Rows returned are the offending values. A column of
    a numeric type passes without a scan (typeof() is folded to a constant);
    any other type is checked value by value as text.
-#}
{% test numeric_or_missing(model, column_name) %}

select {{ column_name }} as offending_value

from {{ model }}
where
    not regexp_full_match(
        typeof({{ column_name }}),
        '(U?(TINY|SMALL|HUGE|BIG)?INT(EGER)?|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))'
    )
    and {{ missing_to_null(column_name) }} is not null
    and try_cast({{ missing_to_null(column_name) }} as double) is null

{% endtest %}
