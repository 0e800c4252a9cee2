import asyncio
import json

from bds.alerts import files_late, send


def test_a_late_day_is_alerted_with_its_run_and_deadline(tmp_path, monkeypatch):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("AIRFLOW_CONN_BDS_ALERTS", raising=False)
    context = {  # what the scheduler hands a deadline callback
        "dag_run": {
            "dag_id": "bds_daily",
            "run_id": "scheduled__2026-03-29T00:00:00+00:00",
            "logical_date": "2026-03-29T00:00:00Z",
        },
        "deadline": {"id": "d-1", "deadline_time": "2026-03-30T06:00:00Z"},
    }
    asyncio.run(files_late(context=context))
    [alert] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["title"] == "bds: bds_daily run scheduled__2026-03-29T00:00:00+00:00 has not finished by its deadline"
    assert (
        "the files of the billing day starting 2026-03-29T00:00:00Z are not complete (deadline 2026-03-30T06:00:00Z)"
        in alert["text"]
    )
    assert alert["deadline"] == "2026-03-30T06:00:00Z"
    url = "http://localhost:8080/dags/bds_daily/runs/scheduled__2026-03-29T00%3A00%3A00%2B00%3A00"
    assert alert["run_url"] == url and alert["text"].endswith(f"see the run's tasks: {url}")


def test_an_alert_goes_through_the_http_notifier_to_the_webhook_url_with_its_token(webhook, tmp_path, monkeypatch, caplog):
    """The connection in the http provider's own form: the whole URL in host, the token as an
    Authorization extra (which Airflow masks); the deadline alert goes the same way."""
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_BDS_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "host": f"http://127.0.0.1:{webhook.port}/services/T0/B0/X",
                "extra": {"Authorization": "Bearer hook-token"},
            }
        ),
    )
    asyncio.run(files_late(context={"dag_run": {"dag_id": "bds_daily", "run_id": "r1"}, "deadline": {"deadline_time": "t"}}))
    [posted] = webhook.received
    assert posted["path"] == "/services/T0/B0/X" and posted["headers"]["Authorization"] == "Bearer hook-token"
    assert posted["body"]["title"] == "bds: bds_daily run r1 has not finished by its deadline"
    assert posted["body"]["run_url"].endswith("/dags/bds_daily/runs/r1")
    assert "earlier form" not in caplog.text  # no migration warning for the current form


def test_a_webhook_that_refuses_is_logged_and_the_alert_is_kept(webhook, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(
        "AIRFLOW_CONN_BDS_ALERTS", json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{webhook.port}/hook"})
    )
    webhook.status = 500
    send("bds: a title", "what failed", {"tenant": "T (1)"})  # never raises: the alert must not hide the failure
    assert len(webhook.received) == 1
    assert "the alert could not be posted to the bds_alerts webhook: 500" in caplog.text
    [kept] = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert kept["title"] == "bds: a title" and kept["tenant"] == "T (1)"


def earlier_form(port: int, **fields) -> str:
    """A bds_alerts connection as written before the http provider delivered alerts."""
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": port, "password": "old-token", "extra": {"endpoint": "/old/path"}}
    return json.dumps(conn | fields)


def test_a_connection_in_the_earlier_form_works_and_says_how_to_write_it_now(webhook, tmp_path, monkeypatch, caplog):
    """Its path and bearer token still reach the webhook, the path not as a header too."""
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_BDS_ALERTS", earlier_form(webhook.port, schema="http"))
    send("bds: a title", "what failed", {})
    [posted] = webhook.received
    assert posted["path"] == "/old/path" and posted["headers"]["Authorization"] == "Bearer old-token"
    assert "endpoint" not in {name.lower() for name in posted["headers"]}
    assert "the bds_alerts connection is in the earlier form" in caplog.text and "old-token" not in caplog.text


def test_an_earlier_connection_without_a_schema_is_refused_rather_than_sent_in_the_clear(webhook, tmp_path, monkeypatch, caplog):
    """Without a schema it meant https; the http provider would read http: nothing is posted, the
    log says how to write it, and the alert is kept."""
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW_CONN_BDS_ALERTS", earlier_form(webhook.port))
    send("bds: a title", "what failed", {})
    assert webhook.received == []
    assert "host has no schema, which would now mean plain http: put the webhook's whole https URL" in caplog.text
    assert "old-token" not in caplog.text
    assert json.loads((tmp_path / "alerts.jsonl").read_text())["title"] == "bds: a title"
