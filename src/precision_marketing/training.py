"""Training: out-of-time split, grid search, revenue model, holdout and promotion.

Everything statistical (imputation, scaling, selection, the estimator) is fitted on the
training window only, inside one scikit-learn ``Pipeline``; the holdout (most recent
campaigns) is touched only to evaluate the new model and the champion on the same rows.

Two entry points: :func:`train_model` takes the whole feature frame in memory;
:func:`train_on` takes the training rows to fit on (the window, or a stratified sample of
it), the window's counts and dates, and a holdout read in Arrow batches, so a training
window larger than memory never becomes one pandas frame.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from joblib.externals.loky import get_reusable_executor
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder
from sklearn.svm import LinearSVC
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from precision_marketing.config import MlConfig
from precision_marketing.features import (
    TRAIN_ROLE,
    FeatureSpec,
    arrow_float64,
    feature_columns,
    feature_list_hash,
    numeric_values,
    prepare_features,
)
from precision_marketing.features import (
    data_fingerprint as compute_data_fingerprint,
)
from precision_marketing.metrics import (
    classification_metrics,
    gains_table,
    metrics_long,
    regression_metrics,
)
from precision_marketing.promotion import PromotionDecision, decide
from precision_marketing.registry import (
    LoadedModel,
    RegistryEntry,
    artifact_sha256,
    dump_model,
    entry_to_table,
    library_versions,
    model_id_for,
    to_json,
)
from precision_marketing.scoring import Workspace, compile_model, score_batch
from precision_marketing.selection import SourceFeatureSelector, one_hot_column_name

log = logging.getLogger(__name__)

SCORING = {
    "roc_auc": "roc_auc",
    "average_precision": "average_precision",
    "neg_log_loss": "neg_log_loss",
    "neg_brier_score": "neg_brier_score",
}
# Where each estimator's own parameters sit in the pipeline (the SVM is calibrated).
PARAM_PREFIX = {
    "logistic_regression": "estimator__",
    "svm": "estimator__estimator__",
    "gradient_boosting": "estimator__",
}
REVENUE_ALPHAS: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
ALL_NULL = "excluded: all NULL in training window"
CV_RESULT_COLUMNS: tuple[str, ...] = (
    "estimator",
    "params",
    "mean_roc_auc",
    "std_roc_auc",
    "mean_average_precision",
    "mean_log_loss",
    "mean_brier",
    "mean_fit_seconds",
    "rank",
)
HOLDOUT_BATCH_ROWS = 500_000
"""Rows per Arrow batch when the holdout comes from an in-memory frame."""


class TrainingDataError(ValueError):
    """The training data cannot produce a trustworthy model (too few rows, one class...)."""


# --- estimators and pipeline ------------------------------------------------------------


def make_estimator(name: str, random_seed: int) -> BaseEstimator:
    """A fresh, unfitted estimator of a configured kind (all give predict_proba)."""
    if name == "logistic_regression":
        return LogisticRegression(max_iter=1000, random_state=random_seed)
    if name == "svm":
        # LinearSVC has no probabilities; sigmoid calibration on 3 internal folds adds them.
        return CalibratedClassifierCV(
            LinearSVC(random_state=random_seed, max_iter=5000), cv=3, method="sigmoid"
        )
    if name == "gradient_boosting":
        return HistGradientBoostingClassifier(random_state=random_seed)
    raise ValueError(f"unknown estimator {name!r}")


def estimator_param_names(name: str) -> set[str]:
    """Parameter names a configured grid may use for an estimator kind."""
    estimator = make_estimator(name, 0)
    if isinstance(estimator, CalibratedClassifierCV):
        estimator = estimator.estimator
    return set(estimator.get_params(deep=False))


def estimator_name(estimator: BaseEstimator) -> str:
    """The configured name of a (fitted or unfitted) estimator."""
    if isinstance(estimator, LogisticRegression):
        return "logistic_regression"
    if isinstance(estimator, CalibratedClassifierCV):
        return "svm"
    if isinstance(estimator, HistGradientBoostingClassifier):
        return "gradient_boosting"
    raise ValueError(f"unknown estimator type {type(estimator).__name__}")


def build_preprocessor(spec: FeatureSpec) -> ColumnTransformer:
    """Impute and scale numerics; impute and one-hot categoricals.

    The median imputer is a safety net (staging imputes and flags in SQL). A category not
    seen in training becomes all zeros (``handle_unknown='ignore'``): the model scores it
    like the reference level instead of failing. One-hot columns are named
    ``"<feature>=<level>"`` so the selector can map them back to their source. The output
    is a pandas frame, so those names reach the next step.
    """
    numeric = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", add_indicator=False)),
            ("scale", MinMaxScaler()),
        ]
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            (
                "one_hot",
                OneHotEncoder(
                    handle_unknown="ignore",
                    sparse_output=False,
                    feature_name_combiner=one_hot_column_name,
                ),
            ),
        ]
    )
    preprocessor = ColumnTransformer(
        [
            ("numeric", numeric, list(spec.numeric)),
            ("categorical", categorical, list(spec.categorical)),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    )
    return preprocessor.set_output(transform="pandas")


def build_pipeline(spec: FeatureSpec, config: MlConfig, estimator_name: str) -> Pipeline:
    """preprocess (ColumnTransformer) -> select (SourceFeatureSelector) -> estimator."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(spec)),
            (
                "select",
                SourceFeatureSelector(
                    method=config.selection_method,
                    k=config.selection_k,
                    random_state=config.random_seed,
                ),
            ),
            ("estimator", make_estimator(estimator_name, config.random_seed)),
        ]
    )


def search_grid(config: MlConfig) -> list[dict[str, list[Any]]]:
    """One GridSearchCV grid per configured estimator, swapping the 'estimator' step."""
    grids = []
    for name in config.estimators:
        grid: dict[str, list[Any]] = {"estimator": [make_estimator(name, config.random_seed)]}
        for param, values in config.grid_for(name).items():
            grid[PARAM_PREFIX[name] + param] = list(values)
        grids.append(grid)
    return grids


# --- data -------------------------------------------------------------------------------


def split_out_of_time(
    frame: pd.DataFrame, holdout_campaigns: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Training window and holdout from the ``spine_role == 'train'`` rows.

    Campaigns are ordered by their earliest ``as_of_date`` (ties by ``campaign_id``); the
    last ``holdout_campaigns`` are the holdout. Both parts are sorted by (as_of_date,
    campaign_id, customer_id), so sampling and CV folds do not depend on read order.
    """
    rows = frame.loc[frame["spine_role"].astype(object) == TRAIN_ROLE]
    if rows["campaign_id"].isna().any():
        raise null_campaign_error(int(rows["campaign_id"].isna().sum()))
    ordered = campaigns_in_order(rows)
    _, held = split_campaigns(ordered, holdout_campaigns)
    is_holdout = rows["campaign_id"].astype(str).isin(set(held))
    keys = ["as_of_date", "campaign_id", "customer_id"]
    train = rows.loc[~is_holdout].sort_values(keys, kind="stable").reset_index(drop=True)
    holdout = rows.loc[is_holdout].sort_values(keys, kind="stable").reset_index(drop=True)
    log.info(
        "out-of-time split: %d training rows in %d campaigns, %d holdout rows in %d (%s)",
        len(train),
        len(ordered) - holdout_campaigns,
        len(holdout),
        holdout_campaigns,
        ", ".join(held),
    )
    return train, holdout


def null_campaign_error(rows: int) -> TrainingDataError:
    return TrainingDataError(f"{rows} training rows have a NULL campaign_id")


def order_campaigns(first_dates: Mapping[str, Any]) -> list[str]:
    """Campaign ids ordered by their first date (``{campaign_id: date}``), then id."""
    return sorted(first_dates, key=lambda campaign: (first_dates[campaign], campaign))


def campaigns_in_order(rows: pd.DataFrame) -> list[str]:
    """Campaign ids ordered by earliest as_of_date, then id."""
    firsts = (
        pd.DataFrame(
            {
                "campaign_id": rows["campaign_id"].astype(str),
                "as_of_date": pd.to_datetime(rows["as_of_date"]),
            }
        )
        .groupby("campaign_id")["as_of_date"]
        .min()
    )
    return order_campaigns(firsts.to_dict())


def split_campaigns(ordered: Sequence[str], holdout_campaigns: int) -> tuple[list[str], list[str]]:
    """(training campaigns, holdout campaigns): the last ``holdout_campaigns`` are held out."""
    if len(ordered) <= holdout_campaigns:
        raise TrainingDataError(
            f"need more than holdout_campaigns={holdout_campaigns} campaigns to train, "
            f"found {len(ordered)}"
        )
    return list(ordered[:-holdout_campaigns]), list(ordered[-holdout_campaigns:])


@dataclass(frozen=True)
class LabelCounts:
    """Rows of a set, and how many have a NULL label, a label other than 0/1, label 1."""

    rows: int
    nulls: int
    invalid: int
    positives: int

    @classmethod
    def of(cls, values: pd.Series) -> LabelCounts:
        known = values.dropna().to_numpy(dtype="int64")
        return cls(
            rows=len(values),
            nulls=int(values.isna().sum()),
            invalid=int((~np.isin(known, (0, 1))).sum()),
            positives=int((known == 1).sum()),
        )

    def check(self, target: str, where: str) -> None:
        """Refuse NULL labels and labels other than 0 and 1."""
        if self.nulls:
            raise TrainingDataError(f"{self.nulls} {where} rows have a NULL {target}")
        if self.invalid:
            raise TrainingDataError(f"{target} must be 0 or 1 in {where} rows")

    @property
    def only_class(self) -> int | None:
        """The single label present (0 or 1), or None when both occur."""
        if self.positives == 0:
            return 0
        if self.positives == self.rows:
            return 1
        return None

    @property
    def positive_rate(self) -> float:
        return self.positives / self.rows if self.rows else math.nan


def check_window(counts: LabelCounts, config: MlConfig) -> None:
    """Enough training-window rows, valid labels, both classes."""
    if counts.rows < config.min_training_rows:
        raise TrainingDataError(
            f"training window has {counts.rows} rows; need at least min_training_rows="
            f"{config.min_training_rows}"
        )
    counts.check(config.target, "training")
    if counts.only_class is not None:
        raise TrainingDataError(
            f"training window has only one class ({config.target}={counts.only_class}) in "
            f"{counts.rows} rows; need both"
        )


def check_holdout(counts: LabelCounts, config: MlConfig) -> None:
    """Valid labels and both classes in the holdout."""
    counts.check(config.target, "holdout")
    if counts.only_class is not None:
        raise TrainingDataError(
            f"holdout campaigns have only one class ({config.target}={counts.only_class}) in "
            f"{counts.rows} rows; need both"
        )


def check_training_rows(train: pd.DataFrame, config: MlConfig) -> np.ndarray:
    """Labels of the training window, after the row-count and class checks."""
    check_window(LabelCounts.of(train[config.target]), config)
    return train[config.target].to_numpy(dtype="int64")


def usable_features(train: pd.DataFrame, spec: FeatureSpec) -> tuple[FeatureSpec, tuple[str, ...]]:
    """Drop features that are entirely NULL in the training window (logged, returned)."""
    empty = tuple(c for c in spec.all if train[c].isna().all())
    for name in empty:
        log.warning(
            "feature %r is NULL in all %d training rows; excluded from candidates",
            name,
            len(train),
        )
    kept = spec.without(empty)
    if not kept.all:
        raise TrainingDataError("no usable feature: every feature column is NULL in training")
    return kept, empty


def stratified_cap(
    X: pd.DataFrame, y: np.ndarray, max_rows: int, random_seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """At most ``max_rows`` rows, class shares kept, seeded."""
    if len(X) <= max_rows:
        return X, y
    X_used, _, y_used, _ = train_test_split(
        X, y, train_size=max_rows, stratify=y, random_state=random_seed
    )
    return X_used, y_used


# --- propensity -------------------------------------------------------------------------


@dataclass(frozen=True)
class PropensityFit:
    """A fitted propensity pipeline and how it was chosen.

    ``feature_scores`` has one row per candidate feature (feature, score, p_value, rank,
    selected, method); features excluded for being all NULL are appended with
    ``method = 'excluded: all NULL in training window'`` and no rank. ``n_rows_used`` rows
    went into the grid search and the estimator; ``selection_rows`` into preprocessing and
    selection (all training-window rows when capped, except for mutual information).
    """

    pipeline: Pipeline
    estimator: str
    best_params: dict[str, Any]
    cv_results: pd.DataFrame
    cv_metrics: dict[str, float]
    feature_scores: pd.DataFrame
    selected_features: tuple[str, ...]
    candidate_features: FeatureSpec
    excluded_features: tuple[str, ...]
    n_rows_total: int
    n_rows_used: int
    positive_rate: float
    selection_rows: int


def _bare_params(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    name = estimator_name(params["estimator"])
    prefix = PARAM_PREFIX[name]
    bare = {k[len(prefix) :]: _plain(v) for k, v in params.items() if k != "estimator"}
    return name, dict(sorted(bare.items()))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def cv_results_frame(results: Mapping[str, Any]) -> pd.DataFrame:
    """One row per grid candidate, ranked by mean ROC AUC."""
    named = [_bare_params(p) for p in results["params"]]
    return pd.DataFrame(
        {
            "estimator": [n for n, _ in named],
            "params": [json.dumps(p, sort_keys=True) for _, p in named],
            "mean_roc_auc": results["mean_test_roc_auc"],
            "std_roc_auc": results["std_test_roc_auc"],
            "mean_average_precision": results["mean_test_average_precision"],
            "mean_log_loss": -np.asarray(results["mean_test_neg_log_loss"]),
            "mean_brier": -np.asarray(results["mean_test_neg_brier_score"]),
            "mean_fit_seconds": results["mean_fit_time"],
            "rank": np.asarray(results["rank_test_roc_auc"], dtype=np.int64),
        }
    )[list(CV_RESULT_COLUMNS)]


def _fit_fold(
    template: Pipeline,
    candidates: list[dict[str, Any]],
    X: pd.DataFrame,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
) -> list[tuple[dict[str, float], float]]:
    """(test-fold scores, fit seconds) of every candidate on one fold."""
    started = time.perf_counter()
    steps = clone(Pipeline(template.steps[:-1]))
    X_train = steps.fit_transform(X.iloc[train], y[train])
    X_test = steps.transform(X.iloc[test])
    shared_seconds = time.perf_counter() - started
    scorer = check_scoring(template, scoring=SCORING)
    results = []
    for params in candidates:
        estimator = clone(template).set_params(**clone(params, safe=False)).steps[-1][1]
        started = time.perf_counter()
        estimator.fit(X_train, y[train])
        seconds = shared_seconds + time.perf_counter() - started
        results.append((scorer(estimator, X_test, y[test]), seconds))
    return results


def cross_validate_grid(
    template: Pipeline,
    grid: list[dict[str, list[Any]]],
    X: pd.DataFrame,
    y: np.ndarray,
    config: MlConfig,
) -> dict[str, Any]:
    """``GridSearchCV(template, grid, scoring=SCORING, cv=...).cv_results_``, with less work.

    Preprocessing and selection do not depend on the estimator or its parameters, so each
    fold fits them once and every candidate estimator is fitted on the transformed fold;
    GridSearchCV refits them per candidate (7 times with the default grid), and they cost
    more than the estimators. Same folds, fitted steps, scorers and statistics: the same
    scores. ``mean_fit_time`` counts the fold's shared steps in every candidate's time.
    Folds run in ``n_jobs`` processes, stopped afterwards.
    """
    candidates = list(ParameterGrid(grid))
    folds = StratifiedKFold(config.cv_folds, shuffle=True, random_state=config.random_seed)
    per_fold = Parallel(n_jobs=config.n_jobs)(
        delayed(_fit_fold)(template, candidates, X, y, train, test)
        for train, test in folds.split(X, y)
    )
    if config.n_jobs != 1:
        # joblib keeps its worker processes for reuse; in a long build (dbt) they would
        # hold ~0.2 GB each until the end.
        get_reusable_executor().shutdown(wait=True)
    seconds = np.array([[s for _, s in fold] for fold in per_fold]).T
    results: dict[str, Any] = {"params": candidates, "mean_fit_time": seconds.mean(axis=1)}
    for name in SCORING:
        scores = np.array([[fold_scores[name] for fold_scores, _ in fold] for fold in per_fold]).T
        means = np.average(scores, axis=1)
        results[f"mean_test_{name}"] = means
        results[f"std_test_{name}"] = np.sqrt(np.average((scores - means[:, None]) ** 2, axis=1))
    results["rank_test_roc_auc"] = _rank(results["mean_test_roc_auc"])
    return results


def _rank(means: np.ndarray) -> np.ndarray:
    """1 = best mean; ties share the best rank; NaN last (as GridSearchCV ranks)."""
    if np.isnan(means).all():
        return np.ones(len(means), dtype=np.int32)
    filled = np.nan_to_num(means, nan=np.nanmin(means) - 1)
    return rankdata(-filled, method="min").astype(np.int32)


def _fit_steps(template: Pipeline, X: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """The template's steps before the estimator (preprocess, select), fitted."""
    return clone(Pipeline(template.steps[:-1])).fit(X, y)


def _fit_final(
    chosen: Pipeline, fitted_steps: Pipeline | None, X_used: pd.DataFrame, y_used: np.ndarray
) -> Pipeline:
    """The chosen pipeline, fitted on the capped rows, or only its estimator on them when
    its preprocessing and selection were fitted on every row (``fitted_steps``)."""
    if fitted_steps is None:
        return clone(chosen).fit(X_used, y_used)
    estimator = clone(chosen.named_steps["estimator"]).fit(fitted_steps.transform(X_used), y_used)
    return Pipeline([*fitted_steps.steps, ("estimator", estimator)])


def fit_propensity(train: pd.DataFrame, config: MlConfig) -> PropensityFit:
    """Grid-search the configured estimators on the training window.

    Checks first: at least ``min_training_rows`` rows and both classes, else
    :class:`TrainingDataError`. A feature column that is NULL in every training row is
    dropped from the candidates with a warning and recorded (``excluded_features`` and a
    row in ``feature_scores``): it carries no information, and failing the build for a
    newly added feature with no history yet would block every other model.

    The search (:func:`cross_validate_grid`) runs on a stratified, seeded sample of at most
    ``max_training_rows`` rows: StratifiedKFold(cv_folds, shuffled, seeded), scored on ROC
    AUC, average precision, log loss and Brier; the best mean ROC AUC wins. BLAS is limited
    to one thread and CV folds run in ``n_jobs`` processes (4x faster than BLAS threads on
    2 cores).
    """
    started = time.perf_counter()
    y_all = check_training_rows(train, config)
    spec, excluded = usable_features(
        train, feature_columns(train, exclude=(config.target, config.revenue_column))
    )
    X_all = prepare_features(train, spec)
    X_used, y_used = stratified_cap(X_all, y_all, config.max_training_rows, config.random_seed)
    template = build_pipeline(spec, config, config.estimators[0])
    # With a row cap, preprocessing and selection are fitted on every row: a selector
    # fitted on a sample can drop a true driver (DESIGN, Modelling), and chi2 or L1
    # scoring of every row takes seconds. Mutual information grows as n log n per column
    # and stays on the sample. The grid only varies the estimator, so these steps are
    # fitted in a thread while the search runs in worker processes.
    capped = len(X_all) > len(X_used) and config.selection_method != "mutual_info"
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=1) as background:
        steps = background.submit(_fit_steps, template, X_all, y_all) if capped else None
        cv_results = cross_validate_grid(template, search_grid(config), X_used, y_used, config)
        results = cv_results_frame(cv_results)
        best = int(np.argmin(cv_results["rank_test_roc_auc"]))
        best_params = cv_results["params"][best]
        chosen = clone(template).set_params(**clone(best_params, safe=False))
        pipeline = _fit_final(chosen, steps.result() if steps else None, X_used, y_used)
    selection_rows = len(X_all) if capped else len(X_used)
    name, bare = _bare_params(best_params)
    selector: SourceFeatureSelector = pipeline.named_steps["select"]
    scores = selector.feature_scores_
    if excluded:
        extra = pd.DataFrame(
            {
                "feature": list(excluded),
                "score": np.nan,
                "p_value": np.nan,
                "rank": pd.array([None] * len(excluded), dtype="Int64"),
                "selected": False,
                "method": ALL_NULL,
            }
        )
        scores = pd.concat([scores.astype({"rank": "Int64"}), extra], ignore_index=True)
    row = results.iloc[best]
    cv_metrics = {
        "roc_auc": float(row["mean_roc_auc"]),
        "roc_auc_std": float(row["std_roc_auc"]),
        "average_precision": float(row["mean_average_precision"]),
        "log_loss": float(row["mean_log_loss"]),
        "brier": float(row["mean_brier"]),
    }
    fit = PropensityFit(
        pipeline=pipeline,
        estimator=name,
        best_params=bare,
        cv_results=results,
        cv_metrics=cv_metrics,
        feature_scores=scores,
        selected_features=tuple(selector.selected_features_),
        candidate_features=spec,
        excluded_features=excluded,
        n_rows_total=len(X_all),
        n_rows_used=len(X_used),
        positive_rate=float(y_all.mean()),
        selection_rows=selection_rows,
    )
    log.info(
        "propensity: %s %s won %d candidates, CV AUC %.4f +/- %.4f; %d of %d features "
        "selected by %s on %d rows; search on %d of %d rows (positive rate %.4f) in %.1fs",
        name,
        json.dumps(bare),
        len(results),
        cv_metrics["roc_auc"],
        cv_metrics["roc_auc_std"],
        len(fit.selected_features),
        len(spec.all),
        config.selection_method,
        selection_rows,
        fit.n_rows_used,
        fit.n_rows_total,
        fit.positive_rate,
        time.perf_counter() - started,
    )
    return fit


# --- revenue ----------------------------------------------------------------------------


def fit_revenue(train: pd.DataFrame, spec: FeatureSpec, config: MlConfig) -> Pipeline:
    """Ridge regression of revenue among responders (label 1) on the features in ``spec``.

    Pass the propensity model's selected features: scoring then reads one feature set.
    Same preprocessing as the propensity pipeline (fitted on responders), no selector;
    alpha by efficient leave-one-out CV over a small grid. Responders with NULL revenue
    are left out. Predictions must be clipped at 0 (see :func:`predict_revenue`).
    """
    started = time.perf_counter()
    responders = train.loc[train[config.target].to_numpy(dtype="float64", na_value=0) == 1]
    revenue = numeric_values(responders[config.revenue_column])
    known = ~np.isnan(revenue)
    if known.sum() < 2:
        raise TrainingDataError(
            f"revenue model needs at least 2 responders with {config.revenue_column}, "
            f"got {int(known.sum())}"
        )
    rows = responders.loc[known]
    pipeline = Pipeline(
        [
            ("preprocess", build_preprocessor(spec)),
            ("regressor", RidgeCV(alphas=REVENUE_ALPHAS)),
        ]
    )
    pipeline.fit(prepare_features(rows, spec), revenue[known])
    log.info(
        "revenue: ridge (alpha %s) on %d responders (%d with NULL revenue left out), "
        "%d features, in %.2fs",
        pipeline.named_steps["regressor"].alpha_,
        int(known.sum()),
        int((~known).sum()),
        len(spec.all),
        time.perf_counter() - started,
    )
    return pipeline


def predict_revenue(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray:
    """Revenue predictions clipped at 0 (a linear model can go negative)."""
    return np.maximum(pipeline.predict(X), 0.0)


# --- the training step ------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingOutcome:
    """Everything one training run produced; ``entry`` is the registry row."""

    entry: RegistryEntry
    model: LoadedModel
    decision: PromotionDecision
    propensity: PropensityFit
    holdout_metrics: dict[str, float]
    champion_holdout_auc: float | None
    gains: pd.DataFrame
    metrics: pd.DataFrame

    @property
    def model_id(self) -> str:
        return self.entry.model_id

    def registry_table(self) -> pa.Table:
        """The registry row as a one-row Arrow table (REGISTRY_SCHEMA)."""
        return entry_to_table(self.entry)


@dataclass(frozen=True)
class TrainingWindow:
    """The whole training window: the rows given to the fit may be a sample of it."""

    labels: LabelCounts
    start: date
    end: date
    campaigns: tuple[str, ...]

    @classmethod
    def of(cls, train: pd.DataFrame, target: str) -> TrainingWindow:
        dates = pd.to_datetime(train["as_of_date"])
        return cls(
            labels=LabelCounts.of(train[target]),
            start=dates.min().date(),
            end=dates.max().date(),
            campaigns=tuple(campaigns_in_order(train)),
        )


@dataclass(frozen=True)
class HoldoutRows:
    """The out-of-time holdout, read as Arrow record batches of the columns asked for.

    ``read(columns)`` yields every holdout row once, in (as_of_date, campaign_id,
    customer_id) order so that tie order in the gains table never depends on a scan; it is
    called once per model evaluated (the new model, the champion).
    """

    labels: LabelCounts
    campaigns: tuple[str, ...]
    columns: tuple[str, ...]
    read: Callable[[Sequence[str]], Iterable[pa.RecordBatch]]

    @classmethod
    def of(cls, holdout: pd.DataFrame, target: str) -> HoldoutRows:
        """From a frame sorted by the keys (as :func:`split_out_of_time` returns it)."""

        def read(columns: Sequence[str]) -> list[pa.RecordBatch]:
            table = pa.Table.from_pandas(holdout[list(columns)], preserve_index=False)
            return table.to_batches(HOLDOUT_BATCH_ROWS)

        return cls(
            labels=LabelCounts.of(holdout[target]),
            campaigns=tuple(campaigns_in_order(holdout)),
            columns=tuple(str(c) for c in holdout.columns),
            read=read,
        )


@dataclass(frozen=True)
class HoldoutPredictions:
    """Per holdout row: label, propensity, predicted revenue, revenue (NaN when NULL)."""

    y: np.ndarray
    propensity: np.ndarray
    predicted_revenue: np.ndarray
    revenue: np.ndarray


def predict_holdout(
    model: LoadedModel, holdout: HoldoutRows, config: MlConfig, now: datetime
) -> HoldoutPredictions:
    """Scores of every holdout row by the scoring kernel, batch by batch.

    The kernel gives the pipeline's scores bit for bit (see :mod:`scoring`) at a fraction
    of the time and memory, and it is what scores the customers.
    """
    columns = dict.fromkeys(
        ["customer_id", "as_of_date", config.target, config.revenue_column]
        + list(model.required_features)
    )
    compiled = compile_model(model)
    workspace = Workspace()
    parts: list[tuple[np.ndarray, ...]] = []
    for batch in holdout.read(list(columns)):
        scored = score_batch(compiled, batch, "holdout", now, workspace)
        parts.append(
            (
                arrow_float64(batch.column(config.target)).astype(np.int64),
                scored.column("propensity").to_numpy(),
                scored.column("predicted_revenue").to_numpy(),
                arrow_float64(batch.column(config.revenue_column)),
            )
        )
    y, propensity, predicted, revenue = (
        np.concatenate([part[i] for part in parts]) if parts else np.empty(0) for i in range(4)
    )
    return HoldoutPredictions(y.astype(np.int64), propensity, predicted, revenue)


def evaluate_champion(
    champion: LoadedModel, holdout: HoldoutRows, config: MlConfig, now: datetime
) -> tuple[float | None, str]:
    """Champion holdout AUC on the same rows, or None with the reason it cannot be scored."""
    missing = [c for c in champion.required_features if c not in holdout.columns]
    if missing:
        return None, f"champion needs features no longer present: {', '.join(missing)}"
    predictions = predict_holdout(champion, holdout, config, now)
    auc = classification_metrics(predictions.y, predictions.propensity, 0.5)["roc_auc"]
    return auc, ""


def train_model(
    frame: pd.DataFrame,
    config: MlConfig,
    champion: LoadedModel | None,
    now: datetime,
    *,
    data_fingerprint: str | None = None,
) -> TrainingOutcome:
    """The training step on a whole feature frame in memory: split, then :func:`train_on`.

    ``data_fingerprint`` is stored in the registry for :func:`registry.retrain_reason`;
    computed from the frame's training rows when not given.
    """
    train, holdout = split_out_of_time(frame, config.holdout_campaigns)
    return train_on(
        train,
        TrainingWindow.of(train, config.target),
        HoldoutRows.of(holdout, config.target),
        config,
        champion,
        now,
        data_fingerprint=data_fingerprint or compute_data_fingerprint(frame),
        feature_hash=feature_list_hash(
            feature_columns(frame, exclude=(config.target, config.revenue_column))
        ),
    )


def train_on(
    train: pd.DataFrame,
    window: TrainingWindow,
    holdout: HoldoutRows,
    config: MlConfig,
    champion: LoadedModel | None,
    now: datetime,
    *,
    data_fingerprint: str,
    feature_hash: str,
) -> TrainingOutcome:
    """The training step: fit, evaluate on the holdout, compare, build the registry row.

    ``train`` holds the training-window rows the fit sees, sorted by (as_of_date,
    campaign_id, customer_id): the whole ``window``, or a stratified sample of it when it
    is too large for memory. Preprocessing and selection are fitted on all of ``train``,
    the estimator on at most ``max_training_rows`` of them, the revenue model on its
    responders. The registry row describes the whole window. The champion, if given and
    if its selected features are still present, is re-scored on the same holdout rows; a
    champion that cannot be scored does not block the new model.
    """
    started = time.perf_counter()
    check_window(window.labels, config)
    check_holdout(holdout.labels, config)
    fit = fit_propensity(train, config)
    candidates = fit.candidate_features
    selected_spec = candidates.restricted_to(fit.selected_features)
    revenue = fit_revenue(train, selected_spec, config)
    model = LoadedModel(
        propensity=fit.pipeline,
        revenue=revenue,
        spec=candidates,
        selected_features=selected_spec.all,
        estimator=fit.estimator,
        library_versions=library_versions(),
    )
    artifact = dump_model(model)
    sha = artifact_sha256(artifact)
    model_id = model_id_for(artifact)

    scored = predict_holdout(model, holdout, config, now)
    holdout_metrics = classification_metrics(
        scored.y, scored.propensity, config.classification_threshold
    )
    gains = gains_table(scored.y, scored.propensity)
    responded = (scored.y == 1) & ~np.isnan(scored.revenue)
    revenue_metrics = regression_metrics(
        scored.revenue[responded], scored.predicted_revenue[responded]
    )

    champion_auc, unscorable = (None, "")
    if champion is not None:
        champion_auc, unscorable = evaluate_champion(champion, holdout, config, now)
    decision = decide(holdout_metrics["roc_auc"], champion_auc, config.promotion_tolerance)
    if unscorable:
        decision = PromotionDecision(True, f"{unscorable}; {decision.reason}")

    metrics = pd.concat(
        [
            metrics_long(model_id, "cv", "propensity", fit.cv_metrics),
            metrics_long(model_id, "holdout", "propensity", holdout_metrics),
            metrics_long(model_id, "holdout", "revenue", revenue_metrics),
        ],
        ignore_index=True,
    )
    entry = RegistryEntry(
        model_id=model_id,
        created_at=now,
        target=config.target,
        estimator=fit.estimator,
        best_params=to_json(fit.best_params),
        candidate_features=to_json(candidates.to_dict()),
        selected_features=to_json(list(model.selected_features)),
        cv_auc_mean=fit.cv_metrics["roc_auc"],
        cv_auc_std=fit.cv_metrics["roc_auc_std"],
        holdout_auc=holdout_metrics["roc_auc"],
        champion_holdout_auc=champion_auc,
        holdout_metrics=to_json(
            holdout_metrics | {f"revenue_{k}": v for k, v in revenue_metrics.items()}
        ),
        training_campaigns=to_json(list(window.campaigns)),
        holdout_campaigns=to_json(list(holdout.campaigns)),
        training_window_start=window.start,
        training_window_end=window.end,
        n_training_rows=window.labels.rows,
        n_training_rows_used=fit.n_rows_used,
        n_holdout_rows=holdout.labels.rows,
        training_positive_rate=window.labels.positive_rate,
        data_fingerprint=data_fingerprint,
        feature_list_hash=feature_hash,
        config_json=config.to_json(),
        library_versions=to_json(model.library_versions),
        artifact=artifact,
        artifact_sha256=sha,
        status="champion" if decision.promote else "challenger",
        decision_reason=decision.reason,
        feature_scores=to_json(fit.feature_scores),
        cv_results=to_json(fit.cv_results),
        metrics=to_json(metrics),
        gains=to_json(gains),
    )
    log.info(
        "model %s (%s): holdout AUC %.4f on %d rows, lift@10%% %.2f; %s; training step %.1fs",
        model_id,
        fit.estimator,
        holdout_metrics["roc_auc"],
        holdout.labels.rows,
        holdout_metrics["lift_at_10pct"],
        decision.reason,
        time.perf_counter() - started,
    )
    return TrainingOutcome(
        entry=entry,
        model=model,
        decision=decision,
        propensity=fit,
        holdout_metrics=holdout_metrics,
        champion_holdout_auc=None if champion_auc is None else float(champion_auc),
        gains=gains,
        metrics=metrics,
    )
