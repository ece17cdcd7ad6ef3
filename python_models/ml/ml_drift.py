"""Population stability index of the champion's score and selected features (see the YAML)."""

from precision_marketing.drift import drift_table


def model(dbt, session):
    dbt.config(
        materialized="incremental",
        incremental_strategy="delete+insert",
        unique_key=["model_id", "as_of_date"],
    )
    return drift_table(
        features=dbt.ref("customer_features"),
        backtest_scores=dbt.ref("ml_backtest_scores"),
        current_scores=dbt.ref("ml_customer_propensity"),
        registry=dbt.ref("ml_model_registry"),
    )
