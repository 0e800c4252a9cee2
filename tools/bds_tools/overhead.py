"""The Airflow overhead: a whole ``bds_daily`` run through the scheduler and a real executor,
against the sum of its tasks' own work.

Ten small tenants (scale factor 0.005 of ``bds_tools.scale``: 100 agents, 20,000 interaction facts,
7,500 GVP calls a day each) get one day in a fresh PostgreSQL database, and a billing
configuration of their own. An Airflow installation of its own (``bds_tools.airflow_local``): a fresh
PostgreSQL metadata database, the LocalExecutor, an api-server (the tasks' execution API), a
scheduler and a dag-processor, otherwise Airflow's defaults. ``bds_daily`` is triggered for
the day ``--runs`` times, one run after the other, and the metadata database gives per run:

* **wall**: the DAG run's ``start_date`` to ``end_date`` (from the scheduler starting it);
  ``queued_at`` to ``end_date`` also counts the wait for the scheduler to pick it up;
* **task instances**: the sum of its task instances' durations (start to end of each try
  that finished: parsing the DAG file in the task process, the task, XCom, reporting).

**Work** is the time spent inside the bds functions the tasks call, measured outside Airflow:
the same steps of the day (``plan_daily_run``; per tenant ``ready_at``, ``sources_ready``,
``extract_source`` per source, ``aggregate``, ``render``; ``finish_run``), one after the
other, each in a process of its own forked from one that has loaded what a task process has
before its task starts (Airflow's task runner, the DAG file's imports) and no more. Timing
the functions inside Airflow's own task processes would need the DAG or the pipeline to
report it; measured apart, the tasks stay as they are, and the work is not inflated by the
scheduler and by other tasks competing for the same cores. The passes run ``--runs`` times
before Airflow starts, on a data folder of their own, so that, as in the Airflow runs, the
first writes the files and the later ones find them unchanged. Importing ``bds.pipeline``,
which a task's body does first in every task process, and, for the steps that read rows,
pandas, numpy and pyarrow, is timed apart and counted as overhead, since running each task
in a process of its own is what makes it recur; the report shows it. ``announce_month_end`` calls no bds function (and skips the
18th): its work is nil.

    python -m bds_tools.overhead --pg-url postgresql+psycopg://postgres@127.0.0.1/postgres --tenants 10 --scale 0.005 --runs 3
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
import yaml

from bds.catalogue import SOURCES
from bds_tools.airflow_local import POOLS, Airflow, api_server_env, free_port, source_connections

if TYPE_CHECKING:
    from bds_tools.scale import ScaleTenant

# This module's imports are kept light: the work passes run in a process of it, which must
# hold no more than a task process has before its task starts (no pandas, numpy or pyarrow).
# bds_tools.scale and bds_tools.bench are imported where they are used.
ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "bds_daily"
EXTRACTS = tuple(f"extract_{source}" for source in SOURCES)
TENANT_STEPS = ("wait_for_day_end", "wait_for_sources", *EXTRACTS, "aggregate", "render")
RUN_TIMEOUT = 1200  # seconds for one DAG run of ten small tenants; a healthy one takes a minute or two


def task_instances_per_run(tenants: int) -> int:
    """plan, summary and announce_month_end, and each tenant's mapped steps."""
    return 3 + len(TENANT_STEPS) * tenants


@dataclass
class DagRunTimes:
    """One DAG run as the metadata database has it (seconds)."""

    run_id: str
    wall: float
    queued_to_end: float
    task_instances: int
    task_seconds: float
    states: dict[str, int]


@dataclass
class WorkPass:
    """One pass of every step's bds function, each in a process of its own (seconds)."""

    seconds: float
    imports: float
    by_step: dict[str, float]


@dataclass
class OverheadResult:
    """What ``measure_overhead`` measured: its DAG runs, its work passes (seconds)."""

    tenants: int
    scale: float
    load_seconds: float
    runs: list[DagRunTimes] = field(default_factory=list)
    work: list[WorkPass] = field(default_factory=list)

    def median(self, name: str) -> float:
        """Median over the runs of a DagRunTimes field, or over the passes of ``work``/``imports``."""
        if name in ("work", "imports"):
            return statistics.median(getattr(p, "seconds" if name == "work" else name) for p in self.work)
        return statistics.median(getattr(r, name) for r in self.runs)


def scale_tenants(count: int) -> list[ScaleTenant]:
    """Tenants 401, 402, ... each with two switches and two GVP components of its own."""
    from bds_tools.scale import ScaleTenant

    return [
        ScaleTenant(
            tenant_id,
            11 + i,
            "America/Chicago",
            (f"SW_{tenant_id}_A", f"SW_{tenant_id}_B"),
            (f"MCP_{tenant_id}_A", f"MCP_{tenant_id}_B"),
        )
        for i, tenant_id in enumerate(range(401, 401 + count))
    ]


def billing_config(tenants: list[ScaleTenant]) -> dict:
    """A configuration in the shape of include/config/bench.yaml for the tenants: every metric
    on, one location per switch and component, and a default location."""
    from bds.catalogue import METRICS

    entries = []
    for t in tenants:
        locations = [
            {"code": f"L{n + 1}", "name": f"Site {n + 1}", "switches": [switch], "gvp_components": [component]}
            for n, (switch, component) in enumerate(zip(t.switches, t.components, strict=True))
        ]
        locations.append({"code": "HQ", "name": "Headquarters (default location)", "switches": []})
        entries.append(
            {
                "tenant_id": t.tenant_id,
                "name": f"Overhead Tenant {t.tenant_id}",
                "garn": f"GARN-OH-{t.tenant_id:04d}",
                "billable": "PureConnect",
                "tier1_account_id": f"1000{t.tenant_id}",
                "tier2_account_id": f"2000{t.tenant_id}",
                "tier3_account_id": f"3000{t.tenant_id}",
                "external_id": f"OH-EXT-{t.tenant_id}",
                "source_id": f"PC-SRC-{t.tenant_id}",
                "time_zone": t.time_zone,
                "production_date": "2026-01-01",
                "regions": [{"code": "US", "locations": locations}],
                "metrics": dict.fromkeys(METRICS, True),
            }
        )
    return {
        "billing_process_enabled": True,
        "billing_server": {"kind": "s3", "transmit": False},
        "session_lookback_days": 1,
        "settle_minutes": 15,
        "sources": {"timeout_minutes": 720, "gim_retention_days": 3650, "gvp_retention_days": 3650},
        "tenants": entries,
    }


def airflow_environment(
    home: Path, metadata_url: str, api_port: int, sources_url: str, config: Path, data_dir: Path
) -> dict[str, str]:
    """The environment of every Airflow process of the installation, and of the work passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BDS_"))}
    return env | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        **api_server_env(home, api_port),
        # The api-server signs the tasks' tokens, and checks them: every process must share the secret.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        # No scheduled run on unpausing: only the triggered runs are measured.
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        **source_connections(sources_url),
        "BDS_CONFIG": str(config),
        "BDS_DATA_DIR": str(data_dir),
    }


# --- work: the bds functions, each in a fresh process ---------------------------------------


# What the steps that read rows import when they start (bds.pipeline imports none of it).
ROW_STEP_IMPORTS = ("pandas", "numpy", "pyarrow.csv", "pyarrow.parquet", "bds.datasets", "bds.metrics")


def run_step(step: str, args: tuple) -> tuple[float, float, object]:
    """In a forked child: import the pipeline, as a task's body does, and what the step
    imports on starting, then call the step's function. Returns (import seconds, work
    seconds, its result)."""
    started = time.perf_counter()
    from bds import pipeline

    if step == "aggregate" or step.startswith("extract_"):
        for module in ROW_STEP_IMPORTS:
            importlib.import_module(module)
    imported = time.perf_counter()
    if step == "plan":
        result = pipeline.plan_daily_run(*args, None, None)
    elif step == "wait_for_day_end":
        result = pipeline.ready_at(*args)
    elif step == "wait_for_sources":
        result = pipeline.sources_ready(*args)
    elif step.startswith("extract_"):
        result = pipeline.extract_source(*args, step.removeprefix("extract_"))
    elif step == "summary":
        result = pipeline.finish_run(*args)
    else:
        result = getattr(pipeline, step)(*args)  # aggregate, render
    return imported - started, time.perf_counter() - imported, result


def work_pass(day: date) -> WorkPass:
    """Every step of one bds_daily run for ``day``, one after the other, each in a process
    forked from this one (which must have Airflow and the DAG file's imports loaded)."""
    by_step: dict[str, float] = {}
    imports = 0.0
    # A pool of one process that never runs a second task: a fresh fork for every step.
    with multiprocessing.get_context("fork").Pool(1, maxtasksperchild=1) as pool:

        def timed(step: str, *args):
            nonlocal imports
            imported, seconds, result = pool.apply(run_step, (step, args))
            imports += imported
            by_step[step] = by_step.get(step, 0.0) + seconds
            return result

        _, items, notes = timed("plan", day.isoformat())
        rendered = []
        for work in items:
            for step in TENANT_STEPS[:-1]:
                timed(step, work)
            rendered.append(timed("render", work))
        timed("summary", items, notes, rendered)
    return WorkPass(sum(by_step.values()), imports, by_step)


def measure_work(env: dict[str, str], day: date, passes: int, timeout: float = RUN_TIMEOUT) -> list[WorkPass]:
    """``passes`` work passes in a process with the installation's environment."""
    command = [sys.executable, "-m", "bds_tools.overhead", "--work-passes", str(passes), "--day", day.isoformat()]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"the work passes failed:\n{done.stderr[-4000:]}")
    return [WorkPass(**p) for p in json.loads(done.stdout.strip().splitlines()[-1])]


def work_passes(day: date, passes: int) -> list[WorkPass]:
    """Body of ``--work-passes``: what a task process has loaded before its task runs (the
    task runner, forked from the executor's worker, then the DAG file's imports), then the passes."""
    import airflow.sdk  # noqa: F401
    import airflow.sdk.execution_time.task_runner  # noqa: F401

    import bds.dag_common  # noqa: F401

    return [work_pass(day) for _ in range(passes)]


# --- the DAG runs, from the metadata database -----------------------------------------------


def dag_run_state(engine: sa.Engine, run_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT state FROM dag_run WHERE dag_id = :dag AND run_id = :run"), {"dag": DAG_ID, "run": run_id}
        ).scalar()


def dag_run_times(engine: sa.Engine, run_id: str) -> DagRunTimes:
    with engine.connect() as conn:
        queued, started, ended = conn.execute(
            sa.text("SELECT queued_at, start_date, end_date FROM dag_run WHERE dag_id = :dag AND run_id = :run"),
            {"dag": DAG_ID, "run": run_id},
        ).one()
        states = dict(
            conn.execute(
                sa.text("SELECT state, count(*) FROM task_instance WHERE dag_id = :dag AND run_id = :run GROUP BY state"),
                {"dag": DAG_ID, "run": run_id},
            ).all()
        )
        seconds = conn.execute(
            sa.text("SELECT coalesce(sum(duration), 0) FROM task_instance WHERE dag_id = :dag AND run_id = :run"),
            {"dag": DAG_ID, "run": run_id},
        ).scalar()
    return DagRunTimes(
        run_id,
        (ended - started).total_seconds(),
        (ended - queued).total_seconds(),
        sum(states.values()),
        float(seconds),
        {str(k): v for k, v in states.items()},
    )


def failed_task_logs(engine: sa.Engine, home: Path, run_id: str) -> list[Path]:
    """The log files of the run's task instances that did not succeed or skip."""
    with engine.connect() as conn:
        task_ids = (
            conn.execute(
                sa.text(
                    "SELECT DISTINCT task_id FROM task_instance WHERE dag_id = :dag AND run_id = :run "
                    "AND coalesce(state, 'none') NOT IN ('success', 'skipped')"
                ),
                {"dag": DAG_ID, "run": run_id},
            )
            .scalars()
            .all()
        )
    folder = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    return sorted(p for task_id in task_ids for p in folder.glob(f"task_id={task_id}/**/*.log"))


def dag_parsed(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.execute(sa.text("SELECT count(*) FROM serialized_dag WHERE dag_id = :dag"), {"dag": DAG_ID}).scalar())


def run_dag(airflow: Airflow, engine: sa.Engine, run_id: str, day: date) -> DagRunTimes:
    """Trigger a bds_daily run for ``day`` and wait for it to succeed."""
    airflow.cli("dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"date": day.isoformat()}))

    def finished() -> bool:
        state = dag_run_state(engine, run_id)
        if state == "failed":
            tails = airflow.tails(failed_task_logs(engine, airflow.home, run_id))
            raise RuntimeError(f"{DAG_ID} run {run_id} failed; logs:{tails}")
        return state == "success"

    airflow.wait(f"{DAG_ID} run {run_id}", finished, timeout=RUN_TIMEOUT, interval=1)
    return dag_run_times(engine, run_id)


# --- the whole measurement ------------------------------------------------------------------


def measure_overhead(
    admin_url: str,
    tenants: int = 10,
    scale: float = 0.005,
    runs: int = 3,
    *,
    keep: bool = False,
    database_prefix: str = "bds_bench_overhead",
    log=print,
) -> OverheadResult:
    """Load the sources, measure the work passes, then run ``bds_daily`` ``runs`` times through
    an Airflow installation of its own. Everything it starts is stopped; its databases and
    folder are removed unless ``keep``."""
    from bds_tools import scale as scale_sources
    from bds_tools.bench import DAY, drop_database, fresh_database

    sources_db, metadata_db = f"{database_prefix}_src", f"{database_prefix}_airflow"
    folder = Path(tempfile.mkdtemp(prefix="bds-overhead-"))
    try:
        sources_url = fresh_database(admin_url, sources_db)
        log(f"loading {tenants} tenants at scale {scale:g} into {sources_db}")
        started = time.perf_counter()
        billed = scale_tenants(tenants)
        scale_sources.generate(
            {s: sources_url for s in scale_sources.SOURCES},
            [(t, [DAY]) for t in billed],
            scale,
            log=lambda line: log("  " + line),
        )
        result = OverheadResult(tenants, scale, time.perf_counter() - started)
        log(f"  loaded in {result.load_seconds:.1f} s")

        config = folder / "billing.yaml"
        config.write_text(yaml.safe_dump(billing_config(billed), sort_keys=False))
        metadata_url = sa.engine.make_url(fresh_database(admin_url, metadata_db)).set(drivername="postgresql+psycopg2")
        home = folder / "airflow"
        home.mkdir()
        api_port = free_port()
        env = airflow_environment(
            home, metadata_url.render_as_string(hide_password=False), api_port, sources_url, config, folder / "data"
        )
        airflow = Airflow(home, env, logs=[])
        log(f"migrating the metadata database {metadata_db}")
        airflow.cli("db", "migrate")
        airflow.cli("pools", "import", str(POOLS))

        log(f"work: every step of the day for {tenants} tenants, each in its own process, {runs} time(s)")
        result.work = measure_work(env | {"BDS_DATA_DIR": str(folder / "work-data")}, DAY, runs)
        for n, done in enumerate(result.work, 1):
            log(f"  pass {n}: work {done.seconds:.2f} s, imports {done.imports:.2f} s")

        engine = sa.create_engine(metadata_url.set(drivername=sa.engine.make_url(admin_url).drivername))
        try:
            with ExitStack() as processes:
                for name in ("api-server", "scheduler", "dag-processor"):
                    processes.enter_context(airflow.running(name, name))
                airflow.wait("the api-server", airflow.serving, timeout=300, interval=1)
                airflow.wait(f"{DAG_ID} to be parsed", lambda: dag_parsed(engine), timeout=300, interval=1)
                airflow.cli("dags", "unpause", DAG_ID)
                for n in range(1, runs + 1):
                    times = run_dag(airflow, engine, f"overhead_{n}", DAY)
                    result.runs.append(times)
                    log(
                        f"  run {n}: wall {times.wall:.2f} s (queued to end {times.queued_to_end:.2f} s), "
                        f"{times.task_instances} task instances, {times.task_seconds:.2f} s in them"
                    )
        finally:
            engine.dispose()
        return result
    finally:
        if keep:
            log(f"kept {sources_db}, {metadata_db} and {folder}")
        else:
            for name in (metadata_db, sources_db):
                drop_database(admin_url, name)
            shutil.rmtree(folder, ignore_errors=True)


def report(result: OverheadResult) -> str:
    """Medians over the runs (and over the work passes), and their ratios."""
    wall, queued, ti, work = (result.median(k) for k in ("wall", "queued_to_end", "task_seconds", "work"))
    counts = sorted({r.task_instances for r in result.runs})
    lines = [
        f"{'tenants':>7} {'runs':>4} {'DAG run wall s':>14} {'queued-end s':>12} {'task instances s':>16} {'work s':>8} "
        f"{'wall/work':>9} {'TI/work':>8} {'TIs per run':>11}",
        f"{result.tenants:>7} {len(result.runs):>4} {wall:>14.2f} {queued:>12.2f} {ti:>16.2f} {work:>8.2f} "
        f"{wall / work:>9.2f} {ti / work:>8.2f} {'/'.join(map(str, counts)):>11}",
        "",
        "task instance states per run: "
        + "; ".join(", ".join(f"{k} {v}" for k, v in sorted(r.states.items())) for r in result.runs),
        "median work per step, summed over the tenants: "
        + ", ".join(f"{step} {statistics.median(p.by_step[step] for p in result.work):.2f} s" for step in result.work[0].by_step),
        f"imports (bds.pipeline in every task process; pandas, numpy and pyarrow in those that read rows): "
        f"{result.median('imports'):.2f} s per run (counted as overhead)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bds_tools.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="SQLAlchemy URL of a PostgreSQL database to create the benchmark's databases from",
    )
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--scale", type=float, default=0.005, help="scale factor of bds_tools.scale per tenant-day")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the databases and the folder (Airflow home, logs, files)")
    parser.add_argument(
        "--database-prefix", default="bds_bench_overhead", help="names the sources (_src) and metadata (_airflow) databases"
    )
    parser.add_argument("--work-passes", type=int, help=argparse.SUPPRESS)  # the work passes, in their own process
    parser.add_argument("--day", type=date.fromisoformat, help=argparse.SUPPRESS)  # the work passes' day
    args = parser.parse_args(argv)
    if args.work_passes:
        print(json.dumps([p.__dict__ for p in work_passes(args.day, args.work_passes)]))
        return
    result = measure_overhead(
        args.pg_url, args.tenants, args.scale, args.runs, keep=args.keep, database_prefix=args.database_prefix
    )
    print()
    print(report(result))


if __name__ == "__main__":
    main()
