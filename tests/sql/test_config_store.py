"""The configuration store on SQLite and PostgreSQL: its migrations, immutable revisions,
writers that race, a store that is read-only or out of reach, and which source the runs use."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from bds.config import BillingConfigError, canonical_json, config_hash, load_billing_config, parse_billing_config
from bds.config.store import (
    EMPTY,
    MIGRATIONS,
    NoSuchRevision,
    RevisionConflict,
    Store,
    StoreUnavailable,
    for_runs,
    in_use,
    revisions,
    seed,
)
from bds_tools.airflow_local import free_port
from tests.conftest import ROOT

DEMO_CONFIG = ROOT / "include" / "config" / "demo.yaml"
pytestmark = pytest.mark.postgres


def config(**fields):
    return parse_billing_config({"billing_process_enabled": True, **fields})


def tenant(tenant_id: int, **fields) -> dict:
    return {"tenant_id": tenant_id, "name": f"T{tenant_id}", "billable": "None", **fields}


def rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(revisions)).scalar()


def test_migrations_from_empty_and_from_every_earlier_revision_keep_the_revisions(source_url):
    store = Store(source_url)
    steps = [s.revision for s in reversed(list(ScriptDirectory(str(MIGRATIONS)).walk_revisions()))]
    assert steps[0] == "0001" and store.schema_revision() is None
    for step in steps:  # one migration after the other, from an empty database
        store.migrate(step)
        assert store.schema_revision() == step
    for start in [None, *steps[:-1]]:  # from empty, and from each revision before the newest, to the newest
        store.downgrade("base")
        assert store.schema_revision() is None
        if start is not None:
            store.migrate(start)
            with store.writer.begin() as connection:  # what a store at that schema would hold
                connection.execute(
                    revisions.insert().values(
                        number=1,
                        created_at=datetime.now(UTC),
                        author="tester",
                        comment=f"kept from {start}",
                        origin="cli",
                        restored_from=None,
                        hash=config_hash(config()),
                        document=canonical_json(config()),
                    )
                )
        store.migrate("head")
        assert store.schema_revision() == steps[-1]
        assert store.current().number == (0 if start is None else 1)
        if start is not None:
            assert store.get(1).comment == f"kept from {start}" and store.get(1).config == config()


def test_the_first_uses_of_several_processes_migrate_once(source_url):
    errors = []

    def first_use():
        try:
            Store(source_url).current()
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Store(source_url).schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def test_revisions_are_numbered_hashed_immutable_and_a_no_change_makes_none(source_url):
    store = Store(source_url)
    assert store.current() == EMPTY and EMPTY.number == 0
    first = config(tenants=[tenant(1, tier1_account_id="A")])
    revision, created = store.commit(first, 0, "alice", "first", "api")
    assert created and (revision.number, revision.author, revision.hash) == (1, "alice", config_hash(first))
    again, created = store.commit(parse_billing_config(first.model_dump(mode="json")), 1, "bob", "same", "api")
    assert not created and again.number == 1 and again.author == "alice"
    second, _ = store.commit(config(tenants=[tenant(1, tier1_account_id="B")]), 1, "bob", "tier1", "api")
    assert second.number == 2 and store.current().config.tenants[0].tier1_account_id == "B"
    assert store.get(1).config == first and store.get(1).created_at.tzinfo is not None
    assert [m["number"] for m in store.history()] == [2, 1] and [m["number"] for m in store.history(before=2)] == [1]
    assert store.numbers_with_hash(config_hash(first)) == [1]
    with pytest.raises(NoSuchRevision, match="there is no revision 3; revisions are 1 to 2"):
        store.get(3)
    for statement in (revisions.update().values(author="mallory"), revisions.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="immutable"), store.writer.begin() as connection:
            connection.execute(statement)
    assert rows(store) == 2 and store.get(1).author == "alice"
    with pytest.raises(BillingConfigError, match="control character U\\+0000"):
        store.commit(config(), 2, "eve", "a\x00b", "api")
    assert rows(store) == 2


def test_writers_based_on_one_revision_race_and_one_wins(source_url):
    store = Store(source_url)
    store.migrate()
    outcomes, start = [], threading.Barrier(8)

    def write(number: int) -> None:
        start.wait()
        try:
            outcomes.append(store.commit(config(tenants=[tenant(number)]), 0, f"writer {number}", "race", "api")[0].number)
        except RevisionConflict as exc:
            outcomes.append(f"conflict, {exc.current} current")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == [1] + ["conflict, 1 current"] * 7
    assert rows(store) == 1


def read_only(url: str, tmp_path) -> str:
    if url.startswith("sqlite"):
        return f"sqlite:///file:{sa.make_url(url).database}?mode=ro&uri=true"
    return (
        sa.make_url(url)
        .update_query_dict({"options": "-c default_transaction_read_only=on"})
        .render_as_string(hide_password=False)
    )


def test_a_read_only_store_is_read_and_refuses_a_change_writing_nothing(source_url, tmp_path):
    Store(source_url).commit(config(tenants=[tenant(1)]), 0, "alice", "seed", "seed")
    store = Store(read_only(source_url, tmp_path))
    assert store.current().number == 1 and store.current().config.tenants[0].tenant_id == 1
    with pytest.raises(StoreUnavailable, match="cannot be written; nothing was changed"):
        store.commit(config(tenants=[tenant(2)]), 1, "bob", "refused", "api")
    assert rows(Store(source_url)) == 1


def test_an_unreachable_store_is_named_without_its_password(tmp_path):
    store = Store(f"postgresql+psycopg://bds:s3cret@127.0.0.1:{free_port()}/bds")
    with pytest.raises(StoreUnavailable) as raised:
        store.current()
    assert str(raised.value).startswith("configuration store postgresql+psycopg://bds:***@127.0.0.1:")
    assert "s3cret" not in str(raised.value)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="cannot be created"):
        Store(f"sqlite:///{blocked / 'bds.db'}").current()


# --- which source the runs use (the store's SQLite default under BDS_DATA_DIR) ---


@pytest.fixture
def embedded(monkeypatch, tmp_path):
    monkeypatch.setenv("BDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BDS_CONFIG", raising=False)
    monkeypatch.delenv("BDS_CONFIG_SOURCE", raising=False)
    return tmp_path


def write_config(path, tier1: str) -> str:
    path.write_text(DEMO_CONFIG.read_text().replace('tier1_account_id: "1000101"', f'tier1_account_id: "{tier1}"'))
    assert load_billing_config(path).tenant(101).tier1_account_id == tier1
    return str(path)


def test_the_store_wins_and_a_file_it_does_not_follow_is_named(embedded, monkeypatch):
    revision, notes = for_runs()
    assert revision.number == 0 and "the store is empty" in notes[-1]
    path = write_config(embedded / "billing.yaml", "T1-FIRST")
    monkeypatch.setenv("BDS_CONFIG", path)
    revision, notes = for_runs()
    assert revision.number == 1 and notes[0] == f"configuration: the empty store was seeded from {path} as revision 1"
    assert notes[1].startswith("configuration: revision 1 of the configuration store sqlite:///") and len(notes) == 2
    write_config(embedded / "billing.yaml", "T1-EDITED")  # edited after seeding: not used, and said so
    revision, notes = for_runs()
    assert revision.number == 1 and revision.config.tenant(101).tier1_account_id == "T1-FIRST"
    assert f"BDS_CONFIG ({path}) differs from every revision in the store and is NOT used" in notes[-1]
    write_config(embedded / "billing.yaml", "T1-FIRST")  # the file as it was seeded: nothing to say
    assert len(for_runs()[1]) == 1


def test_with_the_files_as_the_source_each_version_becomes_a_revision(embedded, monkeypatch):
    path = write_config(embedded / "billing.yaml", "T1-A")
    monkeypatch.setenv("BDS_CONFIG", path)
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "file")
    revision, notes = for_runs()
    assert (revision.number, revision.origin, revision.author) == (1, "file", "BDS_CONFIG")
    assert notes == [f"configuration: recorded the files of {path} as revision 1 (BDS_CONFIG_SOURCE=file)"]
    assert for_runs()[1] == [f"configuration: the files of {path} are revision 1 (BDS_CONFIG_SOURCE=file)"]
    write_config(embedded / "billing.yaml", "T1-B")
    assert for_runs()[0].number == 2
    write_config(embedded / "billing.yaml", "T1-A")  # back to the first version: a new revision equal to revision 1
    revision = in_use(Store(f"sqlite:///{embedded / 'data' / 'bds.db'}"))[0]
    assert revision.number == 3 and revision.hash == Store(f"sqlite:///{embedded / 'data' / 'bds.db'}").get(1).hash
    monkeypatch.setenv("BDS_CONFIG_SOURCE", "git")
    with pytest.raises(BillingConfigError, match="BDS_CONFIG_SOURCE='git': expected one of store, file"):
        for_runs()


def test_a_plan_whose_store_is_out_of_reach_fails_naming_the_day_and_is_retried(embedded, monkeypatch):
    from bds.errors import PermanentError
    from bds.pipeline import plan_daily_run
    from bds_tools.airflow_local import postgres_connection

    monkeypatch.setenv("AIRFLOW_CONN_BDS_DB", postgres_connection(f"postgresql+psycopg://bds:pw@127.0.0.1:{free_port()}/bds"))
    with pytest.raises(StoreUnavailable) as raised:
        plan_daily_run("2026-03-29", None, None)
    assert str(raised.value).startswith("day 2026-03-29: configuration store postgresql")
    assert not isinstance(raised.value, PermanentError)  # the store may come back: the plan's retries are worth it


def test_a_run_that_finds_the_store_seeded_since_it_looked_plans_with_that_revision(embedded, monkeypatch):
    """Unpausing bds_daily starts its scheduled run beside a manual one: both plans find the
    store empty; one seeds it, the other's seed then conflicts and it plans with revision 1."""
    monkeypatch.setenv("BDS_CONFIG", str(DEMO_CONFIG))
    store = Store(f"sqlite:///{embedded / 'data' / 'bds.db'}")
    store.commit(load_billing_config(DEMO_CONFIG), 0, "BDS_CONFIG", "seeded by the other run", "seed")
    looked = iter([EMPTY])  # what this run read a moment before the other one seeded
    monkeypatch.setattr(store, "current", lambda real=store.current: next(looked, None) or real())
    revision, notes = seed(store)
    assert (revision.number, revision.comment, notes) == (1, "seeded by the other run", [])
