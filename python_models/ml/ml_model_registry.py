"""Append-only model registry: trains a new model only when needed (see the YAML)."""

from precision_marketing.steps import update_registry


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append")
    ml_config = dbt.config.meta_get("ml")
    features = dbt.ref("customer_features")
    registry = str(dbt.this) if dbt.is_incremental else None
    return update_registry(session, features, registry, ml_config)
