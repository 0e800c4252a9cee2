"""``python -m bds.config``: show, validate, import, export, diff, restore, with exit codes a
script can act on (the store: the embedded SQLite file under BDS_DATA_DIR)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from bds.config import load_billing_config, to_yaml
from bds.config.cli import EXIT, main
from tests.conftest import ROOT

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"


@pytest.fixture
def store_env(monkeypatch, tmp_path):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BDS_CONFIG", str(DEMO_CONFIG))
    monkeypatch.delenv("BDS_CONFIG_SOURCE", raising=False)
    return tmp_path


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_seed_export_import_diff_restore_with_exit_codes(store_env, capsys):
    assert run(capsys, "seed")[0] == EXIT["ok"]
    code, out, _ = run(capsys, "export", "1")
    assert (
        code == 0
        and out.startswith("# bds billing configuration, revision 1 (")
        and out.endswith(to_yaml(load_billing_config(DEMO_CONFIG)))
    )
    changed = store_env / "changed.yaml"
    document = yaml.safe_load(out)
    document["tenants"][0]["tier1_account_id"] = "T1-CLI"
    changed.write_text(yaml.safe_dump(document))
    code, out, err = run(capsys, "import", str(changed), "--if-match", "0")
    assert code == EXIT["conflict"] == 3 and "revision 1 is current" in err
    code, out, err = run(capsys, "import", str(changed), "--dry-run")
    assert code == 0 and out == "tenant 101: tier1_account_id: '1000101' -> 'T1-CLI'\n" and "nothing saved" in err
    code, out, err = run(capsys, "import", str(changed), "--if-match", "1", "--comment", "contract", "--author", "ops-bot")
    assert code == 0 and "revision 2 created" in err
    code, out, _ = run(capsys, "diff", "2")
    assert out == "tenant 101: tier1_account_id: '1000101' -> 'T1-CLI'\n"
    assert run(capsys, "diff", "2", str(DEMO_CONFIG))[1] == "tenant 101: tier1_account_id: 'T1-CLI' -> '1000101'\n"
    code, out, err = run(capsys, "restore", "1")
    assert code == 0 and "revision 3 created" in err
    code, out, _ = run(capsys, "show", "--history", "3")
    assert "revision 3 of the configuration store" in out and '"origin": "restore"' in out and '"author": "ops-bot"' in out
    assert run(capsys, "export", "9")[0] == EXIT["not found"] == 5
    target = store_env / "exported.yaml"
    assert (
        run(capsys, "export", "2", "-o", str(target))[0] == 0
        and load_billing_config(target).tenant(101).tier1_account_id == "T1-CLI"
    )


def test_an_invalid_file_is_refused_with_every_problem_and_nothing_saved(store_env, capsys):
    run(capsys, "seed")
    bad = store_env / "bad.yaml"
    bad.write_text("tenants:\n  - {tenant_id: 7, name: X, billable: Maybe, time_zone: Nowhere}\n")
    code, _, err = run(capsys, "validate", str(bad))
    assert code == EXIT["invalid"] == 1
    assert (
        "tenant 'X' (tenant_id 7, entry 1): field 'billable'" in err
        and "tenant 'X' (tenant_id 7, entry 1): field 'time_zone'" in err
    )
    assert run(capsys, "import", str(bad))[0] == 1
    assert '"number": 2' not in run(capsys, "show")[1]
    code, out, _ = run(capsys, "validate", str(DEMO_CONFIG), "--against-store")
    assert code == 0 and out.endswith("no change\n")


def test_with_the_files_as_the_source_the_store_takes_no_import(store_env, capsys, monkeypatch):
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "file")
    code, _, err = run(capsys, "import", str(DEMO_CONFIG))
    assert code == EXIT["managed in files"] == 6 and "BDS_CONFIG_SOURCE=file" in err


def test_an_unreachable_store_exits_4_naming_it(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "BDS_DATA_DIR": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW_CONN_BDS_DB": "postgresql://bds:pw@127.0.0.1:9/bds",
    }
    done = subprocess.run([sys.executable, "-m", "bds.config", "show"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == EXIT["unavailable"] == 4, done.stderr
    assert (
        "error: configuration store postgresql" in done.stderr and "127.0.0.1:9/bds" in done.stderr and ":pw@" not in done.stderr
    )
