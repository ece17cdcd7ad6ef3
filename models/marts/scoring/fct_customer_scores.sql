-- The BI-facing scores: one row per scored customer, with the attributes
-- marketers slice by. Its contract pins names and types for dashboards.
with scores as (

    select * from {{ ref('customer_scores') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

final as (

    select
        scores.customer_id,
        scores.as_of_date,
        scores.propensity,
        scores.percentile,
        scores.decile,
        scores.segment,
        scores.predicted_revenue,
        scores.expected_value,
        customers.region,
        customers.preferred_channel,
        scores.model_id,
        scores.scored_at

    from scores
    inner join customers
        on scores.customer_id = customers.customer_id

)

select * from final
