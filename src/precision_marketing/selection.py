"""Feature selection by source feature, inside the scikit-learn Pipeline.

The ColumnTransformer turns a categorical feature into one column per level. Scoring and
keeping levels one by one would keep half a categorical and make the selected list hard to
read, so :class:`SourceFeatureSelector` scores every transformed column, aggregates the
levels back to their source feature (best level's score; for chi2 the smallest p-value)
and keeps all columns of the ``k`` best source features.

Transformed columns are named ``"<feature>"`` (numeric) or ``"<feature>=<level>"`` (one-hot,
see :func:`one_hot_column_name`); a column without ``"="`` is its own source.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.feature_selection import SelectorMixin, chi2, mutual_info_classif
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

from precision_marketing.features import LEVEL_SEPARATOR

log = logging.getLogger(__name__)

METHODS: tuple[str, ...] = ("chi2", "mutual_info", "l1_logistic")
SCORE_COLUMNS: tuple[str, ...] = ("feature", "score", "p_value", "rank", "selected", "method")


def one_hot_column_name(feature: str, category: object) -> str:
    """Name of a one-hot column: ``"<feature>=<level>"`` (OneHotEncoder name combiner)."""
    return f"{feature}{LEVEL_SEPARATOR}{category}"


def source_of(column: str) -> str:
    """The source feature of a transformed column name."""
    return column.split(LEVEL_SEPARATOR, 1)[0]


def _non_negative_unit_scale(X: np.ndarray) -> np.ndarray:
    """Columns in [0, 1] for chi2: returned as they are if already there (the pipeline's
    MinMaxScaler output, up to rounding), else min-max scaled (constants become 0)."""
    low = X.min(axis=0)
    high = X.max(axis=0)
    if (low >= 0).all() and (high <= 1 + 1e-9).all():
        return X
    span = high - low
    span[span == 0] = 1.0
    return (X - low) / span


def _discrete_columns(X: np.ndarray, columns: list[str]) -> np.ndarray:
    """One-hot levels and 0/1 flags: discrete for mutual information."""
    one_hot = np.array([LEVEL_SEPARATOR in c for c in columns], dtype=bool)
    return one_hot | ((X == 0) | (X == 1)).all(axis=0)


def score_columns(
    X: np.ndarray,
    y: np.ndarray,
    method: str,
    columns: list[str],
    random_state: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-column score (higher = more useful) and p-value (NaN unless chi2)."""
    nan = np.full(X.shape[1], np.nan)
    if method == "chi2":
        with np.errstate(divide="ignore", invalid="ignore"):
            scores, p_values = chi2(_non_negative_unit_scale(X), y)
        return np.asarray(scores, dtype=float), np.asarray(p_values, dtype=float)
    if method == "mutual_info":
        scores = mutual_info_classif(
            X, y, discrete_features=_discrete_columns(X, columns), random_state=random_state
        )
        return np.asarray(scores, dtype=float), nan
    if method == "l1_logistic":
        model = LogisticRegression(
            l1_ratio=1.0, solver="liblinear", C=1.0, random_state=random_state, max_iter=1000
        )
        model.fit(_non_negative_unit_scale(X), y)
        return np.abs(model.coef_[0]).astype(float), nan
    raise ValueError(f"unknown selection method {method!r}; use one of {METHODS}")


def aggregate_by_source(
    columns: list[str], scores: np.ndarray, p_values: np.ndarray
) -> pd.DataFrame:
    """One row per source feature, in first-appearance order: max score, min p-value."""
    frame = pd.DataFrame(
        {
            "feature": [source_of(c) for c in columns],
            "score": np.where(np.isnan(scores), -np.inf, scores),
            "p_value": p_values,
        }
    )
    grouped = frame.groupby("feature", sort=False).agg(
        score=("score", "max"), p_value=("p_value", "min")
    )
    grouped["score"] = grouped["score"].replace(-np.inf, np.nan)
    return grouped.reset_index()


def rank_sources(aggregated: pd.DataFrame, k: int, method: str) -> pd.DataFrame:
    """Rank 1 = best score; NaN scores last; ties keep input order. Top ``k`` selected."""
    order = np.lexsort(
        (np.arange(len(aggregated)), -aggregated["score"].fillna(-np.inf).to_numpy())
    )
    ranked = aggregated.iloc[order].reset_index(drop=True)
    ranked["rank"] = np.arange(1, len(ranked) + 1)
    ranked["selected"] = ranked["rank"] <= k
    ranked["method"] = method
    return ranked[list(SCORE_COLUMNS)]


class SourceFeatureSelector(SelectorMixin, BaseEstimator):
    """Keep every transformed column of the ``k`` best source features.

    Parameters
    ----------
    method : 'chi2' | 'mutual_info' | 'l1_logistic'
        chi2 on min-max-scaled columns (the pipeline's scaler output is used as is);
        ``mutual_info_classif`` (one-hot levels and 0/1 flags treated as discrete); or the
        absolute coefficient of an L1 logistic regression on the same scaled columns.
    k : int
        Number of source features kept; all are kept if there are fewer.
    random_state : int or None
        Seed of mutual information and the L1 model.

    Attributes after ``fit``: ``feature_names_in_``, ``sources_`` (source of each input
    column), ``column_scores_``, ``column_p_values_``, ``ranked_features_`` /
    ``ranked_scores_`` / ``ranked_p_values_`` (source features, best first),
    ``selected_features_``, ``support_`` and the DataFrame property ``feature_scores_``.
    Fitted state is plain lists and arrays, so skops stores it without extra trusted types.
    """

    def __init__(self, method: str = "chi2", k: int = 10, random_state: int | None = None):
        self.method = method
        self.k = k
        self.random_state = random_state

    def fit(self, X, y):
        started = time.perf_counter()
        X_checked = validate_data(self, X, dtype="float64", ensure_all_finite=True)
        columns = [str(c) for c in getattr(self, "feature_names_in_", [])] or [
            f"x{i}" for i in range(X_checked.shape[1])
        ]
        scores, p_values = score_columns(
            X_checked, np.asarray(y), self.method, columns, self.random_state
        )
        aggregated = aggregate_by_source(columns, scores, p_values)
        ranked = rank_sources(aggregated, int(self.k), self.method)
        selected = ranked.loc[ranked["selected"], "feature"].tolist()
        keep = set(selected)
        self.sources_ = [source_of(c) for c in columns]
        self.column_scores_ = scores
        self.column_p_values_ = p_values
        self.ranked_features_ = ranked["feature"].tolist()
        self.ranked_scores_ = ranked["score"].to_numpy(dtype=float)
        self.ranked_p_values_ = ranked["p_value"].to_numpy(dtype=float)
        self.selected_features_ = selected
        self.support_ = np.array([s in keep for s in self.sources_], dtype=bool)
        log.debug(
            "selector %s kept %d of %d source features (%d of %d columns) on %d rows in %.2fs",
            self.method,
            len(selected),
            len(ranked),
            int(self.support_.sum()),
            len(columns),
            X_checked.shape[0],
            time.perf_counter() - started,
        )
        return self

    def _get_support_mask(self) -> np.ndarray:
        check_is_fitted(self, "support_")
        return self.support_

    @property
    def feature_scores_(self) -> pd.DataFrame:
        """One row per source feature: feature, score, p_value, rank, selected, method."""
        check_is_fitted(self, "support_")
        n = len(self.ranked_features_)
        frame = pd.DataFrame(
            {
                "feature": list(self.ranked_features_),
                "score": self.ranked_scores_,
                "p_value": self.ranked_p_values_,
                "rank": np.arange(1, n + 1),
                "selected": np.arange(1, n + 1) <= len(self.selected_features_),
                "method": [self.method] * n,
            }
        )
        return frame
