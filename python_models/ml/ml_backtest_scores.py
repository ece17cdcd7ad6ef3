"""The champion's scores of every campaign contact row, as of its contact date (see the YAML)."""

from precision_marketing.steps import score_customers


def model(dbt, session):
    dbt.config(materialized="table")
    batch_rows = dbt.config.meta_get("scoring_batch_rows")
    contacts = dbt.ref("customer_features").filter("spine_role = 'train'")
    # score_customers scores the rows labelled 'score': present the contacts as such.
    as_scoring_rows = contacts.project("* replace ('score' as spine_role)")
    return score_customers(session, as_scoring_rows, dbt.ref("ml_model_registry"), batch_rows)
