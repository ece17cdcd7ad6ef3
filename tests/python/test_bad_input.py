"""Bad input fed to the scheduled job, each case on its own clone of the published demo.

A bad case fails with a message naming the table, the column and the rule (dbt test names
read ``<rule>_<table>_<column>``), publishes nothing and leaves the published files
byte-identical; a var carrying SQL is rejected before anything runs. The cases the models
handle (duplicate keys, an all-NULL feature, an unseen category) are checked in what the
job built and published.

The jobs are independent processes on independent files, so they all run at once (in the
module fixture); each test then reads one outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from e2e_support import (
    SERVING,
    copy_project,
    duckdb_path,
    file_digests,
    published_demo_project,
    query,
    run_jobs_together,
)

from precision_marketing.publish import CATALOG, read_manifest
from precision_marketing.training import ALL_NULL


@dataclass(frozen=True)
class Case:
    """Changes to a clone's raw tables, then the job with ``vars`` and ``args``."""

    statements: tuple[str, ...] = ()
    vars: dict[str, Any] | None = None
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    project: Path
    returncode: int
    output: str
    published_before: dict[str, str]
    run_before: str

    @property
    def report(self) -> str:
        """The job's own failure report (after dbt's output)."""
        return self.output.split("BUILD FAILED")[-1]


RAW_DATA_CASES: dict[str, tuple[Case, tuple[str, ...]]] = {
    "missing-column": (
        Case(("alter table raw.raw_orders drop column amount",)),
        (
            "ERROR test.precision_marketing.source_column_exists_raw_raw_orders_amount",
            "Table raw.raw_orders lacks required column 'amount' (rule column_exists)",
        ),
    ),
    "missing-key": (
        Case(
            (
                "update raw.raw_customers set customer_id = null where customer_id = '17'",
                "update raw.raw_customers set customer_id = 'unknown' where customer_id = '18'",
            )
        ),
        ("FAIL test.precision_marketing.source_not_missing_raw_raw_customers_customer_id",),
    ),
    "text-in-numeric-column": (
        Case(
            (
                "alter table raw.raw_orders alter amount type varchar",
                "update raw.raw_orders set amount = 'twelve' where order_id = 1",
            )
        ),
        ("FAIL test.precision_marketing.source_numeric_or_missing_raw_raw_orders_amount",),
    ),
    "negative-amount": (
        Case(("update raw.raw_orders set amount = -12.5 where order_id = 1",)),
        ("FAIL test.precision_marketing.accepted_range_stg_raw__orders_amount__0",),
    ),
    "order-in-the-future": (
        Case(
            (
                "update raw.raw_orders set ordered_at = timestamp '2099-01-01 10:00:00'"
                " where order_id = 1",
            )
        ),
        ("FAIL test.precision_marketing.not_in_future_stg_raw__orders_order_date",),
    ),
    "empty-customers": (
        Case(("delete from raw.raw_customers",)),
        ("FAIL test.precision_marketing.source_not_empty_raw_raw_customers",),
    ),
    "one-class": (
        Case(("delete from raw.raw_campaign_responses",)),
        (
            "ERROR model.precision_marketing.ml_model_registry",
            "TrainingDataError: training window has only one class (label=0) in",
        ),
    ),
    "too-few-training-rows": (
        Case(vars={"ml_min_training_rows": 100_000, "ml_force_retrain": True}),
        (
            "ERROR model.precision_marketing.ml_model_registry",
            "rows; need at least min_training_rows=100000",
        ),
    ),
}
SQL_VARS: dict[str, tuple[str, str]] = {
    "targets_rank_by": (
        "expected_value desc; drop table raw.raw_orders; --",
        "var 'targets_rank_by' must be 'expected_value' or 'propensity', got",
    ),
    "targets_top_n": (
        "10; drop table raw.raw_orders",
        "var 'targets_top_n' must be a positive integer or null, got",
    ),
    "targets_min_propensity": (
        "0 or 1 = 1",
        "var 'targets_min_propensity' must be a number in [0, 1], got",
    ),
    "as_of_run_date": (
        "2026-01-01' or '1' = '1",
        "var 'as_of_run_date' must be a date written YYYY-MM-DD, got",
    ),
    "score_date": (
        "2026-01-01'; drop table raw.raw_orders; --",
        "var 'score_date' must be a date written YYYY-MM-DD, got",
    ),
}
HANDLED_CASES: dict[str, Case] = {
    # An exact duplicate and an older version of customer 17; a newer version of order 1.
    "duplicate-keys": Case(
        (
            "insert into raw.raw_customers"
            " select * from raw.raw_customers where customer_id = '17'",
            "insert into raw.raw_customers select * replace (updated_at - interval 1 day"
            " as updated_at, 'atlantis' as region) from raw.raw_customers"
            " where customer_id = '17'",
            "insert into raw.raw_orders select * replace (999.0 as amount,"
            " updated_at + interval 1 day as updated_at) from raw.raw_orders where order_id = 1",
        ),
        args=("--select", "stg_raw__customers", "stg_raw__orders"),
    ),
    # noise_segment missing everywhere; five never-contacted customers in a region no
    # training row has. Every usable feature is kept (so the region is a model input) and
    # the new model is promoted, so it is the one that scores.
    "all-null-feature-and-unseen-category": Case(
        (
            "update raw.raw_customers set noise_segment = 'unknown'",
            """
            update raw.raw_customers set region = 'atlantis'
            where customer_id in (
                select distinct customer_id from raw.raw_customers
                where
                    signup_date < date '2025-01-01'
                    and cast(customer_id as bigint) not in (
                        select customer_id from raw.raw_campaign_contacts
                    )
                order by customer_id
                limit 5
            )
            """,
        ),
        vars={"ml_selection_k": 100, "ml_promotion_tolerance": 0.1},
    ),
}
CASES: dict[str, Case] = {
    **{name: case for name, (case, _) in RAW_DATA_CASES.items()},
    **{f"sql-in-{var}": Case(vars={var: value}) for var, (value, _) in SQL_VARS.items()},
    **HANDLED_CASES,
}


def change_raw(project: Path, *statements: str) -> None:
    """Apply SQL to the clone's warehouse (where the raw tables live)."""
    with duckdb.connect(str(duckdb_path(project))) as connection:
        for statement in statements:
            connection.execute(statement)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case's job, run together, each on a fresh clone of the published demo."""
    published = published_demo_project(tmp_path_factory)
    run_before = read_manifest(published / SERVING)["run_id"]
    root = tmp_path_factory.mktemp("bad_input")
    projects, before = {}, {}
    for name, case in CASES.items():
        projects[name] = copy_project(root / name, source=published, include_warehouse=True)
        change_raw(projects[name], *case.statements)
        before[name] = file_digests(projects[name] / SERVING)
    results = run_jobs_together(
        {name: (projects[name], case.vars, case.args) for name, case in CASES.items()}
    )
    return {
        name: Outcome(
            project=projects[name],
            returncode=result.returncode,
            output=result.stdout,
            published_before=before[name],
            run_before=run_before,
        )
        for name, result in results.items()
    }


def assert_failed_and_published_nothing(outcome: Outcome) -> None:
    assert outcome.returncode != 0, outcome.output[-3000:]
    assert f"nothing published; BI keeps run {outcome.run_before}." in outcome.output
    assert file_digests(outcome.project / SERVING) == outcome.published_before


@pytest.mark.parametrize(
    ("case", "messages"), [(n, m) for n, (_, m) in RAW_DATA_CASES.items()], ids=list(RAW_DATA_CASES)
)
def test_bad_raw_data_fails_naming_table_column_and_rule(
    outcomes: dict[str, Outcome], case: str, messages: tuple[str, ...]
):
    outcome = outcomes[case]

    assert_failed_and_published_nothing(outcome)
    for message in messages:
        assert message in outcome.report


@pytest.mark.parametrize("var", list(SQL_VARS))
def test_a_var_carrying_sql_is_rejected_before_anything_runs(
    outcomes: dict[str, Outcome], var: str
):
    outcome = outcomes[f"sql-in-{var}"]
    value, message = SQL_VARS[var]

    assert_failed_and_published_nothing(outcome)
    assert f"{message} '{value}'" in outcome.output
    assert "dbt wrote no run results for this build" in outcome.report
    assert len(query(outcome.project, "select * from raw.raw_orders limit 1")) == 1


def test_duplicate_raw_keys_are_deduped_to_the_latest_version(outcomes: dict[str, Outcome]):
    outcome = outcomes["duplicate-keys"]

    assert outcome.returncode == 0, outcome.output[-3000:]
    assert "build passed; not publishing: it did not build fct_customer_scores" in outcome.output
    assert file_digests(outcome.project / SERVING) == outcome.published_before
    customer = query(outcome.project, "select * from stg_raw__customers where customer_id = 17")
    assert len(customer) == 1 and customer["region"].item() != "atlantis"
    order = query(outcome.project, "select amount from stg_raw__orders where order_id = 1")
    assert order["amount"].tolist() == [999]


def test_all_null_feature_and_unseen_category_are_handled_and_published(
    outcomes: dict[str, Outcome],
):
    outcome = outcomes["all-null-feature-and-unseen-category"]

    assert outcome.returncode == 0, outcome.output[-3000:]
    assert read_manifest(outcome.project / SERVING)["run_id"] != outcome.run_before
    with duckdb.connect(str(outcome.project / SERVING / CATALOG), read_only=True) as catalog:
        selection = {
            feature: (method, selected)
            for feature, method, selected in catalog.sql(
                "select feature, method, selected from ml_feature_selection"
                " where is_current_champion"
            ).fetchall()
        }
        atlantis = catalog.sql(
            "select propensity from fct_customer_scores where region = 'atlantis'"
        ).fetchall()
    # The all-NULL feature is left out of the candidates, and recorded as such.
    assert selection["chan_noise_segment"] == (ALL_NULL, False)
    assert selection["chan_region"][1] is True
    # The unseen region scores like an unknown level (all one-hot columns zero).
    assert len(atlantis) == 5
    assert all(0 < p < 1 for (p,) in atlantis)
