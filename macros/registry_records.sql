{#-
    One row per record of the JSON array column `column` of the model
    registry, with the record's fields as columns typed by `structure`
    ({field: duckdb type}), next to model_id and is_current_champion.
-#}
{% macro registry_records(column, structure) -%}
    with registry as (

        select * from {{ ref('ml_model_registry') }}

    ),

    records as (

        select
            registry.model_id,
            registry.created_at as model_created_at,
            {{ is_current_champion('registry.model_id') }} as is_current_champion,
            unnest(from_json(
                registry.{{ column }},
                '[{ {%- for field, type in structure.items() -%}
                    "{{ field }}": "{{ type }}"{{ ", " if not loop.last }}
                {%- endfor -%} }]'
            )) as record

        from registry

    ),

    final as (

        select
            model_id,
            model_created_at,
            is_current_champion,
            {%- for field in structure %}
            record.{{ field }}{{ "," if not loop.last }}
            {%- endfor %}

        from records

    )

    select * from final
{%- endmacro %}
