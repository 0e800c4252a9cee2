"""Random but valid worlds for the differential test: one billed tenant-day and its neighbours.

A world is what happened, told as Genesys would record it: the tenant's configuration (regions,
locations, switches, GVP components), Persons with one or several ``RESOURCE_`` rows, Agent
Logins held for a while, login sessions per media (across midnight and DST, still open, older
than the look-back), what each agent handled, Designer bot sessions, GVP calls with speech
sessions in milliseconds, and mailboxes created and deleted during the day, with another
tenant's rows beside them. Times cluster around the day's edges, where rules are easiest to
get wrong. ``tests/oracle/sources.py`` turns a world into source tables; the reference reads
the world itself.

Nothing here imports ``bds``: the worlds must not know how the pipeline works.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

TENANT, OTHER = 101, 202  # Configuration Server tenant DBIDs; Info Mart TENANT_KEY 1 and 2
TENANT_KEYS = {TENANT: 1, OTHER: 2}
SWITCHES = ("SW_A", "SW_B", "SW_C", "SW_D")
COMPONENTS = ("MCP_A", "MCP_B", "MCP_C")
REGIONS = ("US", "EU", "AP")
METRICS = (
    "seats_inbound_voice",
    "seats_chat",
    "seats_callback",
    "seats_outbound",
    "seats_workspace",
    "voicemail_boxes",
    "gvp_asr_ports",
    "gvp_tts_ports",
    "voicebot_interactions",
)
# Days where the local day is not 24 hours (or the next one is not), or the zone's offset is not whole hours.
DAYS = (
    ("UTC", date(2026, 3, 10)),
    ("America/New_York", date(2026, 3, 7)),  # the eve of a change: its look-ahead crosses it
    ("America/New_York", date(2026, 3, 8)),  # 23 hours
    ("America/New_York", date(2026, 11, 1)),  # 25 hours
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 24)),  # the eve of a change
    ("Europe/Berlin", date(2026, 10, 25)),
    ("Asia/Kolkata", date(2026, 6, 15)),  # +05:30
    ("Australia/Lord_Howe", date(2026, 4, 5)),  # clocks go back 30 minutes: 24.5 hours
    ("Australia/Lord_Howe", date(2026, 10, 4)),  # 23.5 hours
    ("Pacific/Chatham", date(2026, 4, 5)),  # +13:45 -> +12:45
    ("America/St_Johns", date(2026, 3, 8)),  # -03:30, 23 hours
    ("Pacific/Kiritimati", date(2026, 7, 1)),  # +14
    ("America/Los_Angeles", date(2026, 7, 4)),
)
# (INTERACTION_TYPE_CODE, INTERACTION_SUBTYPE_CODE) of interaction resource facts
KINDS = (
    ("INBOUND", "INBOUNDNEW"),
    ("OUTBOUND", "OUTBOUNDCONTACT"),
    ("OUTBOUND", "OUTBOUNDCALLBACK"),
    ("OUTBOUND", "OUTBOUNDNEW"),
    ("INTERNAL", "INTERNALCONFERENCE"),
)
MAILBOX_VALUES = ("1001", "0042", " 77 ", "0", "-3", "+5", "abc", "", "1.5")


def local_midnight(day: date, zone: str) -> int:
    return int(datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).timestamp())


@dataclass(frozen=True)
class Location:
    code: str
    enabled: bool
    switches: tuple[str, ...]  # empty: the default location
    components: tuple[str, ...]


@dataclass(frozen=True)
class Region:
    code: str
    enabled: bool
    locations: tuple[Location, ...]


@dataclass(frozen=True)
class Resource:
    """A RESOURCE_ row: an agent (a Person's DBID) or a queue, of a tenant."""

    key: int
    tenant: int
    kind: str  # RESOURCE_TYPE_CODE: AGENT or QUEUE
    dbid: int


@dataclass(frozen=True)
class Session:
    """An SM_RES_SESSION_FACT row: a resource logged in on one media."""

    key: int
    resource: int
    tenant: int
    media: str
    start: int
    end: int | None  # END_TS (Info Mart may keep a tentative end on an open session)
    active: bool  # ACTIVE_FLAG = 1


@dataclass(frozen=True)
class Handled:
    """An INTERACTION_RESOURCE_FACT row: a resource took part in an interaction."""

    key: int
    resource: int
    tenant: int
    media: str
    kind: tuple[str, str]
    start: int


@dataclass(frozen=True)
class Login:
    """An Agent Login (GIDB_GC_LOGIN) on a switch, held by a Person for a while (GIDB_GCX_LOGIN_INFO)."""

    key: int
    tenant: int
    switch: str
    person: int
    created: int
    deleted: int | None


@dataclass(frozen=True)
class BotInteraction:
    """An INTERACTION_FACT with Designer bot sessions (SDR_BOTS_FACT), times in milliseconds."""

    key: int
    tenant: int
    media: str
    start_ms: int
    bots: tuple[tuple[int, int], ...]  # (START_TS_MS, DURATION_MS)


@dataclass(frozen=True)
class Call:
    """A GVP call record with its speech-resource sessions, times in milliseconds."""

    key: int
    tenant: int
    component: str
    start_ms: int
    end_ms: int | None
    speech: tuple[tuple[str, int, int | None], ...]  # (ASR, TTS or DTMF, start, end or None while running)


@dataclass(frozen=True)
class ConfigObject:
    """A DN, Agent Login, Agent Group or DN Group, as Interaction Concentrator records it."""

    kind: str  # DN, AGENT_LOGIN, AGENT_GROUP, DN_GROUP
    key: int
    tenant: int
    created: int
    deleted: int | None


@dataclass(frozen=True)
class Option:
    """An Annex option of a configuration object."""

    key: int
    owner: ConfigObject
    section: str
    name: str
    value: str
    created: int
    deleted: int | None


@dataclass(frozen=True)
class World:
    zone: str
    day: date
    start: int  # the tenant's local midnight (UTC epoch seconds)
    end: int  # the next local midnight
    regions: tuple[Region, ...]
    metrics: tuple[str, ...]  # the enabled metrics
    lookback_days: int
    lookahead_minutes: int
    resources: tuple[Resource, ...] = ()
    sessions: tuple[Session, ...] = ()
    handled: tuple[Handled, ...] = ()
    logins: tuple[Login, ...] = ()
    bots: tuple[BotInteraction, ...] = ()
    calls: tuple[Call, ...] = ()
    objects: tuple[ConfigObject, ...] = ()
    options: tuple[Option, ...] = ()

    @property
    def lookback_start(self) -> int:
        """Local midnight ``lookback_days`` calendar days before the day."""
        return local_midnight(self.day - timedelta(days=self.lookback_days), self.zone)

    def agent_rows(self, resource: int) -> set[int]:
        """The agent RESOURCE_ rows of the Person behind ``resource``."""
        person = next((r.dbid for r in self.resources if r.key == resource and r.kind == "AGENT"), None)
        return {r.key for r in self.resources if r.kind == "AGENT" and r.dbid == person}

    def hard_cases(self) -> set[str]:
        return {name for name, holds in HARD_CASES.items() if holds(self)}

    def config(self) -> dict:
        """The billing configuration of the tenant, as its YAML file would hold it."""
        return {
            "billing_process_enabled": True,
            "session_lookback_days": self.lookback_days,
            "voicebot_lookahead_minutes": self.lookahead_minutes,
            "tenants": [
                {
                    "tenant_id": TENANT,
                    "name": "Oracle Tenant",
                    "garn": "GARN-1",
                    "billable": "PureConnect",
                    "time_zone": self.zone,
                    "production_date": "2026-01-01",
                    "regions": [
                        {
                            "code": r.code,
                            "enabled": r.enabled,
                            "locations": [
                                {
                                    "code": loc.code,
                                    "enabled": loc.enabled,
                                    "switches": list(loc.switches),
                                    "gvp_components": list(loc.components),
                                }
                                for loc in r.locations
                            ],
                        }
                        for r in self.regions
                    ],
                    "metrics": {m: True for m in self.metrics},
                }
            ],
        }


def _touches_midnight(s: Session, w: World) -> bool:
    end = w.end + 1 if s.active or s.end is None else s.end
    return s.start < w.start < end or s.start < w.end < end


# The hard cases a world may hold, each a test of the world; the differential test counts the
# worlds that hold each one, and fails when one was too rare to have been tried.
HARD_CASES = {
    "a day of 23, 24.5 or 25 hours": lambda w: w.end - w.start != 86_400,
    "a session across midnight": lambda w: any(_touches_midnight(s, w) for s in w.sessions if s.tenant == TENANT),
    "an open session": lambda w: any(s.active or s.end is None for s in w.sessions if s.tenant == TENANT),
    "a session older than the look-back, still touching the day": lambda w: any(
        s.start < w.lookback_start and (s.active or s.end is None or s.end > w.start) for s in w.sessions if s.tenant == TENANT
    ),
    "handled under another RESOURCE_ row of the Person": lambda w: any(
        h.resource != s.resource and h.start >= s.start and {h.resource, s.resource} <= w.agent_rows(s.resource)
        for s in w.sessions
        for h in w.handled
        if s.tenant == TENANT
    ),
    "a queue sharing a Person's DBID": lambda w: any(r.kind == "QUEUE" for r in w.resources if r.tenant == TENANT),
    "a switched-off region or location": lambda w: any(
        not r.enabled or not all(loc.enabled for loc in r.locations) for r in w.regions
    ),
    "voicebot sessions across midnight": lambda w: any(
        min(start for start, _ in b.bots) < w.end * 1000 <= max(start for start, _ in b.bots)
        for b in w.bots
        if b.tenant == TENANT and b.media == "VOICE"
    ),
    "a GVP session still running": lambda w: any(e is None for c in w.calls if c.tenant == TENANT for _, _, e in c.speech),
    "a mailbox created or removed during the day": lambda w: any(
        w.start < t < w.end
        for o in w.options
        if o.owner.tenant == TENANT
        for t in (o.created, o.deleted, o.owner.created, o.owner.deleted)
        if t is not None
    ),
}


# --- strategies -----------------------------------------------------------------------------


@st.composite
def regions(draw) -> tuple[Region, ...]:
    """One to three regions; switches and components spread over locations, some left unlisted;
    exactly one default location (no switches). Regions and locations are sometimes switched off."""
    codes = draw(st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3, unique=True))
    owner_of = dict(
        zip(SWITCHES, draw(st.lists(st.integers(-1, 2), min_size=len(SWITCHES), max_size=len(SWITCHES))), strict=True)
    )
    places = [tuple(s for s in SWITCHES if owner_of[s] == i) for i in sorted(set(owner_of.values()) - {-1})]
    places.append(())  # the default location
    served_by = draw(st.lists(st.integers(-1, len(places) - 1), min_size=len(COMPONENTS), max_size=len(COMPONENTS)))
    locations = [
        Location(
            f"L{i}", draw(st.integers(0, 4)) > 0, place, tuple(c for c, by in zip(COMPONENTS, served_by, strict=True) if by == i)
        )
        for i, place in enumerate(places)
    ]
    homes = [draw(st.integers(0, len(codes) - 1)) for _ in locations]
    out = []
    for index, code in enumerate(codes):
        mine = tuple(loc for loc, home in zip(locations, homes, strict=True) if home == index)
        if not mine:  # every region has a location: give it one of its own
            mine = (Location(f"E{index}", True, (f"SW_{code}_ONLY",), ()),)
        out.append(Region(code, draw(st.integers(0, 5)) > 0, mine))
    return tuple(out)


def moment(start: int, end: int):
    """A second near the day's edges (or a week and more before it), or anywhere from two days
    before the day to one day after it."""
    anchors = [start, end, start - 86_400, end + 3_600, start - 8 * 86_400]
    near = st.tuples(st.sampled_from(anchors), st.integers(-90, 90)).map(sum)
    return st.one_of(near, st.integers(start - 2 * 86_400, end + 86_400))


@st.composite
def worlds(draw) -> World:
    zone, day = draw(st.sampled_from(DAYS))
    start, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    when = moment(start, end)
    metrics = tuple(m for m in METRICS if draw(st.integers(0, 6)) > 0) or METRICS[:1]
    keys = iter(range(1, 10_000))

    resources, sessions, handled, logins = [], [], [], []
    for tenant in [TENANT] * draw(st.integers(1, 4)) + [OTHER]:
        person = 5_000 + next(keys)
        rows = [Resource(next(keys), tenant, "AGENT", person) for _ in range(draw(st.integers(1, 3)))]
        if draw(st.integers(0, 4)) == 0:  # a queue whose DBID happens to equal the Person's
            rows.append(Resource(next(keys), tenant, "QUEUE", person))
        resources += rows
        # Agent Logins held for a while: from anywhere, or taken just after the day ended, or given
        # back just before it began (held during a session, but not during its part of the day).
        for _ in range(draw(st.integers(0, 2))):
            edge = draw(st.sampled_from(("anywhere", "after the day", "before the day")))
            created = draw(when) if edge != "after the day" else end + draw(st.integers(0, 600))
            if edge == "before the day":
                created = min(created, start - 1)
                deleted = start - draw(st.integers(0, min(600, start - created - 1)))
            else:
                deleted = draw(st.none() | st.integers(created + 1, created + 2 * 86_400))
            logins.append(Login(next(keys), tenant, draw(st.sampled_from((*SWITCHES, "SW_ELSEWHERE"))), person, created, deleted))
        for _ in range(draw(st.integers(0, 4))):
            resource = draw(st.sampled_from(rows))
            media = draw(st.sampled_from(("VOICE", "VOICE", "CHAT", "EMAIL")))
            begin = draw(when)
            length = draw(st.one_of(st.integers(0, 900), st.integers(0, 3 * 86_400)))
            active = draw(st.integers(0, 3)) == 0
            stop = None if active and draw(st.booleans()) else begin + length
            sessions.append(Session(next(keys), resource.key, tenant, media, begin, stop, active))
            for _ in range(draw(st.integers(0, 2))):  # what the Person handled, under any of its rows
                by = draw(st.sampled_from(rows))
                until = stop if stop is not None and not active else end
                edges = st.sampled_from(
                    (-1, 0, 1, until - begin - 1, until - begin, end - begin - 1, end - begin, end - begin + 60)
                )
                offset = draw(st.one_of(edges, edges, st.integers(-600, max(until - begin, 0))))
                kind = draw(st.sampled_from(KINDS))
                handled.append(
                    Handled(
                        next(keys), by.key, tenant, draw(st.sampled_from((media, media, "VOICE", "CHAT"))), kind, begin + offset
                    )
                )

    bots = []
    for tenant in (TENANT, TENANT, TENANT, OTHER):
        if draw(st.integers(0, 3)) == 0:
            continue
        # Bot sessions on both sides of the day's end or of its start (the day before's end, whose
        # look-ahead reaches into the day), or anywhere.
        around = draw(st.sampled_from(("end", "start", "anywhere")))
        if around == "anywhere":
            first = draw(when) * 1000 + draw(st.integers(0, 999))
        else:
            first = ({"end": end, "start": start}[around] - draw(st.integers(1, 1_800))) * 1000 + draw(st.integers(0, 999))
        half_hours = st.sampled_from(range(0, 5 * 3_600_000 + 1, 1_800_000))  # past the look-aheads tried
        gaps = {
            "end": st.integers(0, 1_200_000),
            "start": half_hours | st.integers(0, 5 * 3_600_000),
            "anywhere": st.integers(0, 3_600_000) | st.integers(0, 8 * 3_600_000),
        }[around]
        sessions_ms, at = [], first
        for _ in range(draw(st.integers(1, 3))):
            duration = draw(st.sampled_from((0, 1, 899_999, 900_000, 900_001)) | st.integers(0, 2_400_000))
            sessions_ms.append((at, duration))
            at += duration + draw(gaps)  # less than a day in all
        media = draw(st.sampled_from(("VOICE", "VOICE", "CHAT")))
        bots.append(BotInteraction(next(keys), tenant, media, first - draw(st.integers(0, 600_000)), tuple(sessions_ms)))

    calls = []
    for tenant in (TENANT, TENANT, OTHER):
        for _ in range(draw(st.integers(0, 2))):
            # Calls last hours, not days: they start from half a day before the day to just after it.
            near_edge = st.tuples(st.sampled_from((start, end, start - 3_600)), st.integers(-90, 90)).map(sum)
            begin = draw(near_edge | st.integers(start - 43_200, end + 3_600)) * 1000 + draw(
                st.sampled_from((0, 999)) | st.integers(0, 999)
            )
            speech = []
            for _ in range(draw(st.integers(1, 3))):
                s = begin + draw(st.sampled_from((0, 1, 999, 1000)) | st.integers(0, 4 * 3_600_000))
                e = (
                    None
                    if draw(st.integers(0, 4)) == 0
                    else s + draw(st.sampled_from((0, 1, 999, 1000, 1001)) | st.integers(0, 3_600_000))
                )
                speech.append((draw(st.sampled_from(("ASR", "ASR", "TTS", "DTMF"))), s, e))
            last = [e for _, _, e in speech]
            call_end = None if None in last else max(last) + draw(st.integers(0, 5000))
            component = draw(st.sampled_from((*COMPONENTS, "MCP_UNLISTED")))
            calls.append(Call(next(keys), tenant, component, begin, call_end, tuple(speech)))

    objects, options = [], []
    for tenant in (TENANT, TENANT, TENANT, OTHER):
        for _ in range(draw(st.integers(0, 2))):
            created = draw(when)
            owner = ConfigObject(
                draw(st.sampled_from(("DN", "DN", "AGENT_LOGIN", "AGENT_GROUP", "DN_GROUP"))),
                next(keys),
                tenant,
                created,
                draw(st.none() | st.integers(created + 1, created + 86_400 + 3_600)),
            )
            objects.append(owner)
            for _ in range(draw(st.integers(1, 2))):
                at = draw(when)
                options.append(
                    Option(
                        next(keys),
                        owner,
                        draw(st.sampled_from(("TServer", "TServer", "TServer", "gvm"))),
                        draw(st.sampled_from(("gvm_mailbox", "gvm_mailbox", "gvm_mailbox", "gvm_profile"))),
                        draw(st.sampled_from(MAILBOX_VALUES)),
                        at,
                        draw(st.none() | st.integers(at + 1, at + 86_400)),
                    )
                )

    return World(
        zone=zone,
        day=day,
        start=start,
        end=end,
        regions=draw(regions()),
        metrics=metrics,
        lookback_days=draw(st.sampled_from((1, 7))),
        lookahead_minutes=draw(st.sampled_from((0, 60, 120, 240))),
        resources=tuple(resources),
        sessions=tuple(sessions),
        handled=tuple(handled),
        logins=tuple(logins),
        bots=tuple(bots),
        calls=tuple(calls),
        objects=tuple(objects),
        options=tuple(options),
    )
