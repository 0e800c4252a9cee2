from datetime import date

from bds.catalogue import METRICS
from bds.files import billing_rows, daily_dir, daily_file_name, render_csv, write_atomic
from bds.report import main, read_store, table


def store(tmp_path, tenant, metric, region, day, counts):
    rows = billing_rows(tenant, METRICS[metric], region, day.isoformat(), counts)
    write_atomic(
        daily_dir(tmp_path, tenant.tenant_id, day) / daily_file_name(tenant, METRICS[metric], region, day), render_csv(rows)
    )


def test_table_has_a_column_per_day(tmp_path, tenant, capsys):
    store(tmp_path, tenant, "seats_chat", "US", date(2026, 3, 7), {"concurrent": 3, "enabled": 5})
    store(tmp_path, tenant, "seats_chat", "US", date(2026, 3, 8), {"concurrent": 4, "enabled": 6})
    store(tmp_path, tenant, "voicemail_boxes", "GLOBAL", date(2026, 3, 8), {"concurrent": 9})
    lines = table(read_store(tmp_path)).splitlines()
    assert lines[0].split() == ["tenant", "metric", "region", "2026-03-07", "2026-03-08"]
    assert lines[2].split() == ["101", "seats_chat", "US", "3/5", "4/6"]
    assert lines[3].split() == ["101", "voicemail_boxes", "GLOBAL", "-", "9"]
    assert main([str(tmp_path)]) == 0
    assert "3 billing file(s) and 0 manifest(s) under" in capsys.readouterr().out


def test_empty_store_is_reported(tmp_path, capsys):
    assert main([str(tmp_path)]) == 1
    assert "0 billing file(s)" in capsys.readouterr().out


def test_table_shows_the_last_days_and_the_months(tmp_path, tenant):
    for n in range(1, 6):
        store(tmp_path, tenant, "voicebot_interactions", "GLOBAL", date(2026, 3, n), {"units": n})
    rows = read_store(tmp_path) + [r | {"UsageDate": "2026-03", "MessageSize": "15"} for r in read_store(tmp_path)[:1]]
    lines = table(rows).splitlines()
    assert lines[0].split()[3:] == ["2026-03-03", "2026-03-04", "2026-03-05", "2026-03"]
    assert lines[2].split() == ["101", "voicebot_interactions", "GLOBAL", "3", "4", "5", "15"]


def test_restatements_are_listed(tmp_path, capsys):
    from bds import changes

    entry = {
        "at": "2026-03-30T06:00:00Z",
        "run_id": "backfill__2026-03-29",
        "tenant_id": 101,
        "period": "2026-03-29",
        "file": "CNT_US_PES_seats_chat_G_101_20260329.csv",
        "rows": [{"AgentGroupName": "1", "old": "3", "new": "4"}],
        "other_columns": [],
        "previous_version": "101/versions/daily/2026/03/x.csv",
    }
    changes.append(tmp_path, [entry])
    assert main([str(tmp_path), "--changes"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "2026-03-30T06:00:00Z backfill__2026-03-29",
        "  RESTATED tenant 101 2026-03-29 CNT_US_PES_seats_chat_G_101_20260329.csv: AgentGroupName 1: 3 -> 4 "
        "(previous version kept as 101/versions/daily/2026/03/x.csv)",
    ]
