from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from precision_marketing.features import prepare_features
from precision_marketing.registry import load_model
from precision_marketing.scoring import (
    SCORES_SCHEMA,
    ScoringError,
    Workspace,
    compile_model,
    predict_frame,
    score_batch,
    score_batches,
    score_table,
)

SCORED_AT = datetime(2024, 10, 2, 7, 30)


@pytest.fixture(scope="module")
def score_rows(feature_table) -> pa.Table:
    return feature_table.filter(pc.equal(feature_table["spine_role"], "score"))


@pytest.fixture(scope="module")
def loaded(trained):
    return load_model(trained.entry.artifact, trained.entry.artifact_sha256)


def _pipeline_propensity(model, table: pa.Table) -> np.ndarray:
    frame = table.to_pandas()
    return model.propensity.predict_proba(prepare_features(frame, model.spec))[:, 1]


def test_every_row_scored_once_in_order(loaded, score_rows, trained):
    batches = score_rows.to_batches(max_chunksize=700)
    assert len(batches) == 3
    out = list(score_batches(batches, loaded, trained.model_id, SCORED_AT))
    assert [b.num_rows for b in out] == [b.num_rows for b in batches]
    scores = pa.Table.from_batches(out)
    assert scores.schema == SCORES_SCHEMA
    assert scores["customer_id"].to_pylist() == score_rows["customer_id"].to_pylist()
    assert len(set(scores["customer_id"].to_pylist())) == score_rows.num_rows == 2000
    assert set(scores["model_id"].to_pylist()) == {trained.model_id}
    assert set(scores["scored_at"].to_pylist()) == {SCORED_AT}
    assert set(scores["as_of_date"].to_pylist()) == set(score_rows["as_of_date"].to_pylist())


def test_scores_equal_the_pipelines_exactly(loaded, score_rows, trained):
    scores = score_table(score_rows, loaded, trained.model_id, SCORED_AT)
    propensity = scores["propensity"].to_numpy()
    revenue = scores["predicted_revenue"].to_numpy()
    np.testing.assert_array_equal(propensity, _pipeline_propensity(loaded, score_rows))
    reference_p, reference_revenue = predict_frame(loaded, score_rows.to_pandas())
    np.testing.assert_array_equal(propensity, reference_p)
    np.testing.assert_array_equal(revenue, reference_revenue)
    np.testing.assert_array_equal(scores["expected_value"].to_numpy(), propensity * revenue)
    assert ((propensity >= 0) & (propensity <= 1)).all()
    assert (revenue >= 0).all()
    assert propensity.std() > 0.05


def test_unseen_and_null_categories_score_like_the_pipeline(loaded, score_rows):
    channel = score_rows["chan_contact_channel"].to_pylist()
    channel[:5] = ["carrier_pigeon"] * 5
    channel[5:10] = [None] * 5
    index = score_rows.schema.get_field_index("chan_contact_channel")
    changed = score_rows.set_column(index, "chan_contact_channel", pa.array(channel))
    scores = score_table(changed, loaded, "m", SCORED_AT)
    np.testing.assert_array_equal(
        scores["propensity"].to_numpy(), _pipeline_propensity(loaded, changed)
    )
    assert not np.isnan(scores["propensity"].to_numpy()).any()


def test_input_types_and_column_order_do_not_change_scores(loaded, score_rows):
    baseline = score_table(score_rows, loaded, "m", SCORED_AT)["propensity"].to_numpy()
    columns = {name: score_rows[name] for name in reversed(score_rows.column_names)}
    columns["camp_prior_responses"] = pc.cast(columns["camp_prior_responses"], pa.int32())
    columns["chan_contact_channel"] = pc.dictionary_encode(
        pc.cast(columns["chan_contact_channel"], pa.large_string())
    )
    columns["customer_id"] = pc.cast(columns["customer_id"], pa.int32())
    # DuckDB hands over DECIMAL sums, BOOLEAN flags and possibly string views.
    columns["rfm_monetary_total"] = pc.cast(columns["rfm_monetary_total"], pa.decimal128(12, 2))
    columns["chan_region"] = pc.cast(columns["chan_region"], pa.string_view())
    other = pa.table(columns)
    scores = score_table(other, loaded, "m", SCORED_AT)
    np.testing.assert_array_equal(scores["propensity"].to_numpy(), baseline)
    assert scores.schema == SCORES_SCHEMA
    # The same decimals read into pandas (as training reads them) give the same scores
    # (pandas has no string views: that column goes back to plain strings).
    region = other.schema.get_field_index("chan_region")
    for_pandas = other.set_column(region, "chan_region", pc.cast(other["chan_region"], pa.string()))
    np.testing.assert_array_equal(predict_frame(loaded, for_pandas.to_pandas())[0], baseline)
    arrow_backed = for_pandas.to_pandas(types_mapper=pd.ArrowDtype)
    np.testing.assert_array_equal(predict_frame(loaded, arrow_backed)[0], baseline)


def test_chunked_scores_equal_the_pipeline_on_the_same_chunks(loaded, score_rows):
    compiled = compile_model(loaded)
    batch = score_rows.combine_chunks().to_batches()[0]
    chunked = score_batch(compiled, batch, "m", SCORED_AT, Workspace(chunk_rows=333))
    reference = np.concatenate(
        [_pipeline_propensity(loaded, score_rows.slice(s, 333)) for s in range(0, 2000, 333)]
    )
    np.testing.assert_array_equal(chunked.column("propensity").to_numpy(), reference)
    # BLAS kernels treat a block's tail rows differently, so the pipeline itself can move
    # the last bit of a score with the rows it is given; never more.
    whole = score_batch(compiled, batch, "m", SCORED_AT)
    np.testing.assert_allclose(
        chunked.column("propensity").to_numpy(),
        whole.column("propensity").to_numpy(),
        rtol=1e-14,
        atol=0,
    )


def test_missing_feature_column_is_named(loaded, score_rows):
    needed = loaded.selected_features[0]
    without = score_rows.drop_columns([needed])
    with pytest.raises(ScoringError) as error:
        list(score_batches(without.to_batches(), loaded, "m", SCORED_AT))
    assert str(error.value) == f"scoring batch lacks columns the model needs: {needed}"


def test_non_numeric_value_in_a_numeric_feature_is_named(loaded, score_rows):
    numeric = next(f for f in loaded.selected_features if f in loaded.spec.numeric)
    index = score_rows.schema.get_field_index(numeric)
    broken = score_rows.set_column(index, numeric, pa.array(["n/a"] * score_rows.num_rows))
    with pytest.raises(ScoringError, match=f"feature '{numeric}' of type string is not numeric"):
        score_table(broken, loaded, "m", SCORED_AT)


def test_unused_feature_columns_are_not_needed(loaded, score_rows):
    unused = [f for f in loaded.spec.all if f not in loaded.selected_features]
    assert unused, "fixture model should leave some candidate features out"
    slim = score_rows.drop_columns(unused)
    baseline = score_table(score_rows, loaded, "m", SCORED_AT)
    assert score_table(slim, loaded, "m", SCORED_AT).equals(baseline)


def test_empty_batch_gives_an_empty_result(loaded, score_rows):
    empty = score_rows.slice(0, 0).to_batches()
    empty = empty or [pa.RecordBatch.from_pylist([], schema=score_rows.schema)]
    out = list(score_batches(empty, loaded, "m", SCORED_AT))
    assert sum(b.num_rows for b in out) == 0
    assert all(b.schema == SCORES_SCHEMA for b in out)
