import numpy as np
import pandas as pd
import pytest
from conftest import DRIVERS, NOISE
from sklearn.base import clone
from sklearn.feature_selection import chi2
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from precision_marketing.features import feature_columns, prepare_features
from precision_marketing.selection import SCORE_COLUMNS, SourceFeatureSelector
from precision_marketing.training import build_preprocessor


@pytest.fixture(scope="module")
def transformed(feature_frame):
    train = feature_frame.loc[feature_frame["spine_role"] == "train"]
    spec = feature_columns(train)
    X = build_preprocessor(spec).fit_transform(prepare_features(train, spec))
    return X, train["label"].to_numpy(dtype="int64")


@pytest.mark.parametrize("method", ["chi2", "mutual_info", "l1_logistic"])
def test_true_drivers_rank_above_all_noise(transformed, method):
    X, y = transformed
    selector = SourceFeatureSelector(method=method, k=len(DRIVERS), random_state=0).fit(X, y)
    scores = selector.feature_scores_.set_index("feature")
    assert max(scores.loc[list(DRIVERS), "rank"]) < min(scores.loc[list(NOISE), "rank"])
    assert set(selector.selected_features_) == set(DRIVERS)
    assert (scores["method"] == method).all()


def test_one_row_per_source_feature_with_levels_aggregated(transformed):
    X, y = transformed
    selector = SourceFeatureSelector(method="chi2", k=3, random_state=0).fit(X, y)
    scores = selector.feature_scores_
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert sorted(scores["feature"]) == sorted(DRIVERS + NOISE)
    assert scores["rank"].tolist() == list(range(1, 9))
    assert scores["selected"].tolist() == [True] * 3 + [False] * 5

    levels = [c for c in X.columns if c.startswith("chan_contact_channel=")]
    assert len(levels) == 4  # email, mail, sms and the imputed 'missing'
    level_scores, level_p = chi2(X[levels], y)  # already min-max scaled: 0/1
    row = scores.set_index("feature").loc["chan_contact_channel"]
    assert row["score"] == pytest.approx(level_scores.max(), rel=1e-12)
    assert row["p_value"] == pytest.approx(level_p.min(), rel=1e-12)


def test_transform_keeps_every_level_of_a_selected_categorical(transformed):
    X, y = transformed
    selector = SourceFeatureSelector(method="chi2", k=1, random_state=0).fit(X, y)
    assert selector.selected_features_ == ["chan_contact_channel"]
    kept = list(selector.get_feature_names_out())
    assert kept == [c for c in X.columns if c.startswith("chan_contact_channel=")]
    assert selector.transform(X).shape == (len(X), len(kept))


def test_non_chi2_methods_have_no_p_value(transformed):
    X, y = transformed
    scores = SourceFeatureSelector("mutual_info", 3, 0).fit(X, y).feature_scores_
    assert scores["p_value"].isna().all()


def test_k_above_the_number_of_features_keeps_all(transformed):
    X, y = transformed
    selector = SourceFeatureSelector("chi2", 50, 0).fit(X, y)
    assert selector.get_support().all()
    assert selector.feature_scores_["selected"].all()


def test_constant_column_ranks_last_without_error():
    X = pd.DataFrame({"a": [0.0, 1.0, 0.0, 1.0], "flat": [0.0] * 4, "b": [0.1, 0.9, 0.2, 0.8]})
    y = np.array([0, 1, 0, 1])
    scores = SourceFeatureSelector("chi2", 2, 0).fit(X, y).feature_scores_
    assert scores["feature"].tolist()[-1] == "flat"
    assert np.isnan(scores["score"].iloc[-1])


def test_unnamed_input_columns_are_their_own_sources():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    scores = SourceFeatureSelector("chi2", 1, 0).fit(X, [0, 1, 0, 1]).feature_scores_
    assert sorted(scores["feature"]) == ["x0", "x1"]


def test_clone_and_params_work_inside_grid_search(transformed):
    X, y = transformed
    selector = SourceFeatureSelector(method="mutual_info", k=3, random_state=1)
    assert clone(selector).get_params() == {"method": "mutual_info", "k": 3, "random_state": 1}
    pipeline = Pipeline(
        [("select", SourceFeatureSelector("chi2", 2, 0)), ("model", LogisticRegression())]
    )
    search = GridSearchCV(pipeline, {"select__k": [2, 4]}, cv=2, scoring="roc_auc")
    search.fit(X.iloc[:2000], y[:2000])
    assert search.best_params_["select__k"] == 4
    assert len(search.best_estimator_.named_steps["select"].selected_features_) == 4
