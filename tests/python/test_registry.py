import json
from dataclasses import replace
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from precision_marketing.config import MlConfig
from precision_marketing.features import (
    feature_columns,
    feature_columns_from_schema,
    feature_list_hash,
    prepare_features,
)
from precision_marketing.registry import (
    ARTIFACT_FORMAT,
    REGISTRY_SCHEMA,
    TRUSTED_TYPES,
    ArtifactIntegrityError,
    UntrustedArtifactError,
    artifact_sha256,
    current_champion,
    entry_to_table,
    load_model,
    retrain_reason,
)
from precision_marketing.training import train_model

JSON_COLUMNS = (
    "best_params",
    "candidate_features",
    "selected_features",
    "holdout_metrics",
    "training_campaigns",
    "holdout_campaigns",
    "config_json",
    "library_versions",
    "feature_scores",
    "cv_results",
    "metrics",
    "gains",
)


def add_one(X):
    return X + 1


def test_registry_row_matches_the_schema(trained):
    table = entry_to_table(trained.entry)
    assert table.schema == REGISTRY_SCHEMA
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["model_id"] == row["artifact_sha256"][:16] == trained.model_id
    assert row["artifact_sha256"] == artifact_sha256(row["artifact"])
    assert row["created_at"] == datetime(2024, 10, 2, 6, 0, 0)
    assert row["training_window_start"] == date(2024, 1, 1)
    assert row["training_window_end"] == date(2024, 5, 30)
    assert json.loads(row["training_campaigns"]) == ["C01", "C02", "C03", "C04", "C05", "C06"]
    assert json.loads(row["holdout_campaigns"]) == ["C07", "C08"]
    assert (row["n_training_rows"], row["n_holdout_rows"]) == (4500, 1500)
    assert row["champion_holdout_auc"] is None
    assert row["status"] == "champion"
    for column in JSON_COLUMNS:
        json.loads(row[column])  # strict JSON: NaN would fail here
    versions = json.loads(row["library_versions"])
    assert set(versions) == {"sklearn", "numpy", "pandas", "skops", "pyarrow", "python"}


def test_round_trip_reproduces_predictions_exactly(trained, feature_frame):
    entry = trained.entry
    loaded = load_model(entry.artifact, entry.artifact_sha256)
    assert loaded.selected_features == trained.model.selected_features
    assert loaded.spec == trained.model.spec
    X = prepare_features(feature_frame, trained.model.spec)
    np.testing.assert_array_equal(
        loaded.propensity.predict_proba(X), trained.model.propensity.predict_proba(X)
    )
    revenue_X = prepare_features(
        feature_frame, trained.model.spec.restricted_to(loaded.selected_features)
    )
    np.testing.assert_array_equal(
        loaded.revenue.predict(revenue_X), trained.model.revenue.predict(revenue_X)
    )


def test_tampered_artifact_is_refused(trained):
    entry = trained.entry
    tampered = bytearray(entry.artifact)
    tampered[len(tampered) // 2] ^= 0xFF
    actual = artifact_sha256(bytes(tampered))
    with pytest.raises(ArtifactIntegrityError) as error:
        load_model(bytes(tampered), entry.artifact_sha256)
    assert str(error.value) == (
        f"model artifact SHA-256 mismatch: registry says {entry.artifact_sha256}, "
        f"artifact hashes to {actual}; refusing to load"
    )


def test_artifact_with_an_untrusted_type_is_refused():
    pipeline = Pipeline([("f", FunctionTransformer(add_one)), ("m", LogisticRegression())])
    pipeline.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    artifact = sio.dumps({"format": ARTIFACT_FORMAT, "propensity": pipeline})
    with pytest.raises(UntrustedArtifactError) as error:
        load_model(artifact, artifact_sha256(artifact))
    assert str(error.value) == (
        "model artifact contains types outside the trusted list: "
        f"{add_one.__module__}.add_one; refusing to load"
    )


def test_artifact_of_another_format_is_refused():
    artifact = sio.dumps({"format": "something/else"})
    with pytest.raises(UntrustedArtifactError, match="is not a precision_marketing.model/1"):
        load_model(artifact, artifact_sha256(artifact))


@pytest.mark.parametrize("estimator", ["svm", "gradient_boosting"])
def test_trusted_types_cover_every_estimator_kind(feature_frame, estimator):
    config = MlConfig.from_meta(
        {
            "estimators": [estimator],
            "cv_folds": 2,
            "n_jobs": 1,
            "param_grids": {"svm": {"C": [0.1]}, "gradient_boosting": {"max_iter": [20]}},
        }
    )
    outcome = train_model(feature_frame, config, None, datetime(2024, 10, 2))
    artifact = outcome.entry.artifact
    assert set(sio.get_untrusted_types(data=artifact)) <= set(TRUSTED_TYPES)
    loaded = load_model(artifact, outcome.entry.artifact_sha256)
    assert loaded.estimator == estimator
    X = prepare_features(feature_frame.head(500), loaded.spec)
    np.testing.assert_array_equal(
        loaded.propensity.predict_proba(X), outcome.model.propensity.predict_proba(X)
    )


def test_trusted_types_cover_the_logistic_artifact(trained):
    assert set(sio.get_untrusted_types(data=trained.entry.artifact)) <= set(TRUSTED_TYPES)


def test_retrain_reason_each_case(trained, feature_frame):
    row = trained.registry_table().to_pylist()[0]
    fingerprint, features = row["data_fingerprint"], row["feature_list_hash"]
    assert features == feature_list_hash(feature_columns(feature_frame))
    assert retrain_reason(None, fingerprint, features, force=False) == "no champion"
    assert retrain_reason(row, fingerprint, features, force=False) is None
    assert retrain_reason(row, "0" * 16, features, force=False) == "training data changed"
    assert retrain_reason(row, fingerprint, "0" * 16, force=False) == "feature list changed"
    assert retrain_reason(row, fingerprint, features, force=True) == "forced by var"
    assert retrain_reason(row, "0" * 16, features, force=True) == "training data changed"


def test_feature_list_hash_agrees_across_ways_of_reading(feature_table, feature_frame):
    expected = feature_list_hash(feature_columns(feature_frame))
    assert feature_list_hash(feature_columns_from_schema(feature_table.schema)) == expected
    assert feature_list_hash(feature_columns(feature_table.slice(0, 0).to_pandas())) == expected
    arrow_backed = feature_table.to_pandas(types_mapper=pd.ArrowDtype)
    assert feature_list_hash(feature_columns(arrow_backed)) == expected
    # Same names, a kind changed: a different list.
    renamed = feature_frame.astype({"demo_household_size": str})
    assert feature_list_hash(feature_columns(renamed)) != expected


def test_retrain_reason_compares_modelling_settings_only(trained, fast_config):
    row = trained.registry_table().to_pylist()[0]
    same = (row, row["data_fingerprint"], row["feature_list_hash"], False)
    assert retrain_reason(*same, config_json=fast_config.to_json()) is None
    runtime_only = replace(fast_config, n_jobs=4, force_retrain=True)
    assert retrain_reason(*same, config_json=runtime_only.to_json()) is None
    other_k = replace(fast_config, selection_k=3)
    assert retrain_reason(*same, config_json=other_k.to_json()) == "ml config changed"


def test_current_champion_is_the_latest_champion_row(trained):
    row = trained.registry_table().to_pylist()[0]
    rows = [
        row | {"model_id": "old", "created_at": datetime(2024, 1, 1), "status": "champion"},
        row | {"model_id": "new", "created_at": datetime(2024, 3, 1), "status": "champion"},
        row | {"model_id": "lost", "created_at": datetime(2024, 4, 1), "status": "challenger"},
    ]
    registry = pa.Table.from_pylist(rows, schema=REGISTRY_SCHEMA)
    assert current_champion(registry)["model_id"] == "new"
    assert current_champion(registry.slice(2, 1)) is None
    assert current_champion(registry.slice(0, 0)) is None
