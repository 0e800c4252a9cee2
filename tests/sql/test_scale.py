"""The contact-centre scale generator (bds_tools.scale), at a small scale on a real PostgreSQL:
the volumes it promises, loaded by COPY, with the indexes built and the other tenant's and
neighbouring days' rows there for the queries to leave out."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
import sqlalchemy as sa

from bds.calendar import day_window
from bds.sources import extract_dataset, query_parameters
from bds_tools.scale import BILLED, NEIGHBOUR, SOURCES, Volume, benchmark_plan, generate

DAY = date(2026, 3, 18)
SCALE = 0.005


def test_volume_at_scale_one_is_a_large_contact_centre():
    v = Volume.at(1)
    assert (v.agents, v.interactions, v.calls, v.objects, v.mailboxes, v.bot_sessions) == (
        20_000,
        4_000_000,
        1_500_000,
        200_000,
        30_000,
        500_000,
    )
    assert Volume.at(4).interactions == 16_000_000
    assert Volume.at(0.0001).mailboxes == 3


@pytest.mark.postgres
def test_a_small_scale_load_has_its_volumes_indexes_and_neighbours(pg_url):
    counts = generate({s: pg_url for s in SOURCES}, benchmark_plan(BILLED, NEIGHBOUR, DAY), scale=SCALE, log=lambda _: None)
    v = Volume.at(SCALE)  # 100 agents, 20,000 interactions, 7,500 calls, 1,000 objects, 150 boxes, 2,500 bots
    tenant_days = 4  # the billed tenant on the day before, the day and the day after; the neighbour on the day
    assert counts["INTERACTION_RESOURCE_FACT"] == tenant_days * v.interactions == 80_000
    assert counts["GVP_CDR"] == tenant_days * v.calls == 30_000
    assert counts["SDR_BOTS_FACT"] == counts["INTERACTION_FACT"] == tenant_days * v.bot_sessions == 10_000
    assert counts["RESOURCE_"] == counts["GC_LOGIN"] == 2 * v.agents == 200  # agents per tenant, not per day
    assert counts["GC_ENDPOINT"] + counts["GC_LOGIN"] + counts["GC_GROUP"] == 2 * v.objects == 2_000
    assert counts["GC_ANNEX"] == 2 * v.mailboxes == 300
    # three spans a shift for voice agents (8 roles in 10) and chat agents (4 in 10), plus some logged in twice
    assert tenant_days * v.agents * 3 * (0.8 + 0.4) <= counts["SM_RES_SESSION_FACT"] <= tenant_days * v.agents * 3 * 1.4
    speech = counts["GVP_SPEECH_SESSION"] / counts["GVP_CDR"]
    assert 0.65 < speech < 0.75  # 40% of calls with ASR, 30% with TTS

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars())
        analysed = conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'interaction_resource_fact' AND last_analyze IS NOT NULL"
            )
        ).scalar()
    assert {"i_irf_resource_sdt", "i_sm_res_session_fact_sdt", "i_gvp_cdr_tenant_start", "i_gc_annex_tenant_key"} <= indexes
    assert analysed == 1

    # The day's queries see the billed tenant's day and nothing of the neighbour or other days.
    window = day_window(DAY, BILLED.time_zone)
    parameters = query_parameters(BILLED.tenant_id, window, lookback_days=1)
    calls = extract_dataset(engine, "gvp", "media_sessions", parameters, "scale test")
    assert set(calls["component"]) <= set(BILLED.components)
    assert len(calls) > 0 and (calls["start_ms"] < window.end * 1000).all()
    boxes = extract_dataset(engine, "cme", "voicemail_boxes", parameters, "scale test")
    assert len(boxes) == v.mailboxes  # every box of the billed tenant, none of the neighbour's
    everything = extract_dataset(
        engine,
        "gvp",
        "media_sessions",
        query_parameters(
            BILLED.tenant_id, replace(window, start=window.start - 86_400, end=window.end + 86_400), lookback_days=1
        ),
        "scale test",
    )
    assert len(everything) > len(calls)  # the neighbouring days are there, and were left out
    engine.dispose()
