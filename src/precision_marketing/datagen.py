"""Seeded synthetic raw-data generator for the precision-marketing warehouse.

Usage::

    python -m precision_marketing.datagen --customers 4000 --seed 42 --out seeds --format csv

writes the five raw tables ``raw_customers``, ``raw_orders``, ``raw_campaign_contacts``,
``raw_campaign_responses`` and ``raw_consent`` to ``<out>/<table>.csv`` (or ``.parquet`` with
``--format parquet``). Output is byte-identical for the same seed and size. Customers are simulated
in independent blocks of ``BLOCK_SIZE`` customers (each block draws from its own random streams,
derived from the seed and the block number), so memory stays bounded at 10M customers and the CSV
and parquet outputs hold the same rows. Everything is vectorized numpy; the only Python loops are
over blocks, campaigns and tables.

Documented ground truth (true response model)
---------------------------------------------
Every contact of a customer in campaign ``c`` has contact date ``D`` (midnight of the contact day;
``contacted_at`` is a time on that day). Point-in-time features use only the deduplicated orders
with ``ordered_at < D`` and the responses to earlier campaigns with ``responded_at < D``:

* ``recency_days``    = ``D - date(last ordered_at before D)`` in whole days (always >= 1), or
  ``RECENCY_NO_ORDER_DAYS`` when the customer has no order before ``D``;
* ``frequency_365d``  = number of orders with ``D - 365 days <= ordered_at < D``;
* ``monetary_365d``   = total ``amount`` of those orders;
* ``prior_responses`` = number of earlier campaigns the customer responded to (any recorded
  response, on time or late, with ``responded_at < D``);
* ``channel``         = the channel of this contact;
* ``age`` and ``annual_income`` = the customer's current profile (the row with the latest
  ``updated_at``), true values before missing-value tokens are applied.

With ``income_z = (ln(annual_income) - INCOME_LOG_MEAN) / INCOME_LOG_SD`` and the weights in
``RESPONSE_WEIGHTS`` / ``CHANNEL_EFFECT``::

    logit = intercept
          + log_recency   * log1p(recency_days)        (negative)
          + log_frequency * log1p(frequency_365d)      (positive)
          + log_monetary  * log1p(monetary_365d)       (positive)
          + prior         * prior_responses            (positive)
          + CHANNEL_EFFECT[channel]                    (email +, sms 0, mail -)
          + middle_age    * [35 <= age <= 55]          (positive)
          + income        * income_z                   (positive)
          + Normal(0, LOGIT_NOISE_SD)
    responded ~ Bernoulli(sigmoid(logit))

``noise_score``, ``noise_segment``, ``region`` and ``gender`` have no effect. On-time responses
arrive less than 30 days (30 * 24 h) after ``contacted_at``; ``LATE_RESPONSE_SHARE`` of responses
arrive 31-60 days after it, outside the 30-day label window. Responder revenue is lognormal with
log-mean ``ln(REVENUE_BASE) + REVENUE_W_MONETARY * log1p(monetary_365d) + REVENUE_W_INCOME *
income_z``. Orders are not influenced by campaigns and consent does not gate contacts. Missing
tokens, customer versions' older values and duplicate rows are applied after responses are drawn.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# --- command-line defaults and block size -------------------------------------------------------
DEFAULT_CUSTOMERS = 4000
DEFAULT_SEED = 42
DEFAULT_OUT = "seeds"
DEFAULT_FORMAT = "csv"
#: Customers simulated per block (bounds memory; parquet files are appended block by block).
BLOCK_SIZE = 1_000_000

# --- calendar (all times are naive timestamps, seconds since 1970-01-01) ------------------------
DAY = 86_400
HOUR = 3_600


def _day_number(iso_date: str) -> int:
    """Days since 1970-01-01 for an ISO date string."""
    return int(np.datetime64(iso_date, "D").astype(np.int64))


#: Signup dates are uniform over this inclusive range.
SIGNUP_FIRST_DAY = _day_number("2021-01-01")
SIGNUP_LAST_DAY = _day_number("2025-09-30")
#: Orders fall in [ORDER_START, ORDER_END) (2023-01-01 .. 2025-12-31 inclusive).
ORDER_START = _day_number("2023-01-01") * DAY
ORDER_END = _day_number("2026-01-01") * DAY
#: Campaign calendar: id -> contact date; ``contacted_at`` is a random time on that date.
CAMPAIGNS: tuple[tuple[str, str], ...] = (
    ("C01", "2024-01-15"),
    ("C02", "2024-04-01"),
    ("C03", "2024-06-10"),
    ("C04", "2024-08-20"),
    ("C05", "2024-11-01"),
    ("C06", "2025-01-15"),
    ("C07", "2025-04-01"),
    ("C08", "2025-06-10"),
    ("C09", "2025-08-20"),
    ("C10", "2025-10-15"),
)
CAMPAIGN_IDS: tuple[str, ...] = tuple(cid for cid, _ in CAMPAIGNS)
CAMPAIGN_DAYS: tuple[int, ...] = tuple(_day_number(day) for _, day in CAMPAIGNS)
#: Contacts are sent between these hours of the contact day.
CONTACT_HOURS = (8, 20)

# --- categorical domains --------------------------------------------------------------------------
CHANNELS = ("email", "sms", "mail")
GENDERS = ("F", "M", "X")
GENDER_P = (0.49, 0.48, 0.03)
REGIONS = ("north", "south", "east", "west", "central")
PREFERRED_CHANNEL_P = (0.5, 0.3, 0.2)
NOISE_SEGMENTS = ("A", "B", "C", "D", "E")
CONSENT_STATUSES = ("opt_in", "opt_out")

# --- customer attributes ------------------------------------------------------------------------
AGE_RANGE = (18, 85)
AGE_MEAN, AGE_SD = 46.0, 15.0
INCOME_RANGE = (15_000, 250_000)
INCOME_LOG_MEAN = float(np.log(55_000.0))
INCOME_LOG_SD = 0.55
#: Log-income shift of middle-aged customers (the rest get -0.05), a mild age/income correlation.
INCOME_MIDDLE_AGE_LIFT = 0.15
#: Share of customers with 2-3 profile versions, and of those, share with 3 versions.
MULTI_VERSION_SHARE = 0.30
THREE_VERSION_SHARE = 1.0 / 3.0
#: Chance that an older version shows a different region / email / annual_income.
OLD_REGION_CHANGE, OLD_EMAIL_CHANGE, OLD_INCOME_CHANGE = 0.5, 0.4, 0.6
CUSTOMER_DUPLICATE_SHARE = 0.02

# --- missing values: (share of rows, tokens); "" is written as an empty field / NULL ------------
TEXT_MISSING_TOKENS = ("", "unknown", "Unknown", "N/A", "null", "-")
MISSING_SPEC: dict[str, tuple[float, tuple[str, ...]]] = {
    "age": (0.08, (*TEXT_MISSING_TOKENS, "-1", "999")),
    "annual_income": (0.10, (*TEXT_MISSING_TOKENS, "-1")),
    "gender": (0.05, TEXT_MISSING_TOKENS),
    "region": (0.05, TEXT_MISSING_TOKENS),
    "preferred_channel": (0.03, TEXT_MISSING_TOKENS),
    "noise_score": (0.02, TEXT_MISSING_TOKENS),
}

# --- orders -------------------------------------------------------------------------------------
ORDERS_PER_CUSTOMER = 8.0
#: Gamma shape of the customer order rate (smaller = more heterogeneous customers).
ORDER_RATE_SHAPE = 1.5
ORDER_AMOUNT_LOG_MEAN = float(np.log(45.0))
ORDER_AMOUNT_CUSTOMER_SD = 0.35
ORDER_AMOUNT_ORDER_SD = 0.5
ORDER_AMOUNT_INCOME_W = 0.25
ORDER_DUPLICATE_SHARE = 0.01
#: updated_at - ordered_at: P(no update), P(1 min - 2 days), P(2 - 30 days).
ORDER_UPDATE_LAG_P = (0.40, 0.45, 0.15)

# --- campaigns and the true response model --------------------------------------------------------
CONTACT_SHARE = 0.35
PREFERRED_CONTACT_SHARE = 0.60
RECENCY_NO_ORDER_DAYS = 1095
MIDDLE_AGE = (35, 55)
RESPONSE_WEIGHTS: dict[str, float] = {
    "intercept": -1.45,
    "log_recency": -0.5,
    "log_frequency": 0.35,
    "log_monetary": 0.10,
    "prior": 0.45,
    "middle_age": 0.45,
    "income": 0.35,
}
CHANNEL_EFFECT: dict[str, float] = {"email": 0.35, "sms": 0.0, "mail": -0.35}
LOGIT_NOISE_SD = 0.6
LABEL_WINDOW_DAYS = 30
LATE_RESPONSE_SHARE = 0.03
LATE_RESPONSE_DAYS = (31, 60)
REVENUE_BASE = 35.0
REVENUE_W_MONETARY = 0.10
REVENUE_W_INCOME = 0.25
REVENUE_LOG_SD = 0.6

# --- consent ------------------------------------------------------------------------------------
INITIAL_OPT_OUT_SHARE = 0.10
CONSENT_CHANGE_SHARE = 0.20
FINAL_OPT_OUT_SHARE = 0.15

# --- fake PII building blocks ---------------------------------------------------------------------
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Emil", "Fatima",
    "Grace", "Hana", "Ivan", "Jane", "Jonas", "Kofi", "Lara", "Leo", "Maya", "Mateo", "Nadia",
    "Noah", "Olga", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Sofia", "Tariq", "Uma", "Victor",
    "Wen", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Baker", "Costa", "Doe", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jensen",
    "Khan", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Quist", "Rossi", "Silva", "Tanaka",
    "Ueda", "Varga", "Walsh", "Xu", "Young", "Zimmer", "Nguyen", "Kowalski", "Haddad", "Berg",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")
STREET_NAMES = (
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Birch", "Willow", "Lake", "Hill", "River", "Park",
    "Sunset", "Mill", "Church", "Station", "Meadow", "Harbor", "Forest", "Spring", "Valley",
)  # fmt: skip
STREET_SUFFIXES = ("St", "Ave", "Rd", "Ln", "Blvd", "Dr", "Ct", "Way")
#: Phone formats as (prefix, separator): prefix + exchange + separator + line.
PHONE_FORMATS = (("+1 (555) ", "-"), ("555.", "."), ("555", ""), ("555-", "-"))
#: Email styles as (leading padding, trailing padding, Title case).
EMAIL_STYLES = (("", "", False), ("", "", True), ("  ", " ", True), (" ", "", False))
EMAIL_STYLE_P = (0.75, 0.15, 0.05, 0.05)

# --- output tables --------------------------------------------------------------------------------
_TS = pa.timestamp("us")
SCHEMAS: dict[str, pa.Schema] = {
    "raw_customers": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("first_name", pa.string()),
            ("last_name", pa.string()),
            ("email", pa.string()),
            ("phone", pa.string()),
            ("street_address", pa.string()),
            ("age", pa.string()),
            ("annual_income", pa.string()),
            ("gender", pa.string()),
            ("region", pa.string()),
            ("preferred_channel", pa.string()),
            ("signup_date", pa.date32()),
            ("noise_score", pa.string()),
            ("noise_segment", pa.string()),
            ("updated_at", _TS),
        ]
    ),
    "raw_orders": pa.schema(
        [
            ("order_id", pa.int64()),
            ("customer_id", pa.int64()),
            ("ordered_at", _TS),
            ("amount", pa.float64()),
            ("updated_at", _TS),
        ]
    ),
    "raw_campaign_contacts": pa.schema(
        [
            ("campaign_id", pa.string()),
            ("customer_id", pa.int64()),
            ("contacted_at", _TS),
            ("channel", pa.string()),
        ]
    ),
    "raw_campaign_responses": pa.schema(
        [
            ("campaign_id", pa.string()),
            ("customer_id", pa.int64()),
            ("responded_at", _TS),
            ("revenue", pa.float64()),
        ]
    ),
    "raw_consent": pa.schema(
        [
            ("customer_id", pa.int64()),
            ("channel", pa.string()),
            ("status", pa.string()),
            ("updated_at", _TS),
        ]
    ),
}
TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)
CSV_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"

#: Sort-key stride: customer index * stride + seconds offset (offsets stay below 2**28 s).
_KEY_STRIDE = 1 << 28


# ================================================================================================
# Simulation state
# ================================================================================================
@dataclass(frozen=True)
class Profiles:
    """True (current) customer attributes of one block; indices refer to the domain tuples."""

    customer_id: IntArray
    signup_day: IntArray
    age: IntArray
    income: IntArray
    gender: IntArray
    region: IntArray
    channel: IntArray
    noise_score_cents: IntArray
    noise_segment: IntArray

    @property
    def size(self) -> int:
        return int(self.customer_id.size)


@dataclass(frozen=True)
class OrderHistory:
    """Deduplicated orders of one block sorted by (customer index, ordered_at)."""

    customer: IntArray
    ordered_at: IntArray
    amount_cents: IntArray
    key: IntArray
    cum_cents: IntArray

    @property
    def size(self) -> int:
        return int(self.customer.size)


@dataclass(frozen=True)
class CampaignRun:
    """Contacts of one campaign with their true point-in-time features and outcomes."""

    campaign: int
    customer: IntArray
    contacted_at: IntArray
    channel: IntArray
    recency_days: IntArray
    frequency_365d: IntArray
    monetary_cents: IntArray
    prior_responses: IntArray
    logit: FloatArray
    responded: BoolArray
    late: BoolArray
    responded_at: IntArray
    revenue_cents: IntArray


@dataclass(frozen=True)
class Block:
    """Output tables of one customer block plus the per-contact ground truth."""

    tables: dict[str, pa.Table]
    truth: pd.DataFrame | None
    n_orders: int


# ================================================================================================
# Small helpers
# ================================================================================================
def _join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation of string arrays and literals."""
    return pc.binary_join_element_wise(*parts, "")


def _vocab(values: Sequence[str], index: IntArray) -> pa.Array:
    """String array ``values[index]`` (built from a small vocabulary)."""
    return pa.array(values, type=pa.string()).take(pa.array(index))


def _digits(values: IntArray, width: int = 0) -> pa.Array:
    """Non-negative integers as text, left-padded with zeros to ``width``."""
    text = pc.cast(pa.array(values), pa.string())
    return pc.utf8_lpad(text, width=width, padding="0") if width else text


def _cents_to_text(cents: IntArray) -> pa.Array:
    """Format non-negative integer cents as 'units.cc'."""
    return _join(_digits(cents // 100), ".", _digits(cents % 100, 2))


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _income_z(income: IntArray) -> FloatArray:
    return (np.log(income.astype(np.float64)) - INCOME_LOG_MEAN) / INCOME_LOG_SD


def _uniform_seconds(rng: np.random.Generator, lo: IntArray, hi: IntArray | int) -> IntArray:
    """Uniform integer seconds in [lo, hi) element-wise (requires hi > lo)."""
    return lo + (rng.random(lo.size) * (hi - lo)).astype(np.int64)


def _timestamps(seconds: IntArray) -> pa.Array:
    return pa.array(seconds.astype("datetime64[s]")).cast(_TS)


def _mean_active_years() -> float:
    """Mean length (years) of a customer's ordering window over the uniform signup range."""
    days = np.arange(SIGNUP_FIRST_DAY, SIGNUP_LAST_DAY + 1, dtype=np.int64) * DAY
    return float(np.mean(ORDER_END - np.maximum(days, ORDER_START)) / (365.25 * DAY))


def _consent_flip_probabilities() -> tuple[float, float]:
    """(P(opt_in -> opt_out), P(opt_out -> opt_in)) matching the consent share constants."""
    q, f, final = INITIAL_OPT_OUT_SHARE, CONSENT_CHANGE_SHARE, FINAL_OPT_OUT_SHARE
    back_in = (q - final + f) / (2.0 * q)
    to_out = (f - q * back_in) / (1.0 - q)
    return to_out, back_in


def _streams(seed: int, block_index: int) -> dict[str, np.random.Generator]:
    """Independent named random streams of one block."""
    names = ("profiles", "orders", "campaigns", "customers", "order_rows", "consent")
    children = np.random.SeedSequence([seed, block_index]).spawn(len(names))
    return {name: np.random.default_rng(child) for name, child in zip(names, children, strict=True)}


# ================================================================================================
# Customers
# ================================================================================================
def simulate_profiles(rng: np.random.Generator, n: int, first_id: int) -> Profiles:
    """Draw the true current attributes of ``n`` customers."""
    age = np.clip(np.rint(rng.normal(AGE_MEAN, AGE_SD, n)), *AGE_RANGE).astype(np.int64)
    middle = (age >= MIDDLE_AGE[0]) & (age <= MIDDLE_AGE[1])
    log_income = rng.normal(
        INCOME_LOG_MEAN + INCOME_MIDDLE_AGE_LIFT * middle - 0.05, INCOME_LOG_SD, n
    )
    income = np.clip(np.rint(np.exp(log_income) / 100.0) * 100.0, *INCOME_RANGE)
    return Profiles(
        customer_id=np.arange(first_id, first_id + n, dtype=np.int64),
        signup_day=rng.integers(SIGNUP_FIRST_DAY, SIGNUP_LAST_DAY + 1, n, dtype=np.int64),
        age=age,
        income=income.astype(np.int64),
        gender=rng.choice(len(GENDERS), n, p=GENDER_P).astype(np.int64),
        region=rng.integers(0, len(REGIONS), n, dtype=np.int64),
        channel=rng.choice(len(CHANNELS), n, p=PREFERRED_CHANNEL_P).astype(np.int64),
        noise_score_cents=rng.integers(0, 10_000, n, dtype=np.int64),
        noise_segment=rng.integers(0, len(NOISE_SEGMENTS), n, dtype=np.int64),
    )


def _version_rows(
    rng: np.random.Generator, signup_day: IntArray
) -> tuple[IntArray, BoolArray, IntArray]:
    """Row -> customer index, whether the row is an older version, strictly increasing updated_at.

    Version 1 is created on the signup day; later versions fall between the next day and the end
    of 2025.
    """
    n = signup_day.size
    multi = rng.random(n) < MULTI_VERSION_SHARE
    n_versions = 1 + multi + (multi & (rng.random(n) < THREE_VERSION_SHARE))
    rows = np.repeat(np.arange(n, dtype=np.int64), n_versions)
    first_row = np.cumsum(n_versions) - n_versions
    rank = np.arange(rows.size, dtype=np.int64) - first_row[rows]
    signup_s = signup_day[rows] * DAY
    created = signup_s + rng.integers(0, DAY, rows.size)
    later = _uniform_seconds(rng, signup_s + DAY, ORDER_END - 3)  # room for the +rank below
    base = SIGNUP_FIRST_DAY * DAY
    key = np.sort(rows * _KEY_STRIDE + (np.where(rank == 0, created, later) - base))
    updated_at = key % _KEY_STRIDE + base + rank  # sorted per customer; +rank breaks ties
    return rows, rank < n_versions[rows] - 1, updated_at


def _email_text(
    first: IntArray, last: IntArray, number: IntArray, domain: IntArray, style: IntArray
) -> pa.Array:
    """Emails 'first.last<n>@domain': lower case, Title case, or space-padded (EMAIL_STYLES)."""
    title = np.array([is_title for _, _, is_title in EMAIL_STYLES])[style]
    lower_first = [name.lower() for name in FIRST_NAMES]
    lower_last = [name.lower() for name in LAST_NAMES]
    cap_domains = [d.capitalize() for d in EMAIL_DOMAINS]
    return _join(
        _vocab([lead for lead, _, _ in EMAIL_STYLES], style),
        _vocab([*lower_first, *FIRST_NAMES], first + title * len(FIRST_NAMES)),
        ".",
        _vocab([*lower_last, *LAST_NAMES], last + title * len(LAST_NAMES)),
        pc.if_else(pa.array(number < 0), "", _digits(np.maximum(number, 0))),
        "@",
        _vocab([*EMAIL_DOMAINS, *cap_domains], domain + title * len(EMAIL_DOMAINS)),
        _vocab([trail for _, trail, _ in EMAIL_STYLES], style),
    )


def _phone_text(exchange: IntArray, line: IntArray, style: IntArray) -> pa.Array:
    """Fictional 555 phone numbers in the PHONE_FORMATS styles."""
    return _join(
        _vocab([prefix for prefix, _ in PHONE_FORMATS], style),
        _digits(exchange, 3),
        _vocab([sep for _, sep in PHONE_FORMATS], style),
        _digits(line, 4),
    )


def _address_text(rng: np.random.Generator, n: int) -> pa.Array:
    return _join(
        _digits(rng.integers(1, 10_000, n)),
        " ",
        _vocab(STREET_NAMES, rng.integers(0, len(STREET_NAMES), n)),
        " ",
        _vocab(STREET_SUFFIXES, rng.integers(0, len(STREET_SUFFIXES), n)),
    )


def _email_parts(rng: np.random.Generator, n: int) -> tuple[IntArray, IntArray]:
    """Random (number, domain) email parts; number -1 means no number."""
    number = np.where(rng.random(n) < 0.3, -1, rng.integers(1, 100, n))
    return number.astype(np.int64), rng.integers(0, len(EMAIL_DOMAINS), n, dtype=np.int64)


def _with_missing(rng: np.random.Generator, values: pa.Array, column: str) -> pa.Array:
    """Replace a share of values by the column's missing tokens ("" becomes NULL)."""
    share, tokens = MISSING_SPEC[column]
    missing = rng.random(len(values)) < share
    token = pa.array([t or None for t in tokens], type=pa.string())
    return pc.if_else(
        pa.array(missing), token.take(rng.integers(0, len(tokens), len(values))), values
    )


def _older_values(
    rng: np.random.Generator, older: BoolArray, region: IntArray, income: IntArray
) -> tuple[IntArray, IntArray]:
    """Region and income as shown on older versions (different region, lower income)."""
    m = older.size
    moved = older & (rng.random(m) < OLD_REGION_CHANGE)
    region = np.where(moved, (region + rng.integers(1, len(REGIONS), m)) % len(REGIONS), region)
    changed = older & (rng.random(m) < OLD_INCOME_CHANGE)
    old_income = np.rint(income / rng.uniform(1.03, 1.35, m) / 100.0) * 100.0
    income = np.where(changed, np.maximum(old_income, INCOME_RANGE[0]).astype(np.int64), income)
    return region, income


def customers_table(rng: np.random.Generator, profiles: Profiles) -> pa.Table:
    """raw_customers: versions, messy PII and missing tokens, ~2% exact duplicates, shuffled."""
    n = profiles.size
    first, last = rng.integers(0, len(FIRST_NAMES), n), rng.integers(0, len(LAST_NAMES), n)
    number, domain = _email_parts(rng, n)
    phone_style = rng.integers(0, len(PHONE_FORMATS), n)
    phone = _phone_text(rng.integers(10, 20, n), rng.integers(0, 10_000, n), phone_style)
    address = _address_text(rng, n)

    rows, older, updated_at = _version_rows(rng, profiles.signup_day)
    m = rows.size
    old_number, old_domain = _email_parts(rng, m)
    new_email = older & (rng.random(m) < OLD_EMAIL_CHANGE)
    email_style = rng.choice(len(EMAIL_STYLES), m, p=EMAIL_STYLE_P)
    email = _email_text(
        first[rows],
        last[rows],
        np.where(new_email, old_number, number[rows]),
        np.where(new_email, old_domain, domain[rows]),
        email_style,
    )
    region, income = _older_values(rng, older, profiles.region[rows], profiles.income[rows])

    true_values = {
        "age": _digits(profiles.age[rows]),
        "annual_income": _digits(income),
        "gender": _vocab(GENDERS, profiles.gender[rows]),
        "region": _vocab(REGIONS, region),
        "preferred_channel": _vocab(CHANNELS, profiles.channel[rows]),
        "noise_score": _cents_to_text(profiles.noise_score_cents[rows]),
    }
    messy = {col: _with_missing(rng, values, col) for col, values in true_values.items()}
    row_index = pa.array(rows)
    columns = {
        "customer_id": pa.array(profiles.customer_id[rows]),
        "first_name": _vocab(FIRST_NAMES, first[rows]),
        "last_name": _vocab(LAST_NAMES, last[rows]),
        "email": email,
        "phone": phone.take(row_index),
        "street_address": address.take(row_index),
        **messy,
        "signup_date": pa.array(profiles.signup_day[rows].astype("datetime64[D]")),
        "noise_segment": _vocab(NOISE_SEGMENTS, profiles.noise_segment[rows]),
        "updated_at": _timestamps(updated_at),
    }
    table = pa.table(columns).select(SCHEMAS["raw_customers"].names).cast(SCHEMAS["raw_customers"])
    copies = np.repeat(np.arange(m), 1 + (rng.random(m) < CUSTOMER_DUPLICATE_SHARE))
    return table.take(copies[rng.permutation(copies.size)])


# ================================================================================================
# Orders
# ================================================================================================
def simulate_orders(rng: np.random.Generator, profiles: Profiles) -> OrderHistory:
    """Gamma-Poisson order counts over each customer's window [max(signup, 2023-01-01), 2026)."""
    n = profiles.size
    start = np.maximum(profiles.signup_day * DAY, ORDER_START)
    years = (ORDER_END - start) / (365.25 * DAY)
    mean_rate = ORDERS_PER_CUSTOMER / _mean_active_years()
    rate = rng.gamma(ORDER_RATE_SHAPE, mean_rate / ORDER_RATE_SHAPE, n)
    counts = rng.poisson(rate * years)
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    ordered_at = _uniform_seconds(rng, start[owner], ORDER_END)
    key = np.sort(owner * _KEY_STRIDE + (ordered_at - ORDER_START))
    owner, ordered_at = key // _KEY_STRIDE, key % _KEY_STRIDE + ORDER_START

    level = (
        ORDER_AMOUNT_LOG_MEAN
        + ORDER_AMOUNT_INCOME_W * _income_z(profiles.income)
        + rng.normal(0.0, ORDER_AMOUNT_CUSTOMER_SD, n)
    )
    amount = np.exp(level[owner] + rng.normal(0.0, ORDER_AMOUNT_ORDER_SD, owner.size))
    amount_cents = np.maximum(np.rint(amount * 100.0), 100).astype(np.int64)
    cum = np.concatenate([np.zeros(1, np.int64), np.cumsum(amount_cents)])
    return OrderHistory(owner, ordered_at, amount_cents, key, cum)


def orders_table(
    rng: np.random.Generator, orders: OrderHistory, profiles: Profiles, first_order_id: int
) -> pa.Table:
    """raw_orders in order_id order (chronological within a block) with ~1% exact duplicates."""
    n = orders.size
    chronological = np.argsort(orders.ordered_at, kind="stable")
    order_id = np.empty(n, np.int64)
    order_id[chronological] = np.arange(first_order_id, first_order_id + n, dtype=np.int64)
    kind = rng.choice(len(ORDER_UPDATE_LAG_P), n, p=ORDER_UPDATE_LAG_P)
    lag = np.select(
        [kind == 0, kind == 1],
        [np.zeros(n, np.int64), rng.integers(60, 2 * DAY, n)],
        rng.integers(2 * DAY, 30 * DAY, n),
    )
    copies = 1 + (rng.random(n) < ORDER_DUPLICATE_SHARE)
    rows = np.repeat(chronological, copies[chronological])
    return pa.table(
        {
            "order_id": pa.array(order_id[rows]),
            "customer_id": pa.array(profiles.customer_id[orders.customer[rows]]),
            "ordered_at": _timestamps(orders.ordered_at[rows]),
            "amount": pa.array(orders.amount_cents[rows] / 100.0),
            "updated_at": _timestamps(orders.ordered_at[rows] + lag[rows]),
        },
        schema=SCHEMAS["raw_orders"],
    )


# ================================================================================================
# Campaigns and the true response model
# ================================================================================================
def order_features(
    orders: OrderHistory, customer: IntArray, day: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Point-in-time (recency_days, frequency_365d, monetary_cents) before midnight of ``day``."""
    cutoff = day * DAY
    window_start = max(cutoff - 365 * DAY - ORDER_START, 0)
    base = customer * _KEY_STRIDE
    first = np.searchsorted(orders.key, base, side="left")
    hi = np.searchsorted(orders.key, base + (cutoff - ORDER_START), side="left")
    lo = np.searchsorted(orders.key, base + window_start, side="left")
    last_day = orders.ordered_at[np.maximum(hi - 1, 0)] // DAY
    recency = np.where(hi > first, day - last_day, RECENCY_NO_ORDER_DAYS)
    return (
        recency.astype(np.int64),
        (hi - lo).astype(np.int64),
        orders.cum_cents[hi] - orders.cum_cents[lo],
    )


def true_logit(
    recency_days: IntArray,
    frequency_365d: IntArray,
    monetary_365d: FloatArray,
    prior_responses: IntArray,
    channel: IntArray,
    age: IntArray,
    income: IntArray,
) -> FloatArray:
    """Noise-free logit of the documented response model."""
    w = RESPONSE_WEIGHTS
    middle = (age >= MIDDLE_AGE[0]) & (age <= MIDDLE_AGE[1])
    channel_effect = np.array([CHANNEL_EFFECT[c] for c in CHANNELS])[channel]
    return (
        w["intercept"]
        + w["log_recency"] * np.log1p(recency_days)
        + w["log_frequency"] * np.log1p(frequency_365d)
        + w["log_monetary"] * np.log1p(monetary_365d)
        + w["prior"] * prior_responses
        + channel_effect
        + w["middle_age"] * middle
        + w["income"] * _income_z(income)
    )


def prior_response_counts(runs: Sequence[CampaignRun], n: int, cutoff: int) -> IntArray:
    """Per customer: earlier campaigns with a response recorded before ``cutoff`` (seconds)."""
    counts = np.zeros(n, np.int64)
    for run in runs:
        seen = run.responded & (run.responded_at < cutoff)
        counts += np.bincount(run.customer[seen], minlength=n)
    return counts


def run_campaign(
    rng: np.random.Generator,
    campaign: int,
    profiles: Profiles,
    orders: OrderHistory,
    prior: IntArray,
) -> CampaignRun:
    """Contact ~35% of customers signed up before the contact date and draw their responses."""
    day = CAMPAIGN_DAYS[campaign]
    eligible = profiles.signup_day < day
    customer = np.flatnonzero(eligible & (rng.random(profiles.size) < CONTACT_SHARE))
    m = customer.size
    contacted_at = day * DAY + rng.integers(CONTACT_HOURS[0] * HOUR, CONTACT_HOURS[1] * HOUR, m)
    preferred = rng.random(m) < PREFERRED_CONTACT_SHARE
    channel = np.where(preferred, profiles.channel[customer], rng.integers(0, len(CHANNELS), m))
    recency, frequency, monetary_cents = order_features(orders, customer, day)
    logit = true_logit(
        recency,
        frequency,
        monetary_cents / 100.0,
        prior[customer],
        channel,
        profiles.age[customer],
        profiles.income[customer],
    )
    responded = rng.random(m) < _sigmoid(logit + rng.normal(0.0, LOGIT_NOISE_SD, m))
    late = rng.random(m) < LATE_RESPONSE_SHARE
    delay_days = np.where(
        late, rng.integers(*LATE_RESPONSE_DAYS, m), rng.integers(0, LABEL_WINDOW_DAYS, m)
    )
    responded_at = contacted_at + delay_days * DAY + rng.integers(0, DAY, m)
    log_revenue = (
        np.log(REVENUE_BASE)
        + REVENUE_W_MONETARY * np.log1p(monetary_cents / 100.0)
        + REVENUE_W_INCOME * _income_z(profiles.income[customer])
        + rng.normal(0.0, REVENUE_LOG_SD, m)
    )
    revenue_cents = np.maximum(np.rint(np.exp(log_revenue) * 100.0), 100).astype(np.int64)
    return CampaignRun(
        campaign,
        customer,
        contacted_at,
        channel,
        recency,
        frequency,
        monetary_cents,
        prior[customer],
        logit,
        responded,
        late & responded,
        responded_at,
        revenue_cents,
    )


def simulate_campaigns(
    rng: np.random.Generator, profiles: Profiles, orders: OrderHistory
) -> list[CampaignRun]:
    """Run the campaigns in calendar order (prior responses depend on earlier campaigns)."""
    runs: list[CampaignRun] = []
    for campaign, day in enumerate(CAMPAIGN_DAYS):
        prior = prior_response_counts(runs, profiles.size, day * DAY)
        runs.append(run_campaign(rng, campaign, profiles, orders, prior))
    return runs


def _campaign_index(runs: Sequence[CampaignRun], keep: Sequence[BoolArray]) -> IntArray:
    counts = [int(k.sum()) for k in keep]
    return np.repeat(np.array([r.campaign for r in runs], np.int64), counts)


def _stack(runs: Sequence[CampaignRun], field: str, keep: Sequence[BoolArray]) -> NDArray:
    return np.concatenate([getattr(r, field)[k] for r, k in zip(runs, keep, strict=True)])


def contacts_table(runs: Sequence[CampaignRun], profiles: Profiles) -> pa.Table:
    """raw_campaign_contacts ordered by campaign and customer."""
    keep = [np.ones(r.customer.size, bool) for r in runs]
    return pa.table(
        {
            "campaign_id": _vocab(CAMPAIGN_IDS, _campaign_index(runs, keep)),
            "customer_id": pa.array(profiles.customer_id[_stack(runs, "customer", keep)]),
            "contacted_at": _timestamps(_stack(runs, "contacted_at", keep)),
            "channel": _vocab(CHANNELS, _stack(runs, "channel", keep)),
        },
        schema=SCHEMAS["raw_campaign_contacts"],
    )


def responses_table(runs: Sequence[CampaignRun], profiles: Profiles) -> pa.Table:
    """raw_campaign_responses ordered by campaign and customer."""
    keep = [r.responded for r in runs]
    return pa.table(
        {
            "campaign_id": _vocab(CAMPAIGN_IDS, _campaign_index(runs, keep)),
            "customer_id": pa.array(profiles.customer_id[_stack(runs, "customer", keep)]),
            "responded_at": _timestamps(_stack(runs, "responded_at", keep)),
            "revenue": pa.array(_stack(runs, "revenue_cents", keep) / 100.0),
        },
        schema=SCHEMAS["raw_campaign_responses"],
    )


def truth_frame(runs: Sequence[CampaignRun], profiles: Profiles) -> pd.DataFrame:
    """Per-contact ground truth: true point-in-time features, noise-free logit and outcome."""
    keep = [np.ones(r.customer.size, bool) for r in runs]
    customer = _stack(runs, "customer", keep)
    return pd.DataFrame(
        {
            "campaign_id": np.array(CAMPAIGN_IDS, dtype=object)[_campaign_index(runs, keep)],
            "customer_id": profiles.customer_id[customer],
            "channel": np.array(CHANNELS)[_stack(runs, "channel", keep)],
            "recency_days": _stack(runs, "recency_days", keep),
            "frequency_365d": _stack(runs, "frequency_365d", keep),
            "monetary_365d": _stack(runs, "monetary_cents", keep) / 100.0,
            "prior_responses": _stack(runs, "prior_responses", keep),
            "age": profiles.age[customer],
            "annual_income": profiles.income[customer],
            "true_logit": _stack(runs, "logit", keep),
            "responded": _stack(runs, "responded", keep),
            "late": _stack(runs, "late", keep),
        }
    )


# ================================================================================================
# Consent
# ================================================================================================
def consent_table(rng: np.random.Generator, profiles: Profiles) -> pa.Table:
    """raw_consent: one row per (customer, channel), ~20% with a later row flipping the status."""
    n_pairs = profiles.size * len(CHANNELS)
    owner = np.repeat(np.arange(profiles.size, dtype=np.int64), len(CHANNELS))
    channel = np.tile(np.arange(len(CHANNELS), dtype=np.int64), profiles.size)
    to_out, back_in = _consent_flip_probabilities()
    opted_out = rng.random(n_pairs) < INITIAL_OPT_OUT_SHARE
    flips = rng.random(n_pairs) < np.where(opted_out, back_in, to_out)
    signup_s = profiles.signup_day[owner] * DAY
    first_at = signup_s + rng.integers(0, DAY, n_pairs)
    second_at = _uniform_seconds(rng, signup_s + DAY, ORDER_END)
    rows = np.repeat(np.arange(n_pairs), 1 + flips)
    second = np.concatenate([[False], rows[1:] == rows[:-1]])
    return pa.table(
        {
            "customer_id": pa.array(profiles.customer_id[owner[rows]]),
            "channel": _vocab(CHANNELS, channel[rows]),
            "status": _vocab(CONSENT_STATUSES, (opted_out[rows] ^ second).astype(np.int64)),
            "updated_at": _timestamps(np.where(second, second_at[rows], first_at[rows])),
        },
        schema=SCHEMAS["raw_consent"],
    )


# ================================================================================================
# Blocks and public API
# ================================================================================================
def simulate_block(
    n: int,
    seed: int,
    block_index: int,
    first_customer_id: int,
    first_order_id: int,
    with_truth: bool = True,
) -> Block:
    """Simulate one independent block of ``n`` customers (optionally with its ground truth)."""
    rng = _streams(seed, block_index)
    profiles = simulate_profiles(rng["profiles"], n, first_customer_id)
    orders = simulate_orders(rng["orders"], profiles)
    runs = simulate_campaigns(rng["campaigns"], profiles, orders)
    tables = {
        "raw_customers": customers_table(rng["customers"], profiles),
        "raw_orders": orders_table(rng["order_rows"], orders, profiles, first_order_id),
        "raw_campaign_contacts": contacts_table(runs, profiles),
        "raw_campaign_responses": responses_table(runs, profiles),
        "raw_consent": consent_table(rng["consent"], profiles),
    }
    return Block(tables, truth_frame(runs, profiles) if with_truth else None, orders.size)


def iter_blocks(
    n_customers: int, seed: int, block_size: int = BLOCK_SIZE, with_truth: bool = False
) -> Iterator[Block]:
    """Yield consecutive customer blocks; customer and order ids continue across blocks."""
    if n_customers < 1 or block_size < 1:
        raise ValueError("n_customers and block_size must be positive")
    next_order_id = 1
    for index, start in enumerate(range(0, n_customers, block_size)):
        size = min(block_size, n_customers - start)
        block = simulate_block(size, seed, index, start + 1, next_order_id, with_truth)
        next_order_id += block.n_orders
        yield block
        del block  # free this block before simulating the next one


def _frames(blocks: Sequence[Block]) -> dict[str, pd.DataFrame]:
    return {
        name: pa.concat_tables([b.tables[name] for b in blocks]).to_pandas() for name in SCHEMAS
    }


def generate_with_truth(
    n_customers: int, seed: int, block_size: int = BLOCK_SIZE
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """The raw tables plus the per-contact ground truth (features, noise-free logit, outcome)."""
    blocks = list(iter_blocks(n_customers, seed, block_size, with_truth=True))
    truth = pd.concat([b.truth for b in blocks if b.truth is not None], ignore_index=True)
    return _frames(blocks), truth


def generate(n_customers: int, seed: int) -> dict[str, pd.DataFrame]:
    """The five raw tables (exactly as written to CSV) keyed by table name."""
    return _frames(list(iter_blocks(n_customers, seed)))


def write_csv(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Write ``<out>/<table>.csv``; empty fields for NULL, 2-decimal money, 'Y-m-d H:M:S' times."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in frames.items():
        path = out / f"{name}.csv"
        frame.to_csv(
            path,
            index=False,
            float_format="%.2f",
            date_format=CSV_TIMESTAMP_FORMAT,
            lineterminator="\n",
        )
        paths.append(path)
    return paths


def write_parquet(
    n_customers: int, seed: int, out: Path, block_size: int = BLOCK_SIZE
) -> list[Path]:
    """Write ``<out>/<table>.parquet``, appending one row group batch per customer block."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.parquet" for name in SCHEMAS]
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(pq.ParquetWriter(path, schema, compression="zstd"))
            for (name, schema), path in zip(SCHEMAS.items(), paths, strict=True)
        }
        for block in iter_blocks(n_customers, seed, block_size):
            for name, table in block.tables.items():
                writers[name].write_table(table)
            del block
    return paths


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=Path(DEFAULT_OUT))
    parser.add_argument("--format", choices=("csv", "parquet"), default=DEFAULT_FORMAT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    args = _parse_args(argv)
    if args.format == "csv":
        paths = write_csv(generate(args.customers, args.seed), args.out)
    else:
        paths = write_parquet(args.customers, args.seed, args.out)
    for path in paths:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
