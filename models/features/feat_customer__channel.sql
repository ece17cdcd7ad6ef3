with spine as (

    select distinct
        customer_id,
        as_of_date

    from {{ ref('int_feature_spine') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

final as (

    select
        spine.customer_id,
        spine.as_of_date,
        customers.preferred_channel as chan_preferred_channel,
        customers.region as chan_region,
        customers.noise_segment as chan_noise_segment,
        customers.is_preferred_channel_imputed as chan_is_preferred_channel_imputed,
        customers.is_region_imputed as chan_is_region_imputed

    from spine
    inner join customers
        on spine.customer_id = customers.customer_id

)

select * from final
