import json

import pytest

from precision_marketing.config import ConfigError, MlConfig, parse_value


def test_defaults_match_the_documented_values():
    config = MlConfig.from_meta({})
    assert config == MlConfig()
    assert config.holdout_campaigns == 2
    assert config.selection_method == "chi2"
    assert config.selection_k == 10
    assert config.estimators == ("logistic_regression", "svm")
    assert config.param_grids["logistic_regression"] == {"C": [0.1, 1.0, 10.0, 100.0]}
    assert config.param_grids["svm"] == {"C": [0.01, 0.1, 1.0]}
    assert config.cv_folds == 5
    assert config.max_training_rows == 100_000
    assert config.min_training_rows == 200
    assert config.random_seed == 42
    assert config.promotion_tolerance == 0.005
    assert config.classification_threshold == 0.2
    assert config.force_retrain is False
    assert config.n_jobs == 2


def test_values_rendered_as_strings_are_parsed():
    config = MlConfig.from_meta(
        {
            "holdout_campaigns": "3",
            "promotion_tolerance": "0.01",
            "force_retrain": "true",
            "estimators": "['logistic_regression', 'gradient_boosting']",
            "param_grids": "{'logistic_regression': {'C': [0.1,1]}}",
            "selection_method": "mutual_info",
            "n_jobs": "-1",
            "cv_folds": None,  # an unset dbt var: keep the default
        }
    )
    assert config.holdout_campaigns == 3
    assert config.promotion_tolerance == 0.01
    assert config.force_retrain is True
    assert config.estimators == ("logistic_regression", "gradient_boosting")
    assert config.param_grids["logistic_regression"] == {"C": [0.1, 1]}
    # A grid given for one estimator leaves the others' defaults alone.
    assert config.param_grids["svm"] == {"C": [0.01, 0.1, 1.0]}
    assert config.selection_method == "mutual_info"
    assert config.n_jobs == -1
    assert config.cv_folds == 5


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("2", 2),
        ("0.005", 0.005),
        ("true", True),
        ("True", True),
        ("[0.1, 1, 10, 100]", [0.1, 1, 10, 100]),
        ("{'a': {'C': [0.1, 1]}}", {"a": {"C": [0.1, 1]}}),
        ("chi2", "chi2"),
        (7, 7),
    ],
)
def test_parse_value(raw, parsed):
    assert parse_value(raw) == parsed


def test_to_json_round_trips():
    config = MlConfig.from_meta({"selection_k": 4, "estimators": ["svm"]})
    data = json.loads(config.to_json())
    assert data["selection_k"] == 4
    assert data["estimators"] == ["svm"]
    assert MlConfig.from_meta(data) == config


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"cv_folds": "x"}, "ml config 'cv_folds' must be an integer >= 2, got 'x'"),
        ({"cv_folds": 1}, "ml config 'cv_folds' must be an integer >= 2, got 1"),
        ({"cv_folds": "2.5"}, "ml config 'cv_folds' must be an integer >= 2, got 2.5"),
        (
            {"holdout_campaigns": "0"},
            "ml config 'holdout_campaigns' must be an integer >= 1, got 0",
        ),
        ({"selection_k": True}, "ml config 'selection_k' must be an integer >= 1, got True"),
        (
            {"max_training_rows": 50},
            "ml config 'max_training_rows' must be an integer >= 100, got 50",
        ),
        ({"random_seed": -1}, "ml config 'random_seed' must be an integer >= 0, got -1"),
        (
            {"selection_method": "anova"},
            "ml config 'selection_method' must be one of 'chi2', 'mutual_info', "
            "'l1_logistic', got 'anova'",
        ),
        (
            {"estimators": "['svm', 'xgboost']"},
            "ml config 'estimators' must be a non-empty list of distinct names from "
            "'logistic_regression', 'svm', 'gradient_boosting', got ['svm', 'xgboost']",
        ),
        (
            {"estimators": []},
            "ml config 'estimators' must be a non-empty list of distinct names from "
            "'logistic_regression', 'svm', 'gradient_boosting', got []",
        ),
        (
            {"promotion_tolerance": "0.2"},
            "ml config 'promotion_tolerance' must be a number in [0, 0.1], got 0.2",
        ),
        (
            {"classification_threshold": 1},
            "ml config 'classification_threshold' must be a number in (0, 1), got 1",
        ),
        (
            {"force_retrain": "maybe"},
            "ml config 'force_retrain' must be a boolean (true/false), got 'maybe'",
        ),
        (
            {"n_jobs": 0},
            "ml config 'n_jobs' must be an integer >= 1, or -1 for all cores, got 0",
        ),
        ({"target": ""}, "ml config 'target' must be a non-empty column name, got ''"),
        (
            {"param_grids": {"svm": {"gamma": [1]}}},
            "ml config 'param_grids' must name parameters of 'svm' (C, class_weight, dual, "
            "fit_intercept, intercept_scaling, loss, max_iter, multi_class, penalty, "
            "random_state, tol, verbose), got ['gamma']",
        ),
        (
            {"param_grids": {"svm": {"C": []}}},
            "ml config 'param_grids' must be a mapping of estimator name to {parameter: "
            "non-empty list of values}, estimators from 'logistic_regression', 'svm', "
            "'gradient_boosting', got {'svm': {'C': []}}",
        ),
        (
            {"min_training_rows": 5000, "max_training_rows": 1000},
            "ml config 'min_training_rows' must be <= 'max_training_rows', got 5000 > 1000",
        ),
        (
            {"cv_fold": 3},
            "ml config has unknown key 'cv_fold' (did you mean 'cv_folds'?); known keys: "
            "classification_threshold, cv_folds, estimators, force_retrain, "
            "holdout_campaigns, max_training_rows, min_training_rows, n_jobs, param_grids, "
            "promotion_tolerance, random_seed, revenue_column, selection_k, selection_method, "
            "target",
        ),
    ],
)
def test_invalid_values_fail_with_a_message_naming_key_rule_and_value(meta, message):
    with pytest.raises(ConfigError) as error:
        MlConfig.from_meta(meta)
    assert str(error.value) == message


def test_config_is_frozen():
    config = MlConfig()
    with pytest.raises(AttributeError):
        config.cv_folds = 3  # type: ignore[misc]
