"""PSI on hand-computed histograms, bands, SQL binning and the drift table of a tiny warehouse."""

from __future__ import annotations

import json
import math
from datetime import date, datetime

import duckdb
import pytest

from precision_marketing.drift import (
    EPSILON,
    SCORE_FEATURE,
    DriftError,
    categorical_histogram,
    drift_table,
    numeric_histogram,
    paired_values,
    population_stability_index,
    psi_band,
)


def test_psi_of_a_hand_computed_shift():
    # shares 0.5/0.5 -> 0.25/0.75: -0.25 ln(0.5) + 0.25 ln(1.5) = 0.25 ln 3
    assert population_stability_index([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(3))
    assert population_stability_index([50, 50], [25, 75]) == pytest.approx(0.274653, abs=1e-6)


def test_psi_is_zero_for_equal_shares_whatever_the_counts():
    assert population_stability_index([10, 30, 60], [10, 30, 60]) == 0.0
    assert population_stability_index([10, 30, 60], [1, 3, 6]) == pytest.approx(0.0)


def test_psi_is_symmetric_in_its_populations():
    assert population_stability_index([20, 80], [60, 40]) == pytest.approx(
        population_stability_index([60, 40], [20, 80])
    )


def test_an_empty_bin_counts_as_epsilon():
    # reference 100% / 0% (-> 1e-4), current 99% / 1%
    expected = (0.99 - 1.0) * math.log(0.99) + (0.01 - EPSILON) * math.log(0.01 / EPSILON)
    assert population_stability_index([100, 0], [99, 1]) == pytest.approx(expected)
    assert expected == pytest.approx(0.045692, abs=1e-6)
    # a level only one side has stays finite
    assert math.isfinite(population_stability_index([10, 0], [0, 10]))


@pytest.mark.parametrize(
    ("reference", "current", "message"),
    [
        ([1, 2], [1], "same non-empty bins"),
        ([], [], "same non-empty bins"),
        ([0, 0], [1, 1], "at least one row"),
        ([1, -1], [1, 1], "non-negative"),
    ],
)
def test_psi_rejects_unusable_histograms(reference, current, message):
    with pytest.raises(ValueError, match=message):
        population_stability_index(reference, current)


@pytest.mark.parametrize(
    ("psi", "band"),
    [(0.0, "stable"), (0.0999, "stable"), (0.1, "watch"), (0.25, "watch"), (0.2501, "act")],
)
def test_bands(psi, band):
    assert psi_band(psi) == band


@pytest.mark.parametrize("psi", [-0.01, math.nan, math.inf])
def test_band_rejects_impossible_values(psi):
    with pytest.raises(ValueError, match="finite non-negative"):
        psi_band(psi)


@pytest.fixture()
def connection():
    with duckdb.connect() as connection:
        yield connection


def test_numeric_bins_are_the_reference_deciles_plus_missing(connection):
    reference = connection.sql("select range + 1 as x from range(100)")  # 1..100
    current = connection.sql(
        "select range + 1 as x from range(50) union all select null from range(2)"
    )
    histogram = numeric_histogram(paired_values(reference, current, "x"))
    assert histogram.labels == (
        "<= 10",
        "(10, 20]",
        "(20, 30]",
        "(30, 40]",
        "(40, 50]",
        "(50, 60]",
        "(60, 70]",
        "(70, 80]",
        "(80, 90]",
        "> 90",
        "missing",
    )
    assert histogram.reference == (10,) * 10 + (0,)
    assert histogram.current == (10,) * 5 + (0,) * 5 + (2,)


def test_repeated_deciles_merge_into_one_bin(connection):
    # 70% zeros: the first seven deciles are all 0, so (-inf, 0] is one bin.
    reference = connection.sql("select (range >= 70)::int * range as x from range(100)")
    current = connection.sql("select 0 as x from range(5) union all select 95 from range(5)")
    histogram = numeric_histogram(paired_values(reference, current, "x"))
    assert histogram.labels == ("<= 0", "(0, 79]", "(79, 89]", "> 89")
    assert histogram.reference == (70, 10, 10, 10)
    assert histogram.current == (5, 0, 0, 5)


def test_booleans_bin_as_zero_and_one(connection):
    reference = connection.sql("select range < 30 as flag from range(100)")
    current = connection.sql("select range < 60 as flag from range(100)")
    histogram = numeric_histogram(paired_values(reference, current, "flag"))
    assert histogram.labels == ("<= 0", "(0, 1]")
    assert histogram.reference == (70, 30)
    assert histogram.current == (40, 60)


def test_categorical_bins_are_levels_of_both_sides_and_missing(connection):
    reference = connection.sql("select * from (values ('a'), ('a'), ('a'), ('b')) t(channel)")
    current = connection.sql("select * from (values ('a'), ('c'), (null)) t(channel)")
    histogram = categorical_histogram(paired_values(reference, current, "channel"))
    assert histogram.labels == ("'a'", "'b'", "'c'", "missing")
    assert histogram.reference == (3, 1, 0, 0)
    assert histogram.current == (1, 0, 1, 1)
    shares = json.loads(histogram.shares_json())
    assert shares[0] == {"bin": "'a'", "reference_share": 0.75, "current_share": 1 / 3}


# --- drift_table on a tiny warehouse ---------------------------------------------------

SCORE_DATE = date(2025, 1, 1)


def _warehouse(connection: duckdb.DuckDBPyConnection) -> None:
    """Training campaigns C1, C2 (spend 0..99); holdout C3 (spend 1000+) is not reference.

    Today's customers spend like the training window but half of them changed channel.
    """
    connection.execute(
        """
        create table customer_features as
        select range as customer_id,
               if(range % 2 = 0, date '2024-03-01', date '2024-03-31') as as_of_date,
               'train' as spine_role, 'C' || (1 + range % 2) as campaign_id,
               (range % 7 = 0)::int as label, 0.0 as response_revenue,
               range % 100 as spend, if(range % 2 = 0, 'email', 'sms') as channel
        from range(1000)
        union all
        select range, date '2024-06-01', 'train', 'C3', 0, 0.0, 1000 + range, 'mail'
        from range(200)
        union all
        select range, date '2025-01-01', 'score', null, null, null,
               range % 100, if(range % 4 = 0, 'mail', if(range % 2 = 0, 'email', 'sms'))
        from range(1000);

        create table ml_backtest_scores as
        select customer_id, as_of_date, spend / 100 as propensity, 'm2' as model_id
        from customer_features where spine_role = 'train';

        create table ml_customer_propensity as
        select customer_id, as_of_date, spend / 100 as propensity, 'm2' as model_id
        from customer_features where spine_role = 'score';

        create table ml_model_registry as
        select * from (values
            ('m1', timestamp '2024-12-01', 'champion', '["spend"]', '["C1"]',
             date '2024-03-01', date '2024-03-01'),
            ('m2', timestamp '2024-12-02', 'champion', '["spend", "channel"]', '["C1", "C2"]',
             date '2024-03-01', date '2024-03-31'),
            ('m3', timestamp '2024-12-03', 'challenger', '["channel"]', '["C1", "C2", "C3"]',
             date '2024-03-01', date '2024-06-01')
        ) t(model_id, created_at, status, selected_features, training_campaigns,
            training_window_start, training_window_end);
        """
    )


def _drift(connection: duckdb.DuckDBPyConnection):
    return drift_table(
        features=connection.table("customer_features"),
        backtest_scores=connection.table("ml_backtest_scores"),
        current_scores=connection.table("ml_customer_propensity"),
        registry=connection.table("ml_model_registry"),
        now=datetime(2025, 1, 2, 6, 0),
    ).to_pylist()


def test_drift_table_compares_the_champions_training_window_with_today(connection):
    _warehouse(connection)
    rows = {row["feature"]: row for row in _drift(connection)}
    assert list(rows) == [SCORE_FEATURE, "spend", "channel"]
    assert {row["model_id"] for row in rows.values()} == {"m2"}
    assert {row["as_of_date"] for row in rows.values()} == {SCORE_DATE}
    # Reference = the 1000 rows of C1 and C2 only (C3 is the champion's holdout).
    assert {row["reference_rows"] for row in rows.values()} == {1000}
    assert {row["current_rows"] for row in rows.values()} == {1000}
    assert rows["spend"]["psi"] == pytest.approx(0.0)
    assert rows[SCORE_FEATURE]["psi"] == pytest.approx(0.0)
    assert (rows["spend"]["band"], rows[SCORE_FEATURE]["feature_kind"]) == ("stable", "score")
    # channel: email/sms 50/50 -> mail 25%, email 25%, sms 50%
    expected = population_stability_index([500, 0, 500], [250, 250, 500])
    assert rows["channel"]["psi"] == pytest.approx(expected)
    assert (rows["channel"]["feature_kind"], rows["channel"]["band"]) == ("categorical", "act")
    assert rows["channel"]["bins"] == 3
    assert rows["channel"]["reference_end"] == date(2024, 3, 31)
    assert rows["channel"]["computed_at"] == datetime(2025, 1, 2, 6, 0)


def test_drift_without_a_champion_fails_naming_the_registry(connection):
    _warehouse(connection)
    connection.execute("update ml_model_registry set status = 'challenger'")
    with pytest.raises(DriftError, match="ml_model_registry has no model with status 'champion'"):
        _drift(connection)


def test_drift_without_scoring_rows_fails_naming_the_table_and_rule(connection):
    _warehouse(connection)
    connection.execute("delete from customer_features where spine_role = 'score'")
    with pytest.raises(DriftError, match=r"customer_features has no scoring rows"):
        _drift(connection)


def test_drift_of_a_missing_selected_feature_fails_naming_it(connection):
    _warehouse(connection)
    connection.execute("alter table customer_features drop column channel")
    with pytest.raises(DriftError, match=r"lacks the champion's selected features \['channel'\]"):
        _drift(connection)
