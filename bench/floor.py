"""The bare-engine floor: the project's compiled nodes run in one plain DuckDB connection.

Reads a dbt manifest (``dbt compile`` output) and executes, in dependency order, exactly
the work ``dbt build`` does, without dbt: every SQL model's compiled SQL as ``create view``
or ``create table ... as``, every Python model's compiled module called the way
dbt-duckdb calls it (``model(dbt, session)`` then ``create table ... as select`` from the
returned relation, Arrow table or record-batch reader), and every data test's compiled
SQL under dbt's failure count. It runs on a fresh database, as a first build does
(incremental models are created, not merged). What it leaves out is dbt itself: parsing,
Jinja, adapter introspection, transactions, renames and logging.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

SETTINGS = ("memory_limit", "threads", "preserve_insertion_order")


def ordered_nodes(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Enabled models and data tests (no unit tests or seeds), parents before children."""
    nodes = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "test") and node["config"].get("enabled", True)
    }
    order: list[dict[str, Any]] = []
    done: set[str] = set()

    def visit(uid: str, path: tuple[str, ...]) -> None:
        if uid in done:
            return
        if uid in path:
            raise ValueError(f"dependency cycle through {uid}")
        for parent in nodes[uid]["depends_on"]["nodes"]:
            if parent in nodes:
                visit(parent, (*path, uid))
        done.add(uid)
        order.append(nodes[uid])

    for uid in nodes:
        visit(uid, ())
    return order


def run_python_model(con: duckdb.DuckDBPyConnection, node: dict[str, Any]) -> None:
    """As dbt-duckdb's local environment: exec the compiled module, call model(), store.

    The model gets its own cursor and the result is written through another one unless it
    is a relation; both are closed afterwards, as dbt closes a node's connection.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(node["compiled_code"].lstrip())
    cursor = con.cursor()
    writer = cursor
    try:
        spec = importlib.util.spec_from_file_location(node["alias"], handle.name)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def load(table_name: str) -> duckdb.DuckDBPyRelation:
            return cursor.query(f"select * from {table_name}")

        result = module.model(module.dbtObj(load), cursor)
        if not isinstance(result, duckdb.DuckDBPyRelation):
            writer = con.cursor()
        temporary = f"__floor_python_model_{node['alias']}"
        writer.register(temporary, result)
        writer.execute(f"create table {node['relation_name']} as select * from {temporary}")
        writer.unregister(temporary)
    finally:
        cursor.close()
        if writer is not cursor:
            writer.close()
        Path(handle.name).unlink()


def run_node(con: duckdb.DuckDBPyConnection, node: dict[str, Any]) -> str:
    """Execute one node; returns a short outcome ('view', 'table', 'pass', 'fail 3')."""
    config = node["config"]
    if node["resource_type"] == "test":
        ((failures,),) = con.execute(
            f"select {config['fail_calc']} from ({node['compiled_code']}) dbt_internal_test"
        ).fetchall()
        return "pass" if not failures else f"fail {failures} ({config['severity']})"
    if node["language"] == "python":
        run_python_model(con, node)
        return "table"
    con.execute(f"create schema if not exists {node['database']}.{node['schema']}")
    if config["materialized"] == "view":
        con.execute(f"create view {node['relation_name']} as ({node['compiled_code']})")
        return "view"
    con.execute(f"create table {node['relation_name']} as ({node['compiled_code']})")
    return "table"


def run(
    manifest_path: Path, database: Path, settings: dict[str, str], tests: bool = True
) -> Iterator[tuple[str, str, float]]:
    """Run every node into a fresh ``database``; yields (node, outcome, seconds)."""
    manifest = json.loads(manifest_path.read_text())
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database), config=settings)
    try:
        for node in ordered_nodes(manifest):
            if node["resource_type"] == "test" and not tests:
                continue
            started = time.perf_counter()
            for key, value in settings.items():  # as dbt-duckdb does on each node's cursor
                con.execute(f"set {key} = '{value}'")
            try:
                outcome = run_node(con, node)
            except duckdb.Error as error:
                raise RuntimeError(f"{node['unique_id']} failed: {error}") from error
            yield node["unique_id"], outcome, time.perf_counter() - started
    finally:
        con.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--threads", default="2")
    parser.add_argument("--no-tests", action="store_true")
    parser.add_argument("--timings", type=Path, help="write {node: seconds} here (JSON)")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    settings = {
        "memory_limit": args.memory_limit,
        "threads": args.threads,
        "preserve_insertion_order": "false",
    }
    timings: dict[str, float] = {}
    failed = []
    for uid, outcome, seconds in run(args.manifest, args.database, settings, not args.no_tests):
        timings[uid] = seconds
        if outcome.startswith("fail") and "(warn)" not in outcome:
            failed.append(uid)
        if args.verbose:
            print(f"{seconds:8.2f}s  {outcome:<12} {uid}", flush=True)
    print(f"floor: {sum(timings.values()):.1f}s in nodes; {len(failed)} failing tests", flush=True)
    if args.timings:
        args.timings.write_text(json.dumps(timings, indent=1))
    if failed:
        sys.exit(f"failing tests: {', '.join(failed)}")


if __name__ == "__main__":
    main()
