-- Ranks need the whole scored population, so they are computed here, after
-- the streamed Python scoring. Percentile and decile share one ordering (ties
-- in propensity by customer_id), so one sort serves both and a better decile
-- never has a lower percentile.
{%- set thresholds = var('segment_thresholds') %}
{%- for name in ['hot', 'warm', 'cool'] %}
    {%- if name not in thresholds or not (0 < thresholds[name] | float < 1) %}
        {{ exceptions.raise_compiler_error(
            "var 'segment_thresholds' needs hot, warm and cool percentiles in (0, 1), got "
            ~ thresholds) }}
    {%- endif %}
{%- endfor %}
{%- if not (thresholds['hot'] | float > thresholds['warm'] | float > thresholds['cool'] | float) %}
    {{ exceptions.raise_compiler_error(
        "var 'segment_thresholds' must satisfy hot > warm > cool, got " ~ thresholds) }}
{%- endif %}

with propensity as (

    select * from {{ ref('ml_customer_propensity') }}

),

ranked as (

    select
        *,
        1 - percent_rank() over best_first as percentile,
        ntile(10) over best_first as decile

    from propensity
    window best_first as (order by propensity desc, customer_id asc)

),

final as (

    select
        customer_id,
        as_of_date,
        propensity,
        percentile,
        decile,
        case
            when percentile >= {{ thresholds['hot'] }} then 'hot'
            when percentile >= {{ thresholds['warm'] }} then 'warm'
            when percentile >= {{ thresholds['cool'] }} then 'cool'
            else 'cold'
        end as segment,
        predicted_revenue,
        expected_value,
        model_id,
        scored_at

    from ranked

)

select * from final
