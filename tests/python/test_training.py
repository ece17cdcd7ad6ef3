import json
from dataclasses import replace
from datetime import date, datetime

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import DRIVERS
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from precision_marketing.config import MlConfig
from precision_marketing.features import feature_columns, prepare_features
from precision_marketing.metrics import METRICS_LONG_COLUMNS
from precision_marketing.registry import REGISTRY_SCHEMA
from precision_marketing.steps import read_training_data
from precision_marketing.training import (
    ALL_NULL,
    CV_RESULT_COLUMNS,
    SCORING,
    TrainingDataError,
    TrainingWindow,
    build_pipeline,
    cross_validate_grid,
    fit_propensity,
    fit_revenue,
    predict_revenue,
    search_grid,
    split_out_of_time,
    train_model,
    train_on,
)

NOW = datetime(2024, 10, 2)


def test_split_holds_out_the_latest_campaigns_deterministically(feature_frame):
    train, holdout = split_out_of_time(feature_frame, 2)
    assert sorted(holdout["campaign_id"].unique()) == ["C07", "C08"]
    assert sorted(train["campaign_id"].unique()) == [f"C0{i}" for i in range(1, 7)]
    assert (len(train), len(holdout)) == (4500, 1500)
    assert (train["spine_role"] == "train").all() and (holdout["spine_role"] == "train").all()
    shuffled = feature_frame.sample(frac=1.0, random_state=5)
    train_again, holdout_again = split_out_of_time(shuffled, 2)
    pd.testing.assert_frame_equal(train, train_again)
    pd.testing.assert_frame_equal(holdout, holdout_again)


def test_split_orders_campaigns_by_first_date_then_id():
    frame = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "as_of_date": [
                date(2024, 3, 1),
                date(2024, 1, 1),
                date(2024, 2, 1),
                date(2024, 2, 1),
                date(2024, 6, 1),
            ],
            "spine_role": ["train"] * 4 + ["score"],
            "campaign_id": ["Z", "Y", "B", "A", None],
        }
    )
    train, holdout = split_out_of_time(frame, 2)
    # Y (Jan) < A, B (Feb, tie broken by id) < Z (Mar): the last two are B and Z.
    assert sorted(holdout["campaign_id"]) == ["B", "Z"]
    assert sorted(train["campaign_id"]) == ["A", "Y"]


def test_split_needs_more_campaigns_than_the_holdout(feature_frame):
    with pytest.raises(TrainingDataError, match="need more than holdout_campaigns=8 campaigns"):
        split_out_of_time(feature_frame, 8)


def test_train_model_end_to_end(trained, fast_config):
    assert 0.7 < trained.holdout_metrics["roc_auc"] < 0.99
    assert trained.entry.holdout_auc == trained.holdout_metrics["roc_auc"]
    assert trained.registry_table().schema == REGISTRY_SCHEMA
    assert trained.decision.promote
    assert set(DRIVERS) <= set(trained.model.selected_features)
    fit = trained.propensity
    assert fit.n_rows_total == fit.n_rows_used == 4500
    assert len(fit.selected_features) == fast_config.selection_k
    assert list(fit.cv_results.columns) == list(CV_RESULT_COLUMNS)
    assert len(fit.cv_results) == 3  # logistic C in {0.1, 1}, svm C in {0.1}
    assert fit.cv_results["rank"].min() == 1
    assert 0.7 < fit.cv_metrics["roc_auc"] < 0.99
    assert json.loads(trained.entry.best_params) == fit.best_params
    assert len(fit.feature_scores) == 8
    assert list(trained.metrics.columns) == list(METRICS_LONG_COLUMNS)
    assert set(trained.metrics["split"]) == {"cv", "holdout"}
    assert set(trained.metrics["model"]) == {"propensity", "revenue"}
    assert trained.gains["customers"].sum() == 1500
    assert trained.gains["lift"].iloc[0] > 1.5


def test_champion_is_rescored_on_the_same_holdout(trained, feature_frame, fast_config):
    again = train_model(feature_frame, fast_config, trained.model, NOW)
    # Same data, config and seed: the champion's AUC equals the challenger's, exactly.
    assert again.champion_holdout_auc == trained.holdout_metrics["roc_auc"]
    assert again.holdout_metrics["roc_auc"] == trained.holdout_metrics["roc_auc"]
    assert again.decision.promote
    assert again.entry.status == "champion"
    assert again.decision.reason.startswith("promoted: holdout AUC")


def test_a_much_better_champion_is_kept(trained, feature_frame, fast_config):
    weak = replace(fast_config, selection_k=1, estimators=("logistic_regression",))
    outcome = train_model(feature_frame, weak, trained.model, NOW)
    assert outcome.holdout_metrics["roc_auc"] < trained.holdout_metrics["roc_auc"] - 0.005
    assert not outcome.decision.promote
    assert outcome.entry.status == "challenger"
    assert outcome.decision.reason.startswith("kept champion: holdout AUC")


def test_one_class_training_window_fails_clearly(feature_frame, fast_config):
    frame = feature_frame.copy()
    frame.loc[frame["spine_role"] == "train", "label"] = 0
    with pytest.raises(TrainingDataError) as error:
        train_model(frame, fast_config, None, NOW)
    assert str(error.value) == (
        "training window has only one class (label=0) in 4500 rows; need both"
    )


def test_too_few_training_rows_fail_clearly(feature_frame):
    config = MlConfig.from_meta({"min_training_rows": 5000, "n_jobs": 1})
    with pytest.raises(TrainingDataError) as error:
        train_model(feature_frame, config, None, NOW)
    assert str(error.value) == (
        "training window has 4500 rows; need at least min_training_rows=5000"
    )


def test_one_class_holdout_fails_clearly(feature_frame, fast_config):
    frame = feature_frame.copy()
    frame.loc[frame["campaign_id"].isin(["C07", "C08"]), "label"] = 1
    with pytest.raises(TrainingDataError) as error:
        train_model(frame, fast_config, None, NOW)
    assert str(error.value) == (
        "holdout campaigns have only one class (label=1) in 1500 rows; need both"
    )


def test_all_null_feature_is_excluded_and_recorded(feature_frame, fast_config):
    frame = feature_frame.copy()
    frame["demo_score_new"] = np.nan
    frame.loc[frame["spine_role"] == "score", "demo_score_new"] = 1.0
    train, _ = split_out_of_time(frame, 2)
    fit = fit_propensity(train, fast_config)
    assert fit.excluded_features == ("demo_score_new",)
    assert "demo_score_new" not in fit.candidate_features.all
    row = fit.feature_scores.set_index("feature").loc["demo_score_new"]
    assert row["method"] == ALL_NULL
    assert not row["selected"]
    assert pd.isna(row["rank"])


def test_row_cap_is_stratified_and_selection_uses_all_rows(feature_frame):
    config = MlConfig.from_meta(
        {
            "max_training_rows": 1000,
            "cv_folds": 3,
            "n_jobs": 1,
            "estimators": ["logistic_regression"],
            "param_grids": {"logistic_regression": {"C": [1.0]}},
        }
    )
    train, _ = split_out_of_time(feature_frame, 2)
    fit = fit_propensity(train, config)
    assert (fit.n_rows_total, fit.n_rows_used, fit.selection_rows) == (4500, 1000, 4500)
    # The preprocessing and selector saw every row; the estimator the stratified sample.
    assert fit.pipeline.named_steps["preprocess"].n_features_in_ == 8
    assert fit.pipeline.named_steps["select"].n_features_in_ > 8
    assert fit.positive_rate == pytest.approx(train["label"].mean())


def test_gradient_boosting_grid_runs_in_parallel_folds(feature_frame):
    config = MlConfig.from_meta(
        {
            "estimators": ["logistic_regression", "gradient_boosting"],
            "param_grids": {
                "logistic_regression": {"C": [1.0]},
                "gradient_boosting": {"max_iter": [30], "learning_rate": [0.1]},
            },
            "cv_folds": 2,
            "n_jobs": 2,
        }
    )
    train, _ = split_out_of_time(feature_frame, 2)
    fit = fit_propensity(train, config)
    assert fit.cv_results["estimator"].tolist() == ["logistic_regression", "gradient_boosting"]
    assert fit.estimator in {"logistic_regression", "gradient_boosting"}


def test_revenue_predictions_are_never_negative(feature_frame, fast_config):
    train, _ = split_out_of_time(feature_frame, 2)
    spec = feature_columns(train)
    pipeline = fit_revenue(train, spec, fast_config)
    predictions = predict_revenue(pipeline, prepare_features(feature_frame, spec))
    assert (predictions >= 0).all()
    responders = train.loc[train["label"] == 1]
    fitted = pipeline.predict(prepare_features(responders, spec))
    # Revenue grows with the monetary feature in the synthetic data: the fit must see it.
    assert np.corrcoef(fitted, responders["response_revenue"])[0, 1] > 0.3


def test_build_pipeline_steps(fast_config, feature_frame):
    spec = feature_columns(feature_frame)
    pipeline = build_pipeline(spec, fast_config, "svm")
    assert [name for name, _ in pipeline.steps] == ["preprocess", "select", "estimator"]
    assert hasattr(pipeline.named_steps["estimator"], "predict_proba")


def test_grid_search_gives_gridsearchcv_scores(feature_frame, fast_config):
    train, _ = split_out_of_time(feature_frame, 2)
    spec = feature_columns(train, exclude=("label", "response_revenue"))
    X, y = prepare_features(train, spec), train["label"].to_numpy(dtype="int64")
    template = build_pipeline(spec, fast_config, "logistic_regression")
    ours = cross_validate_grid(template, search_grid(fast_config), X, y, fast_config)
    folds = StratifiedKFold(fast_config.cv_folds, shuffle=True, random_state=42)
    search = GridSearchCV(
        template, search_grid(fast_config), scoring=SCORING, refit=False, cv=folds
    )
    reference = search.fit(X, y).cv_results_
    # Preprocessing and selection fitted once per fold instead of once per candidate:
    # the same fitted steps, so the very same scores.
    for name in SCORING:
        np.testing.assert_array_equal(ours[f"mean_test_{name}"], reference[f"mean_test_{name}"])
        np.testing.assert_array_equal(ours[f"std_test_{name}"], reference[f"std_test_{name}"])
    np.testing.assert_array_equal(ours["rank_test_roc_auc"], reference["rank_test_roc_auc"])
    assert [str(p) for p in ours["params"]] == [str(p) for p in reference["params"]]


@pytest.fixture
def feature_relation(feature_table):
    con = duckdb.connect()
    con.register("customer_features", feature_table)
    yield con.table("customer_features").filter("spine_role = 'train'")
    con.close()


def test_training_data_read_in_sql_matches_the_frame(feature_relation, feature_frame, fast_config):
    train, window, holdout = read_training_data(feature_relation, fast_config, batch_rows=400)
    frame_train, frame_holdout = split_out_of_time(feature_frame, 2)
    # The frame's label and revenue are float: its score rows hold NULLs.
    pd.testing.assert_frame_equal(train, frame_train, check_dtype=False)
    assert window == TrainingWindow.of(frame_train, "label")
    assert window.labels.rows == 4500
    assert window.campaigns == tuple(f"C0{i}" for i in range(1, 7))
    assert (window.start, window.end) == (date(2024, 1, 1), date(2024, 5, 30))
    assert holdout.campaigns == ("C07", "C08") and holdout.labels.rows == 1500
    batches = list(holdout.read(["customer_id", "as_of_date", "label"]))
    assert [b.num_rows for b in batches] == [400, 400, 400, 300]
    read = pd.concat([b.to_pandas() for b in batches], ignore_index=True)
    expected = frame_holdout[["customer_id", "as_of_date", "label"]]
    pd.testing.assert_frame_equal(read, expected, check_dtype=False)
    # The same model as from the frame: same rows, same order, same scores.
    outcome = train_on(
        train,
        window,
        holdout,
        fast_config,
        None,
        NOW,
        data_fingerprint="f",
        feature_hash="h",
    )
    from_frame = train_model(feature_frame, fast_config, None, NOW)
    assert outcome.holdout_metrics == from_frame.holdout_metrics
    assert outcome.entry.n_training_rows == from_frame.entry.n_training_rows == 4500
    assert outcome.entry.feature_list_hash == "h"


def test_a_window_beyond_the_fit_budget_is_sampled_by_class(feature_relation, fast_config):
    train, window, holdout = read_training_data(feature_relation, fast_config, max_fit_rows=1000)
    assert len(train) == 1000
    assert train["label"].sum() == round(1000 * window.labels.positive_rate)
    assert set(train["campaign_id"]) == set(window.campaigns)
    keys = ["as_of_date", "campaign_id", "customer_id"]
    pd.testing.assert_frame_equal(train, train.sort_values(keys).reset_index(drop=True))
    again, _, _ = read_training_data(feature_relation, fast_config, max_fit_rows=1000)
    pd.testing.assert_frame_equal(train, again)
    reseeded, _, _ = read_training_data(
        feature_relation, replace(fast_config, random_seed=7), max_fit_rows=1000
    )
    assert not train["customer_id"].equals(reseeded["customer_id"])
    outcome = train_on(
        train, window, holdout, fast_config, None, NOW, data_fingerprint="f", feature_hash="h"
    )
    # The registry row describes the whole window and holdout, not the sample.
    entry = outcome.entry
    assert (entry.n_training_rows, entry.n_training_rows_used, entry.n_holdout_rows) == (
        4500,
        1000,
        1500,
    )
    assert entry.training_positive_rate == window.labels.positive_rate


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        (
            "case when customer_id % 50 = 0 then null else label end as label",
            "90 training rows have a NULL label",
        ),
        (
            "case when customer_id % 50 = 0 then 2 else label end as label",
            "label must be 0 or 1 in training rows",
        ),
        (
            "case when customer_id % 1000 = 0 then null else campaign_id end as campaign_id",
            "6 training rows have a NULL campaign_id",
        ),
    ],
)
def test_bad_training_rows_fail_as_from_a_frame(
    feature_relation, fast_config, replacement, message
):
    relation = feature_relation.project(f"* replace ({replacement})")
    with pytest.raises(TrainingDataError, match=message):
        train, window, holdout = read_training_data(relation, fast_config)
        train_on(
            train, window, holdout, fast_config, None, NOW, data_fingerprint="f", feature_hash="h"
        )
    with pytest.raises(TrainingDataError, match=message):
        train_model(relation.to_arrow_table().to_pandas(), fast_config, None, NOW)
