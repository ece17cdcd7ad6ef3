"""Model metrics: scikit-learn's where it has them; lift, capture and gains by hand."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn import metrics as skm

GAINS_COLUMNS: tuple[str, ...] = (
    "decile",
    "customers",
    "responders",
    "response_rate",
    "lift",
    "cumulative_responders",
    "cumulative_capture",
)
METRICS_LONG_COLUMNS: tuple[str, ...] = ("model_id", "split", "model", "metric", "value")
SPLITS: tuple[str, ...] = ("cv", "holdout")
MODELS: tuple[str, ...] = ("propensity", "revenue")


def _arrays(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(scores, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y_true and scores must be 1-D of one length, got {y.shape}, {p.shape}")
    return y, p


def score_bins(scores, n_bins: int) -> np.ndarray:
    """Bin of each row, 1 = highest scores, sizes differing by at most one.

    Rows are ordered by score descending, ties by position (stable), and row ``i`` of that
    order goes to bin ``floor(i * n_bins / n) + 1``.
    """
    p = np.asarray(scores, dtype=np.float64)
    n = len(p)
    order = np.argsort(-p, kind="stable")
    bins = np.empty(n, dtype=np.int64)
    bins[order] = np.arange(n) * n_bins // max(n, 1) + 1
    return bins


def gains_table(y_true, scores, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gains by score bin (decile 1 = highest scores).

    lift = bin response rate / overall rate; cumulative_capture = share of all responders
    in bins 1..d. Deterministic for tied scores (see :func:`score_bins`).
    """
    y, p = _arrays(y_true, scores)
    if n_bins < 1 or len(y) < n_bins:
        raise ValueError(f"gains table needs at least n_bins={n_bins} rows, got {len(y)}")
    bins = score_bins(p, n_bins)
    customers = np.bincount(bins, minlength=n_bins + 1)[1:]
    responders = np.bincount(bins, weights=y, minlength=n_bins + 1)[1:].astype(np.int64)
    total = int(y.sum())
    overall = total / len(y)
    rate = responders / customers
    cumulative = np.cumsum(responders)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = rate / overall if overall > 0 else np.full(n_bins, np.nan)
        capture = cumulative / total if total > 0 else np.full(n_bins, np.nan)
    return pd.DataFrame(
        {
            "decile": np.arange(1, n_bins + 1),
            "customers": customers.astype(np.int64),
            "responders": responders,
            "response_rate": rate,
            "lift": lift,
            "cumulative_responders": cumulative.astype(np.int64),
            "cumulative_capture": capture,
        }
    )


def _or_nan(function, *args, **kwargs) -> float:
    """A metric that is undefined for the data (one class only) becomes NaN."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(function(*args, **kwargs))
    except ValueError:
        return math.nan


def classification_metrics(y_true, scores, threshold: float) -> dict[str, float]:
    """Propensity metrics; accuracy, precision, recall and F1 at ``threshold``.

    lift_at_10pct and capture_at_10pct use the top decile of :func:`gains_table` (the
    ``ceil(n / 10)`` highest scores).
    """
    y, p = _arrays(y_true, scores)
    predicted = (p >= threshold).astype(np.int64)
    top = gains_table(y, p, n_bins=10).iloc[0] if len(y) >= 10 else None
    return {
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "roc_auc": _or_nan(skm.roc_auc_score, y, p),
        "average_precision": _or_nan(skm.average_precision_score, y, p),
        "log_loss": _or_nan(skm.log_loss, y, p, labels=[0, 1]),
        "brier": _or_nan(skm.brier_score_loss, y, p, pos_label=1),
        "lift_at_10pct": math.nan if top is None else float(top["lift"]),
        "capture_at_10pct": math.nan if top is None else float(top["cumulative_capture"]),
    }


def regression_metrics(y, yhat) -> dict[str, float]:
    """rmse, mae and r2 (NaN when fewer than two rows)."""
    actual = np.asarray(y, dtype=np.float64)
    predicted = np.asarray(yhat, dtype=np.float64)
    if len(actual) == 0:
        return {"rmse": math.nan, "mae": math.nan, "r2": math.nan}
    return {
        "rmse": float(skm.root_mean_squared_error(actual, predicted)),
        "mae": float(skm.mean_absolute_error(actual, predicted)),
        "r2": _or_nan(skm.r2_score, actual, predicted) if len(actual) >= 2 else math.nan,
    }


def metrics_long(
    model_id: str, split: str, model: str, values: Mapping[str, float]
) -> pd.DataFrame:
    """Metrics as rows (model_id, split, model, metric, value), the shape BI tools chart."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    names = list(values)
    return pd.DataFrame(
        {
            "model_id": [model_id] * len(names),
            "split": [split] * len(names),
            "model": [model] * len(names),
            "metric": names,
            "value": np.array([values[n] for n in names], dtype=np.float64),
        }
    )
