"""Runs that bill no tenant, exactly one, or several of which one fails, through dag.test().

One billable tenant is the usual on-premises installation. Airflow hands a lone mapped
instance's return value to a puller by itself rather than in a list, so every summary
(daily, monthly, transmit) must read its tenants' results the same way whatever their number.
"""

from __future__ import annotations

import pendulum
import yaml

from bds.transmission import outbox_files
from tests.e2e.conftest import DEMO_CONFIG, expected_names, files, run_day, run_month, summary_of, task_states, use
from tests.e2e.test_transmit import bucket_objects

MONTH_END = pendulum.date(2026, 3, 31)


def only(tmp_path, tenant_ids, change=lambda raw: None):
    """The demo configuration with only the given tenants."""
    raw = yaml.safe_load(DEMO_CONFIG.read_text())
    raw["tenants"] = [t for t in raw["tenants"] if t["tenant_id"] in tenant_ids]
    change(raw)
    path = tmp_path / "billing.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def live_on_the_last_day(raw):
    for tenant in raw["tenants"]:  # its month then needs one daily file per metric and region
        tenant["production_date"] = MONTH_END.isoformat()


def test_a_day_with_no_billable_tenant_succeeds_and_announces_its_month(
    bds_daily, bds_monthly, sqlite_sources, tmp_path, monkeypatch
):
    use(monkeypatch, tmp_path / "data", sqlite_sources, config=only(tmp_path, {103, 104}))  # Salesforce and None
    run = run_day(bds_daily, MONTH_END)
    assert run.state == "success"
    assert task_states(run)["announce_month_end"] == "success"
    summary = summary_of(run)
    assert "tenant 'Fabrikam Retail' (103) 2026-03-31: Billable is Salesforce" in summary
    assert "tenant 'Litware Labs' (104) 2026-03-31: Billable is None: not billed" in summary
    assert run_month(bds_monthly).state == "success"
    assert not (tmp_path / "data" / "archive").exists()


def test_a_day_with_one_billable_tenant_succeeds_announces_rolls_up_and_transmits(
    bds_daily, bds_monthly, bds_transmit, sqlite_sources, s3_endpoint, s3_bucket, outbox, tmp_path, monkeypatch
):
    def transmitting(raw):
        live_on_the_last_day(raw)
        raw["billing_server"] |= {"transmit": True, "bucket": s3_bucket}

    config = only(tmp_path, {101, 103, 104}, transmitting)  # one PureConnect tenant among others
    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources, config=config)
    run = run_day(bds_daily, MONTH_END)
    assert run.state == "success", task_states(run)
    assert task_states(run)["announce_month_end"] == "success"
    daily = files(data)
    assert set(daily) == {n for n in expected_names(MONTH_END) if "_101_" in n} and len(daily) == 16
    assert "tenant 'Northwind Care' (101) 2026-03-31: 16 created, 0 changed, 0 unchanged" in summary_of(run)

    month = run_month(bds_monthly)
    assert month.state == "success", task_states(month)
    monthly = files(data, "monthly")
    assert len(monthly) == 15  # voicemail has no monthly characteristic
    assert "tenant 'Northwind Care' (101) 2026-03: 15 created" in summary_of(month)

    sent = bds_transmit.test()
    assert sent.state == "success", task_states(sent)
    assert "tenant 'Northwind Care' (101)" in summary_of(sent)
    assert outbox_files(outbox) == []
    objects = bucket_objects(s3_endpoint, s3_bucket)
    assert {k.rsplit("/", 1)[1] for k in objects} == {*daily, *monthly, "MANIFEST_101_20260331.json", "MANIFEST_101_202603.json"}


def test_one_failing_tenant_of_two_fails_the_run_by_name(bds_daily, sqlite_sources, tmp_path, monkeypatch, capfd):
    def no_default_location(raw):
        live_on_the_last_day(raw)
        northwind = next(t for t in raw["tenants"] if t["tenant_id"] == 101)
        # Voice seats only (chat seats without a default location are refused when the run plans),
        # no default location, and one of its switches listed nowhere: its sessions belong nowhere.
        northwind["metrics"] = {"seats_inbound_voice": True}
        for region in northwind["regions"]:
            region["locations"] = [loc for loc in region["locations"] if loc["switches"]]
        northwind["regions"][0]["locations"][0]["switches"] = northwind["regions"][0]["locations"][0]["switches"][1:]

    data = tmp_path / "data"
    use(monkeypatch, data, sqlite_sources, config=only(tmp_path, {101, 102}, no_default_location))
    run = run_day(bds_daily, MONTH_END)
    assert run.state == "failed"
    states = {(ti.task_id, ti.map_index): ti.state for ti in run.get_task_instances()}
    assert states[("bill_tenant.aggregate", 0)] == "failed"  # Northwind Care
    assert states[("bill_tenant.render", 1)] == "success"  # Contoso Health is billed all the same
    assert states[("summary", -1)] == "failed" and states[("announce_month_end", -1)] == "upstream_failed"
    assert {n for n in files(data)} == {n for n in expected_names(MONTH_END) if "_102_" in n}
    out = capfd.readouterr()
    assert "nothing done for tenant 'Northwind Care' (101) 2026-03-31; see their failed tasks" in out.out + out.err
    assert "TypeError" not in out.out + out.err


def test_an_outbox_with_nothing_to_send_skips_the_transmission_run(
    bds_transmit, sqlite_sources, s3_bucket, outbox, tmp_path, monkeypatch
):
    """The outbox holds something (a folder, holding a file being written), but no billing file
    is there to send: no tenant to send for, so the run is skipped, as with an empty outbox,
    not failed."""
    (outbox / "101" / "daily" / "2026.03").mkdir(parents=True)
    (outbox / "101" / "daily" / "2026.03" / ".CNT_being_written.csv.tmp").write_text("")
    use(
        monkeypatch,
        tmp_path / "data",
        sqlite_sources,
        config=only(tmp_path, {101}, lambda raw: raw["billing_server"].update(transmit=True, bucket=s3_bucket)),
    )
    run = bds_transmit.test()
    assert run.state == "success"
    assert task_states(run) == {"plan": "skipped", "send": "skipped", "summary": "skipped"}
