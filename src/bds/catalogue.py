"""The metric catalogue: every billable metric, as data, in one place.

Each entry names the source and staged dataset it reads, which rows of that dataset
qualify, the rule that turns rows into counts, its scope, the billing-file codes and
whether it has a monthly characteristic. Adding a metric is adding an entry here and,
if it needs new rows or a new qualifying column, the SQL that provides them under
``include/sql/<source>/<dataset>.sql``.

File codes marked "BDS" are the codes Genesys documents; the others are chosen by this
project (docs/metrics.md lists them) and can be changed here without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Count:
    """One row of a billing file: which number it carries, its AgentGroupName code, and how
    a month's value follows from the days: the highest daily value, the sum, or the number
    of distinct agents over the month (never a sum of daily counts)."""

    name: str
    agent_group_name: str
    monthly: str  # "max", "sum" or "distinct"


CONCURRENT = Count("concurrent", "1", "max")  # peak at any one second (BDS: AgentGroupName 1)
ENABLED = Count("enabled", "2", "distinct")  # distinct agents in the period (AgentGroupName 2)
UNITS = Count("units", "1", "sum")  # summed billable units (voicebot: BDS AgentGroupName 1)

SOURCES = MappingProxyType(
    {
        "gim": ("bds_gim", "Genesys Info Mart"),
        "gvp": ("bds_gvp", "GVP Reporting Server"),
        "cme": ("bds_cme", "Configuration Management Environment"),
    }
)


@dataclass(frozen=True)
class Metric:
    key: str
    title: str
    source: str  # key of SOURCES
    dataset: str  # staged dataset (= SQL file include/sql/<source>/<dataset>.sql)
    rule: str  # key of bds.metrics.RULES
    scope: str  # "region" or "global"
    channel_type: str
    service_class: str
    activity_type: str
    status: str
    counts: tuple[Count, ...]
    monthly: bool
    # Rows of the dataset that qualify: column -> accepted values.
    where: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    codes_from: str = "chosen"  # "BDS" where Genesys documents the codes
    # Reads facts that start after the day's end (up to voicebot_lookahead_minutes): the day
    # is then billable, and Info Mart must have loaded it, only that much later.
    looks_ahead: bool = False

    @property
    def conn_id(self) -> str:
        return SOURCES[self.source][0]

    @property
    def counts_switchless_sessions(self) -> bool:
        """Counts agent sessions on media that have no switch (chat, email): those are billed
        in the tenant's default location, so the tenant needs one."""
        return self.rule == "seats" and bool(set(self.where.get("media", ("CHAT",))) - {"VOICE"})


def _where(**columns: tuple) -> MappingProxyType:
    return MappingProxyType(columns)


def _seats(key: str, title: str, channel_type: str, service_class: str, codes_from: str = "chosen", **where) -> Metric:
    """A seat metric: agent sessions of the kind that qualifies, Concurrent and Enabled, per region."""
    return Metric(
        key=key,
        title=title,
        source="gim",
        dataset="agent_sessions",
        rule="seats",
        scope="region",
        channel_type=channel_type,
        service_class=service_class,
        activity_type="5",
        status="AGENT_SEATS",
        counts=(CONCURRENT, ENABLED),
        monthly=True,
        where=_where(**where),
        codes_from=codes_from,
    )


def _ports(key: str, resource: str, service_class: str) -> Metric:
    """GVP port metric: peak concurrent speech-resource sessions of one type, per region."""
    return Metric(
        key=key,
        title=f"GVP {resource} ports: peak concurrent {resource} sessions",
        source="gvp",
        dataset="media_sessions",
        rule="peak",
        scope="region",
        channel_type="1",
        service_class=service_class,
        activity_type="5",
        status="PORTS",
        counts=(CONCURRENT,),
        monthly=True,
        where=_where(resource=(resource,)),
    )


METRICS: MappingProxyType[str, Metric] = MappingProxyType(
    {
        m.key: m
        for m in (
            _seats("seats_inbound_voice", "Genesys Voice seats: agents with voice login sessions", "1", "20", media=("VOICE",)),
            _seats(
                "seats_chat",
                "Genesys Chat seats: chat sessions in which the agent handled at least one chat",
                "2",
                "21",
                media=("CHAT",),
                handled_chat=(1,),
            ),
            _seats(
                "seats_callback",
                "Callback seats: voice sessions in which at least one callback call was handled",
                "3",
                "22",
                media=("VOICE",),
                handled_callback=(1,),
            ),
            _seats(
                "seats_outbound",
                "Outbound Contact seats: voice sessions with OCS-driven calls",
                "4",
                "23",
                codes_from="BDS",
                media=("VOICE",),
                handled_outbound=(1,),
            ),
            _seats("seats_workspace", "Workspace seats: agents logged in on any media", "0", "24"),
            Metric(
                key="voicemail_boxes",
                title="SIP voicemail boxes on DNs, agent logins and agent groups (maximum configured)",
                source="cme",
                dataset="voicemail_boxes",
                rule="max_configured",
                scope="global",
                channel_type="0",
                service_class="26",
                activity_type="5",
                status="MAILBOXES",
                counts=(CONCURRENT,),
                monthly=False,
                codes_from="BDS",
            ),
            _ports("gvp_asr_ports", "ASR", "30"),
            _ports("gvp_tts_ports", "TTS", "31"),
            Metric(
                key="voicebot_interactions",
                title="Designer voicebot interactions: 15-minute units of bot time per voice interaction",
                source="gim",
                dataset="bot_sessions",
                rule="bot_units",
                scope="global",
                channel_type="1",
                service_class="34",
                activity_type="12",
                status="TRANSACTION",
                counts=(UNITS,),
                monthly=True,
                codes_from="BDS",
                looks_ahead=True,
            ),
        )
    }
)


def datasets_for(source: str, metric_keys: list[str] | tuple[str, ...]) -> list[str]:
    """The datasets of one source that the given metrics need, in catalogue order."""
    wanted = [METRICS[k].dataset for k in METRICS if k in metric_keys and METRICS[k].source == source]
    return list(dict.fromkeys(wanted))
