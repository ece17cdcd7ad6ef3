-- Every model tagged `customer_feature` must be registered in customer_features.
-- depends_on: {{ ref('customer_features') }}
{%- if execute %}
    {%- set registered = graph.nodes['model.precision_marketing.customer_features'].depends_on.nodes %}
    {%- set missing = [] %}
    {%- for node in graph.nodes.values() %}
        {%- if node.resource_type == 'model' and 'customer_feature' in node.tags
            and node.unique_id not in registered %}
            {%- do missing.append(node.name) %}
        {%- endif %}
    {%- endfor %}
    {%- if missing %}
        {{ exceptions.raise_compiler_error(
            "Feature models tagged customer_feature but not registered in "
            ~ "models/marts/ml/customer_features.sql: " ~ (missing | sort | join(', '))) }}
    {%- endif %}
{%- endif %}

select 1 as unregistered
where false
