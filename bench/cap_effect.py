"""Effect of the training-row caps on the holdout ROC AUC: capped (the defaults) vs every row.

``python bench/cap_effect.py --database /tmp/pm_bench/1000000/b/pm.duckdb``

Reads customer_features of a built warehouse (e.g. the floor's database after a benchmark
run at 1M customers) and trains twice with the project's ML settings (the model's YAML
defaults) on the same out-of-time split, as the registry model does:

* capped: the fit reads at most ``steps.MAX_FIT_ROWS`` training-window rows (a stratified
  sample), fits preprocessing and selection on them and grid-searches the estimators on
  ``max_training_rows`` of them;
* every row: the whole training window for preprocessing, selection, the grid search and
  the estimator (no cap at all).

Both are evaluated on every holdout row. Prints both AUCs, their difference, the selected
features and the training times as JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from precision_marketing.config import MlConfig
from precision_marketing.steps import MAX_FIT_ROWS, read_training_data
from precision_marketing.training import train_on


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
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--memory-limit", default="4GB")
    args = parser.parse_args(argv)
    con = duckdb.connect(
        str(args.database), read_only=True, config={"memory_limit": args.memory_limit}
    )
    relation = con.table("customer_features").filter("spine_role = 'train'")
    config = MlConfig.from_meta({})  # the YAML's defaults: max_training_rows 200000
    capped = train(relation, config, MAX_FIT_ROWS)
    window = capped["window_rows"]
    every_row = train(relation, replace(config, max_training_rows=window), window)
    print(
        json.dumps(
            {
                "capped": capped,
                "every_row": every_row,
                "auc_difference": every_row["holdout_auc"] - capped["holdout_auc"],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
