"""A static HTML report of the champion model for marketers: one self-contained file.

``python -m precision_marketing.report --out DIR`` (or :func:`write_report`) reads a built
warehouse read-only and writes ``DIR/report.html``: key numbers, then gains and lift, ROC
and precision-recall, calibration, feature selection, score distribution by segment, drift
over time, campaign feedback and the model registry history. Charts are matplotlib figures
inlined as SVG (no network, no scripts at view time), each ``<svg>`` carrying an id from
:data:`CHART_IDS`.

Every query aggregates in DuckDB first (scores rounded to 4 decimals and counted,
histograms by bin), so the report's memory does not grow with the number of customers.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import matplotlib as mpl
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from sklearn import metrics as skm

from precision_marketing.drift import ACT_ABOVE, SCORE_FEATURE, STABLE_BELOW
from precision_marketing.summary import DEFAULT_PATH

log = logging.getLogger(__name__)

REPORT_FILE = "report.html"
REQUIRED_TABLES: tuple[str, ...] = (
    "ml_model_registry",
    "ml_model_metrics",
    "ml_model_gains",
    "ml_feature_selection",
    "ml_backtest_scores",
    "int_feature_spine",
    "customer_scores",
    "fct_model_drift",
    "fct_campaign_feedback",
)
SEGMENT_COLORS = {"hot": "#c0392b", "warm": "#e67e22", "cool": "#5dade2", "cold": "#1f4e79"}
BAND_COLORS = {"stable": "#2e8b57", "watch": "#e6a817", "act": "#c0392b"}
MODEL_COLOR = "#1f4e79"
REALIZED_COLOR = "#e67e22"
NEUTRAL_COLOR = "#9aa5b1"
HISTOGRAM_BINS = 50
SCORE_DECIMALS = 4
"""Holdout scores are rounded to this many decimals and counted in SQL for the curves."""


class ReportError(RuntimeError):
    """The warehouse lacks what the report needs (a table, a champion model)."""


# --- data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, already aggregated (small frames)."""

    champion: dict[str, Any]
    registry: pd.DataFrame
    holdout_metrics: dict[str, float]
    gains: pd.DataFrame
    holdout_scores: pd.DataFrame
    """(score, label, n): holdout contacts counted by rounded score and outcome."""
    calibration: pd.DataFrame
    """(bin, predicted, realized, n): holdout contacts in ten equal-sized score bins."""
    features: pd.DataFrame
    segments: pd.DataFrame
    segment_histogram: pd.DataFrame
    drift: pd.DataFrame
    feedback: pd.DataFrame


def _frame(
    connection: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    return connection.execute(sql, params or {}).df()


def _check_tables(connection: duckdb.DuckDBPyConnection, db_path: str) -> None:
    present = {
        name
        for (name,) in connection.execute(
            "select table_name from duckdb_tables() union all select view_name from duckdb_views()"
        ).fetchall()
    }
    missing = [name for name in REQUIRED_TABLES if name not in present]
    if missing:
        raise ReportError(
            f"{db_path} lacks {', '.join(missing)}: the report needs a complete `dbt build`"
        )


HOLDOUT_ROWS = """
    with holdout_campaigns as (
        select unnest(from_json(holdout_campaigns, '["VARCHAR"]')) as campaign_id
        from ml_model_registry
        where model_id = $model_id
    )
    select scores.propensity, spine.label
    from ml_backtest_scores as scores
    inner join int_feature_spine as spine
        on spine.spine_role = 'train'
        and spine.customer_id = scores.customer_id
        and spine.as_of_date = scores.as_of_date
    where scores.model_id = $model_id
        and spine.campaign_id in (select campaign_id from holdout_campaigns)
"""


def load_report_data(connection: duckdb.DuckDBPyConnection, db_path: str = "") -> ReportData:
    """Read and aggregate what the report shows; raises :class:`ReportError` if unbuilt."""
    _check_tables(connection, db_path)
    registry = _frame(
        connection,
        """
        select model_id, created_at, estimator, status, cv_auc_mean, cv_auc_std, holdout_auc,
               champion_holdout_auc, holdout_campaigns, training_campaigns,
               training_window_start, training_window_end, n_training_rows_used,
               n_holdout_rows, json_array_length(selected_features) as n_features,
               decision_reason
        from ml_model_registry
        order by created_at
        """,
    )
    champions = registry[registry["status"] == "champion"]
    if champions.empty:
        raise ReportError(f"ml_model_registry in {db_path} has no model with status 'champion'")
    champion = champions.iloc[-1].to_dict()
    model = {"model_id": champion["model_id"]}
    metrics = _frame(
        connection,
        """
        select metric, value from ml_model_metrics
        where model_id = $model_id and split = 'holdout' and model = 'propensity'
        """,
        model,
    )
    return ReportData(
        champion=champion,
        registry=registry.assign(is_current_champion=registry["model_id"] == model["model_id"]),
        holdout_metrics=dict(zip(metrics["metric"], metrics["value"], strict=True)),
        gains=_frame(
            connection,
            "select * from ml_model_gains where model_id = $model_id order by decile",
            model,
        ),
        holdout_scores=_frame(
            connection,
            f"""
            select round(propensity, {SCORE_DECIMALS}) as score, label, count(*) as n
            from ({HOLDOUT_ROWS})
            group by all
            order by score
            """,
            model,
        ),
        calibration=_frame(
            connection,
            f"""
            select bin, avg(propensity) as predicted, avg(label) as realized, count(*) as n
            from (select *, ntile(10) over (order by propensity) as bin from ({HOLDOUT_ROWS}))
            group by bin
            order by bin
            """,
            model,
        ),
        features=_frame(
            connection,
            """
            select feature, score, selected, method from ml_feature_selection
            where model_id = $model_id
            order by score desc
            """,
            model,
        ),
        segments=_frame(
            connection,
            """
            select segment, count(*) as customers, avg(propensity) as mean_propensity,
                   min(propensity) as min_propensity, sum(expected_value) as expected_value,
                   min(as_of_date) as as_of_date
            from customer_scores
            group by segment
            order by mean_propensity desc
            """,
        ),
        segment_histogram=_frame(
            connection,
            f"""
            with scores as (select * from customer_scores),
            width as (select greatest(max(propensity), 1e-9) / {HISTOGRAM_BINS} as width
                      from scores)
            select segment,
                   least(floor(propensity / width), {HISTOGRAM_BINS - 1}) * width as bin_start,
                   width,
                   count(*) as customers
            from scores cross join width
            group by all
            """,
        ),
        drift=_frame(
            connection,
            """
            select * from fct_model_drift
            qualify row_number() over (
                partition by as_of_date, feature order by computed_at desc
            ) = 1
            order by as_of_date, feature
            """,
        ),
        feedback=_frame(
            connection,
            """
            select * from fct_campaign_feedback
            order by campaign_start_date, campaign_id, prediction_source, model_id, decile
            """,
        ),
    )


# --- charts ----------------------------------------------------------------------------


def _figure(width: float = 11.0, height: float = 4.2, columns: int = 1) -> tuple[Figure, list]:
    figure = Figure(figsize=(width, height), layout="constrained")
    axes = figure.subplots(1, columns, squeeze=False)[0]
    for ax in axes:
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(alpha=0.25)
    return figure, list(axes)


def _empty(ax: Axes, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def chart_gains(data: ReportData) -> Figure:
    figure, (capture_ax, lift_ax) = _figure(columns=2)
    gains = data.gains
    share = np.concatenate([[0.0], gains["decile"].to_numpy() / len(gains)])
    capture = np.concatenate([[0.0], gains["cumulative_capture"].to_numpy()])
    capture_ax.plot(share * 100, capture * 100, marker="o", color=MODEL_COLOR, label="model")
    capture_ax.plot([0, 100], [0, 100], ls="--", color=NEUTRAL_COLOR, label="random")
    capture_ax.set(
        title="Cumulative gains",
        xlabel="% of contacts, best scores first",
        ylabel="% of all responders reached",
        xlim=(0, 100),
        ylim=(0, 100),
    )
    capture_ax.legend(loc="lower right")
    bars = lift_ax.bar(gains["decile"], gains["lift"], color=MODEL_COLOR)
    lift_ax.bar_label(bars, fmt="%.1fx", fontsize=8)
    lift_ax.axhline(1.0, ls="--", color=NEUTRAL_COLOR)
    lift_ax.set(
        title="Lift by decile",
        xlabel="decile (1 = highest scores)",
        ylabel="response rate / average",
        xticks=gains["decile"],
    )
    return figure


def chart_roc_pr(data: ReportData) -> Figure:
    figure, (roc_ax, pr_ax) = _figure(columns=2)
    scores = data.holdout_scores
    y, s, n = scores["label"].to_numpy(), scores["score"].to_numpy(), scores["n"].to_numpy()
    fpr, tpr, _ = skm.roc_curve(y, s, sample_weight=n)
    roc_ax.plot(fpr, tpr, color=MODEL_COLOR, label=f"model (AUC {skm.auc(fpr, tpr):.3f})")
    roc_ax.plot([0, 1], [0, 1], ls="--", color=NEUTRAL_COLOR, label="random (AUC 0.5)")
    roc_ax.set(
        title="ROC curve",
        xlabel="false positive rate (non-responders selected)",
        ylabel="true positive rate (responders found)",
    )
    roc_ax.legend(loc="lower right")
    precision, recall, _ = skm.precision_recall_curve(y, s, sample_weight=n)
    average_precision = skm.average_precision_score(y, s, sample_weight=n)
    base_rate = float((y * n).sum() / n.sum())
    pr_ax.plot(recall, precision, color=MODEL_COLOR, label=f"model (AP {average_precision:.3f})")
    pr_ax.axhline(base_rate, ls="--", color=NEUTRAL_COLOR, label=f"random ({base_rate:.1%})")
    pr_ax.set(
        title="Precision-recall curve",
        xlabel="recall (share of responders found)",
        ylabel="precision (share of selected who respond)",
        ylim=(0, 1.02),
    )
    pr_ax.legend(loc="upper right")
    return figure


def chart_calibration(data: ReportData) -> Figure:
    figure, (ax, spread_ax) = _figure(columns=2)
    calibration = data.calibration
    top = float(max(calibration["predicted"].max(), calibration["realized"].max()) * 110)
    ax.plot([0, top], [0, top], ls="--", color=NEUTRAL_COLOR, label="perfect")
    ax.plot(
        calibration["predicted"] * 100,
        calibration["realized"] * 100,
        marker="o",
        color=MODEL_COLOR,
        label="model (10 equal-sized score bins)",
    )
    ax.set(
        title="Predicted against actual response",
        xlabel="predicted response rate (%)",
        ylabel="actual response rate (%)",
        xlim=(0, top),
        ylim=(0, top),
    )
    ax.legend(loc="upper left")
    scores = data.holdout_scores
    edges = np.linspace(0.0, float(scores["score"].max()) * 100, 31)
    for label, name, color in (
        (0, "non-responders", NEUTRAL_COLOR),
        (1, "responders", MODEL_COLOR),
    ):
        rows = scores[scores["label"] == label]
        spread_ax.hist(
            rows["score"] * 100,
            bins=edges,
            weights=rows["n"] / rows["n"].sum() * 100,
            color=color,
            alpha=0.6,
            label=name,
        )
    spread_ax.set(
        title="Scores of responders and non-responders",
        xlabel="predicted response rate (%)",
        ylabel="% of the group",
    )
    spread_ax.legend(loc="upper right")
    return figure


def chart_features(data: ReportData) -> Figure:
    features = data.features.head(25).iloc[::-1]
    figure, (ax,) = _figure(height=max(3.0, 0.2 * len(features) + 1.2))
    colors = [MODEL_COLOR if s else NEUTRAL_COLOR for s in features["selected"]]
    ax.barh(features["feature"], features["score"], color=colors)
    method = data.features["method"].iloc[0] if not data.features.empty else ""
    ax.set(title=f"Feature scores ({method})", xlabel="score (higher = more informative)")
    ax.tick_params(axis="y", labelsize=8)
    handles = [
        Patch(color=MODEL_COLOR, label="used by the model"),
        Patch(color=NEUTRAL_COLOR, label="not selected"),
    ]
    ax.legend(handles=handles, loc="lower right")
    return figure


def chart_segments(data: ReportData) -> Figure:
    figure, (hist_ax, value_ax) = _figure(columns=2)
    histogram = data.segment_histogram
    segments = data.segments.set_index("segment")
    counts = histogram.pivot_table(
        index="bin_start", columns="segment", values="customers", aggfunc="sum", fill_value=0
    )
    width = float(histogram["width"].iloc[0]) * 100
    bottom = np.zeros(len(counts))
    # Segments cover adjacent score ranges; a bin on a boundary stacks both.
    for segment in [s for s in ("cold", "cool", "warm", "hot") if s in counts.columns]:
        hist_ax.bar(
            counts.index * 100,
            counts[segment],
            width=width,
            align="edge",
            bottom=bottom,
            color=SEGMENT_COLORS[segment],
            label=f"{segment} ({int(segments.loc[segment, 'customers']):,})",
        )
        bottom += counts[segment].to_numpy()
    hist_ax.set(
        title="Customers by score",
        xlabel="propensity (%)",
        ylabel="customers",
    )
    hist_ax.legend(title="segment (customers)")
    order = [s for s in ("hot", "warm", "cool", "cold") if s in segments.index]
    bars = value_ax.bar(
        order,
        segments.loc[order, "expected_value"],
        color=[SEGMENT_COLORS[s] for s in order],
    )
    value_ax.bar_label(
        bars,
        labels=[f"{segments.loc[s, 'mean_propensity']:.0%} avg" for s in order],
        fontsize=8,
    )
    value_ax.set(
        title="Expected revenue by segment",
        ylabel="sum of expected value",
        xlabel="segment (label: mean propensity)",
    )
    return figure


def chart_drift(data: ReportData) -> Figure:
    figure, (now_ax, time_ax) = _figure(height=4.8, columns=2)
    drift = data.drift
    current = drift[drift["is_latest"]]
    if current.empty:
        _empty(now_ax, "No drift computed for the current champion yet")
        _empty(time_ax, "")
        return figure
    current = current.sort_values("psi")
    labels = ["model score" if f == SCORE_FEATURE else f for f in current["feature"]]
    now_ax.barh(labels, current["psi"], color=[BAND_COLORS[b] for b in current["band"]])
    now_ax.set(title=f"Drift now ({current['as_of_date'].iloc[0]:%Y-%m-%d})", xlabel="PSI")
    now_ax.tick_params(axis="y", labelsize=8)
    for ax in (now_ax, time_ax):
        vertical = ax is now_ax
        line = ax.axvline if vertical else ax.axhline
        line(STABLE_BELOW, ls=":", color=BAND_COLORS["watch"])
        line(ACT_ABOVE, ls=":", color=BAND_COLORS["act"])
    features = [SCORE_FEATURE, *[f for f in current["feature"][::-1] if f != SCORE_FEATURE][:6]]
    for feature in features:
        rows = drift[drift["feature"] == feature].sort_values("as_of_date")
        is_score = feature == SCORE_FEATURE
        time_ax.plot(
            rows["as_of_date"],
            rows["psi"],
            marker="o",
            lw=3 if is_score else 1.2,
            color="black" if is_score else None,
            label="model score" if is_score else feature,
        )
    locator = mdates.AutoDateLocator(maxticks=6)
    time_ax.xaxis.set_major_locator(locator)
    time_ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    time_ax.set(title="Drift over time", xlabel="score date", ylabel="PSI")
    time_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    handles = [Patch(color=c, label=b) for b, c in BAND_COLORS.items()]
    now_ax.legend(handles=handles, loc="lower right", fontsize=8)
    return figure


def latest_feedback(feedback: pd.DataFrame) -> pd.DataFrame:
    """The feedback rows of the most recent campaign, one block per (source, model)."""
    if feedback.empty:
        return feedback
    latest = feedback.sort_values(["campaign_start_date", "campaign_id"])["campaign_id"].iloc[-1]
    return feedback[feedback["campaign_id"] == latest]


def chart_feedback(data: ReportData) -> Figure:
    rows = latest_feedback(data.feedback)
    blocks = list(rows.groupby(["prediction_source", "model_id"], sort=True))
    figure, axes = _figure(columns=max(1, len(blocks)))
    if not blocks:
        _empty(axes[0], "No campaign after a score date yet")
        return figure
    for ax, ((source, model_id), block) in zip(axes, blocks, strict=True):
        ax.bar(
            block["decile"],
            block["realized_response_rate"] * 100,
            color=REALIZED_COLOR,
            label="actual",
        )
        ax.plot(
            block["decile"],
            block["predicted_response_rate"] * 100,
            marker="o",
            color=MODEL_COLOR,
            label="predicted",
        )
        score_date = pd.Timestamp(block["score_date"].iloc[0])
        ax.set(
            title=f"{block['campaign_id'].iloc[0]}: {source.replace('_', ' ')}, model "
            f"{model_id[:8]}, scores of {score_date:%Y-%m-%d}",
            xlabel="predicted decile (1 = most likely)",
            ylabel="response rate (%)",
            xticks=range(1, 11),
        )
        ax.title.set_fontsize(9)
        ax.legend()
    return figure


def chart_registry(data: ReportData) -> Figure:
    figure, (ax,) = _figure(height=4.2)
    registry = data.registry.reset_index(drop=True)
    x = np.arange(len(registry))
    ax.errorbar(
        x,
        registry["cv_auc_mean"],
        yerr=registry["cv_auc_std"],
        fmt="s",
        color=NEUTRAL_COLOR,
        capsize=4,
        label="cross-validated AUC (training window, ± 1 sd)",
    )
    for status, marker in (("champion", "o"), ("challenger", "x")):
        rows = registry[registry["status"] == status]
        ax.scatter(
            rows.index,
            rows["holdout_auc"],
            marker=marker,
            s=60,
            color=MODEL_COLOR,
            label=f"holdout AUC ({status} when trained)",
            zorder=3,
        )
    current = registry[registry["is_current_champion"]]
    ax.scatter(
        current.index,
        current["holdout_auc"],
        marker="*",
        s=380,
        color="#f1c40f",
        edgecolor="black",
        label="current champion",
        zorder=4,
    )
    ax.set_xticks(
        x,
        [
            f"{m[:8]}\n{t:%Y-%m-%d %H:%M}"
            for m, t in zip(registry["model_id"], registry["created_at"], strict=True)
        ],
        fontsize=8,
    )
    ax.set(title="Models trained, oldest first", ylabel="ROC AUC", xlim=(-0.6, len(x) - 0.4))
    ax.legend(fontsize=8, loc="lower left")
    return figure


CHARTS: tuple[tuple[str, str, str, Callable[[ReportData], Figure]], ...] = (
    (
        "chart-gains",
        "Gains and lift",
        "Holdout campaigns the model never saw: contacting the best-scored 10% reaches the share "
        "of all responders on the left; bars show how many times the average rate each decile "
        "responds.",
        chart_gains,
    ),
    (
        "chart-roc-pr",
        "ROC and precision-recall",
        "How well the score separates responders from non-responders on the holdout campaigns; "
        "the further above the dashed line, the better.",
        chart_roc_pr,
    ),
    (
        "chart-calibration",
        "Calibration",
        "Are the probabilities right? Points on the dashed line mean that customers given 20% "
        "respond 20% of the time; on the right, the less the two groups overlap, the better.",
        chart_calibration,
    ),
    (
        "chart-features",
        "What drives the score",
        "Each candidate feature's association with response on the training window; the model "
        "uses the dark ones.",
        chart_features,
    ),
    (
        "chart-segments",
        "Score distribution by segment",
        "Today's customers by propensity, coloured by the segment used for targeting, and the "
        "revenue each segment is expected to bring.",
        chart_segments,
    ),
    (
        "chart-drift",
        "Drift",
        "Do today's customers still look like those the model learned from? PSI below 0.1 is "
        "stable, 0.1 to 0.25 worth watching, above 0.25 calls for a look and likely a retrain.",
        chart_drift,
    ),
    (
        "chart-feedback",
        "Latest campaign: predicted against actual",
        "Contacts of the most recent campaign grouped by the decile the model gave them: bars are "
        "what happened, the line what the model expected.",
        chart_feedback,
    ),
    (
        "chart-registry",
        "Model registry history",
        "Every model trained, with its cross-validated and holdout ROC AUC; the star marks the "
        "model scoring customers now. Holdouts differ between models trained on different data.",
        chart_registry,
    ),
)

CHART_IDS: tuple[str, ...] = tuple(chart_id for chart_id, *_ in CHARTS)
"""The id of each chart's ``<svg>`` element, in page order."""


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)


def figure_svg(figure: Figure, chart_id: str, title: str) -> str:
    """The figure as an inline ``<svg id=chart_id>`` scaled to the page width."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": chart_id, "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    opening = _SVG_OPEN.search(text)
    if opening is None:
        raise ReportError(f"matplotlib wrote no <svg> element for {chart_id}")
    view_box = re.search(r'viewBox="([^"]+)"', opening.group(0))
    attributes = (
        f'id="{chart_id}" class="chart" role="img" aria-label="{html.escape(title)}" '
        f'viewBox="{view_box.group(1) if view_box else ""}"'
    )
    # HTML gives inline SVG its namespaces; the RDF metadata block is dropped.
    body = _SVG_METADATA.sub("", text[opening.end() :]).strip()
    return f"<svg {attributes}>{body}"


# --- page ------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2731; background: #f4f6f8; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 48px; }
h1 { margin: 0 0 4px; font-size: 28px; }
.subtitle { color: #52606d; margin: 0 0 20px; }
.tiles { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; margin-bottom: 24px; }
.tile { background: white; border-radius: 8px; padding: 14px 16px;
        box-shadow: 0 1px 3px rgba(0,0,0,.08); }
.tile .label { font-size: 13px; color: #52606d; text-transform: uppercase; letter-spacing: .04em; }
.tile .value { font-size: 30px; font-weight: 650; margin: 4px 0; }
.tile .note { font-size: 13px; color: #52606d; }
section { background: white; border-radius: 8px; padding: 16px 20px; margin-bottom: 18px;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }
section h2 { margin: 0 0 8px; font-size: 20px; }
svg.chart { width: 100%; height: auto; display: block; }
.caption { color: #3e4c59; margin: 8px 0 0; font-size: 15px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin-top: 12px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e4e7eb; }
th { color: #52606d; font-weight: 600; }
tr.champion td { font-weight: 650; background: #fff8db; }
.band-stable { color: #2e8b57; } .band-watch { color: #b7791f; } .band-act { color: #c0392b; }
footer { color: #7b8794; font-size: 12px; margin-top: 24px; }
"""


def _tile(label: str, value: str, note: str) -> str:
    return (
        f'<div class="tile"><div class="label">{html.escape(label)}</div>'
        f'<div class="value">{html.escape(value)}</div>'
        f'<div class="note">{html.escape(note)}</div></div>'
    )


def key_numbers(data: ReportData) -> list[tuple[str, str, str]]:
    """(label, value, note) of the tiles at the top of the report."""
    champion, metrics = data.champion, data.holdout_metrics
    segments = data.segments.set_index("segment")
    customers = int(segments["customers"].sum())
    hot = int(segments["customers"].get("hot", 0))
    score_date = pd.Timestamp(data.segments["as_of_date"].min())
    tiles = [
        (
            "Customers scored",
            f"{customers:,}",
            f"as of {score_date:%Y-%m-%d}; {hot:,} in the hot segment",
        ),
        (
            "Holdout ROC AUC",
            f"{champion['holdout_auc']:.3f}",
            "ranking quality on unseen campaigns: 0.5 = random, 1 = perfect",
        ),
        (
            "Top-10% lift",
            f"{metrics.get('lift_at_10pct', float('nan')):.1f}x",
            f"the best-scored 10% respond this many times the average and hold "
            f"{metrics.get('capture_at_10pct', float('nan')):.0%} of all responders",
        ),
    ]
    drift = data.drift[data.drift["is_latest"]]
    if drift.empty:
        tiles.append(("Drift", "n/a", "no drift computed for the current champion"))
    else:
        score = drift[drift["feature"] == SCORE_FEATURE].iloc[0]
        features = drift[drift["feature"] != SCORE_FEATURE]
        act, watch = (int((features["band"] == b).sum()) for b in ("act", "watch"))
        tiles.append(
            (
                "Score drift",
                f"{score['band']}",
                f"score PSI {score['psi']:.2f}; features: {act} to act on, {watch} to watch",
            )
        )
    latest = latest_feedback(data.feedback)
    top = latest[latest["decile"] == 1]
    if top.empty:
        tiles.append(("Latest campaign", "n/a", "no campaign after a score date yet"))
    else:
        # 'backtest' sorts first: the current champion's own predictions.
        row = top.sort_values("prediction_source").iloc[0]
        tiles.append(
            (
                f"Latest campaign {row['campaign_id']}",
                f"{row['realized_response_rate']:.0%}",
                f"of its top decile responded; the model expected "
                f"{row['predicted_response_rate']:.0%} (overall lift {row['lift']:.1f}x)",
            )
        )
    tiles.append(
        (
            "Champion model",
            str(champion["estimator"]).replace("_", " "),
            f"{champion['model_id']}, {int(champion['n_features'])} features, trained "
            f"{pd.Timestamp(champion['created_at']):%Y-%m-%d}",
        )
    )
    return tiles


def _registry_table(registry: pd.DataFrame) -> str:
    rows = []
    for row in registry.iloc[::-1].itertuples():
        css = ' class="champion"' if row.is_current_champion else ""
        status = "current champion" if row.is_current_champion else row.status
        campaigns = ", ".join(json.loads(row.holdout_campaigns or "[]"))
        cells = [
            row.model_id,
            f"{pd.Timestamp(row.created_at):%Y-%m-%d %H:%M}",
            row.estimator.replace("_", " "),
            status,
            f"{row.cv_auc_mean:.3f}",
            f"{row.holdout_auc:.3f} ({campaigns})",
            f"{int(row.n_training_rows_used):,}",
            row.decision_reason or "",
        ]
        rows.append(
            f"<tr{css}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
        )
    header = ("model", "trained", "estimator", "status", "CV AUC", "holdout AUC (campaigns)")
    header += ("training rows", "decision")
    return (
        "<table><thead><tr>"
        + "".join(f"<th>{h}</th>" for h in header)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _drift_table(drift: pd.DataFrame) -> str:
    current = drift[drift["is_latest"]].sort_values("psi", ascending=False)
    rows = "".join(
        f"<tr><td>{html.escape('model score' if r.feature == SCORE_FEATURE else r.feature)}</td>"
        f'<td>{r.psi:.3f}</td><td class="band-{r.band}">{r.band}</td></tr>'
        for r in current.itertuples()
    )
    return (
        "<table><thead><tr><th>feature</th><th>PSI now</th><th>band</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def render_html(data: ReportData, generated_at: datetime | None = None) -> str:
    """The whole report page as one HTML string."""
    generated_at = generated_at or datetime.now(UTC)
    champion = data.champion
    sections = []
    for chart_id, title, caption, draw in CHARTS:
        figure = draw(data)
        extra = ""
        if chart_id == "chart-registry":
            extra = _registry_table(data.registry)
        elif chart_id == "chart-drift" and not data.drift.empty:
            extra = _drift_table(data.drift)
        sections.append(
            f"<section><h2>{html.escape(title)}</h2>{figure_svg(figure, chart_id, title)}"
            f'<p class="caption">{html.escape(caption)}</p>{extra}</section>'
        )
    tiles = "".join(_tile(*tile) for tile in key_numbers(data))
    window = (
        f"{pd.Timestamp(champion['training_window_start']):%Y-%m-%d} to "
        f"{pd.Timestamp(champion['training_window_end']):%Y-%m-%d}"
    )
    holdout = ", ".join(json.loads(champion["holdout_campaigns"] or "[]"))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Customer response model report</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>Customer response model report</h1>
<p class="subtitle">Who is likely to respond to the next campaign, how well the model
ranks customers, and whether it still fits. Model {html.escape(champion["model_id"])}
trained on campaigns from {window}; evaluated on held-out campaigns {html.escape(holdout)}.</p>
<div class="tiles">{tiles}</div>
{"".join(sections)}
<footer>Generated {generated_at:%Y-%m-%d %H:%M} UTC by precision_marketing.report from the
warehouse tables ml_model_registry, ml_model_gains, ml_backtest_scores, customer_scores,
fct_model_drift and fct_campaign_feedback.</footer>
</main>
</body>
</html>
"""


def write_report(db_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/report.html`` from the warehouse at ``db_path`` (read-only).

    The page is written to a temporary name and renamed, so a reader never sees half a
    report. Returns the report's path.
    """
    started = time.perf_counter()
    with duckdb.connect(str(db_path), read_only=True) as connection:
        data = load_report_data(connection, str(db_path))
    page = render_html(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / REPORT_FILE
    partial = out / f".{REPORT_FILE}.partial"
    partial.write_text(page, encoding="utf-8")
    partial.replace(target)
    log.info(
        "report: wrote %s (%d KiB) in %.1fs",
        target,
        len(page.encode()) // 1024,
        time.perf_counter() - started,
    )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m precision_marketing.report",
        description="Write a static HTML model report (report.html) from a built warehouse.",
    )
    parser.add_argument("--out", required=True, help="directory to write report.html into")
    parser.add_argument(
        "--db",
        default=os.environ.get("PM_DUCKDB_PATH", DEFAULT_PATH),
        help="DuckDB warehouse file (default: $PM_DUCKDB_PATH or %(default)s)",
    )
    args = parser.parse_args(argv)
    if not Path(args.db).exists():
        parser.error(f"warehouse file {args.db} does not exist: run `make run` first")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = write_report(args.db, args.out)
    except ReportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
