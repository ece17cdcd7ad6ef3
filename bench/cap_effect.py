"""Effect of the training-row caps on the holdout ROC AUC: capped (the defaults) vs every row.

``python bench/cap_effect.py --customers 1000000``

On the Parquet raw tables of ``run_benchmark.py`` (generated if missing), builds the
features twice with ``dbt run --select +customer_features``: with the default
``max_contacts_per_campaign`` and with ``null`` (every contact). Then trains twice with the
project's ML settings (the YAML's defaults), as the registry model does:

* capped: the spine's sample of contacts of the training campaigns, at most
  ``steps.MAX_FIT_ROWS`` of them read for preprocessing and selection, the grid search
  and the estimator on ``max_training_rows`` of those;
* every row: every contact of the training campaigns for preprocessing, selection, the
  grid search and the estimator (no cap at all).

Both are evaluated on the same rows: every contact of the holdout campaigns (from the
uncapped build). Prints both AUCs, their difference, the selected features, the row
counts and the training times as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from run_benchmark import PROJECT, Setup, generate_data

from precision_marketing import sql
from precision_marketing.config import MlConfig
from precision_marketing.steps import MAX_FIT_ROWS, read_training_data
from precision_marketing.training import order_campaigns, split_campaigns, train_on


def build_features(setup: Setup, name: str, dbt_vars: dict[str, object]) -> Path:
    database = setup.work / name / "pm.duckdb"
    database.parent.mkdir(parents=True, exist_ok=True)
    database.unlink(missing_ok=True)
    command = setup.dbt(name, "run", "--select", "+customer_features", "--quiet")
    command += ["--vars", json.dumps(dbt_vars)]
    subprocess.run(command, env=setup.env(database), check=True, cwd=PROJECT)
    return database


def train(relation: duckdb.DuckDBPyRelation, config: MlConfig, max_fit_rows: int) -> dict:
    started = time.perf_counter()
    rows, window, holdout = read_training_data(relation, config, max_fit_rows=max_fit_rows)
    outcome = train_on(
        rows,
        window,
        holdout,
        config,
        None,
        datetime.now(UTC),
        data_fingerprint="cap-effect",
        feature_hash="cap-effect",
    )
    return {
        "holdout_auc": outcome.holdout_metrics["roc_auc"],
        "cv_auc": outcome.propensity.cv_metrics["roc_auc"],
        "estimator": outcome.propensity.estimator,
        "best_params": outcome.propensity.best_params,
        "window_rows": window.labels.rows,
        "selection_rows": outcome.propensity.selection_rows,
        "search_and_estimator_rows": outcome.propensity.n_rows_used,
        "holdout_rows": holdout.labels.rows,
        "selected_features": sorted(outcome.model.selected_features),
        "seconds": time.perf_counter() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/pm_scale"))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pm_cap_effect"))
    args = parser.parse_args(argv)
    setup = Setup(
        customers=args.customers,
        data=args.data_root / str(args.customers),
        work=args.work_dir / str(args.customers),
        settings={"memory_limit": "8GB", "threads": "2"},
        dbt_threads="1",
    )
    generate_data(setup)
    capped_db = build_features(setup, "capped", {})
    full_db = build_features(setup, "full", {"max_contacts_per_campaign": None})
    con = duckdb.connect(config={"memory_limit": "8GB"})
    con.execute(f"attach '{capped_db}' as capped (read_only)")
    con.execute(f"attach '{full_db}' as full_build (read_only)")
    config = MlConfig.from_meta({})  # the YAML's defaults: max_training_rows 100000
    every_contact = con.sql("select * from full_build.customer_features where spine_role = 'train'")
    first_dates = dict(
        con.execute(
            "select campaign_id, min(as_of_date) from full_build.customer_features "
            "where spine_role = 'train' group by campaign_id"
        ).fetchall()
    )
    train_campaigns, holdout_campaigns = split_campaigns(
        order_campaigns(first_dates), config.holdout_campaigns
    )
    # The capped build's training campaigns with the uncapped build's holdout campaigns.
    capped_rows = con.sql(
        f"""
        select * from capped.customer_features
        where spine_role = 'train' and campaign_id in {sql.in_list(train_campaigns)}
        union all by name
        select * from full_build.customer_features
        where spine_role = 'train' and campaign_id in {sql.in_list(holdout_campaigns)}
        """
    )
    capped = train(capped_rows, config, MAX_FIT_ROWS)
    ((window,),) = con.execute(
        "select count(*) from full_build.customer_features "
        f"where spine_role = 'train' and campaign_id in {sql.in_list(train_campaigns)}"
    ).fetchall()
    every_row = train(every_contact, replace(config, max_training_rows=window), window)
    print(
        json.dumps(
            {
                "customers": args.customers,
                "capped": capped,
                "every_row": every_row,
                "auc_difference": every_row["holdout_auc"] - capped["holdout_auc"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
