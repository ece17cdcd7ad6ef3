-- A table, not a view: every feature model and data test reads it, and a view
-- would repeat the dedupe (and hashing) for each of them.
{{ config(materialized='table') }}

with source as (

    select * from {{ source('raw', 'raw_orders') }}

),

renamed as (

    select
        cast(order_id as bigint) as order_id,
        cast(customer_id as bigint) as customer_id,
        cast(ordered_at as timestamp) as ordered_at,
        cast(ordered_at as date) as order_date,
        cast(amount as decimal(14, 2)) as amount,
        cast(updated_at as timestamp) as updated_at

    from source

),

deduped as (

    {{ dedupe('renamed', ['order_id'], 'updated_at desc') }}

)

select * from deduped
