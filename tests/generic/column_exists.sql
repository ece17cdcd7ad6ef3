{#-
    Rule "column exists": the table has a column named `column_name`. Fails
    with an error naming the table, the column and the columns present (a
    missing column otherwise surfaces later as a binder error in a model).
-#}
{% test column_exists(model, column_name) %}

{%- if execute %}
    {%- set present = run_query('select column_name from (describe select * from ' ~ model ~ ')')
        .columns[0].values() | map('lower') | list %}
    {%- if column_name | lower not in present %}
        {{ exceptions.raise_compiler_error(
            "Table " ~ model.schema ~ "." ~ model.identifier ~ " lacks required column '" ~ column_name
            ~ "' (rule column_exists). Columns present: " ~ present | join(', ')) }}
    {%- endif %}
{%- endif %}

select 1 as missing_column where false

{% endtest %}
