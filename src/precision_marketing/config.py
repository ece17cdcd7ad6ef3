"""Configuration of the ML step, validated before any work starts.

Values reach a dbt Python model from ``config: meta:`` in YAML, ``var()`` or ``--vars``,
often rendered to strings (``"2"``, ``"true"``, ``"[0.1, 1]"``). :meth:`MlConfig.from_meta`
parses them (JSON first, then a Python literal) and checks every rule, so a typo fails the
build at once with a message naming the key, the rule and the value.
"""

from __future__ import annotations

import ast
import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

SELECTION_METHODS: tuple[str, ...] = ("chi2", "mutual_info", "l1_logistic")
ESTIMATORS: tuple[str, ...] = ("logistic_regression", "svm", "gradient_boosting")

# Settings that change how a run executes but not the model it produces; a change in them
# does not make the champion stale.
RUNTIME_ONLY_KEYS: frozenset[str] = frozenset({"force_retrain", "n_jobs"})

ParamGrid = dict[str, list[Any]]


def _default_param_grids() -> dict[str, ParamGrid]:
    return {
        "logistic_regression": {"C": [0.1, 1.0, 10.0, 100.0]},
        "svm": {"C": [0.01, 0.1, 1.0]},
        "gradient_boosting": {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
    }


class ConfigError(ValueError):
    """An ML configuration value is unknown or breaks its rule."""


@dataclass(frozen=True)
class MlConfig:
    """Settings of training, selection, promotion and scoring (defaults in brackets)."""

    target: str = "label"
    """Label column, 0/1 ['label']."""
    revenue_column: str = "response_revenue"
    """Revenue of a response, regressed for expected value ['response_revenue']."""
    holdout_campaigns: int = 2
    """Most recent campaigns held out for the out-of-time evaluation [2]."""
    selection_method: str = "chi2"
    """Feature scoring: 'chi2' | 'mutual_info' | 'l1_logistic' ['chi2']."""
    selection_k: int = 10
    """Source features kept by the selector (all levels of a kept categorical) [10]."""
    estimators: tuple[str, ...] = ("logistic_regression", "svm")
    """Candidate estimators searched together ['logistic_regression', 'svm']."""
    param_grids: dict[str, ParamGrid] = field(default_factory=_default_param_grids)
    """Grid per estimator, bare parameter names; a given grid replaces that default."""
    cv_folds: int = 5
    """Stratified, shuffled CV folds on the training window [5]."""
    max_training_rows: int = 100_000
    """Stratified cap on the rows used for the grid search [100000]."""
    min_training_rows: int = 200
    """Fewer training-window rows than this fail the run [200]."""
    random_seed: int = 42
    """Seed of sampling, CV folds and estimators [42]."""
    promotion_tolerance: float = 0.005
    """A challenger is promoted if its holdout AUC >= champion's minus this [0.005]."""
    classification_threshold: float = 0.2
    """Probability at which precision, recall, F1 and accuracy are computed [0.2]."""
    force_retrain: bool = False
    """Retrain even if data and features are unchanged [False]."""
    n_jobs: int = 2
    """Parallel CV fits (processes); -1 = all cores [2]."""

    @classmethod
    def from_meta(cls, meta: Mapping[str, object]) -> MlConfig:
        """Build from dbt ``meta``/vars values; ``None`` means "use the default"."""
        known = {f.name for f in fields(cls)}
        for key in meta:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"ml config has unknown key {key!r}{hint}; known keys: "
                    + ", ".join(sorted(known))
                )
        values: dict[str, Any] = {}
        for key, raw in meta.items():
            if raw is None:
                continue
            values[key] = _VALIDATORS[key](key, parse_value(raw))
        config = cls(**values)
        config._check_cross_field()
        return config

    def _check_cross_field(self) -> None:
        if self.min_training_rows > self.max_training_rows:
            raise ConfigError(
                "ml config 'min_training_rows' must be <= 'max_training_rows', "
                f"got {self.min_training_rows} > {self.max_training_rows}"
            )

    def grid_for(self, estimator: str) -> ParamGrid:
        return self.param_grids[estimator]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["estimators"] = list(self.estimators)
        return data

    def to_json(self) -> str:
        """All settings as sorted JSON (stored in the model registry)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def parse_value(raw: object) -> object:
    """A value from YAML or ``--vars``: strings are read as JSON, then as a Python literal."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def _fail(key: str, rule: str, value: object) -> ConfigError:
    return ConfigError(f"ml config {key!r} must be {rule}, got {value!r}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _int_at_least(minimum: int):
    def check(key: str, value: object) -> int:
        if not _is_int(value) or value < minimum:
            raise _fail(key, f"an integer >= {minimum}", value)
        return int(value)

    return check


def _name(key: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, "a non-empty column name", value)
    return value.strip()


def _selection_method(key: str, value: object) -> str:
    if value not in SELECTION_METHODS:
        raise _fail(key, "one of " + ", ".join(map(repr, SELECTION_METHODS)), value)
    return str(value)


def _estimators(key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    rule = "a non-empty list of distinct names from " + ", ".join(map(repr, ESTIMATORS))
    if not isinstance(value, list | tuple) or not value:
        raise _fail(key, rule, value)
    if any(v not in ESTIMATORS for v in value) or len(set(value)) != len(value):
        raise _fail(key, rule, value)
    return tuple(value)


def _param_grids(key: str, value: object) -> dict[str, ParamGrid]:
    rule = (
        "a mapping of estimator name to {parameter: non-empty list of values}, "
        "estimators from " + ", ".join(map(repr, ESTIMATORS))
    )
    if not isinstance(value, Mapping):
        raise _fail(key, rule, value)
    grids = _default_param_grids()
    for estimator, grid in value.items():
        if estimator not in ESTIMATORS or not isinstance(grid, Mapping) or not grid:
            raise _fail(key, rule, value)
        checked: ParamGrid = {}
        for param, options in grid.items():
            if not isinstance(param, str) or not isinstance(options, list | tuple) or not options:
                raise _fail(key, rule, value)
            if not all(v is None or isinstance(v, str | int | float | bool) for v in options):
                raise _fail(key, rule + " (values: numbers, strings, booleans or null)", value)
            checked[param] = list(options)
        _check_param_names(key, estimator, checked)
        grids[estimator] = checked
    return grids


def _check_param_names(key: str, estimator: str, grid: ParamGrid) -> None:
    # Imported here: training imports this module.
    from precision_marketing.training import estimator_param_names

    allowed = estimator_param_names(estimator)
    unknown = sorted(set(grid) - allowed)
    if unknown:
        raise ConfigError(
            f"ml config {key!r} must name parameters of {estimator!r} "
            f"({', '.join(sorted(allowed))}), got {unknown!r}"
        )


def _tolerance(key: str, value: object) -> float:
    if not _is_number(value) or not 0.0 <= float(value) <= 0.1:
        raise _fail(key, "a number in [0, 0.1]", value)
    return float(value)


def _probability(key: str, value: object) -> float:
    if not _is_number(value) or not 0.0 < float(value) < 1.0:
        raise _fail(key, "a number in (0, 1)", value)
    return float(value)


def _bool(key: str, value: object) -> bool:
    if isinstance(value, str) and value.lower() in {"true", "false", "yes", "no"}:
        return value.lower() in {"true", "yes"}
    if not isinstance(value, bool):
        raise _fail(key, "a boolean (true/false)", value)
    return value


def _n_jobs(key: str, value: object) -> int:
    if not _is_int(value) or not (value >= 1 or value == -1):
        raise _fail(key, "an integer >= 1, or -1 for all cores", value)
    return int(value)


_VALIDATORS = {
    "target": _name,
    "revenue_column": _name,
    "holdout_campaigns": _int_at_least(1),
    "selection_method": _selection_method,
    "selection_k": _int_at_least(1),
    "estimators": _estimators,
    "param_grids": _param_grids,
    "cv_folds": _int_at_least(2),
    "max_training_rows": _int_at_least(100),
    "min_training_rows": _int_at_least(1),
    "random_seed": _int_at_least(0),
    "promotion_tolerance": _tolerance,
    "classification_threshold": _probability,
    "force_retrain": _bool,
    "n_jobs": _n_jobs,
}
