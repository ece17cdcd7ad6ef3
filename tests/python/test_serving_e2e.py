"""Serving BI with real processes: the scheduled job (``python -m precision_marketing.build``)
publishes only fully passed builds, a reader process querying the published catalog never
fails nor sees a mix of runs, and failed or killed builds leave the published files as they
were.

The demo build is published once (:func:`published_demo_project`, a clone of
``built_demo_project`` in which the job ran); each test clones that and runs the job in its
clone, which publishes to the clone's default serving folder, ``warehouse/serving``. A
clone's catalog, copied, still names the original's Parquet files (absolute paths) until
the clone publishes: same bytes, and the original is never changed.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from e2e_support import (
    SERVING,
    connect,
    copy_project,
    file_digests,
    published_demo_project,
    published_job,
    run_jobs_together,
    start_job,
)

from precision_marketing.build import failed_nodes, run_results_path, unbuilt_tables
from precision_marketing.publish import CATALOG, PUBLISHED_TABLES, read_manifest

WAIT_TIMEOUT_SECONDS = 120
REGISTRY_START = "START python incremental model main.ml_model_registry"
RUN_ID_IN_VIEW = re.compile(r"-(\d{8}T\d{12}Z)\.parquet")

# The independent reader: a BI user's process that opens the published catalog read-only,
# runs a few queries over one connection and logs what it saw, in a loop, until told to
# stop. It never sleeps for correctness; the pause only leaves CPU to the build.
READER = r"""
import json, sys, time
from pathlib import Path
import duckdb

catalog, log_path, stop_path = sys.argv[1:4]
QUERIES = {
    "publication": "select distinct run_id, model_id from publication",
    "views": "select sql from duckdb_views() where not internal order by view_name",
    "counts": "select table_name, row_count from publication order by 1",
    "scores": "select list(distinct model_id), count(*) from fct_customer_scores",
    "targets": "select list(distinct model_id), count(*) from mart_campaign_targets",
    "metrics": "select list(distinct model_id) from ml_model_metrics where is_current_champion",
    "gains": "select list(distinct model_id) from ml_model_gains where is_current_champion",
    "selection": "select list(distinct model_id) from ml_feature_selection"
                 " where is_current_champion",
    "registry": "select list(model_id), count(*) from ml_model_registry_summary"
                " where is_current_champion",
    "row_counts": "select 'fct_customer_scores', count(*) from fct_customer_scores"
                  " union all select 'mart_campaign_targets', count(*) from mart_campaign_targets"
                  " union all select 'ml_model_metrics', count(*) from ml_model_metrics"
                  " union all select 'ml_model_gains', count(*) from ml_model_gains"
                  " union all select 'ml_feature_selection', count(*) from ml_feature_selection"
                  " union all select 'ml_model_registry_summary', count(*)"
                  " from ml_model_registry_summary"
                  " union all select 'fct_campaign_feedback', count(*) from fct_campaign_feedback"
                  " union all select 'fct_model_drift', count(*) from fct_model_drift order by 1",
}
with open(log_path, "a") as log:
    while not Path(stop_path).exists():
        if Path(catalog).exists():
            try:
                with duckdb.connect(catalog, read_only=True) as connection:
                    record = {k: connection.sql(q).fetchall() for k, q in QUERIES.items()}
            except Exception as error:
                record = {"error": f"{type(error).__name__}: {error}"}
            log.write(json.dumps(record, default=str) + "\n")
            log.flush()
        time.sleep(0.05)
"""


def registry_rows(project: Path) -> list[tuple[str, str, str]]:
    with connect(project) as connection:
        return connection.sql(
            "select model_id, artifact_sha256, status from ml_model_registry order by created_at"
        ).fetchall()


def read_published(project: Path) -> dict[str, Any]:
    """Run id, model id and row counts seen through the published catalog."""
    with duckdb.connect(str(project / SERVING / CATALOG), read_only=True) as connection:
        ((run_id, model_id),) = connection.sql(
            "select distinct run_id, model_id from publication"
        ).fetchall()
        counts = {
            table: connection.sql(f"select count(*) from {table}").fetchall()[0][0]
            for table in PUBLISHED_TABLES
        }
    return {"run_id": run_id, "model_id": model_id, "counts": counts}


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` until true; fail after WAIT_TIMEOUT_SECONDS (a hang guard only)."""
    deadline = time.monotonic() + WAIT_TIMEOUT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def clone(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    published = published_demo_project(tmp_path_factory)
    return copy_project(tmp_path / "clone", source=published, include_warehouse=True)


# --- the job's reading of dbt's run results ------------------------------------------


def test_run_results_path_follows_the_dbt_arguments(monkeypatch):
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    assert run_results_path([]) == Path("target/run_results.json")
    assert run_results_path(["--target-path", "/tmp/t"]) == Path("/tmp/t/run_results.json")
    assert run_results_path(["--project-dir=p", "--target-path=t"]) == Path("p/t/run_results.json")
    monkeypatch.setenv("DBT_TARGET_PATH", "elsewhere")
    assert run_results_path([]) == Path("elsewhere/run_results.json")


def test_only_passed_statuses_count_and_partial_builds_are_seen():
    results = {
        "results": [
            {"unique_id": "model.pm.fct_customer_scores", "status": "success"},
            {"unique_id": "test.pm.drift_psi_in_act_band", "status": "warn"},
            {"unique_id": "exposure.pm.dashboard", "status": "no-op"},
            {"unique_id": "test.pm.unique_x", "status": "fail"},
            {"unique_id": "model.pm.mart_campaign_targets", "status": "skipped"},
            {"unique_id": "model.pm.ml_model_gains", "status": "error"},
        ]
    }
    assert [r["status"] for r in failed_nodes(results)] == ["fail", "skipped", "error"]
    assert unbuilt_tables(results) == [t for t in PUBLISHED_TABLES if t != "fct_customer_scores"]


# --- real processes -------------------------------------------------------------------


@pytest.fixture
def reader(clone: Path, tmp_path: Path) -> Iterator[Path]:
    """A reader process looping over the clone's published catalog; yields its log."""
    log, stop = tmp_path / "reads.jsonl", tmp_path / "stop"
    script = tmp_path / "reader.py"
    script.write_text(READER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(clone / SERVING / CATALOG), str(log), str(stop)]
    )
    try:
        yield log
    finally:
        stop.touch()
        process.wait(timeout=WAIT_TIMEOUT_SECONDS)
    assert process.returncode == 0


def reads(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_reader_sees_whole_runs_through_three_builds(clone: Path, reader: Path):
    manifests = [read_manifest(clone / SERVING)]
    for vars in (None, {"ml_force_retrain": True}, None):
        manifests.append(published_job(clone, vars))
        current = [[manifests[-1]["run_id"], manifests[-1]["model_id"]]]
        wait_for(
            lambda current=current: any(r.get("publication") == current for r in reads(reader)),
            f"the reader to see run {current}",
        )

    seen = reads(reader)
    assert [r["error"] for r in seen if "error" in r] == []
    assert len({m["run_id"] for m in manifests}) == 4
    # The retrained model is a new champion (an equal holdout AUC promotes).
    assert manifests[1]["model_id"] == manifests[0]["model_id"]
    assert manifests[2]["model_id"] != manifests[1]["model_id"]
    assert manifests[3]["model_id"] == manifests[2]["model_id"]
    models_of = {m["run_id"]: m["model_id"] for m in manifests}
    for read in seen:
        ((run_id, model_id),) = read["publication"]
        assert models_of[run_id] == model_id
        assert set(RUN_ID_IN_VIEW.findall(" ".join(s for (s,) in read["views"]))) == {run_id}
        for table in ("scores", "targets"):
            assert read[table][0][0] == [model_id], (table, read)
        for table in ("metrics", "gains", "selection"):
            assert read[table] == [[[model_id]]], (table, read)
        assert read["registry"] == [[[model_id], 1]]
        assert read["row_counts"] == read["counts"]
    runs_seen = {r["publication"][0][0] for r in seen}
    assert runs_seen == set(models_of)
    # The registry summary of the last run lists the retrained model too.
    assert read_published(clone)["counts"]["ml_model_registry_summary"] == len(registry_rows(clone))


INJECTED_FAILURES: dict[str, tuple[dict[str, Any], str]] = {
    # A data test fails at the end of the build, after a retrain appended a model.
    "failing-data-test": (
        {"pm_test_fail_data_test": True, "ml_force_retrain": True},
        "FAIL test.precision_marketing.assert_injected_failure",
    ),
    "raising-python-model": (
        # Not an int: the scoring Python model raises ValueError.
        {"scoring_batch_rows": "not-a-number"},
        "ERROR model.precision_marketing.ml_customer_propensity",
    ),
}


@pytest.fixture(scope="module")
def injected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each injected failure's job, run together on clones of the published demo, with
    what was published and registered before it."""
    published = published_demo_project(tmp_path_factory)
    root = tmp_path_factory.mktemp("injected")
    before = {}
    for name in INJECTED_FAILURES:
        project = copy_project(root / name, source=published, include_warehouse=True)
        before[name] = {
            "project": project,
            "run_id": read_manifest(project / SERVING)["run_id"],
            "files": file_digests(project / SERVING),
            "seen": read_published(project),
            "registry": registry_rows(project),
        }
    results = run_jobs_together(
        {name: (before[name]["project"], vars, ()) for name, (vars, _) in INJECTED_FAILURES.items()}
    )
    return {name: before[name] | {"result": results[name]} for name in INJECTED_FAILURES}


@pytest.mark.parametrize("case", list(INJECTED_FAILURES))
def test_injected_failure_publishes_nothing_and_keeps_the_registry(
    injected: dict[str, dict[str, Any]], case: str
):
    vars, failed_node = INJECTED_FAILURES[case]
    before = injected[case]
    project, result = before["project"], before["result"]

    assert result.returncode != 0, result.stdout[-3000:]
    report = result.stdout.split("BUILD FAILED")[-1]
    assert report.startswith(
        f" (dbt build exited with {result.returncode}); nothing published; "
        f"BI keeps run {before['run_id']}."
    )
    assert failed_node in report
    assert file_digests(project / SERVING) == before["files"]
    assert read_published(project) == before["seen"]
    registry = registry_rows(project)
    assert registry[: len(before["registry"])] == before["registry"]
    # A model trained by the failed build stays in the append-only registry, unpublished.
    assert len(registry) == len(before["registry"]) + bool(vars.get("ml_force_retrain"))


def test_killed_build_leaves_the_published_data_and_the_next_build_passes(clone: Path):
    published = file_digests(clone / SERVING)
    seen_before = read_published(clone)
    registry_before = registry_rows(clone)

    running = start_job(clone, {"ml_force_retrain": True})
    output = []
    for line in running.stdout:
        output.append(line)
        if REGISTRY_START in line:
            break
    assert REGISTRY_START in output[-1], "".join(output[-50:])
    running.send_signal(signal.SIGKILL)  # the job itself; its dbt child dies with it
    running.wait()
    running.stdout.close()

    assert running.returncode == -signal.SIGKILL

    def warehouse_unlocked() -> bool:
        try:
            connect(clone).close()
        except duckdb.IOException:  # "Could not set lock on file"
            return False
        return True

    wait_for(warehouse_unlocked, "the killed job's dbt to release the warehouse")
    # Its dbt died with it: had it lived on, it would have finished the retrain.
    assert registry_rows(clone) == registry_before
    assert file_digests(clone / SERVING) == published
    assert read_published(clone) == seen_before
    assert not list((clone / SERVING).glob(".tmp-*"))

    manifest = published_job(clone)

    assert manifest["previous_run_id"] == seen_before["run_id"]
    seen_after = read_published(clone)
    assert seen_after["run_id"] == manifest["run_id"]
    assert seen_after["counts"] == {t["name"]: t["row_count"] for t in manifest["tables"]}
