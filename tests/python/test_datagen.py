"""Tests of the seeded synthetic raw-data generator (precision_marketing.datagen)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from precision_marketing import datagen

N_CUSTOMERS = 2000
SEED = 7
EXPECTED_COLUMNS = {
    "raw_customers": [
        "customer_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "street_address",
        "age",
        "annual_income",
        "gender",
        "region",
        "preferred_channel",
        "signup_date",
        "noise_score",
        "noise_segment",
        "updated_at",
    ],
    "raw_orders": ["order_id", "customer_id", "ordered_at", "amount", "updated_at"],
    "raw_campaign_contacts": ["campaign_id", "customer_id", "contacted_at", "channel"],
    "raw_campaign_responses": ["campaign_id", "customer_id", "responded_at", "revenue"],
    "raw_consent": ["customer_id", "channel", "status", "updated_at"],
}
AGE_TOKENS = ("unknown", "Unknown", "N/A", "null", "-", "-1", "999")
HOLDOUT = ("C09", "C10")

# Point-in-time features recomputed from the written CSVs, as the warehouse would.
FEATURES_SQL = """
with customers as (
    select * from read_csv('{d}/raw_customers.csv', all_varchar = true)
),
current_profile as (
    select
        customer_id::bigint as customer_id,
        try_cast(age as integer) as age,
        try_cast(annual_income as bigint) as annual_income
    from customers
    qualify row_number() over (
        partition by customer_id order by updated_at::timestamp desc
    ) = 1
),
orders as (select distinct * from read_csv('{d}/raw_orders.csv')),
responses as (select * from read_csv('{d}/raw_campaign_responses.csv')),
contacts as (
    select *, date_trunc('day', contacted_at) as contact_day
    from read_csv('{d}/raw_campaign_contacts.csv')
),
order_features as (
    select
        c.campaign_id,
        c.customer_id,
        coalesce(
            date_diff(
                'day',
                max(o.ordered_at::date) filter (where o.ordered_at < c.contact_day),
                c.contact_day::date
            ),
            {no_order}
        ) as recency_days,
        count(o.order_id) filter (
            where o.ordered_at >= c.contact_day - interval 365 day
            and o.ordered_at < c.contact_day
        ) as frequency_365d,
        coalesce(sum(o.amount) filter (
            where o.ordered_at >= c.contact_day - interval 365 day
            and o.ordered_at < c.contact_day
        ), 0) as monetary_365d
    from contacts as c
    left join orders as o on o.customer_id = c.customer_id
    group by c.campaign_id, c.customer_id, c.contact_day
),
prior as (
    select c.campaign_id, c.customer_id, count(r.campaign_id) as prior_responses
    from contacts as c
    left join responses as r
        on r.customer_id = c.customer_id and r.responded_at < c.contact_day
    group by all
),
labels as (
    select
        c.campaign_id,
        c.customer_id,
        count(r.campaign_id) > 0 as responded_any,
        count(r.campaign_id) filter (
            where r.responded_at < c.contacted_at + interval {window} day
        ) > 0 as label
    from contacts as c
    left join responses as r
        on r.customer_id = c.customer_id and r.campaign_id = c.campaign_id
    group by all
)
select c.campaign_id, c.customer_id, c.channel, f.recency_days, f.frequency_365d,
    f.monetary_365d, p.prior_responses, cp.age, cp.annual_income, l.responded_any, l.label
from contacts as c
join order_features as f using (campaign_id, customer_id)
join prior as p using (campaign_id, customer_id)
join labels as l using (campaign_id, customer_id)
join current_profile as cp using (customer_id)
order by c.campaign_id, c.customer_id
"""


@pytest.fixture(scope="module")
def generated() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return datagen.generate_with_truth(N_CUSTOMERS, SEED)


@pytest.fixture(scope="module")
def frames(generated: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return generated[0]


@pytest.fixture(scope="module")
def truth(generated: tuple[dict[str, pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    return generated[1]


@pytest.fixture(scope="module")
def csv_dir(frames: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seeds")
    datagen.write_csv(frames, out)
    return out


@pytest.fixture(scope="module")
def features(csv_dir: Path) -> pd.DataFrame:
    sql = FEATURES_SQL.format(
        d=csv_dir, no_order=datagen.RECENCY_NO_ORDER_DAYS, window=datagen.LABEL_WINDOW_DAYS
    )
    return duckdb.sql(sql).df()


def _file_digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_generate_is_deterministic_with_exact_columns(frames: dict[str, pd.DataFrame]) -> None:
    again = datagen.generate(N_CUSTOMERS, seed=SEED)
    assert list(again) == list(EXPECTED_COLUMNS)
    for name, columns in EXPECTED_COLUMNS.items():
        assert list(frames[name].columns) == columns
        pd.testing.assert_frame_equal(frames[name], again[name])
    other = datagen.generate(N_CUSTOMERS, seed=SEED + 1)
    assert not frames["raw_orders"].equals(other["raw_orders"])


def test_csv_output_is_byte_identical(tmp_path: Path) -> None:
    for run in ("a", "b"):
        assert (
            datagen.main(["--customers", "300", "--seed", "3", "--out", str(tmp_path / run)]) == 0
        )
    digests = _file_digests(tmp_path / "a")
    assert sorted(digests) == sorted(f"{name}.csv" for name in EXPECTED_COLUMNS)
    assert digests == _file_digests(tmp_path / "b")
    header = (tmp_path / "a" / "raw_orders.csv").read_text().splitlines()[0]
    assert header == ",".join(EXPECTED_COLUMNS["raw_orders"])


def test_customers_versions_duplicates_and_messy_values(frames: dict[str, pd.DataFrame]) -> None:
    customers = frames["raw_customers"]
    assert customers["customer_id"].nunique() == N_CUSTOMERS
    assert set(customers["customer_id"]) == set(range(1, N_CUSTOMERS + 1))
    distinct = customers.drop_duplicates()
    versions = distinct.groupby("customer_id").size()
    assert versions.max() == 3
    assert 0.25 < (versions > 1).mean() < 0.35
    assert customers.duplicated().sum() > 0
    assert 0.01 < customers.duplicated().mean() < 0.03
    assert not distinct.duplicated(["customer_id", "updated_at"]).any()

    age = customers["age"]
    assert age.isna().sum() > 0
    for token in AGE_TOKENS:
        assert (age == token).sum() > 0, token
    real_age = pd.to_numeric(age, errors="coerce")
    real_age = real_age[~real_age.isin([-1, 999])]
    assert real_age.dropna().between(18, 85).all()
    assert 0.06 < 1 - real_age.notna().mean() < 0.10
    income = pd.to_numeric(customers["annual_income"], errors="coerce")
    assert income[income != -1].dropna().between(15_000, 250_000).all()
    assert (customers["annual_income"] == "-1").sum() > 0
    for column, valid in (
        ("gender", {"F", "M", "X"}),
        ("region", {"north", "south", "east", "west", "central"}),
        ("preferred_channel", {"email", "sms", "mail"}),
    ):
        tokens = set(datagen.TEXT_MISSING_TOKENS) - {""}
        assert set(customers[column].dropna()) <= valid | tokens
    assert set(customers["noise_segment"]) == set("ABCDE")
    score = pd.to_numeric(customers["noise_score"], errors="coerce").dropna()
    assert score.between(0, 100).all()

    email = customers["email"]
    assert email.str.startswith(" ").any()
    assert email.str.contains("[A-Z]", regex=True).any()
    assert (email.str.strip().str.lower() == email).mean() > 0.6
    phone = customers["phone"]
    assert phone.str.startswith("+1 (555) ").any()
    assert phone.str.fullmatch(r"555\.\d{3}\.\d{4}").any()
    assert phone.str.fullmatch(r"\d{10}").any()
    assert customers["street_address"].str.fullmatch(r"\d+ [A-Z][a-z]+ [A-Z][a-z]+").all()
    signup = pd.to_datetime(customers["signup_date"])
    assert signup.min() >= pd.Timestamp("2021-01-01")
    assert signup.max() <= pd.Timestamp("2025-09-30")
    assert (customers["updated_at"] >= signup).all()


def test_orders_window_amounts_and_duplicates(frames: dict[str, pd.DataFrame]) -> None:
    orders = frames["raw_orders"]
    signup = frames["raw_customers"].drop_duplicates("customer_id").set_index("customer_id")
    signup_date = pd.to_datetime(signup["signup_date"])
    ordered_at = orders["ordered_at"]
    assert (ordered_at >= orders["customer_id"].map(signup_date).to_numpy()).all()
    assert ordered_at.min() >= pd.Timestamp("2023-01-01")
    assert ordered_at.max() < pd.Timestamp("2026-01-01")
    assert (orders["amount"] > 0).all()
    assert (orders["amount"].round(2) == orders["amount"]).all()
    assert (orders["updated_at"] >= ordered_at).all()
    assert 0.005 < orders.duplicated().mean() < 0.02
    distinct = orders.drop_duplicates()
    assert distinct["order_id"].is_unique
    per_customer = distinct.groupby("customer_id").size().reindex(signup.index, fill_value=0)
    assert 7.0 < per_customer.mean() < 9.0
    assert per_customer.var() > 2 * per_customer.mean()  # gamma-Poisson over-dispersion


def test_contacts_unique_and_after_signup(frames: dict[str, pd.DataFrame]) -> None:
    contacts = frames["raw_campaign_contacts"]
    assert not contacts.duplicated(["campaign_id", "customer_id"]).any()
    assert sorted(contacts["campaign_id"].unique()) == [f"C{i:02d}" for i in range(1, 11)]
    calendar = dict(datagen.CAMPAIGNS)
    contact_day = contacts["contacted_at"].dt.strftime("%Y-%m-%d")
    assert (contact_day == contacts["campaign_id"].map(calendar)).all()
    signup = frames["raw_customers"].drop_duplicates("customer_id").set_index("customer_id")
    signup_date = contacts["customer_id"].map(pd.to_datetime(signup["signup_date"]))
    assert (signup_date < contacts["contacted_at"].dt.normalize()).all()
    assert set(contacts["channel"]) == {"email", "sms", "mail"}
    per_campaign = contacts.groupby("campaign_id").size()
    assert per_campaign.iloc[-1] == pytest.approx(0.35 * N_CUSTOMERS * 0.95, rel=0.15)


def test_responses_timing_revenue_and_consent(frames: dict[str, pd.DataFrame]) -> None:
    contacts = frames["raw_campaign_contacts"]
    responses = frames["raw_campaign_responses"]
    joined = responses.merge(contacts, on=["campaign_id", "customer_id"], validate="one_to_one")
    assert len(joined) == len(responses)
    delay = joined["responded_at"] - joined["contacted_at"]
    assert (delay >= pd.Timedelta(0)).all()
    assert (delay < pd.Timedelta(days=60)).all()
    late = delay >= pd.Timedelta(days=datagen.LABEL_WINDOW_DAYS)
    assert late.any()
    assert (delay[late] >= pd.Timedelta(days=31)).all()
    assert late.mean() < 0.08
    assert (responses["revenue"] > 0).all()
    assert 0.08 <= len(responses) / len(contacts) <= 0.18

    consent = frames["raw_consent"]
    pairs = consent.groupby(["customer_id", "channel"]).size()
    assert len(pairs) == 3 * N_CUSTOMERS
    assert 0.15 < (pairs > 1).mean() < 0.25
    latest = consent.sort_values("updated_at").groupby(["customer_id", "channel"]).tail(1)
    assert 0.11 < (latest["status"] == "opt_out").mean() < 0.19


def test_recomputed_point_in_time_features_match_ground_truth(
    features: pd.DataFrame, truth: pd.DataFrame
) -> None:
    merged = features.merge(truth, on=["campaign_id", "customer_id"], suffixes=("", "_true"))
    assert len(merged) == len(truth) == len(features)
    for column in ("channel", "recency_days", "frequency_365d", "prior_responses"):
        assert (merged[column] == merged[f"{column}_true"]).all(), column
    assert np.allclose(merged["monetary_365d"], merged["monetary_365d_true"], atol=0.005)
    assert (merged["responded_any"] == merged["responded"]).all()
    assert (merged["label"] == (merged["responded"] & ~merged["late"])).all()
    assert merged["prior_responses"].max() >= 2


def _model_matrix(features: pd.DataFrame) -> np.ndarray:
    age = features["age"].where(features["age"].between(18, 85))
    income = features["annual_income"].where(features["annual_income"].between(15_000, 250_000))
    age, income = age.fillna(age.median()), income.fillna(income.median())
    return np.column_stack(
        [
            np.log1p(features["recency_days"]),
            np.log1p(features["frequency_365d"]),
            np.log1p(features["monetary_365d"]),
            features["prior_responses"],
            features["channel"] == "email",
            features["channel"] == "mail",
            age.between(35, 55),
            np.log(income),
        ]
    ).astype(float)


def test_response_rate_and_holdout_auc(features: pd.DataFrame) -> None:
    assert 0.08 <= features["responded_any"].mean() <= 0.18
    x, y = _model_matrix(features), features["label"].to_numpy()
    holdout = features["campaign_id"].isin(HOLDOUT).to_numpy()
    assert set(features.loc[~holdout, "campaign_id"]) == {f"C{i:02d}" for i in range(1, 9)}
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(x[~holdout], y[~holdout])
    auc = roc_auc_score(y[holdout], model.predict_proba(x[holdout])[:, 1])
    assert 0.74 <= auc <= 0.88
    coef = dict(
        zip(["recency", "frequency", "monetary", "prior"], model[-1].coef_[0], strict=False)
    )
    assert coef["recency"] < 0 < coef["prior"]


def test_parquet_blocks_are_readable_and_deterministic(tmp_path: Path) -> None:
    args = ["--customers", "250", "--seed", "11", "--format", "parquet"]
    assert datagen.main([*args, "--out", str(tmp_path / "p")]) == 0
    files = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert files == sorted(f"{name}.parquet" for name in EXPECTED_COLUMNS)
    reference = datagen.generate(250, seed=11)
    con = duckdb.connect()
    for name, columns in EXPECTED_COLUMNS.items():
        relation = con.read_parquet(str(tmp_path / "p" / f"{name}.parquet"))
        assert relation.columns == columns
        assert relation.shape[0] == len(reference[name])

    datagen.write_parquet(250, 11, tmp_path / "b1", block_size=100)
    datagen.write_parquet(250, 11, tmp_path / "b2", block_size=100)
    assert _file_digests(tmp_path / "b1") == _file_digests(tmp_path / "b2")
    blocked = tmp_path / "b1"
    n_ids, n_rows = con.execute(
        f"select count(distinct customer_id), count(*) from '{blocked}/raw_consent.parquet'"
    ).fetchone()
    assert n_ids == 250 and n_rows >= 750
    distinct_orders, distinct_ids = con.execute(
        f"select count(*), count(distinct order_id) from "
        f"(select distinct * from '{blocked}/raw_orders.parquet')"
    ).fetchone()
    assert distinct_orders == distinct_ids > 0
