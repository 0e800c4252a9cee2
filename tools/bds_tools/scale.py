"""Contact-centre scale sources for the benchmark: one large tenant-day, vectorised, by COPY.

At scale 1 the billed tenant-day has 20,000 agents, about 60,000 login sessions (voice and
multimedia), 4,000,000 ``INTERACTION_RESOURCE_FACT`` rows, 1,500,000 GVP call records (40%
with ASR, 30% with TTS), 200,000 configuration objects of which 30,000 carry a mailbox, and
500,000 voicebot sessions. The same tenant's previous and next days, and another tenant on
the billed day, get the same volume, so every query has to filter by tenant and day.

Rows are drawn with numpy (the same seed gives the same rows) and written with PostgreSQL's
``COPY ... FROM STDIN`` in chunks, into fact tables partitioned by day (a partition per UTC
day of the load); indexes are built after the load, then the tables are analysed, as a real
installation's statistics would be.

    python -m bds_tools.scale --url postgresql+psycopg://postgres@127.0.0.1/bench --day 2026-03-18 --scale 1
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa

from bds.calendar import local_midnight
from bds.demo import AGENT_LOGIN, DN, FAR_FUTURE_KEY, INTERACTION_TYPES, MEDIA, TABLES, ddl_statements

SOURCES = ("gim", "gvp", "cme")
CHUNK_ROWS = 500_000
DAY = 86_400


@dataclass(frozen=True)
class ScaleTenant:
    """A tenant as the generator needs it: its keys, zone, switches and GVP components."""

    tenant_id: int
    tenant_key: int
    time_zone: str
    switches: tuple[str, ...]
    components: tuple[str, ...]


@dataclass(frozen=True)
class Volume:
    """Rows per tenant-day at a scale factor."""

    agents: int
    interactions: int
    calls: int
    objects: int
    mailboxes: int
    bot_sessions: int

    @classmethod
    def at(cls, scale: float) -> Volume:
        def n(base: int) -> int:
            return max(1, round(base * scale))

        return cls(n(20_000), n(4_000_000), n(1_500_000), n(200_000), n(30_000), n(500_000))


class Keys:
    """Monotonic surrogate keys per kind, so that every table's key stays unique."""

    def __init__(self) -> None:
        self.next: dict[str, int] = {}

    def take(self, kind: str, count: int) -> np.ndarray:
        first = self.next.get(kind, 1)
        self.next[kind] = first + count
        return np.arange(first, first + count, dtype=np.int64)


def dt_keys(ts: np.ndarray) -> np.ndarray:
    return ts - ts % 900


def business_seconds(rng: np.random.Generator, midnight: int, count: int) -> np.ndarray:
    """Seconds of a day, 80% between 08:00 and 18:00."""
    busy = rng.random(count) < 0.8
    return np.where(busy, midnight + 8 * 3600 + rng.integers(0, 10 * 3600, count), midnight + rng.integers(0, DAY, count))


class ScaleGenerator:
    """Frames per table for tenant-days, drawn in bulk."""

    def __init__(self, volume: Volume, seed: int = 7, snapshot: int | None = None):
        self.volume, self.rng, self.keys, self.snapshot = volume, np.random.default_rng(seed), Keys(), snapshot

    # --- once per tenant: people and configuration ---------------------------------------

    def people(self, tenant: ScaleTenant, first_day: date) -> dict[str, pd.DataFrame]:
        v, rng = self.volume, self.rng
        persons = tenant.tenant_id * 1_000_000 + np.arange(1, v.agents + 1)
        resources = self.keys.take("resource", v.agents)
        created = local_midnight(first_day, tenant.time_zone) - 90 * DAY
        switch_ids = np.arange(1, len(tenant.switches) + 1) + tenant.tenant_key * 100
        logins = self.keys.take("login", v.agents)
        home = rng.integers(0, len(tenant.switches), v.agents)
        groups = self.keys.take("group", max(1, v.objects // 100))
        dns = self.keys.take("dn", v.objects - v.agents - len(groups))
        objects = pd.DataFrame(
            {
                "type": np.concatenate([np.full(len(logins), AGENT_LOGIN), np.full(len(dns), DN), np.full(len(groups), 5)]),
                "id": np.concatenate([logins, dns, groups]),
            }
        )
        boxes = objects.sample(n=min(v.mailboxes, len(objects)), random_state=int(rng.integers(0, 2**31)))
        annex = self.keys.take("annex", len(boxes))
        return {
            "RESOURCE_": pd.DataFrame(
                {
                    "RESOURCE_KEY": resources,
                    "TENANT_KEY": tenant.tenant_key,
                    "RESOURCE_TYPE_CODE": "AGENT",
                    "RESOURCE_CFG_DBID": persons,
                }
            ),
            "GIDB_GC_SWITCH": pd.DataFrame({"ID": switch_ids, "NAME": list(tenant.switches)}),
            "GIDB_GC_LOGIN": pd.DataFrame({"ID": logins, "TENANTID": tenant.tenant_id, "SWITCHID": switch_ids[home]}),
            "GIDB_GCX_LOGIN_INFO": pd.DataFrame(
                {
                    "ID": self.keys.take("login_info", v.agents),
                    "LOGINID": logins,
                    "AGENTID": persons,
                    "CREATED_TS": created,
                    "DELETED_TS": pd.array([None] * v.agents, dtype="Int64"),
                }
            ),
            "GC_LOGIN": pd.DataFrame(
                {
                    "ID": logins,
                    "TENANTID": tenant.tenant_id,
                    "CREATED_TS": created,
                    "DELETED_TS": pd.array([None] * v.agents, dtype="Int64"),
                }
            ),
            "GC_ENDPOINT": pd.DataFrame(
                {
                    "ID": dns,
                    "TENANTID": tenant.tenant_id,
                    "CREATED_TS": created - 300 * DAY,
                    "DELETED_TS": pd.array([None] * len(dns), dtype="Int64"),
                }
            ),
            "GC_GROUP": pd.DataFrame(
                {
                    "ID": groups,
                    "TENANTID": tenant.tenant_id,
                    "TYPE": 1,
                    "CREATED_TS": created,
                    "DELETED_TS": pd.array([None] * len(groups), dtype="Int64"),
                }
            ),
            "GC_ANNEX": pd.DataFrame(
                {
                    "ID": annex,
                    "CFGOBJECTID": boxes["id"].to_numpy(),
                    "CFGOBJECTTYPE": boxes["type"].to_numpy(),
                    "SECTIONNAME": "TServer",
                    "KEYNAME": "gvm_mailbox",
                    "VALUE": rng.integers(1000, 9999, len(boxes)).astype(str),
                    "TENANTID": tenant.tenant_id,
                    "CREATED_TS": created,
                    "DELETED_TS": pd.array([None] * len(boxes), dtype="Int64"),
                }
            ),
            "_agents": pd.DataFrame({"resource": resources, "role": np.arange(v.agents) % 10}),
        }

    # --- per tenant-day ---------------------------------------------------------------------

    def day(self, tenant: ScaleTenant, agents: pd.DataFrame, day: date) -> dict[str, pd.DataFrame]:
        midnight = local_midnight(day, tenant.time_zone)
        sessions = self.sessions(tenant, agents, midnight)
        return {
            "SM_RES_SESSION_FACT": sessions,
            "INTERACTION_RESOURCE_FACT": self.interactions(tenant, sessions),
            **self.calls(tenant, midnight),
            **self.bots(tenant, midnight),
        }

    def sessions(self, tenant: ScaleTenant, agents: pd.DataFrame, midnight: int) -> pd.DataFrame:
        """Three spans per agent around two breaks (a sixth work nights, across midnight); voice
        for voice roles, chat for chat roles, both for blended ones; some agents logged in twice;
        sessions running past the snapshot are still open."""
        rng, n = self.rng, len(agents)
        night = rng.random(n) < 1 / 6
        start = np.where(
            night, midnight + 20 * 3600 + rng.integers(0, 3600, n), midnight + 6 * 3600 + rng.integers(0, 10 * 3600, n)
        )
        coffee = start + 2 * 3600 + rng.integers(-900, 900, n)  # logged out 15 minutes
        lunch = start + 4 * 3600 + rng.integers(-1800, 1800, n)  # logged out 30 minutes
        end = start + 8 * 3600 + rng.integers(-1800, 1800, n)
        role = agents["role"].to_numpy()
        voice = ~np.isin(role, (3, 9))  # roles 3 and 9 handle chat only
        chat = np.isin(role, (1, 3, 6, 9))
        parts = []
        for media, who, shift in (("VOICE", voice, 0), ("CHAT", chat, 300)):
            for span_start, span_end in ((start + shift, coffee), (coffee + 900, lunch), (lunch + 1800, end)):
                parts.append(
                    pd.DataFrame(
                        {
                            "resource": agents["resource"].to_numpy()[who],
                            "media": MEDIA[media],
                            "start": span_start[who],
                            "end": span_end[who],
                        }
                    )
                )
        frame = pd.concat(parts, ignore_index=True)
        twice = frame[(frame["media"] == MEDIA["VOICE"]) & (rng.random(len(frame)) < 0.04)]
        frame = pd.concat([frame, twice.assign(start=twice["start"] + 600, end=twice["end"] - 600)], ignore_index=True)
        is_open = frame["end"].to_numpy() > (self.snapshot or np.iinfo(np.int64).max)
        count = len(frame)
        return pd.DataFrame(
            {
                "SM_RES_SESSION_FACT_KEY": self.keys.take("sm", count),
                "START_DATE_TIME_KEY": dt_keys(frame["start"].to_numpy()),
                "END_DATE_TIME_KEY": np.where(is_open, FAR_FUTURE_KEY, dt_keys(frame["end"].to_numpy())),
                "TENANT_KEY": tenant.tenant_key,
                "MEDIA_TYPE_KEY": frame["media"].to_numpy(),
                "RESOURCE_KEY": frame["resource"].to_numpy(),
                "START_TS": frame["start"].to_numpy(),
                "END_TS": frame["end"].astype("Int64").mask(is_open).array,
                "ACTIVE_FLAG": is_open.astype(int),
            }
        )

    def interactions(self, tenant: ScaleTenant, sessions: pd.DataFrame) -> pd.DataFrame:
        """``volume.interactions`` facts spread over the sessions by length."""
        rng = self.rng
        length = (sessions["END_TS"].fillna(sessions["START_TS"] + 4 * 3600) - sessions["START_TS"]).to_numpy(dtype=np.int64)
        share = length / length.sum()
        counts = rng.multinomial(self.volume.interactions, share)
        owner = np.repeat(np.arange(len(sessions)), counts)
        start = sessions["START_TS"].to_numpy()[owner] + (rng.random(len(owner)) * length[owner]).astype(np.int64)
        media = sessions["MEDIA_TYPE_KEY"].to_numpy()[owner]
        kinds = np.array(list(INTERACTION_TYPES), dtype=np.int64)
        kind = np.where(media == MEDIA["CHAT"], 1, kinds[rng.integers(0, len(kinds), len(owner))])
        count = len(owner)
        return pd.DataFrame(
            {
                "INTERACTION_RESOURCE_ID": self.keys.take("irf", count),
                "INTERACTION_ID": self.keys.take("interaction", count),
                "START_DATE_TIME_KEY": dt_keys(start),
                "TENANT_KEY": tenant.tenant_key,
                "MEDIA_TYPE_KEY": media,
                "INTERACTION_TYPE_KEY": kind,
                "RESOURCE_KEY": sessions["RESOURCE_KEY"].to_numpy()[owner],
                "START_TS": start,
            }
        )

    def calls(self, tenant: ScaleTenant, midnight: int) -> dict[str, pd.DataFrame]:
        rng, n = self.rng, self.volume.calls
        start = business_seconds(rng, midnight, n) * 1000 + rng.integers(0, 1000, n)
        cdr = self.keys.take("cdr", n)
        calls = pd.DataFrame(
            {
                "CDR_ID": cdr,
                "TENANT_ID": tenant.tenant_id,
                "IVR_PROFILE_ID": tenant.tenant_id * 10 + 1,
                "COMPONENT_NAME": np.array(tenant.components)[rng.integers(0, len(tenant.components), n)],
                "START_TIME_MS": start,
                "END_TIME_MS": start + rng.integers(20_000, 400_000, n),
            }
        )
        speech = []
        for resource, share in (("ASR", 0.4), ("TTS", 0.3)):
            chosen = np.flatnonzero(rng.random(n) < share)
            s = start[chosen] + rng.integers(1_000, 15_000, len(chosen))
            speech.append(
                pd.DataFrame(
                    {
                        "SPEECH_SESSION_ID": self.keys.take("speech", len(chosen)),
                        "CDR_ID": cdr[chosen],
                        "RESOURCE_TYPE": resource,
                        "START_TIME_MS": s,
                        "END_TIME_MS": s + rng.integers(3_000, 60_000, len(chosen)),
                    }
                )
            )
        return {"GVP_CDR": calls, "GVP_SPEECH_SESSION": pd.concat(speech, ignore_index=True)}

    def bots(self, tenant: ScaleTenant, midnight: int) -> dict[str, pd.DataFrame]:
        rng, n = self.rng, self.volume.bot_sessions
        start = business_seconds(rng, midnight, n)
        ids = self.keys.take("interaction", n)
        guid = pd.Series(ids).map("IXN-{:012d}".format).to_numpy()
        return {
            "INTERACTION_FACT": pd.DataFrame(
                {
                    "INTERACTION_ID": ids,
                    "TENANT_KEY": tenant.tenant_key,
                    "MEDIA_SERVER_IXN_GUID": guid,
                    "START_DATE_TIME_KEY": dt_keys(start),
                }
            ),
            "SDR_BOTS_FACT": pd.DataFrame(
                {
                    "SESSION_ID": pd.Series(ids).map("ORS-{}".format).to_numpy(),
                    "START_DATE_TIME_KEY": dt_keys(start),
                    "SEQUENCE_ID": 0,
                    "INTERACTION_ID": guid,
                    "MEDIA_TYPE_KEY": np.where(rng.random(n) < 0.85, MEDIA["VOICE"], MEDIA["CHAT"]),
                    "START_TS_MS": start * 1000 + rng.integers(0, 1000, n),
                    "DURATION_MS": rng.integers(20_000, 1_200_000, n),
                }
            ),
        }


def source_of(table: str) -> str:
    return next(source for source, tables in TABLES.items() if table in tables)


def csv_chunks(frame: pd.DataFrame) -> Iterator[bytes]:
    for first in range(0, len(frame), CHUNK_ROWS):
        buffer = io.StringIO()
        frame.iloc[first : first + CHUNK_ROWS].to_csv(buffer, header=False, index=False, na_rep="")
        yield buffer.getvalue().encode()


def copy_in(engine: sa.Engine, table: str, frame: pd.DataFrame) -> None:
    """Append the frame to the table with COPY (CSV; an empty field is NULL)."""
    columns = ", ".join(frame.columns)
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
            for chunk in csv_chunks(frame):
                copy.write(chunk)
        raw.commit()
    finally:
        raw.close()


def create_tables(engine: sa.Engine, source: str) -> list[str]:
    """Drop and create the source's tables; returns its index statements, to run after the load."""
    statements = ddl_statements(source, "postgres")
    with engine.begin() as conn:
        for table in reversed(TABLES[source]):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for statement in statements:
            if not statement.upper().startswith("CREATE INDEX"):
                conn.execute(sa.text(statement))
    return [s for s in statements if s.upper().startswith("CREATE INDEX")]


# Tables partitioned by day on a start time (include/sql/ddl/postgres), with the time's unit
# per second; the generator gives each UTC day of the load its own partition.
PARTITIONED = {
    "SM_RES_SESSION_FACT": 1,
    "INTERACTION_FACT": 1,
    "INTERACTION_RESOURCE_FACT": 1,
    "SDR_BOTS_FACT": 1,
    "GVP_CDR": 1000,
    "GVP_SPEECH_SESSION": 1000,
}


def add_day_partitions(engine: sa.Engine, source: str, first: date, last: date) -> None:
    """One partition per UTC day from ``first`` to ``last`` for the source's partitioned tables
    (before any row is loaded: the DEFAULT partition must not hold rows of these days)."""
    midnight = int(pd.Timestamp(first, tz="UTC").timestamp())
    days = (last - first).days + 1
    with engine.begin() as conn:
        for table, per_second in PARTITIONED.items():
            if table not in TABLES[source]:
                continue
            for n in range(days):
                low, high = (midnight + n * DAY) * per_second, (midnight + (n + 1) * DAY) * per_second
                name = f"{table}_P{first + timedelta(days=n):%Y%m%d}"
                conn.execute(sa.text(f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({low}) TO ({high})"))


def build_indexes(engine: sa.Engine, source: str, statements: list[str]) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))
        for table in TABLES[source]:
            conn.execute(sa.text(f"ANALYZE {table}"))


def benchmark_plan(billed: ScaleTenant, neighbour: ScaleTenant, day: date) -> list[tuple[ScaleTenant, list[date]]]:
    """The benchmark's sources: ``billed`` on the day before, the day and the day after,
    ``neighbour`` on the day."""
    return [(billed, [day - timedelta(days=1), day, day + timedelta(days=1)]), (neighbour, [day])]


def generate(
    urls: dict[str, str], plan: list[tuple[ScaleTenant, list[date]]], scale: float = 1.0, seed: int = 7, log=print
) -> dict[str, int]:
    """Create the three sources and fill each tenant's days in ``plan`` (the first tenant's zone
    sets Info Mart's load status: loaded to the end of the last day). Returns
    rows per table."""
    tenants = [tenant for tenant, _ in plan]
    days = [day for _, tenant_days in plan for day in tenant_days]
    snapshot = local_midnight(max(days) + timedelta(days=1), tenants[0].time_zone)
    generator = ScaleGenerator(Volume.at(scale), seed, snapshot)
    engines = {s: sa.create_engine(urls[s]) for s in SOURCES}
    counts: dict[str, int] = {}
    try:
        indexes = {s: create_tables(engines[s], s) for s in SOURCES}
        for source in SOURCES:  # sessions may start the day before a tenant's first local day
            add_day_partitions(engines[source], source, min(days) - timedelta(days=1), max(days) + timedelta(days=1))
        static = {
            "TENANT": pd.DataFrame(
                {"TENANT_KEY": [t.tenant_key for t in tenants], "TENANT_CFG_DBID": [t.tenant_id for t in tenants]}
            ),
            "MEDIA_TYPE": pd.DataFrame({"MEDIA_TYPE_KEY": list(MEDIA.values()), "MEDIA_NAME_CODE": list(MEDIA)}),
            "INTERACTION_TYPE": pd.DataFrame(
                [(k, code, sub) for k, (code, sub) in INTERACTION_TYPES.items()],
                columns=["INTERACTION_TYPE_KEY", "INTERACTION_TYPE_CODE", "INTERACTION_SUBTYPE_CODE"],
            ),
            "CTL_AUDIT_LOG": audit_log(min(days), snapshot, tenants[0].time_zone),
        }
        for table, frame in static.items():
            write(engines, table, frame, counts)
        for tenant, tenant_days in plan:
            started = time.monotonic()
            people = generator.people(tenant, tenant_days[0])
            agents = people.pop("_agents")
            for table, frame in people.items():
                write(engines, table, frame, counts)
            for one_day in tenant_days:
                for table, frame in generator.day(tenant, agents, one_day).items():
                    write(engines, table, frame, counts)
                log(f"tenant {tenant.tenant_id} day {one_day}: loaded in {time.monotonic() - started:.1f} s")
        for source in SOURCES:
            build_indexes(engines[source], source, indexes[source])
    finally:
        for engine in engines.values():
            engine.dispose()
    return counts


def write(engines: dict[str, sa.Engine], table: str, frame: pd.DataFrame, counts: dict[str, int]) -> None:
    copy_in(engines[source_of(table)], table, frame)
    counts[table] = counts.get(table, 0) + len(frame)


def audit_log(day: date, snapshot: int, time_zone: str) -> pd.DataFrame:
    """Info Mart's load status: a chunk every 15 minutes up to a day past the snapshot (nothing
    happens after it; a day covers any voicebot look-ahead the readiness check waits for)."""
    ends = np.arange(local_midnight(day - timedelta(days=2), time_zone) + 900, snapshot + DAY + 1, 900)
    return pd.DataFrame(
        {"AUDIT_KEY": np.arange(1, len(ends) + 1), "JOB_ID": "Job_TransformGIM", "CREATED_TS": ends + 90, "MAX_CHUNK_TS": ends}
    )


BILLED = ScaleTenant(301, 1, "America/Chicago", ("SW_DAL_1", "SW_DAL_2", "SW_ATL"), ("MCP_DAL_1", "MCP_DAL_2", "MCP_ATL_1"))
NEIGHBOUR = ScaleTenant(302, 2, "America/Chicago", ("SW_OTHER",), ("MCP_OTHER",))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bds_tools.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of a PostgreSQL database holding all three sources")
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 3, 18))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.monotonic()
    counts = generate({s: args.url for s in SOURCES}, benchmark_plan(BILLED, NEIGHBOUR, args.day), args.scale, args.seed)
    print(", ".join(f"{t} {n}" for t, n in counts.items()), f"in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
