"""SQL text built from Python values: quoted identifiers and string literals."""

from __future__ import annotations

from collections.abc import Iterable


def identifier(name: str) -> str:
    """``name`` as a double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def string(value: object) -> str:
    """``str(value)`` as a single-quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values: Iterable[object]) -> str:
    """The right side of ``x in ...``: the values as string literals in parentheses.

    No values gives ``(null)``, which matches no row (``in ()`` is a syntax error).
    """
    return "(" + (", ".join(string(value) for value in values) or "null") + ")"
