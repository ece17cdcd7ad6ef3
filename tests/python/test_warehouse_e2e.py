"""End to end: the demo warehouse built by dbt on a fresh DuckDB file, checked against values
recomputed independently: pandas on the raw CSVs for staging and features, scikit-learn on
the champion reloaded from the registry for metrics and scores.

The demo is built once (``built_demo_project``); tests that run dbt again do it in a clone.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from e2e_support import build, built_demo_project, connect, copy_project, dbt, query
from pandas.api.typing import DataFrameGroupBy
from sklearn.metrics import roc_auc_score

from precision_marketing.registry import LoadedModel, load_model
from precision_marketing.scoring import predict_frame

SALT = "demo-salt-not-secret"  # hash_pii's default (PM_PII_SALT unset)
MISSING_TOKENS = frozenset({"", "unknown", "n/a", "na", "null", "none", "-", "?"})
SENTINELS: dict[str, tuple[float, ...]] = {"age": (-1, 999), "annual_income": (-1,)}
IMPUTED = ("age", "annual_income", "gender", "region", "preferred_channel", "noise_score")
RESPONSE_WINDOW = pd.Timedelta(days=30)
KEYS = ["customer_id", "as_of_date"]
TEST_FEATURE = "feat_customer__test_family"


# --- the build and the raw data ---------------------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_demo_project(tmp_path_factory)


@pytest.fixture
def clone(project: Path, tmp_path: Path) -> Path:
    """A private copy of the built project, warehouse included, to run dbt in."""
    return copy_project(tmp_path / "clone", source=project, include_warehouse=True)


def read_raw(project: Path, table: str) -> pd.DataFrame:
    """A seed CSV as the source systems deliver it: all text, nothing parsed as missing."""
    return pd.read_csv(project / "seeds" / f"raw_{table}.csv", dtype=str, keep_default_na=False)


def first_per_key(frame: pd.DataFrame, key: list[str], order_by: str, keep: str) -> pd.DataFrame:
    """One row per key: the 'first' or 'last' by ``order_by`` (a timestamp column)."""
    ordered = frame.assign(_order=pd.to_datetime(frame[order_by])).sort_values(
        "_order", kind="stable"
    )
    return ordered.drop_duplicates(key, keep=keep).drop(columns="_order")


@pytest.fixture(scope="module")
def customers(project: Path) -> pd.DataFrame:
    """raw_customers deduplicated by hand: the latest updated_at per customer_id."""
    latest = first_per_key(read_raw(project, "customers"), ["customer_id"], "updated_at", "last")
    return latest.set_index(latest["customer_id"].astype("int64")).sort_index()


@pytest.fixture(scope="module")
def orders(project: Path) -> pd.DataFrame:
    latest = first_per_key(read_raw(project, "orders"), ["order_id"], "updated_at", "last")
    return pd.DataFrame(
        {
            "order_id": latest["order_id"].astype("int64"),
            "customer_id": latest["customer_id"].astype("int64"),
            "order_date": pd.to_datetime(latest["ordered_at"]).dt.normalize(),
            "amount": latest["amount"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def contacts(project: Path) -> pd.DataFrame:
    """The first contact of a customer by each campaign."""
    first = first_per_key(
        read_raw(project, "campaign_contacts"),
        ["campaign_id", "customer_id"],
        "contacted_at",
        "first",
    )
    contacted_at = pd.to_datetime(first["contacted_at"])
    return pd.DataFrame(
        {
            "campaign_id": first["campaign_id"],
            "customer_id": first["customer_id"].astype("int64"),
            "contacted_at": contacted_at,
            "contact_date": contacted_at.dt.normalize(),
        }
    )


@pytest.fixture(scope="module")
def responses(project: Path) -> pd.DataFrame:
    """The first response of a customer to each campaign."""
    first = first_per_key(
        read_raw(project, "campaign_responses"),
        ["campaign_id", "customer_id"],
        "responded_at",
        "first",
    )
    responded_at = pd.to_datetime(first["responded_at"])
    return pd.DataFrame(
        {
            "campaign_id": first["campaign_id"],
            "customer_id": first["customer_id"].astype("int64"),
            "responded_at": responded_at,
            "response_date": responded_at.dt.normalize(),
            "revenue": first["revenue"].astype(float),
        }
    )


@pytest.fixture(scope="module")
def expected_training_rows(
    contacts: pd.DataFrame, responses: pd.DataFrame, orders: pd.DataFrame
) -> pd.DataFrame:
    """Contacts whose 30-day window closed before the score date, labelled by hand."""
    score_date = orders["order_date"].max() + pd.Timedelta(days=1)
    closed = contacts.loc[contacts["contacted_at"] + RESPONSE_WINDOW <= score_date]
    joined = closed.merge(responses, on=["campaign_id", "customer_id"], how="left")
    in_window = (joined["responded_at"] >= joined["contacted_at"]) & (
        joined["responded_at"] < joined["contacted_at"] + RESPONSE_WINDOW
    )
    return pd.DataFrame(
        {
            "customer_id": joined["customer_id"],
            "as_of_date": joined["contact_date"],
            "campaign_id": joined["campaign_id"],
            "label": in_window.astype("int64"),
            "response_revenue": joined["revenue"].where(in_window, 0.0),
        }
    )


def missing(values: pd.Series, sentinels: tuple[float, ...] = ()) -> pd.Series:
    """Where a raw text value means 'missing': a token or, for numbers, a sentinel."""
    text = values.str.strip()
    is_token = text.str.lower().isin(MISSING_TOKENS)
    return is_token | pd.to_numeric(text.where(~is_token), errors="coerce").isin(sentinels)


def salted_sha256(value: str | None) -> str | None:
    return None if not value else hashlib.sha256((SALT + value).encode()).hexdigest()


def mismatches(actual: pd.Series, expected: pd.Series) -> list[Any]:
    """Index labels where two aligned series differ (NULL equals NULL; floats to 1e-9)."""
    actual, expected = actual.align(expected)
    both_null = actual.isna() & expected.isna()
    if pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected):
        close = np.isclose(actual.astype(float), expected.astype(float), rtol=0, atol=1e-9)
        same = pd.Series(close, index=actual.index)
    else:
        same = actual.astype(object) == expected.astype(object)
    return actual.index[~(same | both_null)].tolist()


# --- foundation -------------------------------------------------------------------------


def test_staged_customers_are_the_latest_raw_version(project: Path, customers: pd.DataFrame):
    staged = query(project, "select * from stg_raw__customers").set_index("customer_id")
    raw = read_raw(project, "customers")

    assert len(staged) == raw["customer_id"].nunique() == len(customers)
    assert staged.index.is_unique
    assert not {"email", "phone", "first_name", "last_name", "street_address"} & set(
        staged.columns
    ), "raw PII must not reach staging"

    email = customers["email"].str.strip().str.lower()
    phone = customers["phone"].str.replace(r"\D", "", regex=True).str[-10:]
    segment = customers["noise_segment"]
    for column, expected in {
        "email_hash": email.map(salted_sha256),
        "phone_hash": phone.map(salted_sha256),
        "noise_segment": segment.str.strip().str.upper().where(~missing(segment)),
    }.items():
        assert mismatches(staged[column], expected) == [], column
    signup = pd.to_datetime(customers["signup_date"]).dt.date
    assert mismatches(staged["signup_date"].dt.date, signup) == []
    # Observed values pass through normalized; the imputed ones are checked in the next test.
    for column, normalize in {
        "region": str.lower,
        "preferred_channel": str.lower,
        "gender": str.upper,
    }.items():
        known = ~missing(customers[column])
        expected = customers.loc[known, column].str.strip().map(normalize)
        assert mismatches(staged.loc[known, column], expected) == [], column
    for column in ("age", "annual_income", "noise_score"):
        known = ~missing(customers[column], SENTINELS.get(column, ()))
        expected = customers.loc[known, column].astype(float)
        assert mismatches(staged.loc[known, column], expected) == [], column


# Grains the SQL itself guarantees (the dedupe macro keeps row_number() = 1 per key; a
# GROUP BY, a DISTINCT spine joined to unique rows, a row_number per channel). They are
# checked here, once, on the demo build, instead of by data tests that every production
# build would re-count (those cost about 20 s of a 10M-customer build). Data tests keep the
# grains that data or an analyst's new feature model can break (spine, customer_features).
BUILT_GRAINS: dict[str, list[list[str]]] = {
    "stg_raw__customers": [["customer_id"]],
    "stg_raw__orders": [["order_id"]],
    "stg_raw__campaign_contacts": [["campaign_id", "customer_id"]],
    "stg_raw__campaign_responses": [["campaign_id", "customer_id"]],
    "stg_raw__consent": [["customer_id", "channel"]],
    "feat_customer__rfm": [KEYS],
    "feat_customer__campaign_history": [KEYS],
    "feat_customer__demographics": [KEYS],
    "feat_customer__channel": [KEYS],
    "mart_campaign_targets": [["customer_id", "channel"], ["channel", "channel_rank"]],
}
# The raw key of each staging table: staging keeps exactly one row per distinct raw key.
RAW_KEYS = {
    "stg_raw__customers": ("customers", ["customer_id"]),
    "stg_raw__orders": ("orders", ["order_id"]),
    "stg_raw__campaign_contacts": ("campaign_contacts", ["campaign_id", "customer_id"]),
    "stg_raw__campaign_responses": ("campaign_responses", ["campaign_id", "customer_id"]),
}


@pytest.mark.parametrize("model", sorted(BUILT_GRAINS))
def test_grains_that_hold_by_construction(project: Path, model: str):
    table = query(project, f"select * from {model}")
    assert len(table) > 0
    for key in BUILT_GRAINS[model]:
        assert table[key].notna().all().all(), key
        assert not table.duplicated(key).any(), key
    if model in RAW_KEYS:
        raw_table, key = RAW_KEYS[model]
        raw = read_raw(project, raw_table)
        assert len(table) == len(raw.drop_duplicates(key)), model
    # The demo data repeat customers, orders and consent rows: the dedupe is exercised.
    if model in ("stg_raw__customers", "stg_raw__orders", "stg_raw__consent"):
        assert len(read_raw(project, model.removeprefix("stg_raw__"))) > len(table)


def test_imputation_fills_every_gap_and_flags_it(project: Path, customers: pd.DataFrame):
    staged = query(project, "select * from stg_raw__customers").set_index("customer_id")

    for column in IMPUTED:
        gaps = missing(customers[column], SENTINELS.get(column, ()))
        flags = staged[f"is_{column}_imputed"]
        assert staged[column].notna().all(), f"{column} has NULLs after imputation"
        assert 0 < gaps.sum() < len(customers), f"the demo data should have gaps in {column}"
        assert flags.sum() == gaps.sum(), column
        assert mismatches(flags, gaps) == [], column

        observed = customers.loc[~gaps, column].str.strip()
        fills = staged.loc[gaps[gaps].index, column]
        if column in ("age", "annual_income"):
            assert (fills == observed.astype(float).median()).all(), column
        elif column == "noise_score":
            assert fills.to_numpy() == pytest.approx(observed.astype(float).mean(), abs=1e-9)
        elif column == "gender":
            assert (fills == "unknown").all()
        else:
            modes = set(observed.str.lower().mode())
            assert fills.nunique() == 1 and fills.iloc[0] in modes, column


def events_before(rows: pd.DataFrame, events: pd.DataFrame, date_column: str) -> pd.DataFrame:
    """Each (customer_id, as_of_date) paired with its customer's events strictly before it."""
    pairs = rows.merge(events, on="customer_id")
    prior = pairs.loc[pairs[date_column] < pairs["as_of_date"]]
    return prior.assign(days_before=(prior["as_of_date"] - prior[date_column]).dt.days)


def expected_features(
    rows: pd.DataFrame,
    customers: pd.DataFrame,
    orders: pd.DataFrame,
    contacts: pd.DataFrame,
    responses: pd.DataFrame,
) -> pd.DataFrame:
    """Point-in-time features of every (customer_id, as_of_date) row, from the definitions.

    A window of N days is [as_of_date - N days, as_of_date): days_before in 1..N.
    """
    index = pd.MultiIndex.from_frame(rows[KEYS])
    prior = events_before(rows, orders, "order_date")

    def per_row(events: pd.DataFrame, days: int | None = None) -> DataFrameGroupBy:
        kept = events if days is None else events.loc[events["days_before"] <= days]
        return kept.groupby(KEYS)

    def count(events: pd.DataFrame, days: int | None = None) -> pd.Series:
        return per_row(events, days).size().reindex(index, fill_value=0)

    def amount(days: int | None = None) -> pd.Series:
        return per_row(prior, days)["amount"].sum().reindex(index, fill_value=0.0)

    signup = rows["customer_id"].map(pd.to_datetime(customers["signup_date"]))
    return pd.DataFrame(
        {
            "rfm_recency_days": per_row(prior)["days_before"].min().reindex(index),
            "rfm_frequency_90d": count(prior, 90),
            "rfm_frequency_365d": count(prior, 365),
            "rfm_frequency_all": count(prior),
            "rfm_monetary_90d": amount(90),
            "rfm_monetary_365d": amount(365),
            "rfm_monetary_all": amount(),
            "camp_prior_contacts": count(events_before(rows, contacts, "contact_date")),
            "camp_prior_responses": count(events_before(rows, responses, "response_date")),
            "demo_tenure_days": (rows["as_of_date"] - signup).dt.days.to_numpy(),
        },
        index=index,
    )


def test_spine_labels_and_point_in_time_features(
    project: Path,
    customers: pd.DataFrame,
    orders: pd.DataFrame,
    contacts: pd.DataFrame,
    responses: pd.DataFrame,
    expected_training_rows: pd.DataFrame,
):
    features = query(project, "select * from customer_features").sort_values(
        ["spine_role", *KEYS, "campaign_id"], ignore_index=True
    )
    spine = query(project, "select * from int_feature_spine")
    assert len(features) == len(spine)

    # Training rows and labels.
    train = spine.loc[spine["spine_role"] == "train"]
    keys = ["customer_id", "as_of_date", "campaign_id"]
    merged = train.merge(expected_training_rows, on=keys, how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", keys]
    wrong = merged.loc[merged["label_x"] != merged["label_y"], keys]
    assert wrong.empty, f"{len(wrong)} labels differ, e.g. {wrong.head(3).to_dict('records')}"
    assert merged["response_revenue_x"].to_numpy() == pytest.approx(
        merged["response_revenue_y"].to_numpy(), abs=1e-9
    )
    assert 0 < merged["label_y"].sum() < len(merged)

    # Scoring rows: every customer signed up before the score date, scored at that date.
    score_date = orders["order_date"].max() + pd.Timedelta(days=1)
    score = spine.loc[spine["spine_role"] == "score"]
    signed_up = customers.index[pd.to_datetime(customers["signup_date"]) < score_date]
    assert sorted(score["customer_id"]) == sorted(signed_up)
    assert (score["as_of_date"] == score_date).all()

    # Point-in-time features of every row (train and score), recomputed from raw events.
    actual = features.drop_duplicates(KEYS).set_index(KEYS)
    rows = actual.index.to_frame(index=False)
    expected = expected_features(rows, customers, orders, contacts, responses)
    assert (expected["rfm_frequency_all"] == 0).any()
    assert (expected["camp_prior_responses"] > 0).any()
    for column in expected.columns:
        bad = mismatches(actual[column], expected[column])
        assert bad == [], f"{column} differs in {len(bad)} rows, e.g. {bad[:3]}"


def test_large_campaigns_keep_a_uniform_sample_of_contacts(project: Path, clone: Path):
    every_contact = query(project, "select * from int_feature_spine where spine_role = 'train'")
    per_campaign = every_contact.groupby("campaign_id").size()
    assert per_campaign.min() > 800  # every demo campaign is larger than the cap below

    dbt(clone, "run", "--select", "int_feature_spine", "--vars", "{max_contacts_per_campaign: 400}")

    sample = query(clone, "select * from int_feature_spine where spine_role = 'train'")
    counts = sample.groupby("campaign_id").size()
    assert sorted(counts.index) == sorted(per_campaign.index)
    assert counts.between(330, 470).all(), counts.to_dict()  # binomial(n, 400/n): 3.5+ sd
    # A subset of the contacts, labels and revenue unchanged, both labels kept.
    keys = ["customer_id", "as_of_date", "campaign_id"]
    merged = sample.merge(every_contact, on=keys, how="left", suffixes=("", "_all"))
    assert merged["label_all"].notna().all()
    assert (merged["label"] == merged["label_all"]).all()
    assert (merged["response_revenue"] == merged["response_revenue_all"]).all()
    assert 0.5 * every_contact["label"].mean() < sample["label"].mean()
    assert sample["label"].mean() < 1.5 * every_contact["label"].mean()
    # Scoring rows are never sampled.
    scoring_rows = "select count(*) as n from int_feature_spine where spine_role = 'score'"
    assert query(clone, scoring_rows)["n"].iloc[0] == query(project, scoring_rows)["n"].iloc[0]


def test_invalid_contact_cap_fails_naming_the_var(clone: Path):
    result = dbt(
        clone,
        "run",
        "--select",
        "int_feature_spine",
        "--vars",
        "{max_contacts_per_campaign: 0}",
        check=False,
    )

    assert result.returncode != 0
    assert "var 'max_contacts_per_campaign' must be a positive integer or null, got '0'" in (
        result.stdout
    )


FEATURE_SQL = """\
-- Orders in the 30 days before as_of_date (a feature family added by an e2e test).
with spine as (

    select distinct customer_id, as_of_date from {{{{ ref('int_feature_spine') }}}}

),

orders as (

    select * from {{{{ ref('stg_raw__orders') }}}}

),

final as (

    select
        spine.customer_id,
        spine.as_of_date,
        count(orders.order_id) as {column}

    from spine
    left join orders
        on
            spine.customer_id = orders.customer_id
            and orders.order_date >= spine.as_of_date - 30
            and orders.order_date < spine.as_of_date
    group by spine.customer_id, spine.as_of_date

)

select * from final
"""


def add_feature_model(project_dir: Path, column: str, register: bool) -> None:
    """Write models/features/feat_customer__test_family.sql; register it with one line."""
    path = project_dir / "models" / "features" / f"{TEST_FEATURE}.sql"
    path.write_text(FEATURE_SQL.format(column=column))
    if register:
        registration = project_dir / "models" / "marts" / "ml" / "customer_features.sql"
        text = registration.read_text()
        list_end = re.search(r"\n\]\s*-?%\}", text)
        assert list_end, "customer_features.sql has no feature_models list"
        line = f"\n    ref('{TEST_FEATURE}'),"
        registration.write_text(text[: list_end.start()] + line + text[list_end.start() :])


def build_features(project_dir: Path):
    return dbt(
        project_dir,
        "build",
        "--select",
        TEST_FEATURE,
        "customer_features",
        "assert_feature_models_registered",
        check=False,
    )


def test_registered_feature_model_reaches_customer_features(
    clone: Path, project: Path, orders: pd.DataFrame
):
    add_feature_model(clone, "tf_order_count_30d", register=True)
    result = build_features(clone)
    assert result.returncode == 0, result.stdout[-3000:]

    features = query(clone, "select * from customer_features")
    before = query(project, "select count(*) as n from customer_features")["n"].iloc[0]
    assert "tf_order_count_30d" in features.columns
    assert len(features) == before
    # Each spine row got its own count: orders in [as_of_date - 30 days, as_of_date).
    rows = features[KEYS].drop_duplicates()
    pairs = rows.merge(orders, on="customer_id")
    recent = pairs.loc[
        (pairs["order_date"] < pairs["as_of_date"])
        & (pairs["order_date"] >= pairs["as_of_date"] - pd.Timedelta(days=30))
    ]
    counts = recent.groupby(KEYS).size()
    expected = rows.set_index(KEYS).index.map(lambda key: counts.get(key, 0))
    actual = features.drop_duplicates(KEYS).set_index(KEYS)["tf_order_count_30d"]
    assert (actual.reindex(rows.set_index(KEYS).index).to_numpy() == np.asarray(expected)).all()
    assert actual.sum() > 0


def test_unregistered_feature_model_fails_the_build(clone: Path):
    add_feature_model(clone, "tf_order_count_30d", register=False)
    result = build_features(clone)

    assert result.returncode != 0
    assert (
        "Feature models tagged customer_feature but not registered in "
        f"models/marts/ml/customer_features.sql: {TEST_FEATURE}"
    ) in result.stdout


def test_duplicate_feature_column_fails_naming_both_models(clone: Path):
    add_feature_model(clone, "rfm_frequency_all", register=True)
    result = build_features(clone)

    assert result.returncode != 0
    assert (
        "Duplicate feature column 'rfm_frequency_all': defined in both "
        f"feat_customer__rfm and {TEST_FEATURE}"
    ) in result.stdout


# --- ML ---------------------------------------------------------------------------------


def registry_rows(project_dir: Path) -> list[dict[str, Any]]:
    """Every registry row, oldest first, artifact bytes included."""
    with connect(project_dir) as connection:
        table = connection.sql(
            "select * from ml_model_registry order by created_at, model_id"
        ).to_arrow_table()
    return table.to_pylist()


def current_champion(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return max((r for r in rows if r["status"] == "champion"), key=lambda r: r["created_at"])


@pytest.fixture(scope="module")
def champion(project: Path) -> dict[str, Any]:
    return current_champion(registry_rows(project))


@pytest.fixture(scope="module")
def champion_model(champion: dict[str, Any]) -> LoadedModel:
    return load_model(champion["artifact"], champion["artifact_sha256"])


def feature_rows(project_dir: Path, where: str) -> pd.DataFrame:
    """Rows of customer_features as the ML step reads them (through Arrow)."""
    with connect(project_dir) as connection:
        table = connection.sql(f"select * from customer_features where {where}").to_arrow_table()
    return table.to_pandas()


def test_champion_holdout_auc_recomputed_from_the_stored_model(
    project: Path,
    champion: dict[str, Any],
    champion_model: LoadedModel,
    contacts: pd.DataFrame,
):
    # The holdout is out of time: the two campaigns that started last.
    starts = contacts.groupby("campaign_id")["contacted_at"].min().sort_values()
    holdout_campaigns = json.loads(champion["holdout_campaigns"])
    assert holdout_campaigns == starts.index[-2:].tolist()
    assert not set(holdout_campaigns) & set(json.loads(champion["training_campaigns"]))

    quoted = ", ".join(f"'{c}'" for c in holdout_campaigns)
    holdout = feature_rows(project, f"spine_role = 'train' and campaign_id in ({quoted})")
    assert len(holdout) == champion["n_holdout_rows"]
    propensity, _ = predict_frame(champion_model, holdout)
    auc = roc_auc_score(holdout["label"].astype(int), propensity)

    assert 0.70 <= auc < 0.99
    assert auc == pytest.approx(champion["holdout_auc"], abs=1e-9)
    stored = query(
        project,
        "select value from ml_model_metrics where model_id = ? and split = 'holdout' "
        "and model = 'propensity' and metric = 'roc_auc'",
        [champion["model_id"]],
    )
    assert len(stored) == 1
    assert auc == pytest.approx(stored["value"].iloc[0], abs=1e-9)


def test_every_customer_scored_once_and_reproducible(
    project: Path, champion: dict[str, Any], champion_model: LoadedModel
):
    population = query(
        project, "select customer_id from int_feature_spine where spine_role = 'score'"
    )["customer_id"]
    scores = query(project, "select * from customer_scores").set_index("customer_id")
    served = query(project, "select * from fct_customer_scores").set_index("customer_id")

    for table in (scores, served):
        assert table.index.is_unique
        assert sorted(table.index) == sorted(population)
        assert table["propensity"].between(0, 1).all()
        assert (table["model_id"] == champion["model_id"]).all()
    shares = scores["decile"].value_counts(normalize=True)
    assert sorted(shares.index) == list(range(1, 11))
    assert shares.between(0.09, 0.11).all(), shares.to_dict()
    # Decile 1 holds the highest propensities.
    by_decile = scores.groupby("decile")["propensity"]
    assert (by_decile.min().iloc[:-1].to_numpy() >= by_decile.max().iloc[1:].to_numpy()).all()

    # The reloaded champion's full scikit-learn pipelines give the streamed scores.
    rows = feature_rows(project, "spine_role = 'score'").set_index("customer_id")
    propensity, revenue = predict_frame(champion_model, rows)
    stored = scores.loc[rows.index]
    assert np.allclose(stored["propensity"], propensity, rtol=0, atol=1e-9)
    assert np.allclose(stored["predicted_revenue"], revenue, rtol=0, atol=1e-9)
    assert np.allclose(stored["expected_value"], propensity * revenue, rtol=0, atol=1e-9)


def test_champion_gains_cover_the_holdout(project: Path, champion: dict[str, Any]):
    gains = query(
        project,
        "select * from ml_model_gains where model_id = ? order by decile",
        [champion["model_id"]],
    )
    positives = query(
        project,
        "select sum(label) as n from customer_features where spine_role = 'train' "
        "and campaign_id in (select unnest(from_json(?, '[\"VARCHAR\"]')))",
        [champion["holdout_campaigns"]],
    )["n"].iloc[0]

    assert gains["decile"].tolist() == list(range(1, 11))
    assert gains["is_current_champion"].all()
    assert gains["customers"].sum() == champion["n_holdout_rows"]
    assert gains["customers"].max() - gains["customers"].min() <= 1
    assert gains["responders"].sum() == positives
    assert (gains["cumulative_responders"] == gains["responders"].cumsum()).all()
    assert gains["cumulative_capture"].is_monotonic_increasing
    assert gains["cumulative_capture"].iloc[-1] == pytest.approx(1.0, abs=1e-12)
    assert gains["lift"].iloc[0] > 1.0


def scores_by_customer(project_dir: Path) -> pd.DataFrame:
    return (
        query(project_dir, "select customer_id, propensity, model_id from customer_scores")
        .set_index("customer_id")
        .sort_index()
    )


def registry_keys(rows: list[dict[str, Any]]) -> list[tuple[str, datetime]]:
    return [(r["model_id"], r["created_at"]) for r in rows]


def test_unchanged_rebuild_reuses_the_champion(clone: Path):
    registry_before = registry_keys(registry_rows(clone))
    scores_before = scores_by_customer(clone)

    build(clone, seed=False)

    assert registry_keys(registry_rows(clone)) == registry_before
    pd.testing.assert_frame_equal(scores_by_customer(clone), scores_before, check_exact=True)


def test_force_retrain_appends_exactly_one_model(clone: Path):
    before = registry_rows(clone)
    started = datetime.now(UTC).replace(tzinfo=None)

    build(clone, {"ml_force_retrain": True}, seed=False, select=["ml_model_registry+"])

    after = registry_rows(clone)
    assert len(after) == len(before) + 1
    assert registry_keys(after[: len(before)]) == registry_keys(before)
    new = after[-1]
    assert new["model_id"] not in {r["model_id"] for r in before}
    assert new["created_at"] >= started
    assert new["status"] in ("champion", "challenger")
    # The new model was compared with the champion re-scored on the same holdout.
    champion_auc = current_champion(before)["holdout_auc"]
    assert new["champion_holdout_auc"] == pytest.approx(champion_auc, abs=1e-9)
    assert set(scores_by_customer(clone)["model_id"]) == {current_champion(after)["model_id"]}


def test_invalid_ml_var_fails_and_keeps_the_registry(clone: Path):
    registry_before = registry_keys(registry_rows(clone))
    scores_before = scores_by_customer(clone)

    result = build(
        clone, {"ml_cv_folds": 1}, seed=False, select=["ml_model_registry+"], check=False
    )

    assert result.returncode != 0
    assert "ConfigError: ml config 'cv_folds' must be an integer >= 2, got 1" in result.stdout
    assert registry_keys(registry_rows(clone)) == registry_before
    pd.testing.assert_frame_equal(scores_by_customer(clone), scores_before, check_exact=True)
