-- Customer attributes are the latest known version (type-1), not versioned
-- in time; tenure is measured at as_of_date.
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
        cast(customers.age as double) as demo_age,
        customers.annual_income as demo_annual_income,
        date_diff('day', customers.signup_date, spine.as_of_date) as demo_tenure_days,
        customers.gender as demo_gender,
        customers.noise_score as demo_noise_score,
        customers.is_age_imputed as demo_is_age_imputed,
        customers.is_annual_income_imputed as demo_is_annual_income_imputed,
        customers.is_gender_imputed as demo_is_gender_imputed

    from spine
    inner join customers
        on spine.customer_id = customers.customer_id

)

select * from final
