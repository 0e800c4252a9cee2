"""The reference: every count of a tenant-day, computed from a world by the rules of
docs/metrics.md alone, by brute force over the seconds of the day.

Each rule is written the way the page states it, on the world's own records (not on source
tables, and without the pipeline's SQL, sweeps or frames): for every second of the tenant's
local day, which agents (Persons), sessions or boxes are active, then the highest number in any
one second and the number of distinct agents seen. It imports nothing from ``bds``, so that a
mistake shared by both is unlikely; when the two disagree, the page decides.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tests.oracle.world import TENANT, World, local_midnight

GLOBAL = "GLOBAL"
BOT_UNIT_MS = 15 * 60 * 1000


class Day:
    """The tenant's local day as an array of seconds."""

    def __init__(self, world: World):
        self.start, self.end = world.start, world.end

    def seconds(self, start: int, end: int) -> np.ndarray:
        """Which seconds of the day ``[start, end)`` covers (one-second precision, half-open)."""
        covered = np.zeros(self.end - self.start, dtype=bool)
        lo, hi = max(start, self.start), min(end, self.end)
        if hi > lo:
            covered[lo - self.start : hi - self.start] = True
        return covered


def places(world: World) -> tuple[dict[str, str | None], str | None, list[str]]:
    """Switch or component name -> the region it bills in (None: its location or region is off),
    the default location's region, and the billed regions (enabled, with an enabled location)."""
    table, default = {}, None
    for region in world.regions:
        for location in region.locations:
            billed = region.code if region.enabled and location.enabled else None
            for name in (*location.switches, *location.components):
                table[name] = billed
            if not location.switches:
                default = billed
    billed_regions = [r.code for r in world.regions if r.enabled and any(loc.enabled for loc in r.locations)]
    return table, default, billed_regions


def region_of(name: str | None, table: dict, default: str | None) -> str | None:
    """A listed switch or component bills in its location's region; anything else, in the default location's."""
    return table.get(name, default)


def seats(world: World) -> dict[tuple[str, str], dict[str, int]]:
    day = Day(world)
    table, default, billed = places(world)
    agents = {r.key: r.dbid for r in world.resources if r.tenant == TENANT and r.kind == "AGENT"}
    rows_of_person = defaultdict(set)
    for resource_key, person in agents.items():
        rows_of_person[person].add(resource_key)
    active: dict[tuple[str, str], dict[int, np.ndarray]] = defaultdict(dict)
    for session in world.sessions:
        if session.tenant != TENANT or session.resource not in agents:
            continue
        person = agents[session.resource]
        is_open = session.active or session.end is None
        end = day.end if is_open else session.end  # an open session lasts to the end of the day
        until = min(end, day.end)  # a session qualifies on what it handled by the end of the day

        def took_part(media: str, type_code: str | None = None, subtype: str | None = None) -> bool:
            """The Person, under any of its agent rows, took part in an interaction of the kind on the
            session's media, starting within the session and before the end of the day."""
            return any(
                h.resource in rows_of_person[person]
                and h.tenant == TENANT
                and h.media == media == session.media
                and session.start <= h.start < until
                and type_code in (None, h.kind[0])
                and subtype in (None, h.kind[1])
                for h in world.handled
            )

        qualifies = {
            "seats_inbound_voice": session.media == "VOICE",
            "seats_chat": took_part("CHAT"),
            "seats_callback": took_part("VOICE", subtype="OUTBOUNDCALLBACK"),
            "seats_outbound": took_part("VOICE", "OUTBOUND", "OUTBOUNDCONTACT"),
            "seats_workspace": True,
        }
        if session.media == "VOICE":  # the switches of the Agent Logins held during the session's part of the day
            switches = {
                g.switch
                for g in world.logins
                if g.person == person
                and g.tenant == TENANT
                and g.created < until
                and (g.deleted is None or g.deleted > max(session.start, day.start))
            }
            regions = {region_of(s, table, default) for s in switches} if switches else {default}
        else:  # multimedia has no switch: the default location
            regions = {default}
        seconds = day.seconds(session.start, end)
        for metric, ok in qualifies.items():
            for region in regions - {None}:
                if ok:
                    held = active[(metric, region)]
                    held[person] = held.get(person, np.zeros_like(seconds)) | seconds
    out = {}
    for metric in ("seats_inbound_voice", "seats_chat", "seats_callback", "seats_outbound", "seats_workspace"):
        for region in billed:
            people = list(active[(metric, region)].values())
            per_second = np.sum(people, axis=0) if people else np.zeros(1, dtype=int)
            out[(metric, region)] = {"concurrent": int(per_second.max()), "enabled": sum(1 for p in people if p.any())}
    return out


def ports(world: World) -> dict[tuple[str, str], dict[str, int]]:
    day = Day(world)
    table, default, billed = places(world)
    counts = {resource: defaultdict(lambda: np.zeros(day.end - day.start, dtype=int)) for resource in ("ASR", "TTS")}
    for call in world.calls:
        if call.tenant != TENANT:
            continue
        region = region_of(call.component, table, default)
        for resource, start_ms, end_ms in call.speech:
            if resource not in counts or region is None:
                continue
            start = start_ms // 1000  # milliseconds widened to whole seconds
            end = day.end if end_ms is None else -(-end_ms // 1000)
            counts[resource][region] += day.seconds(start, end)
    return {
        (f"gvp_{resource.lower()}_ports", region): {"concurrent": int(counts[resource][region].max(initial=0))}
        for resource in ("ASR", "TTS")
        for region in billed
    }


def mailboxes(world: World) -> dict[tuple[str, str], dict[str, int]]:
    day = Day(world)
    boxes = np.zeros(day.end - day.start, dtype=int)
    for option in world.options:
        owner = option.owner
        if (
            option.owner.tenant != TENANT
            or owner.kind == "DN_GROUP"
            or (option.section, option.name) != ("TServer", "gvm_mailbox")
        ):
            continue
        if not re.fullmatch(r"[0-9]+", option.value.strip()) or int(option.value) <= 0:  # a positive whole number
            continue
        start = max(owner.created, option.created)
        ends = [t for t in (owner.deleted, option.deleted) if t is not None]
        boxes += day.seconds(start, min(ends) if ends else day.end)
    return {("voicemail_boxes", GLOBAL): {"concurrent": int(boxes.max(initial=0))}}


def voicebot(world: World) -> dict[tuple[str, str], dict[str, int]]:
    """Per voice interaction whose first bot session starts in the day: ceil(bot time / 15 min),
    over its bot sessions that start before the end of the day plus the look-ahead."""
    horizon_ms = (world.end + world.lookahead_minutes * 60) * 1000
    units = 0
    for interaction in world.bots:
        if interaction.tenant != TENANT or interaction.media != "VOICE":
            continue
        first = min(start for start, _ in interaction.bots)
        if world.start * 1000 <= first < world.end * 1000:
            total = sum(duration for start, duration in interaction.bots if start < horizon_ms)
            units += -(-total // BOT_UNIT_MS)
    return {("voicebot_interactions", GLOBAL): {"units": units}}


def late_bot_sessions(world: World) -> set[tuple[int, int]]:
    """(interaction, start in ms) of the bot sessions that start in the day but belong to an
    earlier day's interaction and start after that day's end plus the look-ahead: billed on no
    day, and named by the day they start in."""
    late = set()
    if "voicebot_interactions" not in world.metrics:
        return late
    for interaction in world.bots:
        if interaction.tenant != TENANT or interaction.media != "VOICE":
            continue
        first = min(start for start, _ in interaction.bots)
        first_day = datetime.fromtimestamp(first // 1000, ZoneInfo(world.zone)).date()
        horizon_ms = (local_midnight(first_day + timedelta(days=1), world.zone) + world.lookahead_minutes * 60) * 1000
        for start, _ in interaction.bots:
            if first < world.start * 1000 and world.start * 1000 <= start < world.end * 1000 and start >= horizon_ms:
                late.add((interaction.key, start))
    return late


def sessions_before_lookback(world: World) -> set[tuple[int, int]]:
    """(Person, start) of the login sessions that count on the day although they started before
    the look-back (local midnight ``lookback_days`` days before the day): named, each once."""
    if not any(metric.startswith("seats_") for metric in world.metrics) or not counts(world):
        return set()  # no seat metric, or no file at all: the tenant-day is not billed
    agents = {r.key: r.dbid for r in world.resources if r.tenant == TENANT and r.kind == "AGENT"}
    return {
        (agents[s.resource], s.start)
        for s in world.sessions
        if s.tenant == TENANT
        and s.resource in agents
        and s.start < world.lookback_start
        and (s.active or s.end is None or s.end > world.start)
    }


def counts(world: World) -> dict[tuple[str, str], dict[str, int]]:
    """Every count of the tenant-day, by (metric, region or GLOBAL), for the enabled metrics."""
    everything = seats(world) | ports(world) | mailboxes(world) | voicebot(world)
    return {(metric, region): value for (metric, region), value in everything.items() if metric in world.metrics}
