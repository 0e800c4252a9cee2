"""The console's pages against a large billing ledger (``make bench``, after the pipeline).

A fresh PostgreSQL database gets the store's schema, a configuration of ``tenants`` tenants
and a generated ledger: ``days`` days of 8 daily files and 13 counts per tenant (5 seat
metrics with Concurrent and Enabled, voicemail boxes, ASR ports, voicebot units), the months
they cover, a flag on about one tenant-day in a hundred (half of them acknowledged) and a send
attempt per file of the last day. At 1,000 tenants and 400 days that is 5.2 million counts
and 3.2 million file versions.

Each page's data is then read as the API reads it (the configuration revision, then the
ledger, through the same functions): once, then ``runs`` times. The first read, the median and
the slowest are printed, with the plan of each page's main query.

    python -m bds_tools.bench_console --tenants 1000 --days 400 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import date, timedelta

import sqlalchemy as sa

from bds.config import parse_billing_config

# (metric, region, counts): the files of a generated tenant-day: 13 counts in 8 files.
FILES = [
    ("seats_inbound_voice", "US", ("concurrent", "enabled")),
    ("seats_chat", "US", ("concurrent", "enabled")),
    ("seats_callback", "US", ("concurrent", "enabled")),
    ("seats_outbound", "US", ("concurrent", "enabled")),
    ("seats_workspace", "US", ("concurrent", "enabled")),
    ("voicemail_boxes", "GLOBAL", ("concurrent",)),
    ("gvp_asr_ports", "US", ("concurrent",)),
    ("voicebot_interactions", "GLOBAL", ("units",)),
]
LAST_DAY = date(2026, 3, 31)
BUDGET_MS = 300  # what a page's data may take


def configuration(tenants: int, first_day: date):
    return parse_billing_config(
        {
            "billing_process_enabled": True,
            "tenants": [
                {
                    "tenant_id": t,
                    "name": f"Tenant {t:04d}",
                    "garn": f"G{t}",
                    "billable": "PureConnect",
                    "production_date": first_day.isoformat(),
                    "regions": [
                        {
                            "code": "US",
                            "locations": [{"code": "L1", "switches": [f"SW{t}"], "gvp_components": [f"MCP{t}"]}, {"code": "HQ"}],
                        }
                    ],
                    "metrics": {metric: True for metric, _, _ in FILES},
                }
                for t in range(1, tenants + 1)
            ],
        }
    )


GENERATE = [
    """CREATE TEMP TABLE spec AS SELECT * FROM (VALUES {values}) AS s(metric, region, count_name, position)""",
    # Daily files, then their counts: one row per file version, one per count.
    """INSERT INTO bds_ledger_file
       SELECT f.name, md5(f.name) || md5(f.name || '#'), f.t, 'day', f.day, f.metric, f.region, 500, f.counts, 1,
              'bds_daily', 'scheduled__' || f.day, 'bill_tenant.render', f.t - 1, to_char(f.day + 1, 'YYYY-MM-DD') || 'T06:00:00.000000Z',
              true, NULL, NULL, NULL, CASE WHEN f.day = :last_day THEN 'queued' ELSE 'sent' END,
              CASE WHEN f.day = :last_day THEN NULL ELSE 's3://bench/' || f.name END,
              CASE WHEN f.day = :last_day THEN NULL ELSE to_char(f.day + 1, 'YYYY-MM-DD') || 'T07:00:00Z' END, NULL
       FROM (SELECT t, d.day, s.metric, s.region, count(*) AS counts,
                    format('CNT_%s_PES_%s_G%s_%s_%s.csv', s.region, s.metric, t, t, to_char(d.day, 'YYYYMMDD')) AS name
             FROM generate_series(1, :tenants) t, (SELECT (:last_day - k)::date AS day FROM generate_series(0, :days - 1) k) d, spec s
             GROUP BY t, d.day, s.metric, s.region) f""",
    """INSERT INTO bds_ledger_count
       SELECT f.name, f.sha256, s.count_name, f.tenant_id, 'day', f.period, f.metric, f.region,
              (f.tenant_id * 7 + (f.period - DATE '2000-01-01') * 13 + s.position) % 50, 1, f.run_id, f.written_at, true
       FROM bds_ledger_file f JOIN spec s ON s.metric = f.metric""",
    # The months: the highest (or summed) daily value.
    """INSERT INTO bds_ledger_file
       SELECT format('CNT_%s_PES_%s_G%s_%s_%s.csv', s.region, s.metric, t, t, to_char(m, 'YYYYMM')), md5(s.metric || t || m), t, 'month',
              m, s.metric, s.region, 500, count(*), 1, 'bds_monthly', 'asset_triggered__' || m, 'roll_up', t - 1,
              to_char(m + interval '1 month', 'YYYY-MM-DD') || 'T06:00:00.000000Z', true, NULL, NULL, NULL, 'sent', NULL, NULL, NULL
       FROM generate_series(1, :tenants) t, spec s,
            generate_series(date_trunc('month', (:last_day - (:days - 1))::date)::date, :last_day, interval '1 month') m
       GROUP BY t, s.metric, s.region, m""",
    """INSERT INTO bds_ledger_count
       SELECT f.name, f.sha256, s.count_name, f.tenant_id, 'month', f.period, f.metric, f.region, 49, 1, f.run_id, f.written_at, true
       FROM bds_ledger_file f JOIN spec s ON s.metric = f.metric WHERE f.period_kind = 'month'""",
    """INSERT INTO bds_ledger_flag
       SELECT md5(t || '-' || k), t, 'day', (:last_day - k)::date, 'jump', 'seats_chat', 'US', 'concurrent', 30, 10.0,
              'seats_chat US concurrent: 30, +200% from the median 10', '', '2026-04-01T06:00:00.000000Z', 'bench'
       FROM generate_series(1, :tenants) t, generate_series(0, :days - 1) k WHERE (t * 31 + k) % 97 = 0""",
    """INSERT INTO bds_ledger_ack SELECT id, 'admin', '2026-04-02T09:00:00.000000Z', 'checked' FROM bds_ledger_flag WHERE tenant_id % 2 = 0""",
    """INSERT INTO bds_ledger_attempt (name, sha256, at, outcome, detail, run_id)
       SELECT name, sha256, '2026-04-01T07:00:00.000000Z', 'failed', 'SlowDown', 'bench' FROM bds_ledger_file
       WHERE period = :last_day AND period_kind = 'day'""",
    "ANALYZE",
]


def generate(store, tenants: int, days: int, log=print) -> dict[str, int]:
    values = ", ".join(f"('{m}', '{r}', '{c}', {i})" for m, r, names in FILES for i, c in enumerate(names))
    bound = {"tenants": tenants, "days": days, "last_day": LAST_DAY}
    with store.writing("cannot load the benchmark's ledger") as connection:
        for statement in GENERATE:
            started = time.perf_counter()
            sql = statement.format(values=values) if "{values}" in statement else statement
            connection.execute(sa.text(sql), {k: v for k, v in bound.items() if f":{k}" in sql})
            log(
                f"  {sql.split()[0].lower()} {sql.split()[2] if sql.startswith('INSERT') else ''} {time.perf_counter() - started:.1f} s"
            )
    with store.reading() as connection:
        return {
            t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar()
            for t in ("bds_ledger_file", "bds_ledger_count", "bds_ledger_flag")
        }


def pages(store, tenant_id: int) -> dict:
    """Each page's data, as its API operation reads it (bds.console.api)."""
    from bds.console import data

    def tenants():
        with store.reading() as connection:
            return data.tenants(connection, store.current().config)

    def results(days: int):
        def read():
            with store.reading() as connection:
                return data.results(connection, store.current().config, tenant_id, LAST_DAY - timedelta(days=days - 1), LAST_DAY)[
                    "series"
                ]

        return read

    def anomalies(tenant=None):
        def read():
            with store.reading() as connection:
                return data.anomalies(connection, "open", tenant, 100)

        return read

    def files():
        with store.reading() as connection:
            return data.period_files(connection, tenant_id, LAST_DAY.isoformat())["files"]

    def periods():
        with store.reading() as connection:
            return data.periods_of(connection, tenant_id)

    return {
        "Tenants (last billed days, open flags)": tenants,
        "Results, 31 days": results(31),
        "Results, 400 days": results(400),
        "Anomalies, open, every tenant": anomalies(),
        "Anomalies, open, one tenant": anomalies(tenant_id),
        "Files & transmission, one tenant-day": files,
        "Files & transmission, the tenant's periods": periods,
    }


def measure(store, tenant_id: int, runs: int) -> list[tuple[str, int, float, float, float]]:
    """(page, rows, first read ms, median ms, slowest ms) for each page. The first read of all
    parses and validates the configuration revision, which later reads find already read."""
    measured = []
    for name, read in pages(store, tenant_id).items():
        started = time.perf_counter()
        read()
        first = time.perf_counter() - started
        seconds, size = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            size = len(read())
            seconds.append(time.perf_counter() - started)
        measured.append((name, size, first * 1000, statistics.median(seconds) * 1000, max(seconds) * 1000))
    return measured


def plans(store, tenant_id: int) -> dict[str, list[str]]:
    """The plans of the pages' main queries: each an index scan, not a walk over the ledger."""
    queries = {
        "last billed day": "SELECT max(period) FROM bds_ledger_file WHERE tenant_id = :t AND period_kind = 'day' AND current",
        "results": "SELECT period, metric, region, count_name, value FROM bds_ledger_count WHERE tenant_id = :t AND period_kind = 'day' "
        "AND current AND period BETWEEN :first AND :last",
        "open flags": "SELECT f.* FROM bds_ledger_flag f LEFT JOIN bds_ledger_ack a ON a.flag_id = f.id WHERE a.flag_id IS NULL "
        "ORDER BY f.period DESC, f.tenant_id, f.raised_at DESC, f.id LIMIT 100",
    }
    found = {}
    with store.reading() as connection:
        for name, sql in queries.items():
            rows = connection.execute(
                sa.text("EXPLAIN " + sql), {"t": tenant_id, "first": LAST_DAY - timedelta(days=30), "last": LAST_DAY}
            )
            found[name] = [r[0] for r in rows]
    return found


def report(measured, totals: dict[str, int], tenants: int, days: int) -> str:
    lines = [
        f"console pages on a ledger of {tenants} tenants x {days} days: {totals['bds_ledger_count']:,} counts, "
        f"{totals['bds_ledger_file']:,} file versions, {totals['bds_ledger_flag']:,} flags",
        f"{'page':<44} {'rows':>6} {'first ms':>9} {'median ms':>10} {'slowest ms':>11}  within {BUDGET_MS} ms",
    ]
    for name, size, first, median, slowest in measured:
        within = "yes" if max(first, slowest) < BUDGET_MS else "NO"
        lines.append(f"{name:<44} {size:>6} {first:>9.1f} {median:>10.1f} {slowest:>11.1f}  {within}")
    return "\n".join(lines)


def run(admin_url: str, tenants: int, days: int, runs: int, keep: bool = False, log=print) -> str:
    from bds.config.store import Store
    from bds_tools.bench import drop_database, fresh_database

    name = "bds_bench_ledger"
    store = Store(fresh_database(admin_url, name))
    try:
        log(f"console: a configuration of {tenants} tenants and a ledger of {days} days")
        store.commit(configuration(tenants, LAST_DAY - timedelta(days=days - 1)), 0, "bench", "bench tenants", "cli")
        totals = generate(store, tenants, days, log)
        tenant_id = tenants // 2 + 1  # odd: its flags are open (the even tenants' are acknowledged)
        for query, lines in plans(store, tenant_id).items():
            log(f"  plan of {query}:\n    " + "\n    ".join(lines))
        return report(measure(store, tenant_id, runs), totals, tenants, days)
    finally:
        store.engine.dispose()
        if not keep:
            drop_database(admin_url, name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bds_tools.bench_console", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--pg-url", default=os.environ.get("BDS_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args(argv)
    print(run(args.pg_url, args.tenants, args.days, args.runs, args.keep))


if __name__ == "__main__":
    main()
