{%- set window_days = var('response_window_days') | int %}

with contacts as (

    select * from {{ ref('stg_raw__campaign_contacts') }}

),

responses as (

    select * from {{ ref('stg_raw__campaign_responses') }}

),

customers as (

    select * from {{ ref('stg_raw__customers') }}

),

scoring_date as (

    select {{ score_date() }} as score_date

),

-- Label = a response within the window after the contact. Only contacts
-- whose window closed before the score date are known outcomes.
training_rows as (

    select
        contacts.customer_id,
        contacts.contact_date as as_of_date,
        'train' as spine_role,
        contacts.campaign_id,
        contacts.channel as contact_channel,
        cast(responses.customer_id is not null as integer) as label,
        coalesce(cast(responses.revenue as double), 0) as response_revenue

    from contacts
    cross join scoring_date
    left join responses
        on
            contacts.campaign_id = responses.campaign_id
            and contacts.customer_id = responses.customer_id
            and contacts.contacted_at <= responses.responded_at
            and contacts.contacted_at + to_days({{ window_days }}) > responses.responded_at
    where contacts.contacted_at + to_days({{ window_days }}) <= scoring_date.score_date

),

-- Every customer signed up before the score date is scored once, as if
-- contacted through their preferred channel.
scoring_rows as (

    select
        customers.customer_id,
        scoring_date.score_date as as_of_date,
        'score' as spine_role,
        null as campaign_id,
        customers.preferred_channel as contact_channel,
        cast(null as integer) as label,
        cast(null as double) as response_revenue

    from customers
    cross join scoring_date
    where customers.signup_date < scoring_date.score_date

),

final as (

    select * from training_rows
    union all
    select * from scoring_rows

)

select * from final
