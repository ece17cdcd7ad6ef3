-- A table, not a view: every feature model and data test reads it, and a view
-- would repeat the dedupe (and hashing) for each of them.
{{ config(materialized='table') }}

-- Fill rules per column, the one place they are declared.
{%- set impute_rules = {
    'age': 'median',
    'annual_income': 'median',
    'gender': 'unknown',
    'region': 'mode',
    'preferred_channel': 'mode',
    'noise_score': 'mean',
} %}

with source as (

    select * from {{ source('raw', 'raw_customers') }}

),

renamed as (

    select
        cast(customer_id as bigint) as customer_id,
        -- PII is normalized here, hashed after the dedupe (sha256 is most of
        -- this model's time; the raw table repeats updated customers) and never
        -- selected raw.
        nullif(lower(trim(cast(email as varchar))), '') as email_normalized,
        nullif(
            right(regexp_replace(cast(phone as varchar), '[^0-9]', '', 'g'), 10), ''
        ) as phone_normalized,
        cast({{ missing_to_null('age', sentinels=[-1, 999]) }} as integer) as age,
        cast({{ missing_to_null('annual_income', sentinels=[-1]) }} as double) as annual_income,
        upper({{ missing_to_null('gender') }}) as gender,
        lower({{ missing_to_null('region') }}) as region,
        lower({{ missing_to_null('preferred_channel') }}) as preferred_channel,
        cast(signup_date as date) as signup_date,
        cast({{ missing_to_null('noise_score') }} as double) as noise_score,
        upper({{ missing_to_null('noise_segment') }}) as noise_segment,
        cast(updated_at as timestamp) as updated_at

    from source

),

deduped as (

    {{ dedupe('renamed', ['customer_id'], 'updated_at desc') }}

),

hashed as (

    select
        * exclude (email_normalized, phone_normalized),
        {{ hash_pii('email_normalized') }} as email_hash,
        {{ hash_pii('phone_normalized') }} as phone_hash

    from deduped

),

imputed as (

    {{ impute('hashed', impute_rules) }}

)

select * from imputed
