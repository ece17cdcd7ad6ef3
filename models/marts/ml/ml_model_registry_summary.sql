-- The model registry for BI: every model's metadata, without the fitted
-- artifact (only its size and hash). Columns are listed, not `* exclude`, so
-- a column added to the registry is never published by accident.
with registry as (

    select * from {{ ref('ml_model_registry') }}

),

final as (

    select
        registry.model_id,
        registry.created_at,
        registry.status,
        {{ is_current_champion('registry.model_id') }} as is_current_champion,
        registry.decision_reason,
        registry.target,
        registry.estimator,
        registry.best_params,
        registry.candidate_features,
        registry.selected_features,
        registry.cv_auc_mean,
        registry.cv_auc_std,
        registry.holdout_auc,
        registry.champion_holdout_auc,
        registry.holdout_metrics,
        registry.training_campaigns,
        registry.holdout_campaigns,
        registry.training_window_start,
        registry.training_window_end,
        registry.n_training_rows,
        registry.n_training_rows_used,
        registry.n_holdout_rows,
        registry.training_positive_rate,
        registry.data_fingerprint,
        registry.feature_list_hash,
        registry.config_json,
        registry.library_versions,
        registry.artifact_sha256,
        octet_length(registry.artifact) as artifact_bytes

    from registry

)

select * from final
