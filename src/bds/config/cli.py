"""``python -m bds.config``: the configuration store from a terminal or a script.

    show [--history N]          the current revision (which store, which source) and the last N
    validate FILE [--against-store]
                                a YAML file (several, ':'-separated, laid over each other as in
                                $BDS_CONFIG): every problem; with the store, what it would change
    import FILE [--if-match N] [--comment TEXT] [--dry-run]
                                the file as the next revision
    export [N] [-o FILE]        a revision (default: current) as YAML
    diff A [B]                  what changed from A to B (default: A's predecessor to A); each a
                                revision number or a YAML file
    restore N [--if-match N] [--comment TEXT] [--dry-run]
                                a new revision equal to revision N
    migrate                     bring the store's schema up to date
    seed                        an empty store gets $BDS_CONFIG as revision 1

The store is the Airflow connection ``bds_db`` (else ``$BDS_DATA_DIR/bds.db``). Exit codes are
in ``EXIT``; messages go to stderr, what was asked for to stdout.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from bds.config import BillingConfig, BillingConfigError, config_hash, document, load_billing_config, to_yaml
from bds.config import diff as config_diff
from bds.config import store as config_store

EXIT = {
    "ok": 0,
    "invalid": 1,  # the configuration (a file, or the result of the change) is invalid
    "usage": 2,  # argparse's own
    "conflict": 3,  # --if-match names a revision that is no longer current
    "unavailable": 4,  # the store cannot be reached or written
    "not found": 5,  # no such revision
    "managed in files": 6,  # BDS_CONFIG_SOURCE=file: change the files instead
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bds.config", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="the current revision and the latest ones")
    show.add_argument("--history", type=int, default=10, metavar="N")
    validate = commands.add_parser("validate", help="validate YAML file(s)")
    validate.add_argument("file")
    validate.add_argument("--against-store", action="store_true", help="also show what it would change in the store")
    for name, what in (("import", "a YAML file as the next revision"), ("restore", "a new revision equal to an earlier one")):
        command = commands.add_parser(name, help=what)
        command.add_argument("file" if name == "import" else "number", type=str if name == "import" else int)
        command.add_argument(
            "--if-match", type=int, metavar="N", help="refuse unless revision N is current (as the API's If-Match)"
        )
        command.add_argument("--comment", default="")
        command.add_argument("--author", default=None, help="default: the user running the command")
        command.add_argument("--dry-run", action="store_true", help="show what it would change; save nothing")
    export = commands.add_parser("export", help="a revision as YAML")
    export.add_argument("number", type=int, nargs="?")
    export.add_argument("-o", "--output", type=Path, help="write to this file (atomically) instead of stdout")
    diff = commands.add_parser("diff", help="what changed between two revisions or files")
    diff.add_argument("old")
    diff.add_argument("new", nargs="?")
    commands.add_parser("migrate", help="bring the store's schema up to date")
    commands.add_parser("seed", help=f"an empty store gets ${config_store.CONFIG_ENV} as revision 1")
    return parser


def _config(spec: str, store) -> tuple[str, BillingConfig]:
    if spec.isdigit():
        revision = store.get(int(spec))
        return f"revision {revision.number}", revision.config
    return spec, load_billing_config(spec)


def _print_changes(changes: list[dict]) -> None:
    print("\n".join(config_diff.describe(changes)) if changes else "no change")


def _write(args, store) -> int:
    """import and restore: one change, as the API makes it."""
    if args.command == "import":
        new, origin, restored_from, comment = load_billing_config(args.file), "cli", None, args.comment or f"imported {args.file}"
    else:
        new, origin, restored_from = store.get(args.number).config, "restore", args.number or None
        comment = args.comment or f"restored revision {args.number}"
    author = args.author or getpass.getuser()
    done = config_store.change(
        store, lambda _config: document(new), args.if_match, author, comment, origin, restored_from, args.dry_run
    )
    _print_changes(done.changes)
    if args.dry_run:
        kept = done.revision.number - 1 if done.changed else done.revision.number
        print(f"dry run: {'nothing saved' if done.changed else 'no change'}; the store stays at revision {kept}", file=sys.stderr)
    else:
        print(
            f"revision {done.revision.number} {'created' if done.changed else 'is current already (no change)'}", file=sys.stderr
        )
    return EXIT["ok"]


def run(args) -> int:
    if args.command == "validate":
        config = load_billing_config(args.file)
        print(f"{args.file}: valid ({len(config.tenants)} tenant(s), hash {config_hash(config)})")
        if args.against_store:
            _print_changes(config_diff.diff(config_store.in_use(config_store.default_store())[0].config, config))
        return EXIT["ok"]
    store = config_store.default_store()
    if args.command == "migrate":
        store.migrate()
        print(f"{store}: schema at {store.schema_revision()}")
    elif args.command == "seed":
        revision, done = config_store.seed(store)
        print("\n".join(done) or f"{store}: not empty (revision {revision.number} is current); nothing seeded")
    elif args.command == "show":
        revision, notes = config_store.for_runs(store)
        print("\n".join(notes))
        print(f"source: {config_store.source()} ({config_store.SOURCE_ENV})")
        for meta in store.history(args.history):
            print(json.dumps(meta))
    elif args.command == "export":
        revision = store.get(args.number) if args.number is not None else config_store.in_use(store)[0]
        text = f"# bds billing configuration, revision {revision.number} ({revision.hash})\n" + to_yaml(revision.config)
        if args.output:
            from bds.files import write_atomic

            write_atomic(args.output, text.encode("utf-8"))
            print(f"revision {revision.number} written to {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    elif args.command == "diff":
        new_spec = args.new or args.old
        old_spec = args.old if args.new else str(max(int(args.old) - 1, 0)) if args.old.isdigit() else None
        if old_spec is None:
            raise BillingConfigError("diff FILE needs a second revision or file to compare with")
        (old_name, old), (new_name, new) = _config(old_spec, store), _config(new_spec, store)
        print(f"from {old_name} to {new_name}:", file=sys.stderr)
        _print_changes(config_diff.diff(old, new))
    else:
        return _write(args, store)
    return EXIT["ok"]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    outcomes = (
        (BillingConfigError, "invalid"),
        (config_store.RevisionConflict, "conflict"),
        (config_store.StoreUnavailable, "unavailable"),
        (config_store.NoSuchRevision, "not found"),
        (config_store.ManagedInFiles, "managed in files"),
    )
    try:
        return run(args)
    except tuple(kind for kind, _ in outcomes) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next(EXIT[name] for kind, name in outcomes if isinstance(exc, kind))
