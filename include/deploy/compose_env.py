"""Write ``.env`` for docker compose from ``.env.example``, with fresh secrets.

Every empty value in the example becomes a new random secret of the kind it needs: a Fernet
key for ``AIRFLOW_FERNET_KEY``, ``name:key`` for ``MINIO_KMS_SECRET_KEY``, hex elsewhere (safe
inside the JSON of connections and in URLs). Values listed in ``OPTIONAL`` stay empty. An
existing ``.env`` keeps every value it has; a setting that a newer example adds is appended to
it, filled the same way. Standard library only: it runs before any install.

    python3 include/deploy/compose_env.py [EXAMPLE] [TARGET]
"""

from __future__ import annotations

import base64
import os
import secrets
import sys
from pathlib import Path

OPTIONAL = {"BDS_DAILY_DEADLINE"}


def secret_for(name: str) -> str:
    if name == "AIRFLOW_FERNET_KEY":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if name == "MINIO_KMS_SECRET_KEY":
        return "bds-key:" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_hex(32)  # 64 characters: HS512 wants a key as long as its hash


def filled(example: str) -> str:
    lines = []
    for line in example.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.lstrip().startswith("#") and not value and name not in OPTIONAL:
            line = f"{name}={secret_for(name)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    root = Path(__file__).resolve().parents[2]
    example = Path(argv[0]) if argv else root / ".env.example"
    target = Path(argv[1]) if len(argv) > 1 else root / ".env"
    if target.exists():
        current = target.read_text()
        known = {line.partition("=")[0] for line in current.splitlines() if "=" in line and not line.lstrip().startswith("#")}
        added = [
            line
            for line in filled(example.read_text()).splitlines()
            if "=" in line and not line.lstrip().startswith("#") and line.partition("=")[0] not in known
        ]
        if not added:
            print(f"{target} exists and has every setting; left as it is", file=sys.stderr)
            return 0
        write(target, current.rstrip("\n") + "\n" + "\n".join(added) + "\n")
        print(f"added {', '.join(line.partition('=')[0] for line in added)} to {target}; its other values are kept")
        return 0
    write(target, filled(example.read_text()))
    print(f"wrote {target} with fresh secrets")
    return 0


def write(target: Path, text: str) -> None:
    """Replace ``target`` at once, readable by its owner only (it holds secrets)."""
    temporary = target.with_name(target.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, target)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
