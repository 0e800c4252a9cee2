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
    """One row of a billing file: which number it carries and its AgentGroupName code."""

    name: str
    agent_group_name: str


CONCURRENT = Count("concurrent", "1")  # peak at any one second (BDS: AgentGroupName 1)
ENABLED = Count("enabled", "2")  # distinct agents in the period (AgentGroupName 2)
UNITS = Count("units", "1")  # summed billable units (voicebot: BDS AgentGroupName 1)

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

    @property
    def conn_id(self) -> str:
        return SOURCES[self.source][0]


def _where(**columns: tuple) -> MappingProxyType:
    return MappingProxyType(columns)


SEATS = (CONCURRENT, ENABLED)

METRICS: MappingProxyType[str, Metric] = MappingProxyType(
    {
        m.key: m
        for m in (
            Metric(
                key="seats_inbound_voice",
                title="Genesys Voice seats: agents with voice login sessions",
                source="gim", dataset="agent_sessions", rule="seats", scope="region",
                channel_type="1", service_class="20", activity_type="5", status="AGENT_SEATS",
                counts=SEATS, monthly=True,
                where=_where(media=("VOICE",)),
            ),
            Metric(
                key="seats_chat",
                title="Genesys Chat seats: chat sessions in which the agent handled at least one chat",
                source="gim", dataset="agent_sessions", rule="seats", scope="region",
                channel_type="2", service_class="21", activity_type="5", status="AGENT_SEATS",
                counts=SEATS, monthly=True,
                where=_where(media=("CHAT",), handled_chat=(1,)),
            ),
            Metric(
                key="seats_callback",
                title="Callback seats: voice sessions in which at least one callback call was handled",
                source="gim", dataset="agent_sessions", rule="seats", scope="region",
                channel_type="3", service_class="22", activity_type="5", status="AGENT_SEATS",
                counts=SEATS, monthly=True,
                where=_where(media=("VOICE",), handled_callback=(1,)),
            ),
            Metric(
                key="seats_outbound",
                title="Outbound Contact seats: voice sessions with OCS-driven calls",
                source="gim", dataset="agent_sessions", rule="seats", scope="region",
                channel_type="4", service_class="23", activity_type="5", status="AGENT_SEATS",
                counts=SEATS, monthly=True, codes_from="BDS",
                where=_where(media=("VOICE",), handled_outbound=(1,)),
            ),
            Metric(
                key="seats_workspace",
                title="Workspace seats: agents logged in on any media",
                source="gim", dataset="agent_sessions", rule="seats", scope="region",
                channel_type="0", service_class="24", activity_type="5", status="AGENT_SEATS",
                counts=SEATS, monthly=True,
            ),
            Metric(
                key="voicemail_boxes",
                title="SIP voicemail boxes on DNs, agent logins and agent groups (maximum configured)",
                source="cme", dataset="voicemail_boxes", rule="max_configured", scope="global",
                channel_type="0", service_class="26", activity_type="5", status="MAILBOXES",
                counts=(CONCURRENT,), monthly=False, codes_from="BDS",
            ),
            Metric(
                key="gvp_asr_ports",
                title="GVP ASR ports: peak concurrent ASR sessions",
                source="gvp", dataset="media_sessions", rule="peak", scope="region",
                channel_type="1", service_class="30", activity_type="5", status="PORTS",
                counts=(CONCURRENT,), monthly=True,
                where=_where(resource=("ASR",)),
            ),
            Metric(
                key="gvp_tts_ports",
                title="GVP TTS ports: peak concurrent TTS sessions",
                source="gvp", dataset="media_sessions", rule="peak", scope="region",
                channel_type="1", service_class="31", activity_type="5", status="PORTS",
                counts=(CONCURRENT,), monthly=True,
                where=_where(resource=("TTS",)),
            ),
            Metric(
                key="voicebot_interactions",
                title="Designer voicebot interactions: 15-minute units of bot time per voice interaction",
                source="gim", dataset="bot_sessions", rule="bot_units", scope="global",
                channel_type="1", service_class="34", activity_type="12", status="TRANSACTION",
                counts=(UNITS,), monthly=True, codes_from="BDS",
            ),
        )
    }
)


def datasets_for(source: str, metric_keys: list[str] | tuple[str, ...]) -> list[str]:
    """The datasets of one source that the given metrics need, in catalogue order."""
    wanted = [METRICS[k].dataset for k in METRICS if k in metric_keys and METRICS[k].source == source]
    return list(dict.fromkeys(wanted))
