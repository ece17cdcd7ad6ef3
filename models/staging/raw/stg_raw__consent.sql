-- A table, not a view: every feature model and data test reads it, and a view
-- would repeat the dedupe (and hashing) for each of them.
{{ config(materialized='table') }}

with source as (

    select * from {{ source('raw', 'raw_consent') }}

),

renamed as (

    select
        cast(customer_id as bigint) as customer_id,
        lower({{ missing_to_null('channel') }}) as channel,
        lower({{ missing_to_null('status') }}) as consent_status,
        cast(updated_at as timestamp) as updated_at

    from source

),

deduped as (

    {{ dedupe('renamed', ['customer_id', 'channel'], 'updated_at desc') }}

),

final as (

    select
        *,
        consent_status = 'opt_in' as is_opted_in

    from deduped

)

select * from final
