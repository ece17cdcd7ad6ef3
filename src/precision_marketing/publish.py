"""Publish the BI tables of a passed build to a serving folder, atomically.

BI never reads the build database: DuckDB allows one read-write process or many read-only
ones, never both, so a BI connection would block the next build and a build would block
BI. After a build in which every model and test passed, :func:`publish` copies the BI
tables (:data:`PUBLISHED_TABLES`) out of the build file, opened read-only, into the
serving folder (``warehouse/serving`` unless PM_SERVING_DIR says otherwise):

- ``<table>-<run_id>.parquet``: one file per table and run, written under a temporary
  name and renamed; a run never overwrites another run's file.
- ``catalog.duckdb``: a DuckDB file holding one view per table over that run's Parquet
  file, and a ``publication`` table (run_id, model_id, published_at, table_name,
  parquet_file, row_count). It is built under a temporary name and renamed over the
  previous catalog, so a reader opening it sees the previous run or the new one, never
  a mix. The views name their files by absolute path: DuckDB resolves a relative path in
  a view against the reader's working directory, not the catalog's folder.
- ``manifest.json``: the same facts for readers of the Parquet files, renamed into place
  after the catalog.

A run's files are deleted once the run has been superseded for longer than ``grace``
(default one hour); the previous run is always kept, so a reader that opened the old
catalog finishes its queries. Publishing holds a lock file, so two jobs never interleave.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from precision_marketing import sql

log = logging.getLogger(__name__)

PUBLISHED_TABLES: tuple[str, ...] = (
    "fct_customer_scores",
    "mart_campaign_targets",
    "ml_model_metrics",
    "ml_model_gains",
    "ml_feature_selection",
    "ml_model_registry_summary",
    "fct_campaign_feedback",
    "fct_model_drift",
)
DEFAULT_SERVING_DIR = "warehouse/serving"
DEFAULT_GRACE = timedelta(hours=1)
CATALOG = "catalog.duckdb"
MANIFEST = "manifest.json"
LOCK = ".publish.lock"
TEMP_PREFIX = ".tmp-"
RUN_ID_FORMAT = "%Y%m%dT%H%M%S%fZ"
RUN_FILE = re.compile(r"(?P<table>\w+)-(?P<run_id>\d{8}T\d{12}Z)\.parquet")
READ_ONLY_MODE = 0o444


class PublishError(RuntimeError):
    """The build's BI tables are not fit to publish (they disagree on the model)."""


@dataclass(frozen=True)
class PublishedTable:
    """One published table: its Parquet file (name inside the serving folder) and rows."""

    name: str
    parquet_file: str
    row_count: int


@dataclass(frozen=True)
class Publication:
    """What one publish made current: the content of ``manifest.json``."""

    run_id: str
    model_id: str
    published_at: str
    dbt_invocation_id: str | None
    previous_run_id: str | None
    tables: tuple[PublishedTable, ...]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def serving_dir_from_env() -> Path:
    """The serving folder: PM_SERVING_DIR, else warehouse/serving (from the working dir)."""
    return Path(os.environ.get("PM_SERVING_DIR") or DEFAULT_SERVING_DIR)


def read_manifest(serving_dir: Path | str) -> dict | None:
    """The current manifest of a serving folder, or None before the first publish."""
    path = Path(serving_dir) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def publish(
    database: Path | str,
    serving_dir: Path | str,
    *,
    dbt_invocation_id: str | None = None,
    now: datetime | None = None,
    grace: timedelta = DEFAULT_GRACE,
) -> Publication:
    """Publish the BI tables of the build file ``database``; return the new publication.

    Call it only after dbt has exited (the build file must be free to open read-only).
    Raises :class:`PublishError`, publishing nothing, when the scores, the target list and
    the registry do not all name the same current champion.
    """
    serving_dir = Path(serving_dir).resolve()
    serving_dir.mkdir(parents=True, exist_ok=True)
    with _lock(serving_dir):
        published_at = now or datetime.now(UTC)
        run_id = published_at.strftime(RUN_ID_FORMAT)
        previous = read_manifest(serving_dir)
        with duckdb.connect(str(database), read_only=True) as source:
            model_id = current_model_id(source)
            tables = tuple(_export(source, name, serving_dir, run_id) for name in PUBLISHED_TABLES)
        publication = Publication(
            run_id=run_id,
            model_id=model_id,
            published_at=published_at.isoformat(),
            dbt_invocation_id=dbt_invocation_id,
            previous_run_id=previous["run_id"] if previous else None,
            tables=tables,
        )
        _write_catalog(serving_dir, publication)
        _write_atomically(serving_dir, MANIFEST, run_id, publication.to_json().encode())
        keep = {run_id} | ({publication.previous_run_id} - {None})
        removed = collect_garbage(serving_dir, keep, published_at, grace)
    log.info(
        "published run %s (model %s) to %s: %s; %d old files removed",
        run_id,
        model_id,
        serving_dir,
        ", ".join(f"{t.name} ({t.row_count:,} rows)" for t in tables),
        len(removed),
    )
    return publication


def current_model_id(source: duckdb.DuckDBPyConnection) -> str:
    """The registry's current champion, checked to be the model behind scores and targets."""
    ((champion, scored, targeted),) = source.execute(
        """
        select
            coalesce((select list(model_id order by model_id) from ml_model_registry_summary
                where is_current_champion), []),
            coalesce((select list(distinct model_id order by model_id)
                from fct_customer_scores), []),
            coalesce((select list(distinct model_id order by model_id)
                from mart_campaign_targets), [])
        """
    ).fetchall()
    if len(champion) != 1 or scored != champion or not set(targeted) <= set(champion):
        raise PublishError(
            "refusing to publish: the registry's current champion is "
            f"{champion}, fct_customer_scores is scored by {scored} and "
            f"mart_campaign_targets by {targeted}; they must be one and the same model"
        )
    return champion[0]


def collect_garbage(
    serving_dir: Path, keep: set[str], now: datetime, grace: timedelta
) -> list[Path]:
    """Delete the files of runs superseded more than ``grace`` ago; return them.

    A run is superseded when the next run (by run id, a UTC timestamp) was published.
    Runs in ``keep`` stay; a run newer than all kept runs was never made current (its
    publish died before the catalog swap) and goes at once, as do temporary files,
    which under the publish lock belong to no live publish.
    """
    runs: dict[str, list[Path]] = {}
    doomed: list[Path] = []
    for path in serving_dir.iterdir():
        if path.name.startswith(TEMP_PREFIX):
            doomed.append(path)
        elif match := RUN_FILE.fullmatch(path.name):
            runs.setdefault(match["run_id"], []).append(path)
    known = runs.keys() | keep
    for run_id, paths in runs.items():
        if run_id in keep:
            continue
        if run_id > max(keep):
            doomed += paths
            continue
        successor = min(other for other in known if other > run_id)
        superseded = datetime.strptime(successor, RUN_ID_FORMAT).replace(tzinfo=UTC)
        if now - superseded >= grace:
            doomed += paths
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


@contextmanager
def _lock(serving_dir: Path) -> Iterator[None]:
    with open(serving_dir / LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _temp_path(serving_dir: Path, run_id: str, name: str) -> Path:
    return serving_dir / f"{TEMP_PREFIX}{run_id}-{name}"


def _commit(temp: Path, final: Path) -> None:
    """Flush ``temp`` to disk, make it read-only and rename it to ``final`` (atomic)."""
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    temp.chmod(READ_ONLY_MODE)
    os.replace(temp, final)


def _export(
    source: duckdb.DuckDBPyConnection, table: str, serving_dir: Path, run_id: str
) -> PublishedTable:
    file_name = f"{table}-{run_id}.parquet"
    temp = _temp_path(serving_dir, run_id, file_name)
    ((row_count,),) = source.execute(
        f"copy (select * from {table}) to {sql.string(str(temp))} "
        "(format parquet, compression zstd)"
    ).fetchall()
    _commit(temp, serving_dir / file_name)
    return PublishedTable(table, file_name, row_count)


def _write_catalog(serving_dir: Path, publication: Publication) -> None:
    temp = _temp_path(serving_dir, publication.run_id, CATALOG)
    with duckdb.connect(str(temp)) as catalog:
        for table in publication.tables:
            path = sql.string(str(serving_dir / table.parquet_file))
            catalog.execute(f"create view {table.name} as select * from read_parquet({path})")
        catalog.execute(
            """
            create table publication (
                run_id varchar,
                model_id varchar,
                published_at timestamp,
                table_name varchar,
                parquet_file varchar,
                row_count bigint
            )
            """
        )
        published_at = datetime.fromisoformat(publication.published_at).replace(tzinfo=None)
        catalog.executemany(
            "insert into publication values (?, ?, ?, ?, ?, ?)",
            [
                (
                    publication.run_id,
                    publication.model_id,
                    published_at,
                    table.name,
                    table.parquet_file,
                    table.row_count,
                )
                for table in publication.tables
            ],
        )
    _commit(temp, serving_dir / CATALOG)


def _write_atomically(serving_dir: Path, name: str, run_id: str, content: bytes) -> None:
    temp = _temp_path(serving_dir, run_id, name)
    temp.write_bytes(content)
    _commit(temp, serving_dir / name)
