import asyncio
import json

from bds.alerts import files_late


def test_a_late_day_is_alerted_with_its_run_and_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_BDS_ALERTS", raising=False)
    context = {  # what the scheduler hands a deadline callback
        "dag_run": {"dag_id": "bds_daily", "run_id": "scheduled__2026-03-29T00:00:00+00:00", "logical_date": "2026-03-29T00:00:00Z"},
        "deadline": {"id": "d-1", "deadline_time": "2026-03-30T06:00:00Z"},
    }
    asyncio.run(files_late(context=context))
    [alert] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["title"] == "bds: bds_daily run scheduled__2026-03-29T00:00:00+00:00 has not finished by its deadline"
    assert alert["text"].endswith("the files of the billing day starting 2026-03-29T00:00:00Z are not complete "
                                  "(deadline 2026-03-30T06:00:00Z); see the run's tasks")  # fmt: skip
    assert alert["deadline"] == "2026-03-30T06:00:00Z"
