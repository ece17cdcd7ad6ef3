"""Helpers for end-to-end tests: a private copy of the dbt project built on its own DuckDB file.

An end-to-end test never builds in the working tree. It copies the project into a temporary
directory (:func:`copy_project`), runs dbt there (:func:`dbt`, :func:`build`) with the
warehouse file, ``target/`` and ``logs/`` inside the copy, and reads the results over a
read-only connection (:func:`connect`, :func:`query`). Parallel test runs and engineers
therefore never lock each other's database.

DuckDB allows one writer or many readers, never both: close every connection to a copy
before running dbt on it again (:func:`query` closes its own).

Building takes ~20-40 s, so :func:`built_demo_project` builds the demo once per pytest
session and hands every caller the same directory. Treat it as read-only; to change files
or run dbt, clone it first with ``copy_project(dest, source=built, include_warehouse=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import duckdb
import pandas as pd
import pytest

from precision_marketing.publish import read_manifest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_ENTRIES: tuple[str, ...] = (
    "dbt_project.yml",
    "profiles.yml",
    "models",
    "python_models",
    "macros",
    "tests",
    "seeds",
)
"""What dbt reads from the project; everything else (venv, warehouse, target) stays behind."""
WAREHOUSE_DIR = "warehouse"
WAREHOUSE_FILE = "precision_marketing.duckdb"
# The dbt of the interpreter running pytest (the project venv), not one found on PATH.
DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")
DBT_TIMEOUT_SECONDS = 900
OUTPUT_TAIL_LINES = 60

_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
_demo_build: Path | None = None


class DbtCommandError(RuntimeError):
    """A dbt command exited non-zero; ``result`` holds its return code and output."""

    def __init__(self, result: subprocess.CompletedProcess[str]):
        tail = "\n".join(result.stdout.splitlines()[-OUTPUT_TAIL_LINES:])
        super().__init__(
            f"`{' '.join(result.args)}` exited with {result.returncode}; output ends:\n{tail}"
        )
        self.result = result


def duckdb_path(project_dir: Path | str) -> Path:
    """The warehouse file of a project copy (what PM_DUCKDB_PATH points to)."""
    return Path(project_dir) / WAREHOUSE_DIR / WAREHOUSE_FILE


def copy_project(
    dest: Path | str, source: Path | str = PROJECT_ROOT, *, include_warehouse: bool = False
) -> Path:
    """Copy the project files dbt reads from ``source`` into ``dest``; return ``dest``.

    With ``include_warehouse``, the warehouse directory comes too: a clone of a built copy
    that can be rebuilt incrementally without touching the original.
    """
    source, dest = Path(source), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    entries = PROJECT_ENTRIES + ((WAREHOUSE_DIR,) if include_warehouse else ())
    for name in entries:
        origin = source / name
        if origin.is_dir():
            shutil.copytree(origin, dest / name, ignore=_IGNORED, dirs_exist_ok=True)
        elif origin.is_file():
            shutil.copy2(origin, dest / name)
        elif name in ("dbt_project.yml", "profiles.yml"):
            raise FileNotFoundError(f"{origin} is missing: not a dbt project to copy")
    return dest


def project_env(project_dir: Path | str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command run in a project copy (dbt, or e.g. a publish step).

    The caller's environment without any ``PM_*`` variable (the demo defaults apply: salt,
    raw location, threads), plus PM_DUCKDB_PATH pointing inside the copy, plus ``env``.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    environment.update(
        PM_DUCKDB_PATH=str(duckdb_path(project_dir)),
        DBT_USE_COLORS="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    environment.update(env or {})
    return environment


def dbt(
    project_dir: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``dbt <args>`` in a project copy and return the finished process.

    The first argument is the dbt command (``"build"``, ``"seed"``...). It runs in the copy,
    with :func:`project_env` and with ``target/`` and ``logs/`` inside the copy. ``stdout``
    holds dbt's whole output (stderr merged, no colours). With ``check``, a non-zero exit
    raises :class:`DbtCommandError` showing the end of the output.
    """
    project_dir = Path(project_dir)
    duckdb_path(project_dir).parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(DBT_EXECUTABLE),
        *args,
        "--project-dir",
        str(project_dir),
        "--profiles-dir",
        str(project_dir),
        "--target-path",
        str(project_dir / "target"),
        "--log-path",
        str(project_dir / "logs"),
    ]
    result = subprocess.run(
        command,
        cwd=project_dir,
        env=project_env(project_dir, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=DBT_TIMEOUT_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        raise DbtCommandError(result)
    return result


def build(
    project_dir: Path | str,
    vars: Mapping[str, Any] | None = None,
    *,
    seed: bool = True,
    select: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """What ``make run`` does: ``dbt seed``, then ``dbt build`` of everything but seeds.

    ``vars`` go to ``--vars`` (as JSON); ``seed=False`` skips reloading the seeds (a
    rebuild); ``select`` restricts the build (``-s``). Returns the build's process.
    """
    if seed:
        dbt(project_dir, "seed", env=env)
    args = ["build", "--exclude", "resource_type:seed"]
    if select:
        args += ["--select", *select]
    if vars:
        args += ["--vars", json.dumps(dict(vars))]
    return dbt(project_dir, *args, env=env, check=check)


def connect(project_dir: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a copy's warehouse; close it before running dbt again."""
    return duckdb.connect(str(duckdb_path(project_dir)), read_only=True)


def query(project_dir: Path | str, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """The result of one SQL query on a copy's warehouse (connection opened and closed)."""
    with connect(project_dir) as connection:
        return connection.execute(sql, list(params)).df()


def built_demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project with the demo built in it, built once per pytest session.

    Shared by every caller: read it, or clone it before changing it (module docstring).
    """
    global _demo_build
    if _demo_build is None:
        project = copy_project(tmp_path_factory.mktemp("demo_build"))
        build(project)
        _demo_build = project
    return _demo_build


# --- the scheduled job (precision_marketing.build) in a project copy -------------------

JOB_TIMEOUT_SECONDS = 900
SERVING = Path("warehouse/serving")
_published_demo: Path | None = None


def start_job(
    project: Path,
    vars: Mapping[str, Any] | None = None,
    *args: str,
    stdout: IO[str] | int = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start the scheduled job in a project clone, as `make run` would after seeding.

    The environment is the caller's without PM_* variables, plus PM_DUCKDB_PATH inside the
    clone; the serving folder is the default, ``warehouse/serving``, of the clone. The
    output (stderr merged, unbuffered) goes to ``stdout``: a pipe unless a file is given.
    """
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
    environment.update(
        PM_DUCKDB_PATH=str(duckdb_path(project)),
        DBT_USE_COLORS="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "precision_marketing.build",
        "--exclude",
        "resource_type:seed",
        "--target-path",
        str(project / "target"),
        "--log-path",
        str(project / "logs"),
        *args,
    ]
    if vars:
        command += ["--vars", json.dumps(dict(vars))]
    return subprocess.Popen(
        command, cwd=project, env=environment, stdout=stdout, stderr=subprocess.STDOUT, text=True
    )


def job(
    project: Path, vars: Mapping[str, Any] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    """Run the job (:func:`start_job`) to its end; its output is in ``stdout``."""
    with start_job(project, vars, *args) as process:
        output, _ = process.communicate(timeout=JOB_TIMEOUT_SECONDS)
    return subprocess.CompletedProcess(process.args, process.returncode, output)


def run_jobs_together(
    jobs: Mapping[str, tuple[Path, Mapping[str, Any] | None, Sequence[str]]],
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Run jobs on independent clones at once ({name: (clone, vars, args)}); wait for all.

    Each job's output goes to ``job.log`` in its clone and is returned in ``stdout``.
    """
    started = {}
    for name, (project, vars, args) in jobs.items():
        with (project / "job.log").open("w") as log:
            started[name] = start_job(project, vars, *args, stdout=log)
    finished = {}
    for name, process in started.items():
        process.wait(timeout=JOB_TIMEOUT_SECONDS)
        output = (jobs[name][0] / "job.log").read_text()
        finished[name] = subprocess.CompletedProcess(process.args, process.returncode, output)
    return finished


def published_job(project: Path, vars: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Run the job, require it to pass and publish; return the new manifest."""
    result = job(project, vars)
    assert result.returncode == 0, result.stdout[-5000:]
    manifest = read_manifest(project / SERVING)
    assert f"published run {manifest['run_id']}" in result.stdout
    return manifest


def file_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file of a folder (the publish lock aside)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name != ".publish.lock"
    }


def published_demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the demo build in which the job ran once and published; made once per
    session and shared: clone it (``include_warehouse=True``) before running anything."""
    global _published_demo
    if _published_demo is None:
        demo = built_demo_project(tmp_path_factory)
        project = copy_project(tmp_path_factory.mktemp("published"), demo, include_warehouse=True)
        published_job(project)
        _published_demo = project
    return _published_demo
