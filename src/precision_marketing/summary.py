"""Print a short summary of a built warehouse: `python -m precision_marketing.summary`.

Reads the DuckDB file named by PM_DUCKDB_PATH (default
warehouse/precision_marketing.duckdb) read-only.
"""

from __future__ import annotations

import os
import sys

import duckdb

DEFAULT_PATH = "warehouse/precision_marketing.duckdb"

TABLE_COUNTS = (
    "stg_raw__customers",
    "stg_raw__orders",
    "customer_features",
    "ml_model_registry",
    "customer_scores",
)


def summarize(connection: duckdb.DuckDBPyConnection) -> str:
    """The summary text for the warehouse behind `connection`."""
    lines = ["Tables (rows):"]
    for table in TABLE_COUNTS:
        (count,) = connection.execute(f"select count(*) from {table}").fetchone()
        lines.append(f"  {table:<24} {count:>10,}")

    champion = connection.execute(
        """
        select model_id, estimator, cv_auc_mean, cv_auc_std, holdout_auc, n_training_rows_used,
               json_array_length(selected_features) as n_features, created_at
        from ml_model_registry
        where status = 'champion'
        order by created_at desc
        limit 1
        """
    ).fetchone()
    if champion is not None:
        model_id, estimator, cv_mean, cv_std, holdout_auc, rows, n_features, created_at = champion
        lines += [
            "Champion model:",
            f"  {model_id} ({estimator}, {n_features} features, {rows:,} training rows, "
            f"trained {created_at:%Y-%m-%d %H:%M})",
            f"  ROC AUC: CV {cv_mean:.3f} +/- {cv_std:.3f}, out-of-time holdout {holdout_auc:.3f}",
        ]
    gains = connection.execute(
        """
        select decile, customers, responders, response_rate, lift, cumulative_capture
        from ml_model_gains
        where model_id = (
            select model_id from ml_model_registry
            where status = 'champion' order by created_at desc limit 1
        )
        order by decile
        """
    ).fetchall()
    if gains:
        lines.append("Holdout gains (decile 1 = highest scores):")
        lines.append("  decile  contacts  responders  rate    lift  cum. capture")
        for decile, customers, responders, rate, lift, capture in gains:
            lines.append(
                f"  {decile:>6}  {customers:>8,}  {responders:>10,}  {rate:5.1%}  "
                f"{lift:4.2f}  {capture:12.1%}"
            )
    segments = connection.execute(
        """
        select segment, count(*), avg(propensity), sum(expected_value)
        from customer_scores group by segment order by avg(propensity) desc
        """
    ).fetchall()
    lines.append("Scored customers by segment:")
    for segment, count, mean_propensity, expected_value in segments:
        lines.append(
            f"  {segment:<5} {count:>9,} customers, mean propensity {mean_propensity:.3f}, "
            f"expected value {expected_value:,.0f}"
        )
    return "\n".join(lines)


def main() -> int:
    path = os.environ.get("PM_DUCKDB_PATH", DEFAULT_PATH)
    with duckdb.connect(path, read_only=True) as connection:
        print(summarize(connection))
    return 0


if __name__ == "__main__":
    sys.exit(main())
