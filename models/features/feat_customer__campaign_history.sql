-- Contacts and responses observed strictly before as_of_date.
with spine as (

    select distinct
        customer_id,
        as_of_date

    from {{ ref('int_feature_spine') }}

),

contacts_running as (

    select
        customer_id,
        contact_date,
        count(*) over (
            partition by customer_id order by contact_date
            rows between unbounded preceding and current row
        ) as cumulative_contacts

    from {{ ref('stg_raw__campaign_contacts') }}

),

responses_running as (

    select
        customer_id,
        response_date,
        count(*) over (
            partition by customer_id order by response_date
            rows between unbounded preceding and current row
        ) as cumulative_responses,
        sum(revenue) over (
            partition by customer_id order by response_date
            rows between unbounded preceding and current row
        ) as cumulative_revenue

    from {{ ref('stg_raw__campaign_responses') }}

),

joined as (

    select
        spine.customer_id,
        spine.as_of_date,
        coalesce(contacts_running.cumulative_contacts, 0) as prior_contacts,
        coalesce(responses_running.cumulative_responses, 0) as prior_responses,
        coalesce(responses_running.cumulative_revenue, 0) as prior_revenue,
        responses_running.response_date as last_response_date

    from spine
    asof left join contacts_running
        on
            spine.customer_id = contacts_running.customer_id
            and spine.as_of_date > contacts_running.contact_date
    asof left join responses_running
        on
            spine.customer_id = responses_running.customer_id
            and spine.as_of_date > responses_running.response_date

),

final as (

    select
        customer_id,
        as_of_date,
        prior_contacts as camp_prior_contacts,
        prior_responses as camp_prior_responses,
        cast(prior_responses / nullif(prior_contacts, 0) as double) as camp_prior_response_rate,
        cast(prior_revenue as double) as camp_prior_revenue,
        date_diff('day', last_response_date, as_of_date) as camp_days_since_last_response

    from joined

)

select * from final
