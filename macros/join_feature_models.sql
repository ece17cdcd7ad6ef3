{#-
    `spine` left-joined to every feature model on (customer_id, as_of_date),
    taking each model's feature columns. Fails, naming both models, when two
    of them (or a model and the spine) define the same column: DuckDB would
    otherwise rename the second one silently.
-#}
{% macro join_feature_models(spine, feature_models) -%}
    {%- set keys = ['customer_id', 'as_of_date'] -%}
    {%- set owner_of = {} -%}
    {%- set columns_of = {} -%}
    {%- if execute -%}
        {%- for column in adapter.get_columns_in_relation(spine) -%}
            {%- do owner_of.update({column.name | lower: spine.identifier}) -%}
        {%- endfor -%}
        {%- for model in feature_models -%}
            {%- set names = [] -%}
            {%- for column in adapter.get_columns_in_relation(model) -%}
                {%- set name = column.name | lower -%}
                {%- if name not in keys -%}
                    {%- if name in owner_of -%}
                        {{ exceptions.raise_compiler_error(
                            "Duplicate feature column '" ~ name ~ "': defined in both "
                            ~ owner_of[name] ~ " and " ~ model.identifier
                            ~ ". Rename one (prefix feature columns with their family).") }}
                    {%- endif -%}
                    {%- do owner_of.update({name: model.identifier}) -%}
                    {%- do names.append(name) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do columns_of.update({model.identifier: names}) -%}
        {%- endfor -%}
    {%- endif %}
    select
        spine.*
        {%- for model in feature_models %}
        {%- for name in columns_of.get(model.identifier, []) %},
        feature_{{ model.identifier }}.{{ name }}
        {%- endfor %}
        {%- endfor %}
    from {{ spine }} as spine
    {%- for model in feature_models %}
    left join {{ model }} as feature_{{ model.identifier }}
        on
            spine.customer_id = feature_{{ model.identifier }}.customer_id
            and spine.as_of_date = feature_{{ model.identifier }}.as_of_date
    {%- endfor %}
{%- endmacro %}
