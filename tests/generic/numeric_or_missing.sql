{#-
    Rule "numeric or missing": every value of a raw text column is a number
    or a missing-value token. Rows returned are the offending values.
-#}
{% test numeric_or_missing(model, column_name) %}

select {{ column_name }} as offending_value

from {{ model }}
where
    {{ missing_to_null(column_name) }} is not null
    and try_cast({{ missing_to_null(column_name) }} as double) is null

{% endtest %}
