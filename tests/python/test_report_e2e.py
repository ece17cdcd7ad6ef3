"""End to end: score history, campaign feedback, drift, docs and the HTML report of the demo.

One module fixture replays the loop on a clone of the built demo: rescore the same date
(the snapshot is replaced), back-date a build to 2025-09-01 (a snapshot before campaign
C10), build today again (C10 is fed back against that snapshot), generate the dbt docs and
write the report, which headless Chromium then renders.

Set PM_UPDATE_REPORT_PNG=1 to copy the rendered screenshot to docs/report.png.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
from e2e_support import (
    PROJECT_ROOT,
    build,
    built_demo_project,
    copy_project,
    dbt,
    duckdb_path,
    query,
)
from sklearn.metrics import roc_auc_score

from precision_marketing.drift import SCORE_FEATURE, psi_band
from precision_marketing.report import CHART_IDS, REPORT_FILE, main

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT_SECONDS = 180
SCREENSHOT_SIZE = (1280, 5800)
TODAY = date(2026, 1, 1)
BACK_DATE = date(2025, 9, 1)
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
"""Any network call in a dbt run would hit a closed port."""


@dataclass(frozen=True)
class Loop:
    fresh: Path
    project: Path
    history_before_rescore: pd.DataFrame
    history_after_rescore: pd.DataFrame
    docs: subprocess.CompletedProcess[str]
    report_cli: subprocess.CompletedProcess[str]
    report: Path


def _history_summary(project: Path) -> pd.DataFrame:
    return query(
        project,
        """
        select as_of_date, model_id, count(*) as customers,
               count(distinct scored_at) as scored_ats, max(scored_at) as scored_at
        from fct_customer_score_history
        group by all
        order by as_of_date, model_id
        """,
    )


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    fresh = built_demo_project(tmp_path_factory)
    project = copy_project(tmp_path_factory.mktemp("loop"), source=fresh, include_warehouse=True)
    before = _history_summary(project)
    build(project, seed=False, select=["ml_customer_propensity+"])
    after = _history_summary(project)
    build(project, vars={"score_date": BACK_DATE.isoformat()}, seed=False)
    build(project, seed=False)
    docs = dbt(project, "docs", "generate", env=OFFLINE)
    serving = project / "warehouse" / "serving"
    report_cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "precision_marketing.report",
            "--db",
            str(duckdb_path(project)),
            "--out",
            str(serving),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return Loop(fresh, project, before, after, docs, report_cli, serving / REPORT_FILE)


# --- out of the box ---------------------------------------------------------------------


def test_fresh_build_snapshots_every_scored_customer_once(loop):
    history = _history_summary(loop.fresh)
    (scored,) = query(loop.fresh, "select count(*) from customer_scores").iloc[0]
    champion = query(
        loop.fresh,
        "select model_id from ml_model_registry where status = 'champion' "
        "order by created_at desc limit 1",
    ).iloc[0, 0]
    assert history[["as_of_date", "model_id", "customers"]].to_dict("records") == [
        {"as_of_date": pd.Timestamp(TODAY), "model_id": champion, "customers": scored}
    ]
    assert scored == 4000


def test_fresh_build_feeds_back_the_holdout_campaigns_by_decile(loop):
    feedback = query(loop.fresh, "select * from fct_campaign_feedback order by campaign_id, decile")
    contacts = query(
        loop.fresh,
        """
        select campaign_id, count(*) as contacts, sum(label) as responders,
               min(as_of_date) as contact_date
        from int_feature_spine where spine_role = 'train' and campaign_id in ('C09', 'C10')
        group by campaign_id order by campaign_id
        """,
    ).set_index("campaign_id")
    assert set(feedback["prediction_source"]) == {"backtest"}
    assert sorted(set(feedback["campaign_id"])) == ["C09", "C10"]
    for campaign, rows in feedback.groupby("campaign_id"):
        assert rows["decile"].tolist() == list(range(1, 11))
        assert rows["contacts"].sum() == contacts.loc[campaign, "contacts"]
        assert rows["responders"].sum() == contacts.loc[campaign, "responders"]
        assert (rows["contacts"].max() - rows["contacts"].min()) <= 1  # tenths of the contacts
        assert (rows["score_date"] == contacts.loc[campaign, "contact_date"]).all()
        overall = rows["responders"].sum() / rows["contacts"].sum()
        assert rows["lift"].to_numpy() == pytest.approx(
            (rows["realized_response_rate"] / overall).to_numpy()
        )
        assert rows["cumulative_capture"].iloc[-1] == pytest.approx(1.0)
        error = rows["realized_response_rate"] - rows["predicted_response_rate"]
        assert rows["calibration_error"].to_numpy() == pytest.approx(error.to_numpy())
        expected_ece = (error.abs() * rows["contacts"]).sum() / rows["contacts"].sum()
        assert rows["campaign_calibration_error"].to_numpy() == pytest.approx(expected_ece)
        # the model ranks: the top decile responds more than twice the campaign average
        assert rows["lift"].iloc[0] > 2.0 > rows["lift"].iloc[-1]


def test_backtest_of_the_holdout_reproduces_the_registry_holdout_auc(loop):
    holdout = query(
        loop.fresh,
        """
        with champion as (
            select * from ml_model_registry where status = 'champion'
            order by created_at desc limit 1
        )
        select scores.propensity, spine.label, champion.holdout_auc
        from ml_backtest_scores as scores
        inner join int_feature_spine as spine using (customer_id, as_of_date)
        cross join champion
        where spine.spine_role = 'train'
            and list_contains(from_json(champion.holdout_campaigns, '["VARCHAR"]'),
                              spine.campaign_id)
        """,
    )
    assert len(holdout) == 1391 + 1410
    assert roc_auc_score(holdout["label"], holdout["propensity"]) == pytest.approx(
        holdout["holdout_auc"].iloc[0], abs=1e-9
    )


# --- the loop over several builds ----------------------------------------------------------


def test_rebuilding_the_same_date_replaces_its_snapshot(loop):
    before, after = loop.history_before_rescore, loop.history_after_rescore
    assert len(before) == len(after) == 1
    assert after["customers"].iloc[0] == before["customers"].iloc[0] == 4000
    assert after["scored_ats"].iloc[0] == 1
    assert after["scored_at"].iloc[0] > before["scored_at"].iloc[0]


def test_a_back_dated_snapshot_is_fed_back_with_the_next_campaign(loop):
    history = _history_summary(loop.project)
    back_dated = history[history["as_of_date"] == pd.Timestamp(BACK_DATE)]
    assert len(back_dated) == 1
    assert 0 < back_dated["customers"].iloc[0] < 4000  # customers signed up by then
    assert set(history["as_of_date"]) == {pd.Timestamp(BACK_DATE), pd.Timestamp(TODAY)}
    feedback = query(
        loop.project,
        "select * from fct_campaign_feedback where prediction_source = 'score_history' "
        "order by decile",
    )
    # C10 (2025-10-15) is the only campaign after 2025-09-01 whose window has closed.
    assert set(feedback["campaign_id"]) == {"C10"}
    assert set(feedback["score_date"]) == {pd.Timestamp(BACK_DATE)}
    assert set(feedback["model_id"]) == {back_dated["model_id"].iloc[0]}
    assert feedback["decile"].tolist() == list(range(1, 11))
    (c10_contacts,) = query(
        loop.project,
        "select count(*) from int_feature_spine where campaign_id = 'C10'",
    ).iloc[0]
    assert 0.9 * c10_contacts < feedback["contacts"].sum() <= c10_contacts
    # scores of 2025-09-01 still rank C10: top decile well above the bottom one
    assert (
        feedback["realized_response_rate"].iloc[0] > 2 * feedback["realized_response_rate"].iloc[-1]
    )


def test_drift_is_finite_banded_and_kept_per_score_date(loop):
    drift = query(loop.project, "select * from fct_model_drift")
    registry = query(loop.project, "select model_id, selected_features from ml_model_registry")
    selected = dict(zip(registry["model_id"], registry["selected_features"], strict=True))
    assert all(math.isfinite(p) and p >= 0 for p in drift["psi"])
    assert drift["band"].tolist() == [psi_band(p) for p in drift["psi"]]
    for (model_id, _), rows in drift.groupby(["model_id", "as_of_date"]):
        assert sorted(rows["feature"]) == sorted([SCORE_FEATURE, *json.loads(selected[model_id])])
    assert set(drift["as_of_date"]) == {pd.Timestamp(BACK_DATE), pd.Timestamp(TODAY)}
    latest = drift[drift["is_latest"]]
    assert set(latest["as_of_date"]) == {pd.Timestamp(TODAY)}
    assert latest["is_current_champion"].all()
    assert len(latest) == len(drift[drift["is_current_champion"]])
    score = latest[latest["feature"] == SCORE_FEATURE].iloc[0]
    assert score["reference_rows"] > 0 and score["current_rows"] == 4000


def test_drift_in_the_act_band_warns_without_failing_the_build(loop):
    result = build(loop.project, seed=False, select=["fct_model_drift"])
    act = query(
        loop.project, "select count(*) from fct_model_drift where is_latest and band = 'act'"
    )
    if act.iloc[0, 0] > 0:
        assert "WARN 1 drift_psi_in_act_band" in result.stdout
    else:
        assert "PASS drift_psi_in_act_band" in result.stdout


# --- docs and report ----------------------------------------------------------------------


def test_dbt_docs_generate_offline_documents_the_monitoring_models(loop):
    target = loop.project / "target"
    assert (target / "index.html").exists() and (target / "catalog.json").exists()
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    exposures = manifest["exposures"].values()
    assert {e["name"] for e in exposures} >= {
        "campaign_targeting_dashboard",
        "model_monitoring_dashboard",
        "model_report",
    }
    assert all(e["depends_on"]["nodes"] and e["owner"]["email"] for e in exposures)
    for name in ("fct_customer_score_history", "fct_campaign_feedback", "fct_model_drift"):
        node = manifest["nodes"][f"model.precision_marketing.{name}"]
        assert node["description"]
        catalog_columns = catalog["nodes"][f"model.precision_marketing.{name}"]["columns"]
        undocumented = [
            c for c in catalog_columns if not node["columns"].get(c, {}).get("description")
        ]
        assert undocumented == [], f"{name} columns without description: {undocumented}"


def test_report_cli_writes_one_self_contained_page(loop):
    assert loop.report_cli.stdout.strip() == str(loop.report)
    page = loop.report.read_text()
    assert "http://" not in page and "https://" not in page  # nothing fetched at view time
    assert "<script" not in page and "<link" not in page
    assert not list(loop.report.parent.glob(".*.partial"))


def test_report_cli_names_what_is_missing_in_an_unbuilt_warehouse(tmp_path, capsys):
    import duckdb

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert main(["--db", str(empty), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "lacks ml_model_registry" in error and "fct_campaign_feedback" in error
    assert not (tmp_path / "out" / REPORT_FILE).exists()


class _ChartCounter(HTMLParser):
    """Counts the drawing elements inside each <svg id=...> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: dict[str, int] = {}
        self.tiles = 0
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "svg" and attributes.get("id"):
            self._open.append(attributes["id"])
            self.elements[attributes["id"]] = 0
        elif self._open and tag in ("path", "use", "rect", "text"):
            self.elements[self._open[-1]] += 1
        if attributes.get("class") == "tile":
            self.tiles += 1

    def handle_endtag(self, tag):
        if tag == "svg" and self._open:
            self._open.pop()


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp / 'chromium-profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=CHROMIUM_TIMEOUT_SECONDS,
        check=True,
    )


@pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="/usr/bin/chromium is missing: apt-get install -y chromium (see .ci/run)",
)
def test_report_renders_every_chart_in_headless_chromium(loop, tmp_path):
    url = loop.report.resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url).stdout
    counter = _ChartCounter()
    counter.feed(dom)
    assert set(CHART_IDS) <= set(counter.elements)
    empty = [chart for chart in CHART_IDS if counter.elements[chart] < 20]
    assert empty == [], f"charts without drawing: {empty}"
    assert counter.tiles == 6

    screenshot = tmp_path / "report.png"
    width, height = SCREENSHOT_SIZE
    _chromium(tmp_path, f"--screenshot={screenshot}", f"--window-size={width},{height}", url)
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.05  # not a blank page
    if os.environ.get("PM_UPDATE_REPORT_PNG"):
        shutil.copyfile(screenshot, PROJECT_ROOT / "docs" / "report.png")
