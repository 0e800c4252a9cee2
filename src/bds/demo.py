"""A deterministic generator of demo sources: Info Mart, GVP Reporting Server, configuration.

Given a billing configuration, days, a seed and a scale factor, it creates the tables of
``include/sql/ddl/<dialect>/`` and fills them with days that look like a contact centre's:
shifts with a break, night shifts across midnight, agents on voice and chat at once, an
agent logged in twice, sessions still open at the end of the last day, inbound, outbound
(OCS), callback and chat interactions, IVR calls with ASR/TTS, voicemail boxes on DNs,
agent logins and agent groups (added and removed during the days), and voicebot sessions.
Every configured tenant gets data, and so does one tenant that is not configured, so that
each query has other tenants' rows to leave out. The same arguments give the same rows.

Usage: ``python -m bds.demo --sqlite-dir DIR --config FILE --from 2026-03-07 --to 2026-03-09``
(or ``--gim URL --gvp URL --cme URL`` with SQLAlchemy URLs, e.g. for PostgreSQL, or
``--connections`` for the databases of the Airflow connections bds_gim, bds_gvp and bds_cme).
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from bds.calendar import local_midnight
from bds.config import BillingConfig, load_billing_config
from bds.sources import source_engine, sql_dir, sql_text

MEDIA = {"VOICE": 1, "CHAT": 2, "EMAIL": 3}
INTERACTION_TYPES = {  # key: (INTERACTION_TYPE_CODE, INTERACTION_SUBTYPE_CODE)
    1: ("INBOUND", "INBOUNDNEW"),
    2: ("OUTBOUND", "OUTBOUNDCONTACT"),
    3: ("OUTBOUND", "OUTBOUNDCALLBACK"),
    4: ("INTERNAL", "INTERNALCONFERENCEINVITE"),
    5: ("OUTBOUND", "OUTBOUNDNEW"),
}
DN, AGENT_GROUP, AGENT_LOGIN = 2, 5, 15  # Configuration Server object types
UNCONFIGURED_TENANT = 199
ROLES = ("voice", "blended", "outbound", "chat", "voice", "callback", "blended", "voice", "outbound", "chat")
SOURCES = ("gim", "gvp", "cme")
FAR_FUTURE_KEY = 2_147_482_800  # placeholder end key of open facts: the last 15-minute key an integer holds


@dataclass
class Rows:
    """Rows per table, in insertion order."""

    tables: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    ids: dict[str, itertools.count] = field(default_factory=lambda: defaultdict(lambda: itertools.count(1)))

    def add(self, table: str, **row) -> dict:
        self.tables[table].append(row)
        return row

    def next_id(self, kind: str) -> int:
        return next(self.ids[kind])


@dataclass(frozen=True)
class TenantShape:
    tenant_id: int
    time_zone: str
    switches: tuple[str, ...]
    components: tuple[str, ...]


def shapes(config: BillingConfig) -> list[TenantShape]:
    found = [
        TenantShape(
            t.tenant_id,
            t.time_zone,
            tuple(s for r in t.regions for loc in r.locations for s in loc.switches) or ("SW_DEFAULT",),
            tuple(c for r in t.regions for loc in r.locations for c in loc.gvp_components) or ("MCP_DEFAULT",),
        )
        for t in config.tenants
    ]
    return found + [TenantShape(UNCONFIGURED_TENANT, "UTC", ("SW_OTHER",), ("MCP_OTHER",))]


def dt_key(ts: int) -> int:
    """Info Mart DATE_TIME key: the UTC epoch second of the 15-minute interval."""
    return ts - ts % 900


class Generator:
    def __init__(self, config: BillingConfig, days: list[date], seed: int = 7, scale: float = 1.0):
        self.config, self.days, self.scale = config, days, scale
        self.rng = random.Random(seed)
        self.rows = Rows()
        # Info Mart's snapshot is taken at the end of the last day: later facts do not exist yet.
        self.snapshot = max(local_midnight(days[-1] + timedelta(days=1), s.time_zone) for s in shapes(config))

    def count(self, base: float) -> int:
        return max(1, round(base * self.scale))

    def build(self) -> dict[str, list[dict]]:
        for key, code in MEDIA.items():
            self.rows.add("MEDIA_TYPE", MEDIA_TYPE_KEY=code, MEDIA_NAME_CODE=key)
        for key, (code, subtype) in INTERACTION_TYPES.items():
            self.rows.add(
                "INTERACTION_TYPE", INTERACTION_TYPE_KEY=key, INTERACTION_TYPE_CODE=code, INTERACTION_SUBTYPE_CODE=subtype
            )
        for tenant_key, shape in enumerate(shapes(self.config), start=1):
            self.rows.add("TENANT", TENANT_KEY=tenant_key, TENANT_CFG_DBID=shape.tenant_id)
            agents = self.agents(tenant_key, shape)
            self.configuration(shape, agents)
            for day in [self.days[0] - timedelta(days=1), *self.days]:
                start = local_midnight(day, shape.time_zone)
                for agent in agents:
                    self.agent_day(tenant_key, agent, start)
                self.ivr_day(shape, start)
                self.bot_day(tenant_key, start)
        self.etl_audit()
        return self.rows.tables

    def etl_audit(self) -> None:
        """Info Mart's ETL commits every 15 minutes (its load status), up to a day past the
        snapshot: nothing happens after it, and a day covers any voicebot look-ahead."""
        first = min(local_midnight(self.days[0] - timedelta(days=1), s.time_zone) for s in shapes(self.config))
        for n, chunk_end in enumerate(range(first + 900, self.snapshot + 86_400 + 1, 900), start=1):
            self.rows.add(
                "CTL_AUDIT_LOG", AUDIT_KEY=n, JOB_ID="Job_TransformGIM", CREATED_TS=chunk_end + 90, MAX_CHUNK_TS=chunk_end
            )

    # --- people and configuration -------------------------------------------------------

    def agents(self, tenant_key: int, shape: TenantShape) -> list[dict]:
        agents = []
        for n in range(self.count(24)):
            person = shape.tenant_id * 100_000 + n + 1
            resource_key = self.rows.next_id("resource")
            self.rows.add(
                "RESOURCE_",
                RESOURCE_KEY=resource_key,
                TENANT_KEY=tenant_key,
                RESOURCE_TYPE_CODE="AGENT",
                RESOURCE_CFG_DBID=person,
            )
            role = ROLES[n % len(ROLES)]  # every tenant gets every kind of agent
            agent = {"person": person, "resource": resource_key, "role": role, "night": self.rng.random() < 0.15}
            # Each agent holds an Agent Login on a switch; a few hold a second one elsewhere.
            homes = [self.rng.choice(shape.switches)]
            if len(shape.switches) > 1 and self.rng.random() < 0.1:
                homes.append(self.rng.choice([s for s in shape.switches if s != homes[0]]))
            agent["logins"] = [self.login(shape, person, switch) for switch in homes]
            agent["twice"] = self.rng.random() < 0.08  # logs in on a second place too
            agents.append(agent)
        # Non-agent resources share the tables and must be left out.
        self.rows.add(
            "RESOURCE_",
            RESOURCE_KEY=self.rows.next_id("resource"),
            TENANT_KEY=tenant_key,
            RESOURCE_TYPE_CODE="QUEUE",
            RESOURCE_CFG_DBID=shape.tenant_id * 100_000 + 99_999,
        )
        return agents

    def switch_id(self, name: str) -> int:
        known = {row["NAME"]: row["ID"] for row in self.rows.tables["GIDB_GC_SWITCH"]}
        if name not in known:
            known[name] = self.rows.add("GIDB_GC_SWITCH", ID=self.rows.next_id("switch"), NAME=name)["ID"]
        return known[name]

    def login(self, shape: TenantShape, person: int, switch: str) -> int:
        login_id = self.rows.next_id("login")
        created = local_midnight(self.days[0], shape.time_zone) - 90 * 86_400
        self.rows.add("GIDB_GC_LOGIN", ID=login_id, TENANTID=shape.tenant_id, SWITCHID=self.switch_id(switch))
        self.rows.add(
            "GIDB_GCX_LOGIN_INFO",
            ID=self.rows.next_id("login_info"),
            LOGINID=login_id,
            AGENTID=person,
            CREATED_TS=created,
            DELETED_TS=None,
        )
        self.rows.add("GC_LOGIN", ID=login_id, TENANTID=shape.tenant_id, CREATED_TS=created, DELETED_TS=None)
        return login_id

    def configuration(self, shape: TenantShape, agents: list[dict]) -> None:
        first = local_midnight(self.days[0], shape.time_zone)
        last = local_midnight(self.days[-1] + timedelta(days=1), shape.time_zone)
        objects = [(AGENT_LOGIN, login) for agent in agents for login in agent["logins"]]
        for _ in range(self.count(30)):
            dn = self.rows.next_id("dn")
            self.rows.add("GC_ENDPOINT", ID=dn, TENANTID=shape.tenant_id, CREATED_TS=first - 400 * 86_400, DELETED_TS=None)
            objects.append((DN, dn))
        for n in range(self.count(4)):
            group = self.rows.next_id("group")
            group_type = 3 if n == 0 else 1  # a DN group's mailbox is not a billable box
            self.rows.add(
                "GC_GROUP", ID=group, TENANTID=shape.tenant_id, TYPE=group_type, CREATED_TS=first - 200 * 86_400, DELETED_TS=None
            )
            objects.append((AGENT_GROUP, group))
        for object_type, object_id in objects:
            if self.rng.random() > 0.35:
                continue
            created, deleted = first - 30 * 86_400, None
            change = self.rng.random()
            if change < 0.15:  # mailbox added during the demo days
                created = self.rng.randrange(first, last)
            elif change < 0.25:  # mailbox removed during the demo days
                deleted = self.rng.randrange(first, last)
            value = str(self.rng.randrange(1000, 9999)) if self.rng.random() > 0.05 else "0"
            self.rows.add(
                "GC_ANNEX",
                ID=self.rows.next_id("annex"),
                CFGOBJECTID=object_id,
                CFGOBJECTTYPE=object_type,
                SECTIONNAME="TServer",
                KEYNAME="gvm_mailbox",
                VALUE=value,
                TENANTID=shape.tenant_id,
                CREATED_TS=created,
                DELETED_TS=deleted,
            )
            if self.rng.random() < 0.3:  # other annex options live beside the mailbox
                self.rows.add(
                    "GC_ANNEX",
                    ID=self.rows.next_id("annex"),
                    CFGOBJECTID=object_id,
                    CFGOBJECTTYPE=object_type,
                    SECTIONNAME="TServer",
                    KEYNAME="gvm_profile",
                    VALUE="standard",
                    TENANTID=shape.tenant_id,
                    CREATED_TS=created,
                    DELETED_TS=None,
                )

    # --- a day of work ------------------------------------------------------------------

    def session(self, tenant_key: int, agent: dict, media: str, start: int, end: int) -> None:
        is_open = end > self.snapshot
        if start >= self.snapshot:
            return
        self.rows.add(
            "SM_RES_SESSION_FACT",
            SM_RES_SESSION_FACT_KEY=self.rows.next_id("sm"),
            START_DATE_TIME_KEY=dt_key(start),
            END_DATE_TIME_KEY=FAR_FUTURE_KEY if is_open else dt_key(end),
            TENANT_KEY=tenant_key,
            MEDIA_TYPE_KEY=MEDIA[media],
            RESOURCE_KEY=agent["resource"],
            START_TS=start,
            END_TS=None if is_open else end,
            ACTIVE_FLAG=1 if is_open else 0,
        )

    def interactions(self, tenant_key: int, agent: dict, media: str, start: int, end: int, kinds: list[int]) -> None:
        t = start + self.rng.randrange(60, 900)
        while t < min(end, self.snapshot) - 60:
            kind = self.rng.choice(kinds)
            interaction_id = self.rows.next_id("interaction")
            self.rows.add(
                "INTERACTION_RESOURCE_FACT",
                INTERACTION_RESOURCE_ID=self.rows.next_id("irf"),
                INTERACTION_ID=interaction_id,
                START_DATE_TIME_KEY=dt_key(t),
                TENANT_KEY=tenant_key,
                MEDIA_TYPE_KEY=MEDIA[media],
                INTERACTION_TYPE_KEY=kind,
                RESOURCE_KEY=agent["resource"],
                START_TS=t,
            )
            t += self.rng.randrange(240, 1500)

    def agent_day(self, tenant_key: int, agent: dict, midnight: int) -> None:
        if self.rng.random() < 0.15:
            return  # day off
        if agent["night"]:
            start = midnight + 20 * 3600 + self.rng.randrange(0, 3600)
        else:
            start = midnight + 6 * 3600 + self.rng.randrange(0, 10 * 3600)
        end = start + 8 * 3600 + self.rng.randrange(-1800, 1800)
        brk = start + 4 * 3600 + self.rng.randrange(-1800, 1800)
        role = agent["role"]
        spans = [(start, brk), (brk + 1800, end)]  # logged out during a 30-minute break
        for span_start, span_end in spans:
            if role in ("voice", "blended", "outbound", "callback"):
                self.session(tenant_key, agent, "VOICE", span_start, span_end)
                kinds = {"outbound": [2, 2, 5, 1], "callback": [1, 3, 1]}.get(role, [1, 1, 1, 4, 5])
                if role == "voice" and self.rng.random() < 0.05:
                    kinds = [1, 3]  # the odd callback handled by a voice agent
                self.interactions(tenant_key, agent, "VOICE", span_start, span_end, kinds)
                if agent["twice"]:
                    self.session(tenant_key, agent, "VOICE", span_start + 600, span_end - 600)
            if role in ("blended", "chat"):
                self.session(tenant_key, agent, "CHAT", span_start + 300, span_end)
                if self.rng.random() < 0.8:  # some chat sessions handle no chat at all
                    self.interactions(tenant_key, agent, "CHAT", span_start + 300, span_end, [1])
            if role == "chat" and self.rng.random() < 0.3:
                self.session(tenant_key, agent, "EMAIL", span_start, span_end)

    def busy_second(self, midnight: int) -> int:
        """A second of the day, weighted towards business hours."""
        if self.rng.random() < 0.8:
            return midnight + 8 * 3600 + self.rng.randrange(0, 10 * 3600)
        return midnight + self.rng.randrange(0, 86_400)

    def ivr_day(self, shape: TenantShape, midnight: int) -> None:
        for _ in range(self.count(160)):
            start = self.busy_second(midnight) * 1000 + self.rng.randrange(0, 1000)
            if start >= self.snapshot * 1000:
                continue
            end = start + self.rng.randrange(20_000, 400_000)
            cdr = self.rows.add(
                "GVP_CDR",
                CDR_ID=self.rows.next_id("cdr"),
                TENANT_ID=shape.tenant_id,
                IVR_PROFILE_ID=shape.tenant_id * 10 + 1,
                COMPONENT_NAME=self.rng.choice(shape.components),
                START_TIME_MS=start,
                END_TIME_MS=end if end < self.snapshot * 1000 else None,
            )
            for resource, share in (("ASR", 0.4), ("TTS", 0.3)):
                if self.rng.random() < share:
                    s = start + self.rng.randrange(1_000, 15_000)
                    e = s + self.rng.randrange(3_000, 60_000)
                    self.rows.add(
                        "GVP_SPEECH_SESSION",
                        SPEECH_SESSION_ID=self.rows.next_id("speech"),
                        CDR_ID=cdr["CDR_ID"],
                        RESOURCE_TYPE=resource,
                        START_TIME_MS=s,
                        END_TIME_MS=e if e < self.snapshot * 1000 else None,
                    )

    def bot_day(self, tenant_key: int, midnight: int) -> None:
        for _ in range(self.count(40)):
            start = self.busy_second(midnight)
            if start >= self.snapshot:
                continue
            interaction_id = self.rows.next_id("interaction")
            guid = f"IXN-{interaction_id:012d}"
            media = "VOICE" if self.rng.random() < 0.85 else "CHAT"
            self.rows.add(
                "INTERACTION_FACT",
                INTERACTION_ID=interaction_id,
                TENANT_KEY=tenant_key,
                MEDIA_SERVER_IXN_GUID=guid,
                START_DATE_TIME_KEY=dt_key(start),
            )
            t = start * 1000 + self.rng.randrange(0, 1000)
            for sequence in range(self.rng.choice([1, 1, 2, 3])):
                duration = self.rng.randrange(20_000, 1_200_000)
                self.rows.add(
                    "SDR_BOTS_FACT",
                    SESSION_ID=f"ORS-{interaction_id}",
                    START_DATE_TIME_KEY=dt_key(t // 1000),
                    SEQUENCE_ID=sequence,
                    INTERACTION_ID=guid,
                    MEDIA_TYPE_KEY=MEDIA[media],
                    START_TS_MS=t,
                    DURATION_MS=duration,
                )
                t += duration + self.rng.randrange(5_000, 60_000)


TABLES = {
    "gim": (
        "TENANT",
        "MEDIA_TYPE",
        "INTERACTION_TYPE",
        "RESOURCE_",
        "SM_RES_SESSION_FACT",
        "INTERACTION_FACT",
        "INTERACTION_RESOURCE_FACT",
        "SDR_BOTS_FACT",
        "GIDB_GC_SWITCH",
        "GIDB_GC_LOGIN",
        "GIDB_GCX_LOGIN_INFO",
        "CTL_AUDIT_LOG",
    ),
    "gvp": ("GVP_CDR", "GVP_SPEECH_SESSION"),
    "cme": ("GC_ENDPOINT", "GC_LOGIN", "GC_GROUP", "GC_ANNEX"),
}


def ddl_statements(source: str, dialect: str) -> list[str]:
    body = sql_text(sql_dir() / "ddl" / dialect / f"{source}.sql")
    return [s.strip() for s in body.split(";") if s.strip()]


# include/sql/ddl/<folder> of each SQLAlchemy dialect the demo sources can be made on.
DDL_FOLDERS = {"postgresql": "postgres", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}


def create_schema(engine: sa.Engine, source: str) -> None:
    dialect = DDL_FOLDERS.get(engine.dialect.name, engine.dialect.name)
    with engine.begin() as conn:
        for table in reversed(TABLES[source]):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for statement in ddl_statements(source, dialect):
            conn.execute(sa.text(statement))


def load(engine: sa.Engine, source: str, tables: dict[str, list[dict]], chunk: int = 50_000) -> dict[str, int]:
    counts = {}
    with engine.begin() as conn:
        for name in TABLES[source]:
            rows = tables.get(name, [])
            counts[name] = len(rows)
            if not rows:
                continue
            # PostgreSQL folds the DDL's unquoted names to lower case; MySQL keeps them as written.
            table = name if engine.dialect.name in ("mysql", "mariadb") else name.lower()
            target = sa.table(table, *(sa.column(c.lower()) for c in rows[0]))
            for i in range(0, len(rows), chunk):
                conn.execute(sa.insert(target), [{k.lower(): v for k, v in r.items()} for r in rows[i : i + chunk]])
    return counts


def seed_sources(
    urls: dict[str, str], config: BillingConfig, days: list[date], seed: int = 7, scale: float = 1.0
) -> dict[str, dict[str, int]]:
    """Create and fill the three demo sources; returns row counts per source and table."""
    tables = Generator(config, days, seed, scale).build()
    counts = {}
    for source in SOURCES:
        engine = sa.create_engine(urls[source])
        try:
            create_schema(engine, source)
            counts[source] = load(engine, source, tables)
        finally:
            engine.dispose()
    return counts


def connection_url(source: str) -> str:
    """The SQLAlchemy URL of the source's Airflow connection, as the pipeline reaches it."""
    engine = source_engine(source, "demo sources")
    try:
        return engine.url.render_as_string(hide_password=False)
    finally:
        engine.dispose()


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bds.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="billing configuration whose tenants get data")
    parser.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    parser.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies agents, calls and objects")
    parser.add_argument("--sqlite-dir", type=Path, help="write gim.db, gvp.db and cme.db here")
    for source in SOURCES:
        parser.add_argument(f"--{source}", help=f"SQLAlchemy URL of the {source} source")
    parser.add_argument(
        "--connections", action="store_true", help="seed the databases of the bds_gim, bds_gvp and bds_cme connections"
    )
    args = parser.parse_args(argv)
    if args.connections:
        urls = {s: connection_url(s) for s in SOURCES}
    elif args.sqlite_dir:
        args.sqlite_dir.mkdir(parents=True, exist_ok=True)
        urls = {s: f"sqlite:///{(args.sqlite_dir / f'{s}.db').resolve()}" for s in SOURCES}
    else:
        urls = {s: getattr(args, s) for s in SOURCES}
        if not all(urls.values()):
            parser.error("give --sqlite-dir, --connections, or all of --gim, --gvp and --cme")
    counts = seed_sources(urls, load_billing_config(args.config), day_range(args.first, args.last), args.seed, args.scale)
    for source, tables in counts.items():
        print(f"{source}: " + ", ".join(f"{t} {n}" for t, n in tables.items()))


if __name__ == "__main__":
    main()
