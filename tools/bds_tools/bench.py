"""``make bench``: the pipeline's work for one large tenant-day against the database's floor.

For each scale factor, a fresh PostgreSQL database gets the scale generator's sources
(``bds_tools.scale``), then, ``--runs`` times:

* **floor**: ``COPY (...) TO STDOUT`` of exactly the columns the metrics need for the day
  (``include/sql/bench/floor_*.sql``), read and discarded: what no pipeline can beat by
  reading the same data;
* **pipeline**: the tasks of ``bds_daily`` for the tenant-day, each in its own process as a
  worker runs it (extract from each source, aggregate, render); the work is the time inside
  each task, and the peak memory is the largest resident set of those processes;
* **pushdown**: the peak-concurrency and distinct-count metrics (seats, GVP ports, mailboxes)
  computed entirely in SQL with window functions (``include/sql/bench/pushdown_*.sql``) over
  the same dataset queries. Its counts must equal the pipeline's exactly, or the run fails.

It prints medians, their ratio, and the plan of every dataset query, so that the index or
partition predicate each one uses is shown, with the partitions each query reads.

Then, unless ``--overhead-tenants 0``, the Airflow overhead (``bds_tools.overhead``): a whole
``bds_daily`` run for ten small tenants through a scheduler and the LocalExecutor, against
the sum of its tasks' work; and, unless ``--console-tenants 0``, the billing console's pages
on a ledger of 1,000 tenants x 400 days (``bds_tools.bench_console``).

    python -m bds_tools.bench --pg-url postgresql+psycopg://postgres@127.0.0.1/postgres --scale 1 --scale 4 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bds.calendar import day_window
from bds.config import load_billing_config
from bds.sources import WITHOUT_JIT, psycopg_style, query_parameters, read_sql, sql_dir, sql_text, without_jit
from bds_tools import scale as scale_sources
from bds_tools.airflow_local import source_connections

DAY = date(2026, 3, 18)
FLOOR = ("agent_sessions", "interactions", "bot_sessions", "media_sessions", "voicemail_boxes")
TASKS = ("extract_gim", "extract_gvp", "extract_cme", "aggregate", "render")
DATASETS = (("gim", "agent_sessions"), ("gim", "bot_sessions"), ("gvp", "media_sessions"), ("cme", "voicemail_boxes"))
# The peak-concurrency and distinct-count metrics, computed entirely in SQL over their dataset.
PUSHDOWN = {
    "seats": ("gim", "agent_sessions", "switches"),
    "ports": ("gvp", "media_sessions", "gvp_components"),
    "mailboxes": ("cme", "voicemail_boxes", None),
}
PUSHDOWN_METRICS = frozenset(
    (
        "seats_inbound_voice",
        "seats_chat",
        "seats_callback",
        "seats_outbound",
        "seats_workspace",
        "gvp_asr_ports",
        "gvp_tts_ports",
        "voicemail_boxes",
    )
)
CONFIG = Path(__file__).resolve().parents[2] / "include" / "config" / "bench.yaml"


@dataclass
class Measured:
    """Seconds per run of each measure, and peak resident memory in bytes."""

    seconds: dict[str, list[float]] = field(default_factory=dict)
    peak_rss: int = 0
    task_rss: dict[str, int] = field(default_factory=dict)  # the largest resident set of each task
    compared: int = 0  # counts checked equal to the pushdown reference

    def add(self, name: str, value: float) -> None:
        self.seconds.setdefault(name, []).append(value)

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])


def parameters(tenant_id: int = scale_sources.BILLED.tenant_id, day: date = DAY) -> dict[str, int]:
    """The dataset queries' parameters for the benchmark's tenant-day, as the pipeline binds them
    with the benchmark's configuration (its look-back and voicebot look-ahead)."""
    config = load_billing_config(CONFIG)
    window = day_window(day, scale_sources.BILLED.time_zone, config.voicebot_lookahead_minutes * 60)
    return query_parameters(tenant_id, window, lookback_days=config.session_lookback_days, dialect="postgresql")


def conninfo(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def floor(url: str, params: dict[str, int]) -> tuple[float, int]:
    """Seconds and bytes to COPY the day's minimal columns out of the database."""
    import psycopg

    total = 0
    started = time.perf_counter()
    with psycopg.connect(conninfo(url)) as conn, conn.cursor() as cursor:
        for name in FLOOR:
            body = sql_text(sql_dir() / "bench" / f"floor_{name}.sql")
            with cursor.copy(f"COPY ({psycopg_style(body)}) TO STDOUT", params) as copy:
                for block in copy:
                    total += len(block)
    return time.perf_counter() - started, total


def pushdown(url: str, params: dict[str, int], as_of: int) -> tuple[float, dict[tuple[str, str], dict[str, int]]]:
    """Seconds, and counts per (metric, region), of the pushdown reference queries."""
    from bds.config import load_billing_config

    tenant = next(t for t in load_billing_config(CONFIG).tenants if t.tenant_id == params["tenant_id"])
    engine = sa.create_engine(url)
    counts: dict[tuple[str, str], dict[str, int]] = {}
    started = time.perf_counter()
    try:
        with engine.connect() as conn:
            for name, (source, dataset, attribute) in PUSHDOWN.items():
                sql = f"WITH dataset AS (\n{read_sql(source, dataset, 'postgresql')}\n)\n" + sql_text(
                    sql_dir() / "bench" / f"pushdown_{name}.sql"
                )
                placements = [
                    {"name": k, "region": p.region if p.billed else None}
                    for k, p in (tenant.placements(attribute) if attribute else {}).items()
                ]
                if (source, dataset) in WITHOUT_JIT:  # as the pipeline runs the dataset's query
                    without_jit(conn.dialect, conn.exec_driver_sql)
                bound = params | {"as_of": as_of}
                if attribute:
                    bound["placements"] = json.dumps(placements)
                for metric, region, concurrent, enabled in conn.execute(sa.text(sql), bound):
                    found = {"concurrent": int(concurrent)} | ({} if enabled is None else {"enabled": int(enabled)})
                    counts[(metric, region)] = found
                conn.rollback()  # each query in a transaction of its own (SET LOCAL ends with it)
    finally:
        engine.dispose()
    return time.perf_counter() - started, counts


def differences(pipeline_results: list[dict], reference: dict[tuple[str, str], dict[str, int]]) -> list[str]:
    """Where the pipeline's counts differ from the pushdown reference (a region without rows is zero there)."""
    found = []
    for result in pipeline_results:
        if result["metric"] not in PUSHDOWN_METRICS:
            continue
        expected = reference.get((result["metric"], result["region"]), dict.fromkeys(result["counts"], 0))
        if result["counts"] != expected:
            found.append(f"{result['metric']} {result['region']}: pipeline {result['counts']}, pushdown {expected}")
    return found


def plans(url: str, params: dict[str, int]) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of each dataset query (run as the pipeline runs it): the lines that say
    how each table is reached. A scan the executor pruned as the query ran (a probe bounded by
    each session's own keys) shows as "never executed"."""
    engine = sa.create_engine(url)
    found = {}
    try:
        with engine.connect() as conn:
            for source, dataset in DATASETS:
                with conn.begin():
                    if (source, dataset) in WITHOUT_JIT:
                        without_jit(conn.dialect, conn.exec_driver_sql)
                    explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + read_sql(source, dataset, "postgresql")
                    lines = [row[0] for row in conn.execute(sa.text(explain), params)]
                found[f"{source}/{dataset}"] = [line.strip() for line in lines if re.search(r"Scan|Cond:", line)]
    finally:
        engine.dispose()
    return found


def partitions_read(lines: list[str]) -> dict[str, list[str]]:
    """Which partitions of each partitioned table a plan read (``<table>_p<YYYYMMDD>`` or
    ``<table>_default``), leaving out those pruned as the query ran: pruning to the day's
    partitions shows the partition predicate at work."""
    found: dict[str, set[str]] = {}
    executed = "\n".join(line for line in lines if "(never executed)" not in line)
    for table, partition in re.findall(r" on (\w+?)_(p\d{8}|default)\b", executed):
        found.setdefault(table, set()).add(partition.removeprefix("p"))
    return {table: sorted(partitions) for table, partitions in sorted(found.items())}


def task_environment(url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_BDS_", "BDS_"))}
    env |= source_connections(url)
    env |= {"BDS_CONFIG": str(CONFIG), "BDS_DATA_DIR": str(data_dir), "AIRFLOW_HOME": str(data_dir / "airflow")}
    return env


def run_task(task: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "bds_tools.bench", "--task", task], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"bench task {task} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def task(name: str) -> dict:
    """One task of bds_daily for the benchmark's tenant-day, as a worker process runs it."""
    import airflow.sdk  # noqa: F401  (a worker has Airflow and the DAG's imports loaded before a task starts)

    import bds.dag_common  # noqa: F401
    from bds import pipeline
    from bds.config import load_billing_config

    items, _ = pipeline.plan_day(load_billing_config(), DAY)
    work = items[0]
    started = time.perf_counter()
    if name.startswith("extract_"):
        pipeline.extract_source(work, name.removeprefix("extract_"))
    elif name == "aggregate":
        pipeline.aggregate(work)
    else:
        pipeline.render(work)
    seconds = time.perf_counter() - started
    return {"task": name, "seconds": seconds, "max_rss": peak_rss()}


def peak_rss() -> int:
    """This process's peak resident set, in bytes. Linux's VmHWM belongs to the process's own
    memory map, which ``exec`` replaces; ``ru_maxrss`` is not reset by ``exec``, so a task
    started from this benchmark (which has just held a generated day) would report that."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024


def measure(url: str, runs: int, log=print) -> Measured:
    measured = Measured()
    params = parameters()
    for run in range(runs):
        seconds, size = floor(url, params)
        measured.add("floor", seconds)
        with tempfile.TemporaryDirectory(prefix="bds-bench-") as folder:
            env = task_environment(url, Path(folder))
            total = 0.0
            for name in TASKS:
                result = run_task(name, env)
                measured.add(name, result["seconds"])
                measured.peak_rss = max(measured.peak_rss, result["max_rss"])
                measured.task_rss[name] = max(measured.task_rss.get(name, 0), result["max_rss"])
                total += result["seconds"]
            measured.add("pipeline", total)
            daily = json.loads(
                (Path(folder) / "staging" / DAY.isoformat() / str(params["tenant_id"]) / "daily" / "results.json").read_text()
            )
        reference_seconds, reference = pushdown(url, params, daily["as_of"])
        measured.add("pushdown", reference_seconds)
        wrong = differences(daily["results"], reference)
        if wrong:
            raise AssertionError("the pipeline's counts differ from the pushdown reference:\n  " + "\n  ".join(wrong))
        measured.compared = sum(len(r["counts"]) for r in daily["results"] if r["metric"] in PUSHDOWN_METRICS)
        log(
            f"  run {run + 1}: floor {seconds:.2f} s ({size / 2**20:.0f} MiB), pipeline {total:.2f} s, "
            f"pushdown {reference_seconds:.2f} s; the pipeline's {measured.compared} counts equal the pushdown reference's "
            f"(their sum: {sum(sum(c.values()) for c in reference.values())})"
        )
    return measured


def fresh_database(admin_url: str, name: str) -> str:
    drop_database(admin_url, name, then=f"CREATE DATABASE {name}")
    return sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str, then: str | None = None) -> None:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        if then:
            conn.execute(sa.text(then))
    admin.dispose()


def report(results: dict[float, Measured], load_seconds: dict[float, float]) -> str:
    lines = [
        f"{'scale':>6} {'load s':>8} {'floor s':>8} {'pipeline s':>10} {'pushdown s':>10} "
        f"{'pipeline/floor':>14} {'pipeline/pushdown':>17} {'peak RSS MiB':>12}"
    ]
    for factor, measured in results.items():
        floor_s, pipeline_s, pushdown_s = (measured.median(k) for k in ("floor", "pipeline", "pushdown"))
        lines.append(
            f"{factor:>6g} {load_seconds[factor]:>8.1f} {floor_s:>8.3f} {pipeline_s:>10.3f} {pushdown_s:>10.3f} "
            f"{pipeline_s / floor_s:>14.2f} {pipeline_s / pushdown_s:>17.2f} {measured.peak_rss / 2**20:>12.0f}"
        )
    lines.append("")
    lines.append(
        "median seconds per task: "
        + "; ".join(f"scale {factor:g}: " + ", ".join(f"{t} {m.median(t):.2f}" for t in TASKS) for factor, m in results.items())
    )
    lines.append(
        "peak RSS MiB per task: "
        + "; ".join(
            f"scale {factor:g}: " + ", ".join(f"{t} {m.task_rss[t] / 2**20:.0f}" for t in TASKS) for factor, m in results.items()
        )
    )
    factors = sorted(results)
    if len(factors) > 1:
        low, high = factors[0], factors[-1]
        ratio = results[high].median("pipeline") / results[low].median("pipeline")
        lines.append(f"scale {high:g} takes {ratio:.2f}x the time of scale {low:g} ({high / low:g}x the data)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bds_tools.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-url", default=os.environ.get("BDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--scale", type=float, action="append", help="scale factor (repeat for several); default 1 and 4")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--overhead-tenants", type=int, default=10, help="tenants of the Airflow overhead run (0: not measured)")
    parser.add_argument("--overhead-scale", type=float, default=0.005, help="scale factor of each of those tenants")
    parser.add_argument(
        "--console-tenants",
        type=int,
        default=1000,
        help="tenants of the console's ledger (0: not measured; bds_tools.bench_console)",
    )
    parser.add_argument("--console-days", type=int, default=400, help="days of the console's ledger")
    parser.add_argument("--task", choices=TASKS, help=argparse.SUPPRESS)  # one task in its own process
    args = parser.parse_args(argv)
    if args.task:
        print(json.dumps(task(args.task)))
        return
    results, load_seconds, admin = {}, {}, args.pg_url
    for factor in args.scale or [1.0, 4.0]:
        name = f"bds_bench_{str(factor).replace('.', '_')}"
        url = fresh_database(admin, name)
        print(f"scale {factor:g}: loading {name}")
        started = time.perf_counter()
        plan = scale_sources.benchmark_plan(scale_sources.BILLED, scale_sources.NEIGHBOUR, DAY)
        scale_sources.generate({s: url for s in scale_sources.SOURCES}, plan, factor, log=lambda line: print("  " + line))
        load_seconds[factor] = time.perf_counter() - started
        if factor == (args.scale or [1.0])[0]:
            for query, lines in plans(url, parameters()).items():
                print(f"  plan of {query}:\n    " + "\n    ".join(lines))
                for table, partitions in partitions_read(lines).items():
                    print(f"  {query} reads {table} partitions {', '.join(partitions)}")
        results[factor] = measure(url, args.runs, log=print)
        if not args.keep:
            drop_database(admin, name)
    overhead_report = None
    if args.overhead_tenants:
        from bds_tools import overhead

        print(f"Airflow overhead: bds_daily for {args.overhead_tenants} tenants at scale {args.overhead_scale:g}")
        measured = overhead.measure_overhead(
            admin, args.overhead_tenants, args.overhead_scale, args.runs, keep=args.keep, log=lambda line: print("  " + line)
        )
        overhead_report = overhead.report(measured)
    console_report = None
    if args.console_tenants:
        from bds_tools import bench_console

        console_report = bench_console.run(admin, args.console_tenants, args.console_days, max(args.runs, 5), keep=args.keep)
    print()
    print(report(results, load_seconds))
    if overhead_report:
        print()
        print("Airflow overhead (a whole bds_daily run through the scheduler and the LocalExecutor):")
        print(overhead_report)
    if console_report:
        print()
        print(console_report)


if __name__ == "__main__":
    main()
