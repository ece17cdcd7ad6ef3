"""Benchmark: the pandas way, the bare-engine floor and ``dbt build``, on the same data.

``python bench/run_benchmark.py --customers 1000000 --runs 3``

For each run, the three stages run one after the other (interleaved, so a change in the
machine's load hits all three alike), each in its own subprocess on the same Parquet raw
tables (generated with ``precision_marketing.datagen --seed 42`` if missing):

* (a) ``bench/pandas_way.py``: the pandas way the product started from;
* (b) ``bench/floor.py``: the project's compiled SQL and Python models run directly in one
  plain DuckDB connection, same settings as the profile (no dbt);
* (c) ``dbt build`` of the project (seeds and unit tests excluded: they need the demo seeds).

(b) and (c) start from an empty warehouse, so every run trains a model. Per stage it
reports wall time (median over runs), CPU time (user + system of the process tree), peak
memory of the process tree (sampled every 0.5 s: the sum of the proportional set sizes of
the stage's processes, i.e. dbt or Python plus any joblib workers, and the largest single
ru_maxrss), raw rows read per second, the time per pipeline phase, and the ratios c/a and
c/b, with the machine description and the load average before each stage. Results go to
``<work-dir>/results_<customers>.json`` and are printed as Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TABLES = ("customers", "orders", "campaign_contacts", "campaign_responses", "consent")
STAGES = {"a": "pandas way", "b": "bare-engine floor", "c": "dbt build"}
GIB = 1024**3
SAMPLE_SECONDS = 0.5
"""Process-tree sampling interval: reading smaps_rollup of GB-sized processes costs CPU."""
TARGETS = {"c/a": 0.3, "c/b": 1.3, "peak_gib": 4.0, "scoring_per_s": 1_000_000}


# --- measuring a process tree -----------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def _memory(pid: int) -> tuple[int, int]:
    """(PSS, RSS) of one process in bytes; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    values = dict(re.findall(r"^(Pss|Rss):\s+(\d+) kB", text, re.MULTILINE))
    return int(values.get("Pss", 0)) * 1024, int(values.get("Rss", 0)) * 1024


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of one process itself (not its children), or None once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    wall_s: float
    cpu_s: float
    peak_pss_bytes: int
    peak_rss_sum_bytes: int
    max_single_rss_bytes: int
    load_average: tuple[float, float, float]
    returncode: int
    phases: dict[str, float] = field(default_factory=dict)
    scoring_rows_per_s: float | None = None


def measure(command: list[str], env: dict[str, str], log: Path) -> Measurement:
    """Run ``command``; its wall time, CPU time and peak memory, process tree included.

    CPU: the larger of wait4's figure (the process and the children it reaped) and the
    sum of every tree process's own CPU as last sampled (joblib's worker processes are
    never reaped by their parent, so wait4 alone would miss them).
    """
    load = os.getloadavg()
    peaks = {"pss": 0, "rss": 0}
    cpu: dict[int, float] = {}
    done = threading.Event()
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

        def sample() -> None:
            while not done.is_set():
                tree = _tree(process.pid)
                for pid in tree:
                    seconds = _cpu_seconds(pid)
                    if seconds is not None:
                        cpu[pid] = seconds
                usage = [_memory(p) for p in tree]
                peaks["pss"] = max(peaks["pss"], sum(u[0] for u in usage))
                peaks["rss"] = max(peaks["rss"], sum(u[1] for u in usage))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        wall_s=wall,
        cpu_s=max(usage.ru_utime + usage.ru_stime, sum(cpu.values())),
        peak_pss_bytes=peaks["pss"],
        peak_rss_sum_bytes=peaks["rss"],
        max_single_rss_bytes=usage.ru_maxrss * 1024,
        load_average=load,
        returncode=process.returncode,
    )


# --- the stages -------------------------------------------------------------------------


def phase_of(unique_id: str) -> str:
    """Pipeline phase of a dbt node, for the per-phase breakdown."""
    name = unique_id.split(".")[2]
    if unique_id.startswith("test."):
        return "tests"
    if name.startswith("stg_"):
        return "staging"
    if name in ("int_feature_spine", "customer_features") or name.startswith("feat_"):
        return "features"
    if name == "ml_model_registry":
        return "training"
    if name == "ml_customer_propensity":
        return "scoring"
    return "marts, monitoring, backtest"


def phases(node_seconds: dict[str, float], wall: float) -> dict[str, float]:
    totals: dict[str, float] = {}
    for unique_id, seconds in node_seconds.items():
        totals[phase_of(unique_id)] = totals.get(phase_of(unique_id), 0.0) + seconds
    totals["outside nodes"] = wall - sum(node_seconds.values())
    return totals


@dataclass
class Setup:
    customers: int
    data: Path
    work: Path
    settings: dict[str, str]
    dbt_threads: str

    def env(self, database: Path) -> dict[str, str]:
        return os.environ | {
            "PM_RAW_LOCATION": f"read_parquet('{self.data}/{{name}}.parquet')",
            "PM_DUCKDB_PATH": str(database),
            "PM_DUCKDB_MEMORY_LIMIT": self.settings["memory_limit"],
            "PM_DUCKDB_THREADS": self.settings["threads"],
            "PM_DBT_THREADS": self.dbt_threads,
        }

    def dbt(self, stage: str, *args: str) -> list[str]:
        return [
            str(BIN / "dbt"),
            *args,
            "--project-dir",
            str(PROJECT),
            "--profiles-dir",
            str(PROJECT),
            "--target-path",
            str(self.work / stage / "target"),
            "--log-path",
            str(self.work / stage / "logs"),
        ]


def profile_default(variable: str) -> str:
    """The default of ``env_var(variable, default)`` in profiles.yml."""
    text = (PROJECT / "profiles.yml").read_text()
    match = re.search(rf"env_var\('{variable}', '([^']+)'\)", text)
    if not match:
        raise ValueError(f"profiles.yml has no env_var('{variable}', ...) default")
    return match.group(1)


def generate_data(setup: Setup) -> None:
    """The raw Parquet tables (``datagen --seed 42``), unless they exist."""
    if not all((setup.data / f"raw_{t}.parquet").exists() for t in TABLES):
        subprocess.run(
            [
                str(BIN / "python"),
                "-m",
                "precision_marketing.datagen",
                "--customers",
                str(setup.customers),
                "--seed",
                "42",
                "--out",
                str(setup.data),
                "--format",
                "parquet",
            ],
            check=True,
        )


def prepare(setup: Setup) -> None:
    """Raw data (generated if missing) and the compiled project for the floor (untimed)."""
    generate_data(setup)
    # The floor's warehouse: compiled SQL names its database after the file (pm).
    floor_db = setup.work / "b" / "pm.duckdb"
    floor_db.parent.mkdir(parents=True, exist_ok=True)
    env = setup.env(floor_db)
    # customer_features lists its columns by introspection: compile against empty tables.
    empty = setup.dbt("b", "run", "--empty", "--select", "+customer_features", "--quiet")
    subprocess.run(empty, env=env, check=True, cwd=PROJECT)
    subprocess.run(setup.dbt("b", "compile", "--quiet"), env=env, check=True, cwd=PROJECT)
    floor_db.unlink()


def run_stage(setup: Setup, stage: str, run: int) -> Measurement:
    directory = setup.work / stage
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"run{run}.log"
    database = directory / "pm.duckdb"
    for stale in (database, database.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    python = str(BIN / "python")
    if stage == "a":
        command = [
            python,
            str(PROJECT / "bench" / "pandas_way.py"),
            "--data",
            str(setup.data),
            "--out",
            str(directory / "scores.parquet"),
            "--timings",
            str(directory / "timings.json"),
        ]
    elif stage == "b":
        command = [
            python,
            str(PROJECT / "bench" / "floor.py"),
            "--manifest",
            str(setup.work / "b" / "target" / "manifest.json"),
            "--database",
            str(database),
            "--memory-limit",
            setup.settings["memory_limit"],
            "--threads",
            setup.settings["threads"],
            "--timings",
            str(directory / "timings.json"),
        ]
    else:
        excluded = ["resource_type:seed", "resource_type:unit_test"]
        command = setup.dbt("c", "build", "--exclude", *excluded)
    result = measure(command, setup.env(database), log)
    if result.returncode != 0:
        raise RuntimeError(f"stage {stage} run {run} failed ({result.returncode}); see {log}")
    if stage == "a":
        result.phases = json.loads((directory / "timings.json").read_text())
        return result
    if stage == "b":
        node_seconds = json.loads((directory / "timings.json").read_text())
    else:
        results = json.loads((directory / "target" / "run_results.json").read_text())
        node_seconds = {r["unique_id"]: r["execution_time"] for r in results["results"]}
    result.phases = phases(node_seconds, result.wall_s)
    with duckdb.connect(str(database), read_only=True) as con:
        ((scored,),) = con.execute("select count(*) from ml_customer_propensity").fetchall()
    scoring = next(s for u, s in node_seconds.items() if u.endswith(".ml_customer_propensity"))
    result.scoring_rows_per_s = scored / scoring
    return result


# --- reporting --------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    total_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.MULTILINE).group(1))
    packages = ("duckdb", "dbt-core", "dbt-duckdb", "pandas", "scikit-learn", "numpy", "pyarrow")
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cores": os.cpu_count(),
        "ram_gib": round(total_kb / 1024**2, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in packages},
    }


def raw_rows(data: Path) -> int:
    with duckdb.connect() as con:
        return sum(
            con.execute(f"select count(*) from '{data}/raw_{t}.parquet'").fetchall()[0][0]
            for t in TABLES
        )


def summarize(runs: dict[str, list[Measurement]], rows: int) -> dict[str, dict[str, Any]]:
    summary = {}
    for stage, measurements in runs.items():
        walls = [m.wall_s for m in measurements]
        wall = statistics.median(walls)
        phase_names = measurements[0].phases
        summary[stage] = {
            "wall_s_median": wall,
            "wall_s_runs": walls,
            "cpu_s_median": statistics.median(m.cpu_s for m in measurements),
            "peak_pss_gib": max(m.peak_pss_bytes for m in measurements) / GIB,
            "peak_rss_sum_gib": max(m.peak_rss_sum_bytes for m in measurements) / GIB,
            "max_single_rss_gib": max(m.max_single_rss_bytes for m in measurements) / GIB,
            "raw_rows_per_s": rows / wall,
            "phases_s_median": {
                name: statistics.median(m.phases[name] for m in measurements)
                for name in phase_names
            },
            "scoring_rows_per_s_median": (
                statistics.median(m.scoring_rows_per_s for m in measurements)
                if measurements[0].scoring_rows_per_s
                else None
            ),
            "load_average_before": [m.load_average for m in measurements],
        }
    return summary


def markdown(summary: dict[str, dict[str, Any]], ratios: dict[str, float]) -> str:
    lines = [
        "| stage | wall s (median) | wall s (runs) | CPU s | peak PSS GiB (tree) "
        "| largest RSS GiB | raw rows/s | scoring rows/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for stage, s in summary.items():
        scoring = s["scoring_rows_per_s_median"]
        lines.append(
            f"| ({stage}) {STAGES[stage]} | {s['wall_s_median']:.1f} "
            f"| {', '.join(f'{w:.1f}' for w in s['wall_s_runs'])} | {s['cpu_s_median']:.1f} "
            f"| {s['peak_pss_gib']:.2f} | {s['max_single_rss_gib']:.2f} "
            f"| {s['raw_rows_per_s']:,.0f} | {'' if scoring is None else f'{scoring:,.0f}'} |"
        )
    lines.append("")
    lines.append("| phase | " + " | ".join(f"({s}) s" for s in summary) + " |")
    lines.append("|---|" + "---|" * len(summary))
    names = list(dict.fromkeys(n for s in summary.values() for n in s["phases_s_median"]))
    for name in names:
        cells = [
            f"{s['phases_s_median'][name]:.1f}" if name in s["phases_s_median"] else ""
            for s in summary.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(", ".join(f"{k} = {v:.2f}" for k, v in ratios.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stages", default="abc", help="subset of 'abc' [abc]")
    parser.add_argument("--data-root", type=Path, default=Path("/tmp/pm_scale"))
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/pm_bench"))
    args = parser.parse_args(argv)
    work = args.work_dir / str(args.customers)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    setup = Setup(
        customers=args.customers,
        data=args.data_root / str(args.customers),
        work=work,
        settings={
            "memory_limit": os.environ.get(
                "PM_DUCKDB_MEMORY_LIMIT", profile_default("PM_DUCKDB_MEMORY_LIMIT")
            ),
            "threads": os.environ.get("PM_DUCKDB_THREADS", profile_default("PM_DUCKDB_THREADS")),
        },
        dbt_threads=os.environ.get("PM_DBT_THREADS", profile_default("PM_DBT_THREADS")),
    )
    print(f"machine: {json.dumps(machine())}", flush=True)
    print(f"DuckDB settings {setup.settings}, dbt threads {setup.dbt_threads}", flush=True)
    if "b" in args.stages:
        prepare(setup)
    rows = raw_rows(setup.data)
    runs: dict[str, list[Measurement]] = {stage: [] for stage in args.stages}
    for run in range(1, args.runs + 1):
        for stage in args.stages:
            result = run_stage(setup, stage, run)
            runs[stage].append(result)
            print(
                f"run {run} ({stage}) {STAGES[stage]}: wall {result.wall_s:.1f}s, "
                f"CPU {result.cpu_s:.1f}s, peak PSS {result.peak_pss_bytes / GIB:.2f} GiB, "
                f"load before {result.load_average[0]:.2f}",
                flush=True,
            )
    summary = summarize(runs, rows)
    ratios = {}
    if {"a", "c"} <= summary.keys():
        ratios["c/a"] = summary["c"]["wall_s_median"] / summary["a"]["wall_s_median"]
    if {"b", "c"} <= summary.keys():
        ratios["c/b"] = summary["c"]["wall_s_median"] / summary["b"]["wall_s_median"]
    results = {
        "customers": args.customers,
        "raw_rows": rows,
        "machine": machine(),
        "duckdb_settings": setup.settings,
        "dbt_threads": setup.dbt_threads,
        "summary": summary,
        "ratios": ratios,
        "targets": TARGETS,
        "runs": {stage: [asdict(m) for m in ms] for stage, ms in runs.items()},
    }
    (work / f"results_{args.customers}.json").write_text(json.dumps(results, indent=2))
    print(markdown(summary, ratios), flush=True)


if __name__ == "__main__":
    main()
