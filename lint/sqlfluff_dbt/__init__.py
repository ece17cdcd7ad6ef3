"""Just enough of dbt's Jinja context for sqlfluff to render models as SQL.

Loaded through `library_path` in .sqlfluff; dbt itself never imports it. Project
vars come from dbt_project.yml, so a model lints as it compiles by default.
"""

import re as _re
import types as _types
from pathlib import Path as _Path

import yaml as _yaml

_PROJECT = _yaml.safe_load((_Path(__file__).resolve().parents[2] / "dbt_project.yml").read_text())
_VARS = _PROJECT.get("vars", {})

execute = False
modules = _types.SimpleNamespace(re=_re)
this = "this_model"


def var(name, default=None):
    return _VARS.get(name, default)


def env_var(name, default=""):
    return default


def ref(*names, **_):
    return names[-1]


def source(source_name, table_name):
    return f"{source_name}.{table_name}"


def config(*_, **__):
    return ""


def is_incremental():
    return False


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message):
        raise RuntimeError(message)


exceptions = _Exceptions()
