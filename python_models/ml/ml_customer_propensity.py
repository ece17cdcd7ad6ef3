"""Scores every customer of the scoring population with the champion, streamed."""

from precision_marketing.steps import score_customers


def model(dbt, session):
    dbt.config(materialized="table")
    batch_rows = dbt.config.meta_get("scoring_batch_rows")
    features = dbt.ref("customer_features")
    registry = dbt.ref("ml_model_registry")
    return score_customers(session, features, registry, batch_rows)
