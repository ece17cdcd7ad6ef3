"""The feature frame: which columns are meta data, which are features, and of which kind.

The assembled feature table (one row per ``(customer_id, as_of_date)``) carries a fixed set
of meta columns; every other column is a candidate feature. A feature is numeric (float,
int, bool, decimal; NULL allowed) or categorical (string; NULL allowed). Analysts add a
feature in SQL only, so this module infers the kinds from the column types instead of a
hand-kept list.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

META_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "as_of_date",
    "spine_role",
    "campaign_id",
    "label",
    "response_revenue",
)
"""Columns of the feature frame that are never features."""

TRAIN_ROLE = "train"
SCORE_ROLE = "score"

# Transformed one-hot columns are named "<source feature>=<level>"; SQL identifiers cannot
# contain "=", so the source of every transformed column is unambiguous.
LEVEL_SEPARATOR = "="


class FeatureSpecError(ValueError):
    """A feature column has a type the models cannot use, or a name they cannot carry."""


@dataclass(frozen=True)
class FeatureSpec:
    """The candidate features of a frame, split by kind, in frame column order."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def without(self, names: Iterable[str]) -> FeatureSpec:
        """The same spec with ``names`` removed."""
        drop = set(names)
        return FeatureSpec(
            numeric=tuple(c for c in self.numeric if c not in drop),
            categorical=tuple(c for c in self.categorical if c not in drop),
        )

    def restricted_to(self, names: Iterable[str]) -> FeatureSpec:
        """The spec restricted to ``names`` (kinds and order kept)."""
        keep = set(names)
        return FeatureSpec(
            numeric=tuple(c for c in self.numeric if c in keep),
            categorical=tuple(c for c in self.categorical if c in keep),
        )

    def to_dict(self) -> dict[str, list[str]]:
        return {"numeric": list(self.numeric), "categorical": list(self.categorical)}


def _first_valid(series: pd.Series) -> object:
    index = series.first_valid_index()
    return None if index is None else series.loc[index]


def _arrow_kind(arrow_type: pa.DataType) -> str | None:
    if pa.types.is_dictionary(arrow_type):
        return _arrow_kind(arrow_type.value_type)
    if (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    ):
        return "numeric"
    if (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    ):
        return "categorical"
    return None


def _kind(series: pd.Series) -> str | None:
    """'numeric', 'categorical', or None when the type is unsupported."""
    dtype = series.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return _arrow_kind(dtype.pyarrow_dtype)
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    if pd.api.types.is_string_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        if pd.api.types.is_object_dtype(dtype):
            value = _first_valid(series)
            if value is None:
                return "numeric"  # all NULL: kind is moot, training drops it
            if isinstance(value, str):
                return "categorical"
            if isinstance(value, numbers.Number | decimal.Decimal):
                return "numeric"
            return None
        return "categorical"
    return None


def feature_columns(frame: pd.DataFrame, exclude: Iterable[str] = ()) -> FeatureSpec:
    """Split the non-meta columns of ``frame`` into numeric and categorical features.

    ``exclude`` names further non-feature columns (e.g. a configured target). Raises
    :class:`FeatureSpecError` for a column of another type (date, timestamp, list...) or a
    name containing ``"="``, naming the column.
    """
    skip = set(META_COLUMNS) | set(exclude)
    numeric: list[str] = []
    categorical: list[str] = []
    for name in frame.columns:
        if name in skip:
            continue
        if LEVEL_SEPARATOR in str(name):
            raise FeatureSpecError(
                f"feature column {name!r} contains {LEVEL_SEPARATOR!r}; rename it in SQL"
            )
        kind = _kind(frame[name])
        if kind == "numeric":
            numeric.append(str(name))
        elif kind == "categorical":
            categorical.append(str(name))
        else:
            raise FeatureSpecError(
                f"feature column {name!r} has unsupported type {frame[name].dtype}; "
                "cast it to a number or a string in SQL"
            )
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(categorical))


def feature_columns_from_schema(schema: pa.Schema, exclude: Iterable[str] = ()) -> FeatureSpec:
    """:func:`feature_columns` from an Arrow schema: exact types, no rows needed.

    Use it to hash the feature list of a relation without reading it; it agrees with
    :func:`feature_columns` on the same data read into pandas.
    """
    skip = set(META_COLUMNS) | set(exclude)
    numeric: list[str] = []
    categorical: list[str] = []
    for field in schema:
        if field.name in skip:
            continue
        if LEVEL_SEPARATOR in field.name:
            raise FeatureSpecError(
                f"feature column {field.name!r} contains {LEVEL_SEPARATOR!r}; rename it in SQL"
            )
        kind = _arrow_kind(field.type)
        if kind is None:
            raise FeatureSpecError(
                f"feature column {field.name!r} has unsupported type {field.type}; "
                "cast it to a number or a string in SQL"
            )
        (numeric if kind == "numeric" else categorical).append(field.name)
    return FeatureSpec(numeric=tuple(numeric), categorical=tuple(categorical))


def arrow_float64(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric Arrow array as float64 with NaN for NULL (bool becomes 0.0/1.0).

    Decimals go through their text form: Arrow's direct decimal-to-double cast is off by
    one unit in the last place for some values, while parsing the text rounds correctly,
    as ``float(Decimal)`` does, so training (pandas) and scoring (Arrow) see equal values.
    Casting DECIMAL to DOUBLE in SQL avoids this cost.
    """
    if pa.types.is_decimal(array.type):
        array = pc.cast(array, pa.string())
    if not pa.types.is_float64(array.type):
        array = pc.cast(array, pa.float64())
    return array.to_numpy(zero_copy_only=False)


def numeric_values(series: pd.Series) -> np.ndarray:
    """A numeric feature as float64 with NaN for NULL (bool becomes 0.0/1.0)."""
    if isinstance(series.dtype, pd.ArrowDtype) and pa.types.is_decimal(series.dtype.pyarrow_dtype):
        return arrow_float64(pa.array(series))
    if pd.api.types.is_object_dtype(series.dtype):
        return pd.to_numeric(series.astype(object), errors="raise").to_numpy(
            dtype="float64", na_value=np.nan
        )
    return series.to_numpy(dtype="float64", na_value=np.nan)


def categorical_values(series: pd.Series) -> np.ndarray:
    """A categorical feature as an object array of str with NaN for NULL."""
    values = series.astype(object).to_numpy()
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = np.nan
    return values


def prepare_features(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model input: the spec's columns with uniform dtypes (float64 / object str).

    Arrow-backed, nullable and pandas ``str`` columns all arrive in one form, so the fitted
    pipeline sees the same types at training and at scoring.
    """
    data: dict[str, np.ndarray] = {}
    for name in spec.numeric:
        data[name] = numeric_values(frame[name])
    for name in spec.categorical:
        data[name] = categorical_values(frame[name])
    prepared = pd.DataFrame(data, index=frame.index, copy=False)
    for name in spec.categorical:
        prepared[name] = prepared[name].astype(object)
    return prepared[list(spec.all)]


def feature_list_hash(spec: FeatureSpec) -> str:
    """A short hash of the candidate feature names and kinds (order-insensitive)."""
    items = sorted([f"n:{c}" for c in spec.numeric] + [f"c:{c}" for c in spec.categorical])
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()[:16]


def _hashable(series: pd.Series) -> pd.Series:
    """One representation per logical type, so Arrow, nullable and numpy reads hash alike."""
    kind = _kind(series)
    if kind == "numeric":
        return pd.Series(numeric_values(series), copy=False)
    if kind == "categorical":
        return pd.Series(categorical_values(series), copy=False)
    return pd.Series(series.astype(str).to_numpy(dtype=object), copy=False)


def data_fingerprint(frame: pd.DataFrame) -> str:
    """A hash of the training rows (``spine_role == 'train'``), independent of row order.

    Rows are sorted by their key and columns by name, so the same data read in another
    order (DuckDB scans in parallel) or with other pandas dtypes gives the same fingerprint.
    """
    train = frame.loc[frame["spine_role"].astype(object) == TRAIN_ROLE]
    columns = sorted(str(c) for c in train.columns)
    keys = [c for c in ("customer_id", "as_of_date", "campaign_id") if c in train.columns]
    ordered = train.sort_values(keys, kind="stable") if keys else train
    digest = hashlib.sha256()
    digest.update(json.dumps(columns).encode())
    for name in columns:
        hashes = pd.util.hash_pandas_object(_hashable(ordered[name]), index=False)
        digest.update(np.ascontiguousarray(hashes.to_numpy(dtype="uint64")).tobytes())
    return digest.hexdigest()[:16]
