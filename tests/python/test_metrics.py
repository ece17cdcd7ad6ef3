import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from precision_marketing.metrics import (
    GAINS_COLUMNS,
    METRICS_LONG_COLUMNS,
    classification_metrics,
    gains_table,
    metrics_long,
    regression_metrics,
    score_bins,
)

# Ten rows; rows 1 and 2 tie at 0.8 and the earlier row (a non-responder) ranks first.
Y = np.array([1, 0, 1, 0, 0, 1, 0, 0, 0, 1])
P = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])


def test_gains_table_on_a_hand_computed_example():
    gains = gains_table(Y, P, n_bins=5)
    expected = pd.DataFrame(
        {
            "decile": [1, 2, 3, 4, 5],
            "customers": [2, 2, 2, 2, 2],
            "responders": [1, 1, 1, 0, 1],
            "response_rate": [0.5, 0.5, 0.5, 0.0, 0.5],
            "lift": [1.25, 1.25, 1.25, 0.0, 1.25],
            "cumulative_responders": [1, 2, 3, 3, 4],
            "cumulative_capture": [0.25, 0.5, 0.75, 0.75, 1.0],
        }
    )
    assert list(gains.columns) == list(GAINS_COLUMNS)
    pd.testing.assert_frame_equal(gains, expected, check_dtype=False)


def test_gains_bins_are_balanced_and_ties_follow_position():
    assert score_bins(P, 5).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert score_bins([0.5] * 7, 3).tolist() == [1, 1, 1, 2, 2, 3, 3]
    gains = gains_table(np.r_[Y, 0, 1, 0], np.r_[P, 0.05, 0.05, 0.0], n_bins=10)
    assert gains["customers"].tolist() == [2, 1, 1, 2, 1, 1, 2, 1, 1, 1]
    assert gains["cumulative_responders"].iloc[-1] == 5


def test_gains_table_needs_as_many_rows_as_bins():
    with pytest.raises(ValueError, match="at least n_bins=10 rows, got 3"):
        gains_table([0, 1, 0], [0.1, 0.2, 0.3])


def test_classification_metrics_equal_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0.001, 0.999)
    result = classification_metrics(y, p, threshold=0.4)
    predicted = (p >= 0.4).astype(int)
    assert result["accuracy"] == skm.accuracy_score(y, predicted)
    assert result["precision"] == skm.precision_score(y, predicted)
    assert result["recall"] == skm.recall_score(y, predicted)
    assert result["f1"] == skm.f1_score(y, predicted)
    assert result["roc_auc"] == skm.roc_auc_score(y, p)
    assert result["average_precision"] == skm.average_precision_score(y, p)
    assert result["log_loss"] == skm.log_loss(y, p)
    assert result["brier"] == skm.brier_score_loss(y, p)


def test_lift_and_capture_at_ten_percent_by_hand():
    result = classification_metrics(Y, P, threshold=0.5)
    # Top 10% = the single best row (responder): rate 1 / overall 0.4; 1 of 4 responders.
    assert result["lift_at_10pct"] == 2.5
    assert result["capture_at_10pct"] == 0.25
    # At 0.5: predicted positive rows 0,1,2,3,4,5 hold 3 of the 4 responders.
    assert result["precision"] == 0.5
    assert result["recall"] == 0.75
    assert result["accuracy"] == 0.6


def test_one_class_gives_nan_auc_instead_of_failing():
    result = classification_metrics([0] * 10, np.linspace(0, 1, 10), threshold=0.5)
    assert math.isnan(result["roc_auc"])
    assert result["precision"] == 0.0


def test_regression_metrics():
    result = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 6.0])
    assert result == {"rmse": 1.0, "mae": 0.5, "r2": pytest.approx(0.2, abs=1e-12)}
    assert math.isnan(regression_metrics([5.0], [4.0])["r2"])
    assert all(math.isnan(v) for v in regression_metrics([], []).values())


def test_metrics_long():
    frame = metrics_long("abc", "holdout", "propensity", {"roc_auc": 0.8, "brier": 0.1})
    assert list(frame.columns) == list(METRICS_LONG_COLUMNS)
    assert frame.to_dict(orient="records") == [
        {
            "model_id": "abc",
            "split": "holdout",
            "model": "propensity",
            "metric": "roc_auc",
            "value": 0.8,
        },
        {
            "model_id": "abc",
            "split": "holdout",
            "model": "propensity",
            "metric": "brier",
            "value": 0.1,
        },
    ]
    with pytest.raises(ValueError, match="split must be one of"):
        metrics_long("abc", "test", "propensity", {})
    with pytest.raises(ValueError, match="model must be one of"):
        metrics_long("abc", "cv", "churn", {})
