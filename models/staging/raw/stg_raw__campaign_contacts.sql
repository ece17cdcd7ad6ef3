-- A table, not a view: every feature model and data test reads it, and a view
-- would repeat the dedupe (and hashing) for each of them.
{{ config(materialized='table') }}

with source as (

    select * from {{ source('raw', 'raw_campaign_contacts') }}

),

renamed as (

    select
        cast(campaign_id as varchar) as campaign_id,
        cast(customer_id as bigint) as customer_id,
        cast(contacted_at as timestamp) as contacted_at,
        cast(contacted_at as date) as contact_date,
        lower({{ missing_to_null('channel') }}) as channel

    from source

),

-- A repeated contact of the same customer by one campaign counts once: the first.
deduped as (

    {{ dedupe('renamed', ['campaign_id', 'customer_id'], 'contacted_at asc') }}

)

select * from deduped
