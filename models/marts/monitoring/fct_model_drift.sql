-- The BI-facing drift history: ml_drift (a Python model) under a contract,
-- with the current champion flagged.
with drift as (

    select * from {{ ref('ml_drift') }}

),

flagged as (

    select
        drift.*,
        {{ is_current_champion('drift.model_id') }} as is_current_champion

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
