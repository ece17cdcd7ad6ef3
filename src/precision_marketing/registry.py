"""The model registry: one row per trained model, artifact bytes included.

The artifact is one skops blob holding both fitted pipelines. Loading verifies the SHA-256
recorded in the registry row, then lets skops build only the types in
:data:`TRUSTED_TYPES` (plus skops' own defaults): the table is writable by anyone with
warehouse access, and unpickling it would run whatever code it contains.

The registry is append-only: the current champion is the most recent row with
``status = 'champion'`` (see :func:`current_champion`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import sklearn
import skops
import skops.io as sio
from sklearn.pipeline import Pipeline

from precision_marketing.config import RUNTIME_ONLY_KEYS
from precision_marketing.features import FeatureSpec

log = logging.getLogger(__name__)

ARTIFACT_FORMAT = "precision_marketing.model/1"

# Types outside skops' defaults that a model artifact of this package may contain. Built by
# calling skops.io.get_untrusted_types on a fitted artifact of every estimator kind
# (logistic_regression, svm, gradient_boosting) and reviewed: our own selector and one-hot
# name function (plain code of this package), scikit-learn internals of the calibrated SVM
# and of gradient boosting, and numpy's dtype. skops trusts the rest (scikit-learn
# estimators, numpy arrays, builtins) by default. test_registry re-derives the list, so a
# library upgrade that adds a type fails a test, not a build.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "precision_marketing.selection.SourceFeatureSelector",
    "precision_marketing.selection.one_hot_column_name",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)

REGISTRY_SCHEMA = pa.schema(
    [
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("created_at", pa.timestamp("us"), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("estimator", pa.string(), nullable=False),
        pa.field("best_params", pa.string(), nullable=False),
        pa.field("candidate_features", pa.string(), nullable=False),
        pa.field("selected_features", pa.string(), nullable=False),
        pa.field("cv_auc_mean", pa.float64()),
        pa.field("cv_auc_std", pa.float64()),
        pa.field("holdout_auc", pa.float64()),
        pa.field("champion_holdout_auc", pa.float64()),
        pa.field("holdout_metrics", pa.string()),
        pa.field("training_campaigns", pa.string()),
        pa.field("holdout_campaigns", pa.string()),
        pa.field("training_window_start", pa.date32()),
        pa.field("training_window_end", pa.date32()),
        pa.field("n_training_rows", pa.int64()),
        pa.field("n_training_rows_used", pa.int64()),
        pa.field("n_holdout_rows", pa.int64()),
        pa.field("training_positive_rate", pa.float64()),
        pa.field("data_fingerprint", pa.string()),
        pa.field("feature_list_hash", pa.string()),
        pa.field("config_json", pa.string()),
        pa.field("library_versions", pa.string()),
        pa.field("artifact", pa.binary(), nullable=False),
        pa.field("artifact_sha256", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("decision_reason", pa.string()),
        pa.field("feature_scores", pa.string()),
        pa.field("cv_results", pa.string()),
        pa.field("metrics", pa.string()),
        pa.field("gains", pa.string()),
    ]
)
STATUSES: tuple[str, ...] = ("champion", "challenger")


class ArtifactIntegrityError(RuntimeError):
    """The artifact bytes do not hash to the SHA-256 recorded for them."""


class UntrustedArtifactError(RuntimeError):
    """The artifact contains types outside the reviewed trusted list."""


@dataclass(frozen=True)
class LoadedModel:
    """Both fitted pipelines of one model and the features they need.

    ``spec`` lists the candidate features the propensity pipeline was fitted on;
    ``selected_features`` are the ones its selector kept, and the only ones scoring reads
    (the revenue pipeline is fitted on the same selected features).
    """

    propensity: Pipeline
    revenue: Pipeline
    spec: FeatureSpec
    selected_features: tuple[str, ...]
    estimator: str
    library_versions: Mapping[str, str] = field(default_factory=dict)

    @property
    def required_features(self) -> tuple[str, ...]:
        return self.selected_features


def library_versions() -> dict[str, str]:
    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "skops": skops.__version__,
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
    }


def dump_model(model: LoadedModel) -> bytes:
    """The skops artifact of a model (never pickle)."""
    blob = {
        "format": ARTIFACT_FORMAT,
        "propensity": model.propensity,
        "revenue": model.revenue,
        "numeric": list(model.spec.numeric),
        "categorical": list(model.spec.categorical),
        "selected": list(model.selected_features),
        "estimator": model.estimator,
        "library_versions": dict(model.library_versions or library_versions()),
    }
    return sio.dumps(blob)


def artifact_sha256(artifact: bytes) -> str:
    return hashlib.sha256(artifact).hexdigest()


def model_id_for(artifact: bytes) -> str:
    """The model id: first 16 hex digits of the artifact's SHA-256."""
    return artifact_sha256(artifact)[:16]


def load_model(artifact: bytes, expected_sha256: str) -> LoadedModel:
    """Verify the artifact's hash, then load it allowing only trusted types.

    Raises :class:`ArtifactIntegrityError` on a hash mismatch (before reading anything)
    and :class:`UntrustedArtifactError` naming any type outside :data:`TRUSTED_TYPES`.
    """
    started = time.perf_counter()
    actual = artifact_sha256(artifact)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(
            f"model artifact SHA-256 mismatch: registry says {expected_sha256}, "
            f"artifact hashes to {actual}; refusing to load"
        )
    untrusted = sorted(set(sio.get_untrusted_types(data=artifact)) - set(TRUSTED_TYPES))
    if untrusted:
        raise UntrustedArtifactError(
            "model artifact contains types outside the trusted list: "
            + ", ".join(untrusted)
            + "; refusing to load"
        )
    blob = sio.loads(artifact, trusted=list(TRUSTED_TYPES))
    if not isinstance(blob, dict) or blob.get("format") != ARTIFACT_FORMAT:
        raise UntrustedArtifactError(
            f"model artifact is not a {ARTIFACT_FORMAT} blob; refusing to use it"
        )
    versions = dict(blob.get("library_versions", {}))
    if versions.get("sklearn") != sklearn.__version__:
        log.warning(
            "model artifact was written with scikit-learn %s, loading with %s",
            versions.get("sklearn"),
            sklearn.__version__,
        )
    model = LoadedModel(
        propensity=blob["propensity"],
        revenue=blob["revenue"],
        spec=FeatureSpec(tuple(blob["numeric"]), tuple(blob["categorical"])),
        selected_features=tuple(blob["selected"]),
        estimator=str(blob["estimator"]),
        library_versions=versions,
    )
    log.info(
        "loaded model %s (%s, %d selected features, %d bytes) in %.2fs",
        actual[:16],
        model.estimator,
        len(model.selected_features),
        len(artifact),
        time.perf_counter() - started,
    )
    return model


@dataclass(frozen=True)
class RegistryEntry:
    """One registry row; JSON fields are already serialized strings."""

    model_id: str
    created_at: datetime
    target: str
    estimator: str
    best_params: str
    candidate_features: str
    selected_features: str
    cv_auc_mean: float
    cv_auc_std: float
    holdout_auc: float
    champion_holdout_auc: float | None
    holdout_metrics: str
    training_campaigns: str
    holdout_campaigns: str
    training_window_start: date
    training_window_end: date
    n_training_rows: int
    n_training_rows_used: int
    n_holdout_rows: int
    training_positive_rate: float
    data_fingerprint: str
    feature_list_hash: str
    config_json: str
    library_versions: str
    artifact: bytes
    artifact_sha256: str
    status: str
    decision_reason: str
    feature_scores: str
    cv_results: str
    metrics: str
    gains: str


def naive_utc(moment: datetime) -> datetime:
    """A timestamp as naive UTC (Arrow ``timestamp('us')`` without a time zone)."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def entry_to_table(entry: RegistryEntry) -> pa.Table:
    """The entry as a one-row Arrow table with :data:`REGISTRY_SCHEMA`."""
    if entry.status not in STATUSES:
        raise ValueError(f"registry status must be one of {STATUSES}, got {entry.status!r}")
    row = {f.name: getattr(entry, f.name) for f in fields(entry)}
    row["created_at"] = naive_utc(entry.created_at)
    return pa.Table.from_pylist([row], schema=REGISTRY_SCHEMA)


def to_json(value: Any) -> str:
    """JSON with NaN/inf as null and numpy scalars as numbers (valid for every reader)."""
    return json.dumps(_json_safe(value), sort_keys=False)


def _json_safe(value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return [_json_safe(r) for r in value.to_dict(orient="records")]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def retrain_reason(
    champion_row: Mapping[str, Any] | None,
    data_fingerprint: str,
    feature_list_hash: str,
    force: bool,
    config_json: str | None = None,
) -> str | None:
    """Why a new model must be trained, or None to keep using the champion.

    Checked in order: "no champion", "feature list changed", "training data changed",
    "ml config changed" (only if ``config_json`` is given; settings that do not change the
    model, such as ``n_jobs``, are ignored), "forced by var". A forced run with a real
    change reports the change.
    """
    if champion_row is None:
        return "no champion"
    if champion_row.get("feature_list_hash") != feature_list_hash:
        return "feature list changed"
    if champion_row.get("data_fingerprint") != data_fingerprint:
        return "training data changed"
    if config_json is not None and _modelling_settings(
        champion_row.get("config_json")
    ) != _modelling_settings(config_json):
        return "ml config changed"
    if force:
        return "forced by var"
    return None


def _modelling_settings(config_json: object) -> dict[str, Any] | None:
    if not isinstance(config_json, str):
        return None
    settings = json.loads(config_json)
    return {k: v for k, v in settings.items() if k not in RUNTIME_ONLY_KEYS}


def current_champion(registry: pa.Table) -> dict[str, Any] | None:
    """The most recent row with status 'champion', as a dict, or None."""
    if registry.num_rows == 0:
        return None
    frame = registry.select(["status", "created_at"]).to_pandas()
    champions = frame.index[frame["status"] == "champion"]
    if len(champions) == 0:
        return None
    latest = int(frame.loc[champions, "created_at"].idxmax())
    return registry.slice(latest, 1).to_pylist()[0]
