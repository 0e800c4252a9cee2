from datetime import date

import pandas as pd
import pytest

from bds.config import load_billing_config
from bds.datasets import DatasetShapeError, conform
from bds.demo import UNCONFIGURED_TENANT, Generator, day_range
from tests.conftest import ROOT

CONFIG = load_billing_config(ROOT / "include" / "config" / "demo.yaml")
DAYS = day_range(date(2026, 3, 7), date(2026, 3, 8))


def test_same_seed_same_rows_other_seed_other_rows():
    first = Generator(CONFIG, DAYS, seed=3, scale=0.2).build()
    again = Generator(CONFIG, DAYS, seed=3, scale=0.2).build()
    other = Generator(CONFIG, DAYS, seed=4, scale=0.2).build()
    assert first == again
    assert first["SM_RES_SESSION_FACT"] != other["SM_RES_SESSION_FACT"]


def test_scale_multiplies_the_population():
    small = Generator(CONFIG, DAYS, seed=3, scale=0.5).build()
    large = Generator(CONFIG, DAYS, seed=3, scale=2.0).build()
    agents = lambda t: sum(r["RESOURCE_TYPE_CODE"] == "AGENT" for r in t["RESOURCE_"])  # noqa: E731
    assert agents(large) == 4 * agents(small)
    assert len(large["GVP_CDR"]) > 3 * len(small["GVP_CDR"])


def test_the_days_have_what_the_metrics_need():
    tables = Generator(CONFIG, DAYS, seed=3).build()
    assert any(r["ACTIVE_FLAG"] == 1 for r in tables["SM_RES_SESSION_FACT"])  # still-open sessions
    assert {r["INTERACTION_TYPE_KEY"] for r in tables["INTERACTION_RESOURCE_FACT"]} >= {1, 2, 3}
    assert {r["RESOURCE_TYPE"] for r in tables["GVP_SPEECH_SESSION"]} == {"ASR", "TTS"}
    assert {r["CFGOBJECTTYPE"] for r in tables["GC_ANNEX"]} == {2, 5, 15}
    assert any(r["DELETED_TS"] for r in tables["GC_ANNEX"])  # boxes removed during the days
    assert UNCONFIGURED_TENANT in {r["TENANT_CFG_DBID"] for r in tables["TENANT"]}


def test_conform_names_missing_columns_and_sorts():
    frame = pd.DataFrame(
        {
            "OBJECT_TYPE": ["DN", "AGENT_GROUP"],
            "object_id": [2, 1],
            "mailbox": ["1", "2"],
            "start_ts": [5, 6],
            "end_ts": [None, 9],
        }
    )
    out = conform("cme", "voicemail_boxes", frame)
    assert out["object_type"].tolist() == ["AGENT_GROUP", "DN"]
    assert str(out["end_ts"].dtype) == "Int64"
    with pytest.raises(DatasetShapeError, match=r"include/sql/cme/voicemail_boxes.sql returned no column\(s\) mailbox"):
        conform("cme", "voicemail_boxes", frame.drop(columns="mailbox"))
