import json
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from conftest import DRIVERS

from precision_marketing.config import MlConfig
from precision_marketing.features import feature_columns, prepare_features
from precision_marketing.metrics import METRICS_LONG_COLUMNS
from precision_marketing.registry import REGISTRY_SCHEMA
from precision_marketing.training import (
    ALL_NULL,
    CV_RESULT_COLUMNS,
    TrainingDataError,
    build_pipeline,
    fit_propensity,
    fit_revenue,
    predict_revenue,
    split_out_of_time,
    train_model,
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
