"""Stage (a): the pandas way the product started from, as one in-memory script.

Read every raw table into pandas, ``drop_duplicates``, ``fillna(mean)``, RFM and campaign
features per customer with ``groupby`` as of the score date, labels from the latest
campaign whose response window has closed (its contacts are the training rows),
``SelectKBest(chi2, k=10)`` and ``GridSearchCV(LogisticRegression, C in {0.1, 1, 10, 100},
cv=5)``, then ``predict_proba`` for every customer and the scores written to Parquet.
Written the straightforward way (vectorized pandas, no Python loops over rows), as a
notebook would, with the same inputs and the same output (a score per customer) as the
project. It is not point-in-time: the training rows' features are computed as of the
score date, after the campaign they predict (the leak the project's feature spine avoids).

``python bench/pandas_way.py --data DIR --out scores.parquet``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

RESPONSE_WINDOW = pd.Timedelta(days=30)
NUMERIC = ["age", "annual_income", "noise_score"]
CATEGORICAL = ["gender", "region", "preferred_channel", "noise_segment"]


def read(data: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(data / f"raw_{name}.parquet")


def clean_customers(customers: pd.DataFrame) -> pd.DataFrame:
    customers = customers.drop_duplicates().drop_duplicates("customer_id", keep="last")
    for column in NUMERIC:
        values = pd.to_numeric(customers[column], errors="coerce")
        customers[column] = values.where(~values.isin([-1, 999]))
    customers[NUMERIC] = customers[NUMERIC].fillna(customers[NUMERIC].mean())
    customers[CATEGORICAL] = customers[CATEGORICAL].fillna("unknown")
    return customers.set_index("customer_id")


def rfm(orders: pd.DataFrame) -> tuple[pd.DataFrame, pd.Timestamp]:
    """RFM features per customer as of the score date (the day after the last order)."""
    orders = orders.drop_duplicates()
    score_date = orders["ordered_at"].max().normalize() + pd.Timedelta(days=1)
    age_days = (score_date - orders["ordered_at"]).dt.days
    grouped = orders.groupby("customer_id")
    features = pd.DataFrame(
        {
            "recency_days": (score_date - grouped["ordered_at"].max()).dt.days,
            "frequency_all": grouped.size(),
            "monetary_all": grouped["amount"].sum(),
        }
    )
    for days in (90, 365):
        recent = orders.loc[age_days < days].groupby("customer_id")
        features[f"frequency_{days}d"] = recent.size()
        features[f"monetary_{days}d"] = recent["amount"].sum()
    features["avg_order_value"] = features["monetary_all"] / features["frequency_all"]
    return features, score_date


def campaign_history(
    contacts: pd.DataFrame, responses: pd.DataFrame, score_date: pd.Timestamp
) -> tuple[pd.DataFrame, pd.Series]:
    """Campaign features per customer, and labels: who responded to the latest campaign
    whose response window has closed (its contacted customers are the training rows)."""
    contacts = contacts.drop_duplicates(["campaign_id", "customer_id"])
    responses = responses.drop_duplicates(["campaign_id", "customer_id"])
    known = contacts.loc[contacts["contacted_at"] + RESPONSE_WINDOW <= score_date]
    latest = known.groupby("campaign_id")["contacted_at"].min().idxmax()
    started = known.loc[known["campaign_id"] == latest, "contacted_at"].min()
    target = known.loc[known["campaign_id"] == latest].merge(
        responses, on=["campaign_id", "customer_id"], how="left"
    )
    on_time = (target["responded_at"] >= target["contacted_at"]) & (
        target["responded_at"] < target["contacted_at"] + RESPONSE_WINDOW
    )
    label = on_time.astype(int).groupby(target["customer_id"]).max()
    earlier_contacts = contacts.loc[contacts["contacted_at"] < started].groupby("customer_id")
    earlier_responses = responses.loc[responses["responded_at"] < started].groupby("customer_id")
    history = pd.DataFrame(
        {
            "prior_contacts": earlier_contacts.size(),
            "prior_responses": earlier_responses.size(),
            "prior_revenue": earlier_responses["revenue"].sum(),
        }
    )
    return history, label


def run(data: Path, out: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    customers = clean_customers(read(data, "customers"))
    order_features, score_date = rfm(read(data, "orders"))
    features = customers[NUMERIC + CATEGORICAL].join(order_features)
    history, label = campaign_history(
        read(data, "campaign_contacts"), read(data, "campaign_responses"), score_date
    )
    features = features.join(history)
    counts = [c for c in features.columns if c not in NUMERIC + CATEGORICAL]
    features[counts] = features[counts].fillna(0)
    features["recency_days"] = features["recency_days"].where(features["frequency_all"] > 0, 9999)
    X = pd.get_dummies(features, columns=CATEGORICAL, dtype=float)
    seconds["clean_and_features"] = time.perf_counter() - started

    started = time.perf_counter()
    train = label.index.intersection(X.index)
    search = GridSearchCV(
        Pipeline(
            [
                ("scale", MinMaxScaler()),
                ("select", SelectKBest(chi2, k=10)),
                ("model", LogisticRegression(max_iter=1000)),
            ]
        ),
        {"model__C": [0.1, 1, 10, 100]},
        cv=5,
        scoring="roc_auc",
    )
    search.fit(X.loc[train], label.loc[train])
    seconds["select_and_train"] = time.perf_counter() - started

    started = time.perf_counter()
    scores = pd.DataFrame({"customer_id": X.index, "propensity": search.predict_proba(X)[:, 1]})
    scores.to_parquet(out, index=False)
    seconds["score_and_write"] = time.perf_counter() - started
    print(
        f"pandas way: {len(train)} training customers, best C {search.best_params_}, "
        f"CV AUC {search.best_score_:.4f}, {len(scores)} customers scored; "
        + ", ".join(f"{k} {v:.1f}s" for k, v in seconds.items()),
        flush=True,
    )
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timings", type=Path, help="write {phase: seconds} here (JSON)")
    args = parser.parse_args(argv)
    seconds = run(args.data, args.out)
    if args.timings:
        args.timings.write_text(json.dumps(seconds, indent=1))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
