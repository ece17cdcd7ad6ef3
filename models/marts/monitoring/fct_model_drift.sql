-- The BI-facing drift history: ml_drift (a Python model) under a contract,
-- with the current champion flagged.
with drift as (

    select * from {{ ref('ml_drift') }}

),

registry as (

    select * from {{ ref('ml_model_registry') }}

),

current_champion as (

    select model_id
    from registry
    where status = 'champion'
    order by created_at desc
    limit 1

),

flagged as (

    select
        drift.*,
        drift.model_id in (select current_champion.model_id from current_champion)
            as is_current_champion

    from drift

),

final as (

    select
        model_id,
        is_current_champion,
        coalesce(
            is_current_champion
            and as_of_date = max(as_of_date) filter (where is_current_champion) over (),
            false
        ) as is_latest,
        as_of_date,
        feature,
        feature_kind,
        psi,
        band,
        bins,
        reference_rows,
        current_rows,
        reference_start,
        reference_end,
        bin_shares,
        computed_at

    from flagged

)

select * from final
