-- One snapshot of every scored customer per (as_of_date, model_id). A build
-- deletes the rows of the snapshot it writes, then inserts them (one
-- transaction): rerunning a date replaces its snapshot, other dates stay.
-- The key is one column: dbt-duckdb deletes a one-column key with a hash
-- semi-join, but a key list with a join that pairs every old row of the
-- snapshot with every new one.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='snapshot_id',
    on_schema_change='fail',
) }}

with scores as (

    select * from {{ ref('customer_scores') }}

),

final as (

    select
        strftime(as_of_date, '%Y-%m-%d') || '/' || model_id as snapshot_id,
        as_of_date,
        model_id,
        customer_id,
        propensity,
        percentile,
        decile,
        segment,
        predicted_revenue,
        expected_value,
        scored_at

    from scores

)

select * from final
