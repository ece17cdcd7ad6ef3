-- A table, not a view: every feature model and data test reads it, and a view
-- would repeat the dedupe (and hashing) for each of them.
{{ config(materialized='table') }}

with source as (

    select * from {{ source('raw', 'raw_campaign_responses') }}

),

renamed as (

    select
        cast(campaign_id as varchar) as campaign_id,
        cast(customer_id as bigint) as customer_id,
        cast(responded_at as timestamp) as responded_at,
        cast(responded_at as date) as response_date,
        cast(revenue as decimal(14, 2)) as revenue

    from source

),

-- The first response of a customer to a campaign is the one attributed to it.
deduped as (

    {{ dedupe('renamed', ['campaign_id', 'customer_id'], 'responded_at asc') }}

)

select * from deduped
