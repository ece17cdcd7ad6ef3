"""What the dbt Python models run: a DuckDB session and relations in, Arrow out.

The only module that touches the session; the logic it calls is session-free.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from precision_marketing import sql
from precision_marketing.config import MlConfig
from precision_marketing.features import (
    SCORE_ROLE,
    TRAIN_ROLE,
    feature_columns_from_schema,
    feature_list_hash,
)
from precision_marketing.registry import REGISTRY_SCHEMA, load_model, retrain_reason
from precision_marketing.scoring import SCORES_SCHEMA, score_batches
from precision_marketing.training import (
    HoldoutRows,
    LabelCounts,
    TrainingWindow,
    check_window,
    null_campaign_error,
    order_campaigns,
    split_campaigns,
    train_on,
)

log = logging.getLogger(__name__)


class DbtLogHandler(logging.Handler):
    """Forwards the package's log records to dbt's log (console and logs/dbt.log), so a
    scheduled job's log shows the training, promotion and scoring decisions."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        from dbt.adapters.events.logging import AdapterLogger

        self.dbt_logger = AdapterLogger("precision_marketing")

    def emit(self, record: logging.LogRecord) -> None:
        level = "warning" if record.levelno >= logging.WARNING else "info"
        getattr(self.dbt_logger, level)(self.format(record))


def log_to_dbt() -> None:
    """Route the package's INFO+ records to dbt's log (idempotent; each step calls it)."""
    package = logging.getLogger("precision_marketing")
    if not any(isinstance(handler, DbtLogHandler) for handler in package.handlers):
        package.addHandler(DbtLogHandler())
        package.setLevel(logging.INFO)
        package.propagate = False  # dbt's log is the job's log: print each record once


DEFAULT_BATCH_ROWS = 500_000
MAX_FIT_ROWS = 1_000_000
"""Training-window rows read into memory for a fit: all of them up to this many, else a
stratified sample of this many. Preprocessing and selection are fitted on these rows, the
grid search and the estimator on ``max_training_rows`` of them. A row costs about 1.5 kB
at the peak of the fit, so training stays near 1.5 GB whatever the number of customers
(the window has ~2.2 rows per customer: 22M rows at 10M customers). Fewer rows shift the
chi2 ranking (min-max scaling by a smaller sample's maximum favours the heavy-tailed
monetary features): at 500k rows the selector dropped contact_channel, a true driver."""
TRAINING_DUCKDB_MEMORY_BYTES = 1024**3
"""DuckDB's memory limit while a model trains (restored afterwards): lowering it makes
DuckDB evict its cache, which leaves the rest of the process's budget to the fit."""
KEY_ORDER = "as_of_date, campaign_id, customer_id"


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


UNITS = {"bytes": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}


@contextmanager
def duckdb_memory_limit(session: duckdb.DuckDBPyConnection, limit_bytes: int) -> Iterator[None]:
    """DuckDB's memory limit lowered to ``limit_bytes`` (never raised) inside the block.

    DuckDB evicts its buffer cache down to the new limit and returns the memory. The
    previous limit is restored from its displayed value (e.g. '2.3 GiB', which may be up
    to 0.1 GiB below the exact one; dbt-duckdb sets the profile's exact value again on
    the next model's cursor).
    """
    ((previous,),) = session.execute("select current_setting('memory_limit')").fetchall()
    match = re.fullmatch(r"([0-9.]+) ?(bytes|KiB|MiB|GiB|TiB)", previous)
    if match is None or float(match[1]) * UNITS[match[2]] <= limit_bytes:
        yield
        return
    session.execute(f"set memory_limit = '{limit_bytes}b'")
    try:
        yield
    finally:
        session.execute(f"set memory_limit = '{previous}'")


def read_training_data(
    training: duckdb.DuckDBPyRelation,
    config: MlConfig,
    max_fit_rows: int = MAX_FIT_ROWS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> tuple[pd.DataFrame, TrainingWindow, HoldoutRows]:
    """What :func:`training.train_on` needs, without reading every row into pandas.

    The out-of-time split, the label checks and the counts are computed in SQL. The fit
    gets the training window sorted by key, or beyond ``max_fit_rows`` a stratified
    sample of that many rows: in each class, the rows with the smallest seeded hash of
    their key (deterministic, whatever the scan order). The holdout is read in Arrow
    batches of ``batch_rows`` when the model is evaluated.
    """
    target = sql.identifier(config.target)
    per_campaign = training.query(
        "training_rows",
        f"""
        select
            campaign_id,
            min(as_of_date) as first_date,
            max(as_of_date) as last_date,
            count(*) as n_rows,
            count(*) filter (where {target} is null) as nulls,
            count(*) filter (where {target} not in (0, 1)) as invalid,
            count(*) filter (where {target} = 1) as positives
        from training_rows
        group by campaign_id
        """,
    ).fetchall()
    stats = {row[0]: row[1:] for row in per_campaign}
    if None in stats:
        raise null_campaign_error(stats[None][2])
    ordered = order_campaigns({campaign: row[0] for campaign, row in stats.items()})
    train_campaigns, holdout_campaigns = split_campaigns(ordered, config.holdout_campaigns)

    def counts(campaigns: list[str]) -> LabelCounts:
        return LabelCounts(*(sum(stats[c][i] for c in campaigns) for i in range(2, 6)))

    window = TrainingWindow(
        labels=counts(train_campaigns),
        start=min(stats[c][0] for c in train_campaigns),
        end=max(stats[c][1] for c in train_campaigns),
        campaigns=tuple(train_campaigns),
    )
    log.info(
        "out-of-time split: %d training rows in %d campaigns, %d holdout rows in %d (%s)",
        window.labels.rows,
        len(train_campaigns),
        counts(holdout_campaigns).rows,
        len(holdout_campaigns),
        ", ".join(holdout_campaigns),
    )
    in_window = f"campaign_id in {sql.in_list(train_campaigns)}"
    if window.labels.rows <= max_fit_rows:
        sample = f"select * from training_rows where {in_window} order by {KEY_ORDER}"
    else:
        check_window(window.labels, config)  # the strata below are the labels 0 and 1
        positives = round(max_fit_rows * window.labels.positive_rate)
        key = f"hash(customer_id, as_of_date, campaign_id, {config.random_seed})"
        sample = f"""
            with stratum_1 as (
                select * from training_rows
                where {in_window} and {target} = 1
                order by {key}, {KEY_ORDER}
                limit {positives}
            ),

            stratum_0 as (
                select * from training_rows
                where {in_window} and {target} = 0
                order by {key}, {KEY_ORDER}
                limit {max_fit_rows - positives}
            )

            select * from (select * from stratum_1 union all select * from stratum_0)
            order by {KEY_ORDER}
        """
        log.info(
            "training window of %d rows: fitting on a stratified sample of %d",
            window.labels.rows,
            max_fit_rows,
        )
    frame = training.query("training_rows", sample).to_arrow_table().to_pandas()
    in_holdout = f"campaign_id in {sql.in_list(holdout_campaigns)}"

    def read_holdout(columns: list[str]) -> pa.RecordBatchReader:
        return training.query(
            "training_rows",
            f"select {', '.join(sql.identifier(c) for c in columns)} from training_rows "
            f"where {in_holdout} order by {KEY_ORDER}",
        ).to_arrow_reader(batch_rows)

    holdout = HoldoutRows(
        labels=counts(holdout_campaigns),
        campaigns=tuple(holdout_campaigns),
        columns=tuple(training.columns),
        read=read_holdout,
    )
    return frame, window, holdout


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
    log_to_dbt()
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
    champion_model = (
        load_model(champion["artifact"], champion["artifact_sha256"]) if champion else None
    )
    with duckdb_memory_limit(session, TRAINING_DUCKDB_MEMORY_BYTES):
        train, window, holdout = read_training_data(training, config)
        outcome = train_on(
            train,
            window,
            holdout,
            config,
            champion_model,
            now or datetime.now(UTC),
            data_fingerprint=fingerprint,
            feature_hash=feature_list_hash(columns),
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
    log_to_dbt()
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
