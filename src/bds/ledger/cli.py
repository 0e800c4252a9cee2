"""The billing ledger from the command line::

    python -m bds.ledger rebuild [DATA_DIR]   # replace it with what the archive says
    python -m bds.ledger check [DATA_DIR]     # compare it with what the archive says

``check`` rebuilds into a scratch SQLite database and compares every file, count and flag
row with the live ledger: exit 0 when they are equal, 1 with the differences listed.
Exit 2: the ledger's database cannot be reached.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from bds.ledger import DERIVED, acks, attempts


def snapshot(store) -> dict[str, set[tuple]]:
    """Every row of the derived tables, as comparable tuples."""
    with store.reading() as connection:
        return {t.name: {tuple(str(v) for v in row) for row in connection.execute(sa.select(t))} for t in DERIVED}


def differences(live: dict[str, set[tuple]], rebuilt: dict[str, set[tuple]]) -> list[str]:
    found = []
    for table in live:
        found += [f"{table}: only in the live ledger: {row}" for row in sorted(live[table] - rebuilt[table])]
        found += [f"{table}: only in the rebuilt ledger: {row}" for row in sorted(rebuilt[table] - live[table])]
    return found


@contextmanager
def quiet(*loggers: str):
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _outbox() -> Path | None:
    try:
        from bds.transmission import outbox_dir

        return outbox_dir()
    except Exception:  # no outbox connection: nothing is queued
        return None


def main(argv: list[str] | None = None) -> int:
    from bds.config.store import Store, StoreUnavailable, default_store
    from bds.ledger.replay import rebuild

    parser = argparse.ArgumentParser(
        prog="python -m bds.ledger", description="Rebuild or check the billing ledger from the archive."
    )
    parser.add_argument("command", choices=("rebuild", "check"))
    parser.add_argument("data_dir", nargs="?", default=os.environ.get("BDS_DATA_DIR", "."), type=Path)
    args = parser.parse_args(argv)
    try:
        store = default_store(args.data_dir)
        if args.command == "rebuild":
            events = rebuild(store, args.data_dir, _outbox())
            print(f"billing ledger of the {store} rebuilt from {(args.data_dir / 'archive').resolve()}: {events} period event(s)")
            return 0
        with tempfile.TemporaryDirectory() as scratch, quiet("bds.config.store", "bds.ledger.replay"):
            copy = Store(f"sqlite:///{scratch}/ledger.db")  # its schema and replay are no news to the reader
            # What no file holds, and the replay reads: the attempts (which unsent files failed)
            # and the acknowledgements (acknowledged flags stay).
            with store.reading() as connection:
                kept = {table: [dict(r._mapping) for r in connection.execute(sa.select(table))] for table in (attempts, acks)}
            with copy.writing("cannot prepare the scratch ledger") as connection:
                for table, rows in kept.items():
                    if rows:
                        connection.execute(table.insert(), rows)
            rebuild(copy, args.data_dir, _outbox(), revisions=store)
            found = differences(snapshot(store), snapshot(copy))
            copy.engine.dispose()
    except StoreUnavailable as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    for line in found:
        print(f"MISMATCH {line}")
    print(
        f"billing ledger of the {store}: {'equal to the archive' if not found else f'{len(found)} difference(s) from the archive'}"
    )
    return 1 if found else 0
