-- Recency, frequency and monetary value from orders strictly before as_of_date,
-- all-time and over 90 and 365 days. One join of each spine row to its
-- customer's earlier orders and one aggregate: cheaper than per-date running
-- totals read back through three ASOF joins (each sorting every order again).
with spine as (

    select distinct
        customer_id,
        as_of_date

    from {{ ref('int_feature_spine') }}

),

orders as (

    select * from {{ ref('stg_raw__orders') }}

),

totals as (

    select
        spine.customer_id,
        spine.as_of_date,
        max(orders.order_date) as last_order_date,
        count(orders.order_date) as orders_all,
        sum(orders.amount) as amount_all,
        count(orders.order_date) filter (
            where orders.order_date >= spine.as_of_date - 365
        ) as orders_365d,
        sum(orders.amount) filter (
            where orders.order_date >= spine.as_of_date - 365
        ) as amount_365d,
        count(orders.order_date) filter (
            where orders.order_date >= spine.as_of_date - 90
        ) as orders_90d,
        sum(orders.amount) filter (
            where orders.order_date >= spine.as_of_date - 90
        ) as amount_90d

    from spine
    left join orders
        on
            spine.customer_id = orders.customer_id
            and spine.as_of_date > orders.order_date
    group by spine.customer_id, spine.as_of_date

),

final as (

    select
        customer_id,
        as_of_date,
        date_diff('day', last_order_date, as_of_date) as rfm_recency_days,
        last_order_date is not null as rfm_has_prior_order,
        orders_90d as rfm_frequency_90d,
        orders_365d as rfm_frequency_365d,
        orders_all as rfm_frequency_all,
        cast(coalesce(amount_90d, 0) as double) as rfm_monetary_90d,
        cast(coalesce(amount_365d, 0) as double) as rfm_monetary_365d,
        cast(coalesce(amount_all, 0) as double) as rfm_monetary_all,
        cast(amount_all / nullif(orders_all, 0) as double) as rfm_avg_order_value

    from totals

)

select * from final
