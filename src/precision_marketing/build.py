"""The scheduled job: ``python -m precision_marketing.build [dbt build arguments...]``.

Runs ``dbt build`` with the given arguments in a child process. When dbt exits 0 and its
run_results.json shows every node passed (success, pass, warn or no-op) and the build
included every published table, the BI tables are published (precision_marketing.publish)
from the build file named by PM_DUCKDB_PATH. Otherwise nothing is published, BI keeps
the last good data, and the job lists what failed and exits non-zero. A successful build
that did not include the published tables (a ``--select``) publishes nothing and exits 0.

run_results.json is read from ``--target-path`` (or DBT_TARGET_PATH, else ``target``) under
``--project-dir`` (or the working directory). On Linux the dbt child is killed with the job,
so a killed job never leaves a dbt process holding the warehouse lock.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from precision_marketing.publish import (
    PUBLISHED_TABLES,
    PublishError,
    publish,
    read_manifest,
    serving_dir_from_env,
)
from precision_marketing.report import write_report
from precision_marketing.summary import DEFAULT_PATH

PASSED_STATUSES = frozenset({"success", "pass", "warn", "no-op"})
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    args = list(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC)
    returncode = run_dbt(["build", *args])
    results = read_run_results(run_results_path(args), started)
    serving_dir = serving_dir_from_env()
    failures = failed_nodes(results) if results else []
    if returncode != 0 or results is None or failures:
        print(failure_report(returncode, results, failures, read_manifest(serving_dir)))
        return returncode if returncode > 0 else 1
    missing = unbuilt_tables(results)
    if missing:
        print(f"build passed; not publishing: it did not build {', '.join(missing)}")
        return 0
    database = os.environ.get("PM_DUCKDB_PATH") or DEFAULT_PATH
    try:
        publish(database, serving_dir, dbt_invocation_id=results["metadata"].get("invocation_id"))
    except PublishError as error:
        print(f"build passed but publishing failed, nothing published: {error}")
        return 1
    print(f"report: {write_report(database, serving_dir).resolve()}")
    return 0


def run_dbt(args: Sequence[str]) -> int:
    """Run dbt with ``args`` in a child process; its output goes to ours. Returns its code."""
    executable = Path(sys.executable).with_name("dbt")
    command = str(executable) if executable.exists() else shutil.which("dbt")
    if command is None:
        raise FileNotFoundError("no dbt executable beside this Python or on PATH")
    preexec = _die_with(os.getpid()) if sys.platform.startswith("linux") else None
    return subprocess.run([command, *args], preexec_fn=preexec, check=False).returncode


def _die_with(parent_pid: int) -> Callable[[], None]:
    """For the child: receive SIGKILL when the parent dies (Linux prctl)."""

    def arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before the prctl call
            os._exit(1)

    return arm


def run_results_path(args: Sequence[str]) -> Path:
    project_dir = Path(_option(args, "--project-dir") or os.environ.get("DBT_PROJECT_DIR", "."))
    target = _option(args, "--target-path") or os.environ.get("DBT_TARGET_PATH") or "target"
    return project_dir / target / "run_results.json"


def _option(args: Sequence[str], name: str) -> str | None:
    """The value of ``name VALUE`` or ``name=VALUE`` in a command line, if present."""
    for index, arg in enumerate(args):
        if arg == name and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def read_run_results(path: Path, started: datetime) -> dict[str, Any] | None:
    """The run results of the dbt invocation that started after ``started``, if any."""
    if not path.exists():
        return None
    results = json.loads(path.read_text())
    generated_at = datetime.fromisoformat(results["metadata"]["generated_at"])
    if generated_at.tzinfo is None:
        generated_at = generated_at.replace(tzinfo=UTC)
    return results if generated_at >= started else None


def failed_nodes(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Results whose status is not a pass (error, fail, skipped, runtime error...)."""
    return [r for r in results["results"] if r["status"] not in PASSED_STATUSES]


def unbuilt_tables(results: dict[str, Any]) -> list[str]:
    """Published tables the build did not (re)build."""
    built = {
        r["unique_id"].split(".")[-1]
        for r in results["results"]
        if r["unique_id"].startswith("model.") and r["status"] == "success"
    }
    return [table for table in PUBLISHED_TABLES if table not in built]


def failure_report(
    returncode: int,
    results: dict[str, Any] | None,
    failures: list[dict[str, Any]],
    manifest: dict[str, Any] | None,
) -> str:
    kept = f"run {manifest['run_id']}" if manifest else "nothing (never published)"
    if returncode < 0:
        cause = f"dbt was killed by signal {-returncode}"
    else:
        cause = f"dbt build exited with {returncode}"
    lines = [f"BUILD FAILED ({cause}); nothing published; BI keeps {kept}."]
    if results is None:
        lines.append("  dbt wrote no run results for this build (it stopped before running).")
    skipped = [r for r in failures if r["status"] == "skipped"]
    for result in failures:
        if result["status"] != "skipped":
            message = short_message(result.get("message") or "").replace("\n", "\n      ")
            lines.append(f"  {result['status'].upper()} {result['unique_id']}: {message}")
    if skipped:
        lines.append(f"  SKIPPED {len(skipped)} nodes downstream of the failures.")
    return "\n".join(lines)


def short_message(message: str) -> str:
    """A node's error message; of a Python traceback (printed above by dbt), the first
    line and the exception."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return f"{lines[0]}\n{lines[-1].strip()}"
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
