"""Scoring kernel: Arrow record batches in, Arrow record batches out, no session.

:func:`score_batches` runs unchanged in a dbt-duckdb Python model (over
``rel.to_arrow_reader(batch_size)``) and in Spark's ``mapInArrow``
(``functools.partial(score_batches, model=..., model_id=..., scored_at=...)``). It needs
only the loaded model: no database session, no SQL.

Speed: a full ``Pipeline.predict_proba`` is 10-18x slower than the bare estimator (the
ColumnTransformer builds every candidate column through pandas, the selector copies and
re-checks). The kernel therefore compiles each fitted pipeline once into a plan of the
columns the estimator actually uses (median fill, min-max scale, one-hot level tests),
builds only those columns from the Arrow arrays with the same float operations in the same
order, and calls the fitted estimator on the result (skipping only its finiteness scan).
The scores are bit-identical to ``pipeline.predict_proba`` on the same rows (tests assert
it; rows go through in chunks of :data:`CHUNK_ROWS`, and BLAS may move the last bit of a
score with the block it sits in, for the pipeline too). A pipeline of another shape falls
back to the pipeline itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import config_context
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from precision_marketing.features import arrow_float64, prepare_features
from precision_marketing.registry import LoadedModel, naive_utc
from precision_marketing.selection import SourceFeatureSelector

log = logging.getLogger(__name__)

SCORES_SCHEMA = pa.schema(
    [
        pa.field("customer_id", pa.int64(), nullable=False),
        pa.field("as_of_date", pa.date32()),
        pa.field("propensity", pa.float64(), nullable=False),
        pa.field("predicted_revenue", pa.float64(), nullable=False),
        pa.field("expected_value", pa.float64(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("scored_at", pa.timestamp("us"), nullable=False),
    ]
)
CHUNK_ROWS = 131_072
"""Rows transformed at a time: bounds the dense matrix (rows x selected columns) in memory."""


class ScoringError(ValueError):
    """A scoring batch lacks a feature the model needs or has an unusable type."""


# --- reference path (pandas, whole pipeline) --------------------------------------------


def predict_frame(model: LoadedModel, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Propensity and clipped revenue of a pandas frame through the full pipelines.

    Features the propensity pipeline was fitted on but did not select may be absent: they
    are passed as NULL, which cannot change the result (the selector drops them).
    """
    frame = frame.copy(deep=False)
    for name in model.spec.all:
        if name not in frame.columns:
            frame[name] = None if name in model.spec.categorical else np.nan
    propensity = model.propensity.predict_proba(prepare_features(frame, model.spec))[:, 1]
    revenue_spec = model.spec.restricted_to(model.selected_features)
    revenue = np.maximum(model.revenue.predict(prepare_features(frame, revenue_spec)), 0.0)
    return propensity, revenue


# --- compiled plans ---------------------------------------------------------------------


@dataclass(frozen=True)
class NumericColumn:
    source: str
    fill: float
    scale: float
    offset: float


@dataclass(frozen=True)
class OneHotColumn:
    source: str
    level: str
    null_level: str
    """The imputer's fill value: a NULL input counts as this level."""


@dataclass(frozen=True)
class Plan:
    """The columns a fitted estimator sees, and how to build each from a raw feature."""

    columns: tuple[NumericColumn | OneHotColumn, ...]
    estimator: object
    proba: bool
    order: str
    """Memory layout the pipeline hands its estimator; a matrix product sums in a
    layout-dependent order, so matching it keeps results bit-identical."""
    feature_names: tuple[str, ...] | None
    """Column names, if the estimator was fitted on a frame (it then checks them)."""

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.source for c in self.columns))


def _numeric_steps(branch: object) -> tuple[SimpleImputer, MinMaxScaler] | None:
    if not isinstance(branch, Pipeline) or len(branch.steps) != 2:
        return None
    imputer, scaler = branch.steps[0][1], branch.steps[1][1]
    if not (
        isinstance(imputer, SimpleImputer)
        and isinstance(scaler, MinMaxScaler)
        and not imputer.add_indicator
        and not scaler.clip
        and np.isnan(imputer.missing_values)
    ):
        return None
    return imputer, scaler


def _categorical_steps(branch: object) -> tuple[SimpleImputer, OneHotEncoder] | None:
    if not isinstance(branch, Pipeline) or len(branch.steps) != 2:
        return None
    imputer, encoder = branch.steps[0][1], branch.steps[1][1]
    if not (
        isinstance(imputer, SimpleImputer)
        and isinstance(encoder, OneHotEncoder)
        and imputer.strategy == "constant"
        and not imputer.add_indicator
        and encoder.drop_idx_ is None
        and encoder.handle_unknown == "ignore"
        and getattr(encoder, "_infrequent_enabled", False) is False
    ):
        return None
    return imputer, encoder


def _transformed_columns(
    preprocess: ColumnTransformer,
) -> list[NumericColumn | OneHotColumn] | None:
    """Every output column of a fitted ColumnTransformer, in output order."""
    columns: list[NumericColumn | OneHotColumn] = []
    for name, branch, sources in preprocess.transformers_:
        if name == "remainder" or branch == "drop" or len(sources) == 0:
            continue
        numeric = _numeric_steps(branch)
        categorical = _categorical_steps(branch)
        if numeric is not None:
            imputer, scaler = numeric
            for i, source in enumerate(sources):
                columns.append(
                    NumericColumn(
                        source=str(source),
                        fill=float(imputer.statistics_[i]),
                        scale=float(scaler.scale_[i]),
                        offset=float(scaler.min_[i]),
                    )
                )
        elif categorical is not None:
            imputer, encoder = categorical
            null_level = str(imputer.fill_value)
            for source, levels in zip(sources, encoder.categories_, strict=True):
                columns.extend(
                    OneHotColumn(str(source), str(level), null_level) for level in levels
                )
        else:
            return None
    return columns


def compile_pipeline(pipeline: Pipeline) -> Plan | None:
    """A plan equivalent to ``pipeline`` (preprocess [-> select] -> estimator), or None."""
    steps = [step for _, step in pipeline.steps]
    if len(steps) not in (2, 3) or not isinstance(steps[0], ColumnTransformer):
        return None
    preprocess = steps[0]
    if preprocess.remainder != "drop":
        return None
    columns = _transformed_columns(preprocess)
    if columns is None:
        return None
    names = [str(n) for n in preprocess.get_feature_names_out()]
    if len(names) != len(columns):
        return None
    if len(steps) == 3:
        if not isinstance(steps[1], SourceFeatureSelector):
            return None
        support = steps[1].get_support()
        if len(support) != len(columns):
            return None
        columns = [c for c, keep in zip(columns, support, strict=True) if keep]
        names = [n for n, keep in zip(names, support, strict=True) if keep]
    estimator = steps[-1]
    # A pandas-output ColumnTransformer yields a frame that numpy reads column-major;
    # otherwise the ColumnTransformer stacks row-major arrays.
    pandas_output = getattr(preprocess, "_sklearn_output_config", {}).get("transform")
    return Plan(
        tuple(columns),
        estimator,
        proba=hasattr(estimator, "predict_proba"),
        order="F" if pandas_output == "pandas" else "C",
        feature_names=tuple(names) if hasattr(estimator, "feature_names_in_") else None,
    )


# --- Arrow to matrix --------------------------------------------------------------------


def _float_column(array: pa.Array, name: str) -> np.ndarray:
    """A numeric Arrow column as float64 with NaN for NULL (bool as 0/1)."""
    try:
        return arrow_float64(array)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise ScoringError(f"feature {name!r} of type {array.type} is not numeric") from error


def _level_codes(array: pa.Array, levels: list[str], null_level: str) -> np.ndarray:
    """Per row, the index of its value in ``levels`` (NULL as 'missing'); -1 if unseen."""
    if not pa.types.is_dictionary(array.type):
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = pc.cast(array, pa.string())
        array = pc.dictionary_encode(array)
    dictionary = array.dictionary
    if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
        dictionary = pc.cast(dictionary, pa.string())
    position = {level: i for i, level in enumerate(levels)}
    null_code = position.get(null_level, -1)
    lookup = np.array(
        [null_code if v is None else position.get(v, -1) for v in dictionary.to_pylist()]
        + [null_code],
        dtype=np.int64,
    )
    indices = pc.fill_null(array.indices, len(dictionary)).to_numpy(zero_copy_only=False)
    return lookup[indices]


class _BatchColumns:
    """Raw Arrow features of one chunk, converted at most once each."""

    def __init__(self, batch: pa.RecordBatch):
        self.batch = batch
        self.floats: dict[str, np.ndarray] = {}
        self.missing: dict[str, np.ndarray | None] = {}
        self.codes: dict[tuple[str, tuple[str, ...], str], np.ndarray] = {}

    def floats_of(self, name: str) -> np.ndarray:
        if name not in self.floats:
            self.floats[name] = _float_column(self.batch.column(name), name)
        return self.floats[name]

    def missing_of(self, name: str) -> np.ndarray | None:
        """Where the feature is NULL or NaN, or None if nowhere."""
        if name not in self.missing:
            array = self.batch.column(name)
            if array.null_count == 0 and not pa.types.is_floating(array.type):
                self.missing[name] = None
            else:
                mask = np.isnan(self.floats_of(name))
                self.missing[name] = mask if mask.any() else None
        return self.missing[name]

    def codes_of(self, name: str, levels: tuple[str, ...], null_level: str) -> np.ndarray:
        key = (name, levels, null_level)
        if key not in self.codes:
            self.codes[key] = _level_codes(self.batch.column(name), list(levels), null_level)
        return self.codes[key]


def _levels_by_source(plan: Plan) -> dict[str, tuple[str, ...]]:
    levels: dict[str, list[str]] = {}
    for column in plan.columns:
        if isinstance(column, OneHotColumn):
            levels.setdefault(column.source, []).append(column.level)
    return {k: tuple(v) for k, v in levels.items()}


class Workspace:
    """Matrix buffers reused across chunks.

    A fresh dense matrix per chunk would be paged in anew every time (first touch costs
    about 2 s per GiB here); one buffer per plan, sized for a full chunk, is touched once.
    """

    def __init__(self, chunk_rows: int = CHUNK_ROWS):
        self.chunk_rows = chunk_rows
        self._flat: dict[tuple[int, str], np.ndarray] = {}

    def matrix(self, plan: Plan, n: int, order: str) -> np.ndarray:
        width = len(plan.columns)
        key = (id(plan), order)
        if key not in self._flat:
            self._flat[key] = np.empty(self.chunk_rows * width, dtype=np.float64)
        return self._flat[key][: n * width].reshape((n, width), order=order)


def build_matrix(plan: Plan, raw: _BatchColumns, n: int, workspace: Workspace) -> np.ndarray:
    """The estimator's input: the plan's columns, same float operations as the pipeline.

    Columns are built in place in a column-major buffer (contiguous, cache-friendly); a
    row-major plan gets one transposing copy into a second buffer.
    """
    matrix = workspace.matrix(plan, n, "F")
    levels = _levels_by_source(plan)
    for j, column in enumerate(plan.columns):
        target = matrix[:, j]
        if isinstance(column, NumericColumn):
            # MinMaxScaler.transform (X *= scale_; X += min_) after SimpleImputer's fill.
            # Scaling first and writing the scaled fill where the input was NaN gives the
            # same doubles: IEEE operations on the same operands, in the same order.
            values = raw.floats_of(column.source)
            np.multiply(values, column.scale, out=target)
            target += column.offset
            missing = raw.missing_of(column.source)
            if missing is not None:
                filled = np.float64(column.fill) * np.float64(column.scale)
                np.copyto(target, filled + np.float64(column.offset), where=missing)
        else:
            source_levels = levels[column.source]
            codes = raw.codes_of(column.source, source_levels, column.null_level)
            np.equal(codes, source_levels.index(column.level), out=target, casting="unsafe")
    if plan.order == "F":
        return matrix
    row_major = workspace.matrix(plan, n, "C")
    np.copyto(row_major, matrix)
    return row_major


def _predict(plan: Plan, matrix: np.ndarray) -> np.ndarray:
    """The fitted estimator on the built matrix.

    The matrix is finite by construction (imputed, scaled, 0/1), so scikit-learn's
    finiteness scan is skipped (``assume_finite``, its documented switch; thread-local).
    An estimator fitted on a frame gets a zero-copy frame of the matrix, as in the pipeline.
    """
    X = matrix
    if plan.feature_names is not None:
        X = pd.DataFrame(matrix, columns=list(plan.feature_names), copy=False)
    with config_context(assume_finite=True):
        if plan.proba:
            return plan.estimator.predict_proba(X)[:, 1]
        return plan.estimator.predict(X)


# --- the kernel -------------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledModel:
    propensity: Plan | None
    revenue: Plan | None
    model: LoadedModel

    @property
    def required(self) -> tuple[str, ...]:
        return self.model.required_features


def compile_model(model: LoadedModel) -> CompiledModel:
    """Plans for both pipelines (None for a pipeline of an unexpected shape)."""
    propensity = compile_pipeline(model.propensity)
    revenue = compile_pipeline(model.revenue)
    if propensity is None or revenue is None:
        log.warning("model pipelines have an unexpected shape; scoring through the pipelines")
    return CompiledModel(propensity, revenue, model)


def _check_columns(schema: pa.Schema, compiled: CompiledModel) -> None:
    needed = ("customer_id", "as_of_date", *compiled.required)
    missing = [c for c in needed if schema.get_field_index(c) < 0]
    if missing:
        raise ScoringError(f"scoring batch lacks columns the model needs: {', '.join(missing)}")


def _score_chunk(
    compiled: CompiledModel, chunk: pa.RecordBatch, workspace: Workspace
) -> tuple[np.ndarray, np.ndarray]:
    n = chunk.num_rows
    if compiled.propensity is None or compiled.revenue is None:
        return predict_frame(compiled.model, chunk.to_pandas())
    raw = _BatchColumns(chunk)
    propensity = _predict(compiled.propensity, build_matrix(compiled.propensity, raw, n, workspace))
    revenue = _predict(compiled.revenue, build_matrix(compiled.revenue, raw, n, workspace))
    return propensity, np.maximum(revenue, 0.0)


def score_batch(
    compiled: CompiledModel,
    batch: pa.RecordBatch,
    model_id: str,
    scored_at: datetime,
    workspace: Workspace | None = None,
) -> pa.RecordBatch:
    """Scores of one batch (rows in input order) with :data:`SCORES_SCHEMA`."""
    workspace = workspace or Workspace()
    n = batch.num_rows
    propensity = np.empty(n, dtype=np.float64)
    revenue = np.empty(n, dtype=np.float64)
    for start in range(0, n, workspace.chunk_rows):
        chunk = batch.slice(start, workspace.chunk_rows)
        stop = start + chunk.num_rows
        propensity[start:stop], revenue[start:stop] = _score_chunk(compiled, chunk, workspace)
    return pa.RecordBatch.from_arrays(
        [
            pc.cast(batch.column("customer_id"), pa.int64()),
            pc.cast(batch.column("as_of_date"), pa.date32()),
            pa.array(propensity),
            pa.array(revenue),
            pa.array(propensity * revenue),
            pa.repeat(pa.scalar(model_id, pa.string()), n),
            pa.repeat(pa.scalar(naive_utc(scored_at), pa.timestamp("us")), n),
        ],
        schema=SCORES_SCHEMA,
    )


def score_batches(
    batches: Iterable[pa.RecordBatch],
    model: LoadedModel,
    model_id: str,
    scored_at: datetime,
) -> Iterator[pa.RecordBatch]:
    """Score every row of every batch exactly once, one output batch per input batch.

    propensity = P(label = 1); predicted_revenue = revenue model, clipped at 0;
    expected_value = propensity x predicted_revenue. Only ``customer_id``, ``as_of_date``
    and the model's selected features are read; other columns are ignored. A categorical
    level unseen in training scores as all-zero one-hot columns (no error). Raises
    :class:`ScoringError` naming missing or non-numeric feature columns.
    """
    compiled = compile_model(model)
    workspace = Workspace()
    started = time.perf_counter()
    rows = 0
    checked = False
    for batch in batches:
        if not checked:
            _check_columns(batch.schema, compiled)
            checked = True
        rows += batch.num_rows
        yield score_batch(compiled, batch, model_id, scored_at, workspace)
    seconds = time.perf_counter() - started
    log.info(
        "scored %d rows with model %s in %.2fs (%.0f rows/s)",
        rows,
        model_id,
        seconds,
        rows / seconds if seconds > 0 else float("nan"),
    )


def score_table(
    table: pa.Table, model: LoadedModel, model_id: str, scored_at: datetime
) -> pa.Table:
    """Convenience: :func:`score_batches` over a whole Arrow table."""
    batches = list(score_batches(table.to_batches(), model, model_id, scored_at))
    return pa.Table.from_batches(batches, schema=SCORES_SCHEMA)
