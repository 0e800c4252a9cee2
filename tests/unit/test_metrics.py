"""Daily rules against hand-computed numbers on a 23-hour DST day in New York."""

from datetime import date

import pandas as pd
import pytest

from bds.calendar import day_window
from bds.config import parse_billing_config
from bds.metrics import UnplacedRowsError, compute_metric

WINDOW = day_window(date(2026, 3, 8), "America/New_York")  # 23 hours: 82,800 seconds
T0 = WINDOW.start
AFTER_DAY = WINDOW.end + 86_400


def sessions(*rows):
    columns = ["agent", "media", "switch", "start_ts", "end_ts", "handled_chat", "handled_callback", "handled_outbound"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["end_ts"] = frame["end_ts"].astype("Int64")
    return frame


SESSIONS = sessions(
    (1, "VOICE", "SW_NY", T0 - 3_600, T0 + 7_200, 0, 0, 0),  # crosses the previous midnight
    (1, "VOICE", "SW_NY", T0 + 3_600, T0 + 10_800, 0, 0, 0),  # same agent logged in twice
    (2, "VOICE", "SW_NY", T0 + 5_000, T0 + 6_000, 0, 0, 0),
    (3, "VOICE", "SW_NY", T0 + 80_000, None, 0, 0, 0),  # still open
    (4, "VOICE", "SW_NY", T0 + 82_000, T0 + 90_000, 0, 0, 0),  # crosses the next midnight
    (5, "VOICE", "SW_FR", T0 + 5_500, T0 + 5_600, 0, 0, 0),  # EU
    (6, "CHAT", None, T0 + 5_200, T0 + 9_000, 1, 0, 0),  # no switch: default location (US)
    (7, "CHAT", None, T0, T0 + 9_000, 0, 0, 0),  # logged in to chat, handled none
    (8, "VOICE", "SW_NY", T0 - 7_200, T0 - 3_600, 0, 0, 0),  # the day before only
    (2, "VOICE", "SW_NY", T0 + 40_000, T0 + 41_000, 0, 1, 1),  # callback and OCS calls
)


def by_region(results):
    return {r.region: r.counts for r in results}


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        # US voice: agent 1 [0,10800), 2 [5000,6000)+[40000,41000), 3 [80000,82800), 4 [82000,82800)
        # -> two agents at once from second 5000; agents 1, 2, 3, 4 enabled.
        ("seats_inbound_voice", {"US": {"concurrent": 2, "enabled": 4}, "EU": {"concurrent": 1, "enabled": 1}}),
        ("seats_chat", {"US": {"concurrent": 1, "enabled": 1}, "EU": {"concurrent": 0, "enabled": 0}}),
        ("seats_callback", {"US": {"concurrent": 1, "enabled": 1}, "EU": {"concurrent": 0, "enabled": 0}}),
        ("seats_outbound", {"US": {"concurrent": 1, "enabled": 1}, "EU": {"concurrent": 0, "enabled": 0}}),
        # Any media: at second 5200 agents 1, 2, 6 and 7 are active; six US agents in the day.
        ("seats_workspace", {"US": {"concurrent": 4, "enabled": 6}, "EU": {"concurrent": 1, "enabled": 1}}),
    ],
)
def test_seat_metrics(tenant, metric, expected):
    results = compute_metric(tenant, metric, SESSIONS, WINDOW, as_of=AFTER_DAY)
    assert by_region(results) == expected


def test_peak_time_and_enabled_agents(tenant):
    us = compute_metric(tenant, "seats_workspace", SESSIONS, WINDOW, as_of=AFTER_DAY)[0]
    assert us.peak_at == T0 + 5_200
    assert us.agents == (1, 2, 3, 4, 6, 7)


def test_open_session_counts_until_as_of():
    # Agent 3 is open from second 80000; with as_of at 81000 it no longer meets agent 4.
    frame = sessions(
        (3, "VOICE", "SW_NY", T0 + 80_000, None, 0, 0, 0),
        (4, "VOICE", "SW_NY", T0 + 81_000, T0 + 82_000, 0, 0, 0),
    )
    raw = {
        "tenants": [
            {
                "tenant_id": 1,
                "name": "t",
                "billable": "None",
                "regions": [{"code": "US", "locations": [{"code": "L", "switches": ["SW_NY"]}]}],
            }
        ]
    }
    tenant = parse_billing_config(raw).tenants[0]
    late = by_region(compute_metric(tenant, "seats_inbound_voice", frame, WINDOW, as_of=AFTER_DAY))
    early = by_region(compute_metric(tenant, "seats_inbound_voice", frame, WINDOW, as_of=T0 + 81_000))
    assert late == {"US": {"concurrent": 2, "enabled": 2}}
    assert early == {"US": {"concurrent": 1, "enabled": 2}}


def test_switched_off_region_is_not_billed(raw_config):
    raw_config["tenants"][0]["regions"][1]["enabled"] = False
    tenant = parse_billing_config(raw_config).tenants[0]
    results = compute_metric(tenant, "seats_inbound_voice", SESSIONS, WINDOW, as_of=AFTER_DAY)
    assert by_region(results) == {"US": {"concurrent": 2, "enabled": 4}}


def test_switched_off_location_is_not_billed(raw_config):
    # HQ is US's default location: the multimedia sessions (agents 6 and 7) go there.
    raw_config["tenants"][0]["regions"][0]["locations"][1]["enabled"] = False
    tenant = parse_billing_config(raw_config).tenants[0]
    assert tenant.billed_regions == ["US", "EU"]  # NYC still bills US
    # Workspace without agents 6 and 7: agents 1 and 2 overlap from second 5000; 1-4 enabled.
    assert by_region(compute_metric(tenant, "seats_workspace", SESSIONS, WINDOW, as_of=AFTER_DAY))["US"] == {
        "concurrent": 2,
        "enabled": 4,
    }
    assert by_region(compute_metric(tenant, "seats_chat", SESSIONS, WINDOW, as_of=AFTER_DAY))["US"] == {
        "concurrent": 0,
        "enabled": 0,
    }


def test_unknown_switch_without_default_location_is_an_error(raw_config):
    """The configuration refuses a tenant with chat seats and no default location; voice sessions
    on a switch no location lists (or with no login) still need one when the day is counted."""
    raw_config["tenants"][0]["regions"][0]["locations"][1]["switches"] = ["SW_HQ"]
    raw_config["tenants"][0]["metrics"] = {"seats_inbound_voice": True}
    tenant = parse_billing_config(raw_config).tenants[0]
    with pytest.raises(
        UnplacedRowsError, match=r"tenant 'Northwind Care' \(101\) day 2026-03-08 seats_inbound_voice: rows on switches \(none\)"
    ):
        voice_without_login = sessions((9, "VOICE", None, T0 + 100, T0 + 200, 0, 0, 0))
        compute_metric(tenant, "seats_inbound_voice", pd.concat([SESSIONS, voice_without_login]), WINDOW, as_of=AFTER_DAY)


def test_asr_and_tts_port_peaks(tenant):
    ms = 1000 * T0
    rows = pd.DataFrame(
        [
            ("ASR", "MCP_NY", ms, ms + 100_000),
            ("ASR", "MCP_ZZ", ms + 50_000, ms + 150_000),  # unlisted component: default location (US)
            ("ASR", "MCP_NY", ms + 99_000, None),  # still running
            ("ASR", "MCP_FR", ms + 99_500, ms + 99_700),  # 0.2 s inside second 99
            ("TTS", "MCP_FR", ms + 10_000, ms + 20_000),
            ("TTS", "MCP_FR", ms + 20_000, ms + 30_000),  # touches the previous one: still 1
            ("TTS", "MCP_NY", ms + 7_200, ms + 7_900),  # widened to second 7 ...
            ("TTS", "MCP_NY", ms + 7_950, ms + 8_100),  # ... meets this one there: 2
        ],
        columns=["resource", "component", "start_ms", "end_ms"],
    )
    rows["end_ms"] = rows["end_ms"].astype("Int64")
    asr = compute_metric(tenant, "gvp_asr_ports", rows, WINDOW, as_of=AFTER_DAY)
    tts = compute_metric(tenant, "gvp_tts_ports", rows, WINDOW, as_of=AFTER_DAY)
    assert by_region(asr) == {"US": {"concurrent": 3}, "EU": {"concurrent": 1}}
    assert asr[0].peak_at == T0 + 99
    assert by_region(tts) == {"US": {"concurrent": 2}, "EU": {"concurrent": 1}}


def test_voicemail_boxes_maximum_configured_at_one_moment(tenant):
    rows = pd.DataFrame(
        [
            ("DN", 1, "101", T0 - 999_999, None),  # configured long before, still there
            ("AGENT_LOGIN", 2, "7", T0 + 1_000, T0 + 2_000),  # removed during the day
            ("AGENT_GROUP", 3, "3001", T0 + 1_500, None),
            ("DN", 4, "102", T0 - 500, T0 - 10),  # removed the day before
            ("DN", 5, "103", T0 + 2_000, None),  # added as the login's box is removed
            ("DN", 6, "0", T0, None),  # not a mailbox number
            ("DN", 7, "abc", T0, None),  # not a mailbox number
        ],
        columns=["object_type", "object_id", "mailbox", "start_ts", "end_ts"],
    )
    rows["end_ts"] = rows["end_ts"].astype("Int64")
    results = compute_metric(tenant, "voicemail_boxes", rows, WINDOW, as_of=AFTER_DAY)
    # Four boxes existed during the day, but never more than three at once.
    assert by_region(results) == {"GLOBAL": {"concurrent": 3}}


def test_voicebot_units(tenant):
    ms = 1000 * T0
    rows = pd.DataFrame(
        [
            (1, "VOICE", ms + 100_000, 600_000),  # interaction 1: 600 s ...
            (1, "VOICE", ms + 1_000_000, 400_000),  # ... + 400 s = 1000 s -> 2 units
            (2, "VOICE", ms + 5_000_000, 900_000),  # exactly 900 s -> 1 unit
            (3, "CHAT", ms + 100_000, 2_000_000),  # not voice
            (4, "VOICE", ms - 500_000, 300_000),  # started the day before
            (4, "VOICE", ms + 500_000, 300_000),  # (its second bot session does not move it)
            (5, "VOICE", ms + 82_000_000, 2_000_000),  # 2000 s across midnight -> 3 units, on this day
            (6, "VOICE", ms + 9_000_000, 1),  # 1 ms -> 1 unit
            (7, "VOICE", ms + 9_000_000, 0),  # no bot time -> 0 units
        ],
        columns=["interaction_id", "media", "start_ms", "duration_ms"],
    )
    results = compute_metric(tenant, "voicebot_interactions", rows, WINDOW, as_of=AFTER_DAY)
    assert by_region(results) == {"GLOBAL": {"units": 7}}


# Defect: voicebot time after local midnight was billed on no day. With a 120-minute look-ahead
# the 23-hour New York day above reads bot sessions until 02:00 the next morning (its horizon).
LOOKAHEAD = day_window(date(2026, 3, 8), "America/New_York", lookahead=120 * 60)
HORIZON_MS = LOOKAHEAD.horizon * 1000


def bots(*rows):
    return pd.DataFrame(list(rows), columns=["interaction_id", "media", "start_ms", "duration_ms"])


def test_voicebot_sessions_after_midnight_are_billed_with_their_interaction(tenant):
    end_ms = LOOKAHEAD.end * 1000
    rows = bots(
        (1, "VOICE", end_ms - 600_000, 300_000),  # 23:50: 300 s ...
        (1, "VOICE", end_ms + 300_000, 700_000),  # ... and 00:05 the next day: 1000 s -> 2 units, on this day
        (2, "VOICE", end_ms - 1_000, 1),  # 23:59:59 ...
        (2, "VOICE", HORIZON_MS - 1, 900_000),  # ... and the last millisecond of the look-ahead: 2 units
        (3, "VOICE", end_ms - 1_000, 1),  # 23:59:59 ...
        (3, "VOICE", HORIZON_MS, 900_000),  # ... and at the horizon: not read (the day after names it)
        (4, "VOICE", end_ms, 60_000),  # first bot session at 00:00: the next day's interaction
    )
    results = compute_metric(tenant, "voicebot_interactions", rows, LOOKAHEAD, as_of=AFTER_DAY)
    assert by_region(results) == {"GLOBAL": {"units": 2 + 2 + 1}}  # interaction 3: its 1 ms only
    assert results[0].warnings == ()


def test_the_next_day_leaves_an_interaction_of_the_day_before_and_names_what_came_too_late(tenant):
    """The next day reads the day before through its look-back: interaction 1 is not billed again;
    interaction 3's session at the horizon of its first day is billed on no day, and said so once,
    by the day it starts in."""
    next_day = day_window(date(2026, 3, 9), "America/New_York", lookahead=120 * 60)
    end_ms = LOOKAHEAD.end * 1000
    rows = bots(
        (1, "VOICE", end_ms - 600_000, 300_000),
        (1, "VOICE", end_ms + 300_000, 700_000),
        (3, "VOICE", end_ms - 1_000, 1),
        (3, "VOICE", HORIZON_MS, 900_000),  # 02:00:00.000 on the 9th
        (5, "VOICE", end_ms + 3_600_000, 60_000),  # 01:00 on the 9th: the 9th's own interaction, 1 unit
    )
    [result] = compute_metric(tenant, "voicebot_interactions", rows, next_day, as_of=AFTER_DAY)
    assert result.counts == {"units": 1}
    [warning] = result.warnings
    assert warning.startswith(
        "tenant 'Northwind Care' (101) day 2026-03-09 voicebot_interactions: interaction 3's bot session "
        "starting 2026-03-09T06:00:00.000+00:00 (900000 ms) began after its first day 2026-03-08 had "
        "ended plus the look-ahead (120 minutes, voicebot_lookahead_minutes): it is billed on no day"
    )
    day_before = compute_metric(tenant, "voicebot_interactions", rows, LOOKAHEAD, as_of=AFTER_DAY)[0]
    assert day_before.warnings == ()  # named once, by the day the late session starts in
