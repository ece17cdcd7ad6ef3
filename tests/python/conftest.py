"""Shared fixtures: a seeded synthetic feature frame with known drivers and noise."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from precision_marketing.config import MlConfig

DRIVERS = ("rfm_recency_days", "rfm_monetary_total", "camp_prior_responses", "chan_contact_channel")
NOISE = ("demo_age", "demo_is_age_imputed", "demo_household_size", "chan_region")
N_CAMPAIGNS = 8
ROWS_PER_CAMPAIGN = 750
N_SCORE = 2000
SCORE_DATE = date(2024, 10, 1)
CHANNEL_EFFECT = {"email": 0.9, "sms": 0.0, "mail": -0.8}


def _features(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    recency = rng.exponential(60.0, n).round()
    monetary = rng.lognormal(5.0, 0.8, n).round(2)
    prior = rng.poisson(0.6, n)
    channel = rng.choice(list(CHANNEL_EFFECT), n, p=[0.4, 0.35, 0.25]).astype(object)
    channel[rng.random(n) < 0.03] = None
    age = rng.normal(45.0, 12.0, n).round()
    age_missing = rng.random(n) < 0.1
    return {
        "rfm_recency_days": recency,
        "rfm_monetary_total": monetary,
        "camp_prior_responses": prior,
        "chan_contact_channel": channel,
        "demo_age": np.where(age_missing, np.nan, age),
        "demo_is_age_imputed": rng.random(n) < 0.2,
        "demo_household_size": rng.poisson(2.5, n),
        "chan_region": rng.choice(["north", "south", "east", "west"], n).astype(object),
    }


def _logit(features: dict[str, np.ndarray]) -> np.ndarray:
    channel = np.array([CHANNEL_EFFECT.get(c, 0.0) for c in features["chan_contact_channel"]])
    recency = features["rfm_recency_days"]
    monetary = np.log(features["rfm_monetary_total"])
    return (
        -2.6
        - 1.0 * (recency - 60.0) / 60.0
        + 0.9 * (monetary - 5.0) / 0.8
        + 0.7 * features["camp_prior_responses"]
        + channel
    )


def make_feature_table(seed: int = 7) -> pa.Table:
    """~6000 training rows over 8 campaigns plus 2000 score rows, as Arrow (DuckDB's output)."""
    rng = np.random.default_rng(seed)
    n_train = N_CAMPAIGNS * ROWS_PER_CAMPAIGN
    n = n_train + N_SCORE
    features = _features(rng, n)
    probability = 1.0 / (1.0 + np.exp(-_logit(features)))
    label = (rng.random(n) < probability).astype(np.int64)
    revenue = np.where(
        label == 1,
        (20.0 + 0.1 * features["rfm_monetary_total"] + rng.gamma(2.0, 10.0, n)).round(2),
        0.0,
    )
    campaign_index = np.repeat(np.arange(N_CAMPAIGNS), ROWS_PER_CAMPAIGN)
    as_of = [date(2024, 1, 1) + timedelta(days=30 * int(i)) for i in campaign_index]
    as_of += [SCORE_DATE] * N_SCORE
    is_train = np.arange(n) < n_train
    columns = {
        "customer_id": pa.array(np.arange(1, n + 1), pa.int64()),
        "as_of_date": pa.array(as_of, pa.date32()),
        "spine_role": pa.array(np.where(is_train, "train", "score")),
        "campaign_id": pa.array([f"C{i + 1:02d}" for i in campaign_index] + [None] * N_SCORE),
        "label": pa.array(label, pa.int64(), mask=~is_train),
        "response_revenue": pa.array(revenue, pa.float64(), mask=~is_train),
    }
    for name, values in features.items():
        if values.dtype == object:
            columns[name] = pa.array(list(values), pa.string())
        elif name == "demo_age":
            columns[name] = pa.array(values, pa.float64(), from_pandas=True)
        else:
            columns[name] = pa.array(values)
    # Row order as a parallel scan might return it.
    table = pa.table(columns)
    return table.take(pa.array(rng.permutation(n)))


@pytest.fixture(scope="session")
def feature_table() -> pa.Table:
    return make_feature_table()


@pytest.fixture(scope="session")
def feature_frame(feature_table: pa.Table) -> pd.DataFrame:
    return feature_table.to_pandas()


@pytest.fixture(scope="session")
def fast_config() -> MlConfig:
    """Defaults with a smaller search, so the end-to-end fixture trains in seconds."""
    return MlConfig.from_meta(
        {
            "cv_folds": 3,
            "n_jobs": 1,
            "selection_k": 6,
            "param_grids": {"logistic_regression": {"C": [0.1, 1.0]}, "svm": {"C": [0.1]}},
        }
    )


@pytest.fixture(scope="session")
def trained(feature_frame: pd.DataFrame, fast_config: MlConfig):
    from precision_marketing.training import train_model

    return train_model(
        feature_frame, fast_config, champion=None, now=datetime(2024, 10, 2, 6, 0, 0)
    )
