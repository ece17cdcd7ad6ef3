-- Recency, frequency and monetary value from orders strictly before as_of_date,
-- all-time and over 90 and 365 days. Running totals per customer plus ASOF
-- joins keep this linear in orders + spine rows (no orders x spine fan-out).
with spine as (

    select distinct
        customer_id,
        as_of_date

    from {{ ref('int_feature_spine') }}

),

daily_orders as (

    select
        customer_id,
        order_date,
        count(*) as orders,
        sum(amount) as amount

    from {{ ref('stg_raw__orders') }}
    group by customer_id, order_date

),

running as (

    select
        customer_id,
        order_date,
        cast(sum(orders) over customer_history as bigint) as cumulative_orders,
        sum(amount) over customer_history as cumulative_amount

    from daily_orders
    window customer_history as (
        partition by customer_id order by order_date
        rows between unbounded preceding and current row
    )

),

totals as (

    select
        spine.customer_id,
        spine.as_of_date,
        all_time.order_date as last_order_date,
        coalesce(all_time.cumulative_orders, 0) as orders_all,
        coalesce(all_time.cumulative_amount, 0) as amount_all,
        coalesce(before_365d.cumulative_orders, 0) as orders_before_365d,
        coalesce(before_365d.cumulative_amount, 0) as amount_before_365d,
        coalesce(before_90d.cumulative_orders, 0) as orders_before_90d,
        coalesce(before_90d.cumulative_amount, 0) as amount_before_90d

    from spine
    asof left join running as all_time
        on
            spine.customer_id = all_time.customer_id
            and spine.as_of_date > all_time.order_date
    asof left join running as before_365d
        on
            spine.customer_id = before_365d.customer_id
            and spine.as_of_date - 365 > before_365d.order_date
    asof left join running as before_90d
        on
            spine.customer_id = before_90d.customer_id
            and spine.as_of_date - 90 > before_90d.order_date

),

final as (

    select
        customer_id,
        as_of_date,
        date_diff('day', last_order_date, as_of_date) as rfm_recency_days,
        last_order_date is not null as rfm_has_prior_order,
        orders_all - orders_before_90d as rfm_frequency_90d,
        orders_all - orders_before_365d as rfm_frequency_365d,
        orders_all as rfm_frequency_all,
        cast(amount_all - amount_before_90d as double) as rfm_monetary_90d,
        cast(amount_all - amount_before_365d as double) as rfm_monetary_365d,
        cast(amount_all as double) as rfm_monetary_all,
        cast(amount_all / nullif(orders_all, 0) as double) as rfm_avg_order_value

    from totals

)

select * from final
