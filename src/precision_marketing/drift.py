"""Drift: population stability index (PSI) between the training window and today's customers.

For the champion's score and for each feature it selected, the reference population is the
champion's training window (the contact rows of its training campaigns) and the current
population is the scoring population (every customer at the score date). Both are cut into
the same bins and

    PSI = sum over bins of (current share - reference share) * ln(current share / reference share)

Bins: a numeric feature (booleans count as 0/1) is cut at the deciles of the reference
values (``quantile_disc``, so edges are observed values and repeated edges merge: a count
that is mostly 0 gets fewer, wider bins), giving (-inf, e1], (e1, e2], ..., (e_k, +inf);
a categorical feature has one bin per level. NULL is a bin of its own in both, so a change
in missingness is drift too. A share of 0 (a level seen on one side only) is replaced by
:data:`EPSILON` before the logarithm, which keeps the PSI finite: one bin holding 1% of
one side and nothing of the other adds about 0.01 * ln(0.01 / 0.0001) = 0.046.

Bands (the usual reading): below 0.1 stable, 0.1 to 0.25 watch (both ends included), above
0.25 act. Counting runs in DuckDB (one grouped scan per feature); only the bin counts,
about a dozen per feature, come back to Python.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pyarrow as pa

from precision_marketing import sql
from precision_marketing.features import SCORE_ROLE, TRAIN_ROLE, feature_columns
from precision_marketing.registry import current_champion, naive_utc

log = logging.getLogger(__name__)

SCORE_FEATURE = "__score__"
"""The ``feature`` value of the row describing the drift of the champion's propensity."""
N_BINS = 10
EPSILON = 1e-4
"""Share used for an empty bin (0.01%), so that PSI stays finite."""
STABLE_BELOW = 0.1
ACT_ABOVE = 0.25
BANDS: tuple[str, ...] = ("stable", "watch", "act")
MISSING_BIN = "missing"

DRIFT_SCHEMA = pa.schema(
    [
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("as_of_date", pa.date32(), nullable=False),
        pa.field("feature", pa.string(), nullable=False),
        pa.field("feature_kind", pa.string(), nullable=False),
        pa.field("psi", pa.float64(), nullable=False),
        pa.field("band", pa.string(), nullable=False),
        pa.field("bins", pa.int64(), nullable=False),
        pa.field("reference_rows", pa.int64(), nullable=False),
        pa.field("current_rows", pa.int64(), nullable=False),
        pa.field("reference_start", pa.date32()),
        pa.field("reference_end", pa.date32()),
        pa.field("bin_shares", pa.string(), nullable=False),
        pa.field("computed_at", pa.timestamp("us"), nullable=False),
    ]
)


class DriftError(ValueError):
    """Drift cannot be computed: no champion, no reference or current rows, a missing column."""


def population_stability_index(
    reference_counts: Sequence[float],
    current_counts: Sequence[float],
    epsilon: float = EPSILON,
) -> float:
    """PSI of two histograms over the same bins (counts, not shares; see the module doc)."""
    if len(reference_counts) != len(current_counts) or not reference_counts:
        raise ValueError(
            "PSI needs two histograms over the same non-empty bins, got "
            f"{len(reference_counts)} and {len(current_counts)} bins"
        )
    if min(*reference_counts, *current_counts) < 0:
        raise ValueError("PSI needs non-negative bin counts")
    reference_total, current_total = sum(reference_counts), sum(current_counts)
    if reference_total == 0 or current_total == 0:
        raise ValueError("PSI needs at least one row in each histogram")
    psi = 0.0
    for reference, current in zip(reference_counts, current_counts, strict=True):
        expected = max(reference / reference_total, epsilon)
        actual = max(current / current_total, epsilon)
        psi += (actual - expected) * math.log(actual / expected)
    return psi


def psi_band(psi: float) -> str:
    """'stable' below 0.1, 'watch' from 0.1 to 0.25, 'act' above 0.25."""
    if not math.isfinite(psi) or psi < 0:
        raise ValueError(f"PSI must be a finite non-negative number, got {psi}")
    if psi < STABLE_BELOW:
        return "stable"
    if psi <= ACT_ABOVE:
        return "watch"
    return "act"


@dataclass(frozen=True)
class Histogram:
    """Row counts of the reference and current populations over shared bins."""

    labels: tuple[str, ...]
    reference: tuple[int, ...]
    current: tuple[int, ...]

    def shares_json(self) -> str:
        reference_total, current_total = sum(self.reference), sum(self.current)
        return json.dumps(
            [
                {
                    "bin": label,
                    "reference_share": reference / reference_total if reference_total else None,
                    "current_share": current / current_total if current_total else None,
                }
                for label, reference, current in zip(
                    self.labels, self.reference, self.current, strict=True
                )
            ]
        )


def _double(value: float) -> str:
    return f"cast('{value!r}' as double)"


def paired_values(
    reference: duckdb.DuckDBPyRelation, current: duckdb.DuckDBPyRelation, column: str
) -> duckdb.DuckDBPyRelation:
    """One relation (population 'reference' | 'current', value) over both populations."""
    value = sql.identifier(column)
    return reference.project(f"'reference' as population, {value} as value").union(
        current.project(f"'current' as population, {value} as value")
    )


def _counted(pair: duckdb.DuckDBPyRelation, bin_expression: str) -> list[tuple]:
    return pair.query(
        "pair",
        f"""
        select
            {bin_expression} as bin,
            count(*) filter (where population = 'reference') as reference,
            count(*) filter (where population = 'current') as current
        from pair
        group by bin
        order by bin nulls last
        """,
    ).fetchall()


def numeric_histogram(pair: duckdb.DuckDBPyRelation, n_bins: int = N_BINS) -> Histogram:
    """Bins cut at the reference deciles (n_bins quantiles), plus a 'missing' bin."""
    quantiles = ", ".join(str(i / n_bins) for i in range(1, n_bins))
    ((edges,),) = (
        pair.filter("population = 'reference' and value is not null")
        .aggregate(f"quantile_disc(cast(value as double), [{quantiles}])")
        .fetchall()
    )
    edges = sorted(set(edges or []))
    cases = " ".join(f"when value <= {_double(edge)} then {i}" for i, edge in enumerate(edges))
    expression = f"case when value is null then null {cases} else {len(edges)} end"
    labels = [f"<= {edges[0]:g}"] if edges else ["all values"]
    labels += [f"({low:g}, {high:g}]" for low, high in zip(edges, edges[1:], strict=False)]
    labels += [f"> {edges[-1]:g}"] if edges else []
    rows = _counted(pair.project("population, cast(value as double) as value"), expression)
    return Histogram(
        labels=tuple(MISSING_BIN if b is None else labels[b] for b, _, _ in rows),
        reference=tuple(r for _, r, _ in rows),
        current=tuple(c for _, _, c in rows),
    )


def categorical_histogram(pair: duckdb.DuckDBPyRelation) -> Histogram:
    """One bin per level seen in either population, plus a 'missing' bin for NULL."""
    rows = _counted(pair, "cast(value as varchar)")
    return Histogram(
        labels=tuple(MISSING_BIN if level is None else f"'{level}'" for level, _, _ in rows),
        reference=tuple(r for _, r, _ in rows),
        current=tuple(c for _, _, c in rows),
    )


def drift_table(
    features: duckdb.DuckDBPyRelation,
    backtest_scores: duckdb.DuckDBPyRelation,
    current_scores: duckdb.DuckDBPyRelation,
    registry: duckdb.DuckDBPyRelation,
    now: datetime | None = None,
) -> pa.Table:
    """Drift rows of the current champion: its score, then each selected feature.

    ``features`` is customer_features; ``backtest_scores`` the champion's scores of the
    contact rows (ml_backtest_scores, keyed like the features on customer_id and
    as_of_date); ``current_scores`` its scores of the scoring population
    (ml_customer_propensity); ``registry`` the model registry. Raises :class:`DriftError`
    naming the table and the rule when a population is empty or a column is missing.
    """
    started = time.perf_counter()
    champion = current_champion(
        registry.project(
            "model_id, status, created_at, selected_features, training_campaigns, "
            "training_window_start, training_window_end"
        ).to_arrow_table()
    )
    if champion is None:
        raise DriftError("ml_model_registry has no model with status 'champion': no drift to show")
    selected = json.loads(champion["selected_features"])
    campaigns = json.loads(champion["training_campaigns"])
    missing = sorted(set(selected) - set(features.columns))
    if missing:
        raise DriftError(
            f"customer_features lacks the champion's selected features {missing}: "
            "drift needs every selected feature"
        )
    reference = features.filter(
        f"spine_role = '{TRAIN_ROLE}' and campaign_id in {sql.in_list(campaigns)}"
    )
    current = features.filter(f"spine_role = '{SCORE_ROLE}'")
    ((reference_rows,),) = reference.aggregate("count(*)").fetchall()
    ((current_rows, first_date, last_date),) = current.aggregate(
        "count(*), min(as_of_date), max(as_of_date)"
    ).fetchall()
    if reference_rows == 0:
        raise DriftError(
            "customer_features has no training rows (spine_role 'train') of the champion's "
            f"training campaigns {campaigns}: no reference population for drift"
        )
    if current_rows == 0:
        raise DriftError(
            "customer_features has no scoring rows (spine_role 'score'): no current "
            "population for drift"
        )
    if first_date != last_date:
        raise DriftError(
            "customer_features scoring rows must share one as_of_date for drift, "
            f"got {first_date} to {last_date}"
        )
    kinds = feature_columns(features.limit(0).to_arrow_table().to_pandas())
    reference_scores = backtest_scores.join(
        reference.project("customer_id, as_of_date"), ["customer_id", "as_of_date"]
    )
    histograms: list[tuple[str, str, Histogram]] = [
        (
            SCORE_FEATURE,
            "score",
            numeric_histogram(paired_values(reference_scores, current_scores, "propensity")),
        )
    ]
    for name in selected:
        pair = paired_values(reference, current, name)
        if name in kinds.categorical:
            histograms.append((name, "categorical", categorical_histogram(pair)))
        else:
            histograms.append((name, "numeric", numeric_histogram(pair)))
    computed_at = naive_utc(now or datetime.now(UTC))
    rows = []
    for name, kind, histogram in histograms:
        if sum(histogram.reference) == 0 or sum(histogram.current) == 0:
            raise DriftError(
                f"drift of {name!r}: ml_backtest_scores or ml_customer_propensity has no "
                "score for the reference or the current population"
            )
        psi = population_stability_index(histogram.reference, histogram.current)
        rows.append(
            {
                "model_id": champion["model_id"],
                "as_of_date": first_date,
                "feature": name,
                "feature_kind": kind,
                "psi": psi,
                "band": psi_band(psi),
                "bins": len(histogram.labels),
                "reference_rows": sum(histogram.reference),
                "current_rows": sum(histogram.current),
                "reference_start": champion["training_window_start"],
                "reference_end": champion["training_window_end"],
                "bin_shares": histogram.shares_json(),
                "computed_at": computed_at,
            }
        )
    table = pa.Table.from_pylist(rows, schema=DRIFT_SCHEMA)
    bands = {band: sum(r["band"] == band for r in rows) for band in BANDS}
    log.info(
        "drift of model %s at %s: %d columns (%s) in %.2fs",
        champion["model_id"],
        first_date,
        len(rows),
        ", ".join(f"{n} {band}" for band, n in bands.items()),
        time.perf_counter() - started,
    )
    return table
