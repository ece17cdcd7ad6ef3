{#-
    True when `model_id` is the current champion: the latest registry row
    with status 'champion', the model that scores customers now.
-#}
{% macro is_current_champion(model_id) -%}
    coalesce({{ model_id }} = (
        select champion.model_id
        from {{ ref('ml_model_registry') }} as champion
        where champion.status = 'champion'
        order by champion.created_at desc
        limit 1
    ), false)
{%- endmacro %}
