"""Publishing for BI: atomic swap of versioned Parquet files, catalog and manifest; garbage
collection after a grace period; refusal of an inconsistent build; no raw PII published.

Unit tests run on small build files written here; the privacy tests read the demo as the
scheduled job published it (``published_demo_project``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from e2e_support import (
    SERVING,
    built_demo_project,
    copy_project,
    dbt,
    published_demo_project,
    query,
)

from precision_marketing.publish import (
    CATALOG,
    MANIFEST,
    PUBLISHED_TABLES,
    PublishError,
    collect_garbage,
    publish,
    read_manifest,
)

T0 = datetime(2026, 1, 1, 6, 0, 0, tzinfo=UTC)
SOURCES_YAML = Path(__file__).resolve().parents[2] / "models/staging/raw/_raw__sources.yml"
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\d{3}[-. ]\d{3}[-. ]\d{4}")


def write_build(path: Path, model_id: str, customers: int = 5, champion: str | None = None) -> Path:
    """A build file with every published table, scored by ``model_id``."""
    champion = champion or model_id
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"""
            create or replace table fct_customer_scores as
            select range as customer_id, range / 10 as propensity, '{model_id}' as model_id
            from range({customers});
            create or replace table mart_campaign_targets as
            select 'email' as channel, customer_id, model_id from fct_customer_scores;
            create or replace table ml_model_metrics as
            select '{champion}' as model_id, true as is_current_champion, 'roc_auc' as metric,
                0.75 as value;
            create or replace table ml_model_gains as
            select '{champion}' as model_id, true as is_current_champion, range + 1 as decile
            from range(10);
            create or replace table ml_feature_selection as
            select '{champion}' as model_id, true as is_current_champion, 'rfm_x' as feature;
            create or replace table ml_model_registry_summary as
            select '{champion}' as model_id, true as is_current_champion;
            create or replace table fct_campaign_feedback as
            select '{champion}' as model_id, 'C10' as campaign_id, range + 1 as decile
            from range(10);
            create or replace table fct_model_drift as
            select '{champion}' as model_id, '__score__' as feature, 0.05 as psi;
            """
        )
    return path


def serving_files(serving: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(serving.iterdir()) if p.name != ".publish.lock"}


def read_catalog(serving: Path) -> dict[str, object]:
    with duckdb.connect(str(serving / CATALOG), read_only=True) as con:
        return {
            "runs": con.sql("select distinct run_id, model_id from publication").fetchall(),
            "scores": con.sql("select * from fct_customer_scores order by 1").df(),
            "counts": dict(con.sql("select table_name, row_count from publication").fetchall()),
        }


def test_publish_writes_versioned_parquet_a_catalog_and_a_manifest(tmp_path, monkeypatch):
    build = write_build(tmp_path / "build.duckdb", "m1", customers=7)
    serving = tmp_path / "serving"

    publication = publish(build, serving, dbt_invocation_id="inv-1", now=T0)

    run_id = "20260101T060000000000Z"
    assert publication.run_id == run_id
    assert sorted(serving_files(serving)) == sorted(
        [CATALOG, MANIFEST] + [f"{t}-{run_id}.parquet" for t in PUBLISHED_TABLES]
    )
    manifest = read_manifest(serving)
    assert manifest == json.loads(publication.to_json())
    assert manifest["model_id"] == "m1"
    assert manifest["published_at"] == "2026-01-01T06:00:00+00:00"
    assert manifest["dbt_invocation_id"] == "inv-1"
    assert manifest["previous_run_id"] is None
    rows = {t["name"]: t["row_count"] for t in manifest["tables"]}
    assert rows == {
        "fct_customer_scores": 7,
        "mart_campaign_targets": 7,
        "ml_model_metrics": 1,
        "ml_model_gains": 10,
        "ml_feature_selection": 1,
        "ml_model_registry_summary": 1,
        "fct_campaign_feedback": 10,
        "fct_model_drift": 1,
    }
    assert all((p.stat().st_mode & 0o222) == 0 for p in serving.iterdir() if p.suffix != ".lock")
    # Read from another working directory: the views name their files by absolute path.
    monkeypatch.chdir(tmp_path.parent)
    catalog = read_catalog(serving)
    assert catalog["runs"] == [(run_id, "m1")]
    assert catalog["counts"] == rows
    assert catalog["scores"]["customer_id"].tolist() == list(range(7))
    parquet = pd.read_parquet(serving / f"fct_customer_scores-{run_id}.parquet")
    pd.testing.assert_frame_equal(parquet, catalog["scores"])


def test_a_reader_on_the_old_catalog_keeps_the_old_set_after_a_new_publish(tmp_path):
    serving = tmp_path / "serving"
    publish(write_build(tmp_path / "b1.duckdb", "m1", customers=3), serving, now=T0)
    with duckdb.connect(str(serving / CATALOG), read_only=True) as old_reader:
        publication = publish(
            write_build(tmp_path / "b2.duckdb", "m2", customers=4),
            serving,
            now=T0 + timedelta(minutes=5),
        )

        # Opened before the swap: still the first run, whole and consistent.
        assert old_reader.sql("select distinct model_id from fct_customer_scores").fetchall() == [
            ("m1",)
        ]
        assert old_reader.sql("select count(*) from fct_customer_scores").fetchall() == [(3,)]
        assert old_reader.sql("select distinct run_id from publication").fetchall() == [
            ("20260101T060000000000Z",)
        ]
    catalog = read_catalog(serving)
    assert catalog["runs"] == [("20260101T060500000000Z", "m2")]
    assert catalog["counts"]["fct_customer_scores"] == 4
    assert publication.previous_run_id == "20260101T060000000000Z"
    assert read_manifest(serving)["previous_run_id"] == "20260101T060000000000Z"


@pytest.mark.parametrize(
    ("third_publish_after", "first_run_kept"),
    [(timedelta(minutes=30), True), (timedelta(hours=2), False)],
)
def test_old_runs_are_deleted_once_superseded_longer_than_the_grace(
    tmp_path, third_publish_after, first_run_kept
):
    serving = tmp_path / "serving"
    times = [T0, T0 + timedelta(minutes=10), T0 + third_publish_after]
    runs = [
        publish(write_build(tmp_path / f"b{i}.duckdb", f"m{i}"), serving, now=now).run_id
        for i, now in enumerate(times)
    ]

    names = serving_files(serving)
    # Run 1 was superseded at run 2 (T0 + 10 min); the grace is one hour.
    assert (f"fct_customer_scores-{runs[0]}.parquet" in names) is first_run_kept
    for run_id in runs[1:]:
        assert all(f"{t}-{run_id}.parquet" in names for t in PUBLISHED_TABLES)


def test_leftovers_of_a_killed_publish_are_removed_by_the_next(tmp_path):
    serving = tmp_path / "serving"
    first = publish(write_build(tmp_path / "b1.duckdb", "m1"), serving, now=T0)
    # A publish killed before its catalog swap leaves a temp file and unreferenced Parquet.
    (serving / ".tmp-20260101T070000000000Z-catalog.duckdb").write_bytes(b"partial")
    (serving / "fct_customer_scores-20260101T070000000000Z.parquet").write_bytes(b"orphan")
    assert read_catalog(serving)["runs"] == [(first.run_id, "m1")]

    second = publish(
        write_build(tmp_path / "b2.duckdb", "m2"), serving, now=T0 + timedelta(minutes=1)
    )

    names = serving_files(serving)
    assert not [n for n in names if n.startswith(".tmp-") or "T070000" in n]
    assert {n.split("-", 1)[1] for n in names if n.endswith(".parquet")} == {
        f"{first.run_id}.parquet",
        f"{second.run_id}.parquet",
    }


def test_collect_garbage_keeps_the_runs_it_is_told_to(tmp_path):
    for run_id in ("20260101T000000000000Z", "20260101T010000000000Z"):
        (tmp_path / f"fct_customer_scores-{run_id}.parquet").write_bytes(b"x")

    removed = collect_garbage(
        tmp_path, {"20260101T000000000000Z", "20260101T010000000000Z"}, T0, timedelta(0)
    )

    assert removed == []


def test_inconsistent_build_is_refused_and_publishes_nothing(tmp_path):
    serving = tmp_path / "serving"
    publish(write_build(tmp_path / "good.duckdb", "m1"), serving, now=T0)
    before = serving_files(serving)
    bad = write_build(tmp_path / "bad.duckdb", "m2", champion="m3")

    with pytest.raises(PublishError) as error:
        publish(bad, serving, now=T0 + timedelta(minutes=1))

    assert str(error.value) == (
        "refusing to publish: the registry's current champion is ['m3'], "
        "fct_customer_scores is scored by ['m2'] and mart_campaign_targets by ['m2']; "
        "they must be one and the same model"
    )
    assert serving_files(serving) == before


def test_a_build_missing_a_published_table_changes_nothing(tmp_path):
    serving = tmp_path / "serving"
    publish(write_build(tmp_path / "good.duckdb", "m1"), serving, now=T0)
    before = serving_files(serving)
    broken = write_build(tmp_path / "broken.duckdb", "m2")
    with duckdb.connect(str(broken)) as con:
        con.execute("drop table ml_model_gains")

    with pytest.raises(duckdb.CatalogException, match="ml_model_gains"):
        publish(broken, serving, now=T0 + timedelta(minutes=1))

    # Parquet files of the failed run may remain (never referenced); the served set is intact.
    after = serving_files(serving)
    assert {name: after[name] for name in before} == before
    assert read_catalog(serving)["runs"] == [("20260101T060000000000Z", "m1")]


# --- privacy: the published demo ------------------------------------------------------


def declared_pii_columns() -> set[str]:
    sources = yaml.safe_load(SOURCES_YAML.read_text())["sources"]
    return {
        column["name"]
        for source in sources
        for table in source["tables"]
        for column in table.get("columns", [])
        if column.get("meta", {}).get("pii")
    }


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_demo_project(tmp_path_factory)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return published_demo_project(tmp_path_factory)


def test_declared_pii_columns_are_the_personal_ones():
    assert declared_pii_columns() == {"first_name", "last_name", "email", "phone", "street_address"}


def test_no_published_column_or_value_is_raw_pii(demo: Path, published: Path):
    pii_columns = declared_pii_columns()
    raw = pd.read_csv(demo / "seeds/raw_customers.csv", dtype=str, keep_default_na=False)
    raw_values = {v.strip().lower() for c in pii_columns for v in raw[c] if v.strip()}
    assert len(raw_values) > 10_000  # names, emails, phones and addresses of 4000 customers

    with duckdb.connect(str(published / SERVING / CATALOG), read_only=True) as con:
        for table in PUBLISHED_TABLES:
            frame = con.sql(f"select * from {table}").df()
            assert len(frame) > 0, table
            assert not {c.lower() for c in frame.columns} & pii_columns, table
            for column in frame.columns:
                values = {str(v) for v in frame[column].dropna().unique()}
                assert not {v.strip().lower() for v in values} & raw_values, (table, column)
                leaked = [v for v in values if EMAIL.search(v) or PHONE.search(v)]
                assert not leaked, (table, column, leaked[:3])


def test_hashed_identifiers_are_stable_for_one_salt_and_change_with_it(
    demo: Path, published: Path, tmp_path: Path
):
    hashes = "select customer_id, email_hash, phone_hash from stg_raw__customers order by 1"
    first_run = query(demo, hashes)
    second_run = query(published, hashes)  # the job's build, same (default) salt
    clone = copy_project(tmp_path / "clone", source=demo, include_warehouse=True)
    dbt(clone, "run", "--select", "stg_raw__customers", env={"PM_PII_SALT": "another salt"})
    other_salt = query(clone, hashes)

    pd.testing.assert_frame_equal(second_run, first_run)
    both = first_run.merge(other_salt, on="customer_id", suffixes=("", "_other"))
    assert len(both) == len(first_run) == 4000
    for column in ("email_hash", "phone_hash"):
        known = both[column].notna()
        assert known.sum() > 3000
        assert (both.loc[known, column] != both.loc[known, f"{column}_other"]).all()
        assert both.loc[known, f"{column}_other"].notna().all()
