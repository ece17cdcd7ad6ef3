"""What the dbt Python models run: a DuckDB session and relations in, Arrow out.

The only module that touches the session; the logic it calls is session-free.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from precision_marketing.config import MlConfig
from precision_marketing.features import (
    SCORE_ROLE,
    TRAIN_ROLE,
    feature_columns_from_schema,
    feature_list_hash,
)
from precision_marketing.registry import REGISTRY_SCHEMA, load_model, retrain_reason
from precision_marketing.scoring import SCORES_SCHEMA, score_batches
from precision_marketing.training import train_model

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 500_000


class MissingChampionError(RuntimeError):
    """Scoring was asked for with no champion model in the registry."""


def relation_fingerprint(relation: duckdb.DuckDBPyRelation) -> str:
    """An order-independent hash of a relation's rows, column names and types, in SQL."""
    ((rows, row_hash_sum),) = relation.query(
        "fingerprinted", "select count(*), sum(hash(fingerprinted)) from fingerprinted"
    ).fetchall()
    schema = [f"{name}:{kind}" for name, kind in zip(relation.columns, relation.types, strict=True)]
    payload = f"{rows}|{row_hash_sum}|{','.join(schema)}"
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def latest_registry_rows(
    session: duckdb.DuckDBPyConnection, registry: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(latest champion row, latest row of any status) of the registry table."""
    cursor = session.cursor()

    def latest(where: str) -> dict[str, Any] | None:
        rows = cursor.sql(
            f"select * from {registry} where {where} order by created_at desc limit 1"
        ).to_arrow_table()
        return rows.to_pylist()[0] if rows.num_rows else None

    return latest("status = 'champion'"), latest("true")


def update_registry(
    session: duckdb.DuckDBPyConnection,
    features: duckdb.DuckDBPyRelation,
    registry: str | None,
    meta: Mapping[str, Any] | None,
    now: datetime | None = None,
) -> pa.Table:
    """The registry rows to append: one new model, or none when the champion still fits.

    A model is trained when there is no champion, when the training rows, the feature
    list or the ML settings differ from those of the latest model trained (champion or
    challenger), or when var ``ml_force_retrain`` asks for it.
    """
    config = MlConfig.from_meta(meta or {})
    champion, latest = latest_registry_rows(session, registry) if registry else (None, None)
    training = features.filter(f"spine_role = '{TRAIN_ROLE}'")
    fingerprint = relation_fingerprint(training)
    columns = feature_columns_from_schema(
        training.limit(0).to_arrow_table().schema,
        exclude=(config.target, config.revenue_column),
    )
    reason = (
        "no champion"
        if champion is None
        else retrain_reason(
            latest,
            fingerprint,
            feature_list_hash(columns),
            config.force_retrain,
            config_json=config.to_json(),
        )
    )
    if reason is None:
        log.info(
            "registry: reusing champion %s (training data %s and features unchanged)",
            champion["model_id"],
            fingerprint,
        )
        return REGISTRY_SCHEMA.empty_table()
    log.info("registry: training a new model (%s)", reason)
    frame = training.to_arrow_table().to_pandas()
    champion_model = (
        load_model(champion["artifact"], champion["artifact_sha256"]) if champion else None
    )
    outcome = train_model(
        frame,
        config,
        champion_model,
        now or datetime.now(UTC),
        data_fingerprint=fingerprint,
    )
    return outcome.registry_table()


def score_customers(
    session: duckdb.DuckDBPyConnection,
    features: duckdb.DuckDBPyRelation,
    registry: duckdb.DuckDBPyRelation,
    batch_rows: int | str | None = None,
    now: datetime | None = None,
) -> pa.RecordBatchReader:
    """Every scoring row scored by the champion, streamed in Arrow batches."""
    champion = (
        registry.filter("status = 'champion'")
        .order("created_at desc")
        .limit(1)
        .to_arrow_table()
        .to_pylist()
    )
    if not champion:
        raise MissingChampionError(
            "ml_model_registry has no model with status 'champion': nothing can score"
        )
    row = champion[0]
    model = load_model(row["artifact"], row["artifact_sha256"])
    columns = ["customer_id", "as_of_date", *model.required_features]
    scoring = features.filter(f"spine_role = '{SCORE_ROLE}'").select(
        *[duckdb.ColumnExpression(name) for name in columns]
    )
    reader = scoring.to_arrow_reader(int(batch_rows or DEFAULT_BATCH_ROWS))
    scored_at = now or datetime.now(UTC)
    return pa.RecordBatchReader.from_batches(
        SCORES_SCHEMA, score_batches(reader, model, row["model_id"], scored_at)
    )
