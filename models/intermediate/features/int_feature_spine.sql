{%- set window_days = var('response_window_days') | int %}
{%- set max_contacts = var('max_contacts_per_campaign') %}
{%- if max_contacts is not none and not modules.re.fullmatch('[1-9][0-9]*', max_contacts | string) %}
    {{ exceptions.raise_compiler_error(
        "var 'max_contacts_per_campaign' must be a positive integer or null, got '"
        ~ max_contacts ~ "'") }}
{%- endif %}
{%- set max_contacts_sql = 'null' if max_contacts is none else max_contacts %}

with all_contacts as (

    select * from {{ ref('stg_raw__campaign_contacts') }}

),

-- A campaign with more than max_contacts_per_campaign contacts keeps a deterministic
-- uniform sample of about that many (a fixed hash of the campaign and customer
-- ids below the campaign's sampling fraction): every feature, training,
-- backtest and feedback row downstream costs time, and a sample of this size
-- estimates AUC and response rates to within a fraction of a point.
contact_counts as (

    select
        campaign_id,
        count(*) as campaign_contacts

    from all_contacts
    group by campaign_id

),

contacts as (

    select all_contacts.*

    from all_contacts
    inner join contact_counts
        on all_contacts.campaign_id = contact_counts.campaign_id
    where
        {{ max_contacts_sql }} is null
        -- hash() is a uniform UBIGINT: compare it with the fraction * 2^64.
        or cast(hash(all_contacts.campaign_id, all_contacts.customer_id) as double)
        < {{ max_contacts_sql }} / contact_counts.campaign_contacts * 18446744073709551616.0

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
