"""The configuration store: every accepted change is a new, immutable revision of the whole
validated configuration, numbered 1, 2, 3, ...; the highest is current.

It lives in the database of the Airflow connection ``bds_db`` (PostgreSQL in a deployment;
without that connection, SQLite at ``$BDS_DATA_DIR/bds.db``, the embedded default), in tables
prefixed ``bds_`` whose schema Alembic manages (``bds/config/migrations``; upgraded when the
store is first used by a process). A revision row is never updated or deleted: the database
refuses both. Two writers based on the same revision cannot both win: the revision number is
the primary key, so the second insert fails and is told who came first.

Where the runs' configuration comes from is ``$BDS_CONFIG_SOURCE``:

- ``store`` (the default): the store is the truth. ``$BDS_CONFIG`` only seeds an empty store;
  a file that matches no revision is named in every run's summary, never used silently.
- ``file``: the YAML files of ``$BDS_CONFIG`` are the truth (configuration kept in git); the
  store records each version the runs met as a revision, and refuses changes from the API.
"""

from __future__ import annotations

import json
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from bds.config import (
    CONFIG_ENV,
    BillingConfig,
    BillingConfigError,
    canonical_json,
    config_hash,
    load_billing_config,
    parse_billing_config,
)

CONN_ID = "bds_db"
SOURCE_ENV = "BDS_CONFIG_SOURCE"
SOURCES = ("store", "file")
EMBEDDED_NAME = "bds.db"
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "bds_alembic_version"  # not Airflow's alembic_version, should both share a database
# Control characters other than line breaks and tabs (a database may refuse NUL outright).
COMMENT_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
WRITER = "bds_writer"  # execution option of the connections that write
ORIGINS = ("seed", "file", "api", "import", "restore", "cli")

log = logging.getLogger(__name__)
# Alembic says "Context impl ..." each time a process looks at the schema; the upgrades
# themselves are logged below.
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

metadata = sa.MetaData()
revisions = sa.Table(
    "bds_config_revision",
    metadata,
    sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("author", sa.String(256), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("restored_from", sa.Integer, nullable=True),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)


class StoreUnavailable(RuntimeError):
    """The store cannot be reached, or cannot be written (read-only): nothing was changed."""


class RevisionConflict(Exception):
    """The change was based on a revision that is no longer current."""

    def __init__(self, based_on: int | None, current: int):
        self.based_on, self.current = based_on, current
        super().__init__(
            f"the change was based on revision {based_on}, but revision {current} is current "
            f"(someone else changed the configuration first); read it again and redo the change"
        )


class NoSuchRevision(LookupError):
    def __init__(self, number: int, current: int):
        self.number, self.current = number, current
        super().__init__(
            f"there is no revision {number}; revisions are 1 to {current}"
            if current
            else f"there is no revision {number}; the store is empty"
        )


class ManagedInFiles(Exception):
    """``BDS_CONFIG_SOURCE=file``: the files are the truth, the store follows them."""

    def __init__(self):
        super().__init__(
            f"the configuration is kept in the files of {CONFIG_ENV} ({SOURCE_ENV}=file): change it there "
            f"(the runs record each version as a revision); the store takes no other change"
        )


@dataclass(frozen=True)
class Revision:
    number: int
    created_at: datetime | None
    author: str
    comment: str
    origin: str
    restored_from: int | None
    hash: str
    config: BillingConfig

    def meta(self) -> dict:
        return {
            "number": self.number,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ") if self.created_at else None,
            "author": self.author,
            "comment": self.comment,
            "origin": self.origin,
            "restored_from": self.restored_from,
            "hash": self.hash,
        }


EMPTY = Revision(
    0, None, "", "the empty store: no configuration yet", "seed", None, config_hash(BillingConfig()), BillingConfig()
)


def source() -> str:
    value = os.environ.get(SOURCE_ENV, "store").strip().lower() or "store"
    if value not in SOURCES:
        raise BillingConfigError(f"{SOURCE_ENV}={value!r}: expected one of {', '.join(SOURCES)}")
    return value


def store_url(data_dir: Path | None = None) -> sa.URL:
    """The SQLAlchemy URL of the ``bds_db`` connection; without one, the embedded SQLite file
    in ``data_dir`` (default: $BDS_DATA_DIR)."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        connection = BaseHook.get_connection(CONN_ID)
    except AirflowNotFoundException:
        if data_dir is None:
            from bds.staging import data_dir as configured

            data_dir = configured()
        return sa.make_url(f"sqlite:///{Path(data_dir).resolve() / EMBEDDED_NAME}")
    try:  # the URL the hook would connect with, as the sources' engines are made (bds.sources)
        engine = connection.get_hook().get_sqlalchemy_engine()
    except Exception as exc:  # an unknown type, a provider not installed
        raise StoreUnavailable(f"configuration store: connection '{CONN_ID}' is unusable: {exc}") from None
    engine.dispose()
    return engine.url


def where(url: sa.URL) -> str:
    """The store's database for a message: never its password."""
    return url.render_as_string(hide_password=True)


def _serialise_sqlite(engine: sa.Engine) -> None:
    # pysqlite starts no transaction before DDL and takes the write lock only at the first write:
    # writers BEGIN IMMEDIATE, so each write (a migration, a revision) is one at a time, and a
    # read-only file can still be read.
    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout = 30000")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if connection.get_execution_options().get(WRITER) else "BEGIN")


@lru_cache(maxsize=8)
def _engine(url: sa.URL) -> sa.Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"configuration store {where(url)} cannot be created: {exc}") from None
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        _serialise_sqlite(engine)
    else:
        # An unreachable server answers within seconds, not the driver's default of never.
        connect = {"connect_timeout": 10} if url.get_backend_name() == "postgresql" else {}
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args=connect)
    return engine


class Store:
    """The revisions in one database."""

    def __init__(self, url: sa.URL | str):
        self.url = sa.make_url(url)
        self.engine = _engine(self.url)
        self.writer = self.engine.execution_options(**{WRITER: True})
        self._migrated = False
        self._parsed: dict[tuple[int, str], Revision] = {}

    def __repr__(self) -> str:
        return f"configuration store {where(self.url)}"

    # --- schema ---

    def migrate(self, target: str = "head") -> None:
        """Bring the schema to ``target`` (Alembic), one process at a time."""
        from alembic import command
        from alembic.script import ScriptDirectory

        if target == "head" and self.schema_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head():
            self._migrated = True  # up to date: nothing to write (the store may be read-only)
            return
        before = self.schema_revision()
        with self._unavailable("cannot prepare its schema"), self.writer.begin() as connection:
            if connection.dialect.name == "postgresql":  # concurrent first uses: one migrates, the others wait
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('bds_alembic'))"))
            command.upgrade(alembic_config(connection), target)
        log.info("%s: schema upgraded from %s to %s", self, before or "empty", target)
        self._migrated = target == "head"

    def downgrade(self, target: str) -> None:
        """Take the schema back to ``target`` (an Alembic revision, or ``base``: nothing)."""
        from alembic import command

        with self._unavailable("cannot take its schema back"), self.writer.begin() as connection:
            command.downgrade(alembic_config(connection), target)
        log.warning("%s: schema taken back to %s", self, target)
        self._migrated = False

    def schema_revision(self) -> str | None:
        from alembic.migration import MigrationContext

        with self._unavailable("cannot read its schema version"), self.engine.connect() as connection:
            return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()

    def _ready(self) -> None:
        if not self._migrated:
            self.migrate()

    # --- reading ---

    def current(self) -> Revision:
        """The latest revision; revision 0 (the empty default configuration) for an empty store.
        A revision never changes: one already read is not parsed and validated again."""
        self._ready()
        with self._unavailable("cannot be read"), self.engine.connect() as connection:
            latest = connection.execute(
                sa.select(revisions.c.number, revisions.c.hash).order_by(revisions.c.number.desc()).limit(1)
            ).first()
            if latest is None:
                return EMPTY
            if (found := self._parsed.get(tuple(latest))) is not None:
                return found
            row = connection.execute(revisions.select().where(revisions.c.number == latest.number)).first()
        revision = _revision(row)
        self._parsed = {(revision.number, revision.hash): revision}  # the latest only: a store's memory stays small
        return revision

    def get(self, number: int) -> Revision:
        if number == 0:
            return EMPTY
        self._ready()
        with self._unavailable("cannot be read"), self.engine.connect() as connection:
            row = connection.execute(revisions.select().where(revisions.c.number == number)).first()
            if row is None:
                raise NoSuchRevision(number, connection.execute(sa.select(sa.func.max(revisions.c.number))).scalar() or 0)
        return _revision(row)

    def history(self, limit: int = 50, before: int | None = None) -> list[dict]:
        """Revisions' metadata, newest first; ``before`` pages back."""
        self._ready()
        columns = [c for c in revisions.c if c.name != "document"]
        query = sa.select(*columns).order_by(revisions.c.number.desc()).limit(limit)
        if before is not None:
            query = query.where(revisions.c.number < before)
        with self._unavailable("cannot be read"), self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [_meta(row) for row in rows]

    def numbers_with_hash(self, digest: str) -> list[int]:
        self._ready()
        with self._unavailable("cannot be read"), self.engine.connect() as connection:
            return list(
                connection.execute(
                    sa.select(revisions.c.number).where(revisions.c.hash == digest).order_by(revisions.c.number)
                ).scalars()
            )

    # --- writing ---

    def commit(
        self,
        config: BillingConfig,
        based_on: int | None,
        author: str,
        comment: str,
        origin: str,
        restored_from: int | None = None,
    ) -> tuple[Revision, bool]:
        """Record ``config`` as the next revision if it differs from the current one.
        ``based_on`` is the revision the change was made from (None: whatever is current).
        Returns the current revision afterwards and whether this call created it."""
        if origin not in ORIGINS:
            raise ValueError(f"origin {origin!r}: expected one of {ORIGINS}")
        check_comment(comment)
        self._ready()
        digest = config_hash(config)
        with self._unavailable("cannot be written; nothing was changed"):
            try:
                with self.writer.begin() as connection:
                    row = connection.execute(revisions.select().order_by(revisions.c.number.desc()).limit(1)).first()
                    current = row.number if row else 0
                    if based_on is not None and based_on != current:
                        raise RevisionConflict(based_on, current)
                    if row is not None and row.hash == digest:
                        return _revision(row), False
                    values = {
                        "number": current + 1,
                        "created_at": datetime.now(UTC).replace(microsecond=0),
                        "author": author[:256],
                        "comment": comment,
                        "origin": origin,
                        "restored_from": restored_from,
                        "hash": digest,
                        "document": canonical_json(config),
                    }
                    connection.execute(revisions.insert().values(**values))
            except sa.exc.IntegrityError:  # another writer took the number between our read and our insert
                raise RevisionConflict(based_on, self.current().number) from None
        return Revision(**{k: v for k, v in values.items() if k != "document"}, config=config), True

    @contextmanager
    def writing(self, what: str):
        """One transaction of a writer on the store's database (the billing ledger's too);
        ``what`` says what failed if the database does."""
        self._ready()
        with self._unavailable(what), self.writer.begin() as connection:
            yield connection

    @contextmanager
    def reading(self):
        self._ready()
        with self._unavailable("cannot be read"), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def _unavailable(self, what: str):
        """Turn the database's errors (unreachable, read-only, locked, refused) into one that
        names the store and what could not be done."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.InternalError, sa.exc.ProgrammingError) as exc:
            cause = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StoreUnavailable(f"{self} {what}: {cause}") from None


def check_comment(comment: str) -> None:
    if found := COMMENT_CONTROL.search(comment):
        raise BillingConfigError(
            f"the comment has the control character U+{ord(found.group()):04X}",
            [
                {
                    "tenant": None,
                    "path": "comment",
                    "message": f"control character U+{ord(found.group()):04X} at "
                    f"position {found.start() + 1}: a comment is text (line breaks and tabs allowed)",
                }
            ],
        )


@dataclass(frozen=True)
class Change:
    """What a change made (or, on a dry run, would make): the revision current afterwards,
    whether the configuration changed, and each change (bds.config.diff)."""

    revision: Revision
    changed: bool
    changes: list[dict]


def change(
    store: Store,
    edit,
    based_on: int | None,
    author: str,
    comment: str,
    origin: str,
    restored_from: int | None = None,
    dry_run: bool = False,
) -> Change:
    """The one way a person or a script changes the configuration (the API, ``python -m
    bds.config``): ``edit`` turns the revision in use into a new raw document, which is
    validated whole and, unless ``dry_run``, recorded. ``based_on`` is the revision the change
    was made from (None: whatever is in use)."""
    from bds.config.diff import diff

    if source() == "file" and not dry_run:
        raise ManagedInFiles()
    check_comment(comment)
    now = in_use(store)[0]
    if based_on is not None and based_on != now.number:
        raise RevisionConflict(based_on, now.number)
    new = parse_billing_config(edit(now.config), "(the requested change)")
    changes = diff(now.config, new)
    if not changes:
        return Change(now, False, [])
    if dry_run:
        return Change(
            Revision(now.number + 1, None, author, comment, origin, restored_from, config_hash(new), new), True, changes
        )
    revision, _ = store.commit(new, now.number, author, comment, origin, restored_from)
    return Change(revision, True, changes)


def alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _revision(row, config: BillingConfig | None = None) -> Revision:
    created = row.created_at
    if created is not None and created.tzinfo is None:  # SQLite keeps no time zone: the store writes UTC
        created = created.replace(tzinfo=UTC)
    if config is None:
        config = parse_billing_config(json.loads(row.document), f"revision {row.number}")
    return Revision(row.number, created, row.author, row.comment, row.origin, row.restored_from, row.hash, config)


def _meta(row) -> dict:
    return _revision(row, EMPTY.config).meta()


@lru_cache(maxsize=8)
def _default_store(url: sa.URL) -> Store:
    return Store(url)


def default_store(data_dir: Path | None = None) -> Store:
    """The store of this installation (the ``bds_db`` connection), one per process and URL;
    without the connection, the one beside the billing files of ``data_dir``."""
    return _default_store(store_url(data_dir))


def seed(store: Store) -> tuple[Revision, list[str]]:
    """An empty store gets ``$BDS_CONFIG`` as revision 1 (if set). Returns the current revision
    and what was done."""
    current = store.current()
    path = os.environ.get(CONFIG_ENV)
    if current.number or not path:
        return current, []
    try:
        revision, created = store.commit(load_billing_config(path), 0, CONFIG_ENV, f"seeded from {path}", "seed")
    except RevisionConflict:  # another process (a run planned at the same moment) seeded it first
        return store.current(), []
    return revision, [f"configuration: the empty store was seeded from {path} as revision {revision.number}"] if created else []


def in_use(store: Store) -> tuple[Revision, list[str]]:
    """The revision the runs use now (an empty store seeded, or the files recorded; see the
    module's docstring), and what was done to get it."""
    if source() == "store":
        return seed(store)
    path = os.environ.get(CONFIG_ENV)
    config = load_billing_config(path)
    for _ in range(3):  # a concurrent run recording the same files is as good as this one
        try:
            revision, created = store.commit(config, None, CONFIG_ENV, f"the files of {path}", "file")
            break
        except RevisionConflict:
            continue
    else:
        raise StoreUnavailable(f"{store}: could not record the files of {path}: other writers kept changing it")
    done = (
        f"recorded the files of {path} as revision {revision.number}"
        if created
        else f"the files of {path} are revision {revision.number}"
    )
    return revision, [f"configuration: {done} ({SOURCE_ENV}=file)"]


def for_runs(store: Store | None = None) -> tuple[Revision, list[str]]:
    """The revision a run plans with, and notes for its summary: which revision of which
    store, and a file of $BDS_CONFIG that the store does not follow, if it matches no revision."""
    store = store or default_store()
    revision, notes = in_use(store)
    if source() == "file":
        return revision, notes
    notes.append(f"configuration: revision {revision.number} of the {store}")
    path = os.environ.get(CONFIG_ENV)
    if revision.number == 0:
        notes.append(
            f"configuration: the store is empty; configure tenants through the API or `python -m bds.config import FILE` (or set {CONFIG_ENV} to seed it)"
        )
    elif path and len(notes) == 1:
        try:
            digest = config_hash(load_billing_config(path))
        except BillingConfigError as exc:
            notes.append(
                f"configuration: {CONFIG_ENV} ({path}) is not used (the store is, {SOURCE_ENV}=store) and is invalid: {exc}"
            )
        else:
            if not store.numbers_with_hash(digest):
                notes.append(
                    f"configuration: {CONFIG_ENV} ({path}) differs from every revision in the store and is NOT used "
                    f"({SOURCE_ENV}=store: the store wins); import it (`python -m bds.config import`) or unset {CONFIG_ENV}"
                )
    return revision, notes


def current_config() -> BillingConfig:
    """The configuration the runs would use now (for the command-line reports)."""
    return for_runs()[0].config
