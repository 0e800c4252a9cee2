"""Changes to a configuration: what changed between two, field by field and by tenant
(``diff``), and a JSON merge patch applied to one (``merge_patch``).

Tenants are matched by ``tenant_id``, regions and locations by ``code`` (not by position), so a
reordered list is no change and a renamed account id is one line. A tenant, region or location
that appears or disappears is one entry holding the whole of it.
"""

from __future__ import annotations

from typing import Any

from bds.config import BillingConfig, document

IDENTITIES = ("tenant_id", "code")  # what names an entry of a list of mappings


def diff(old: BillingConfig, new: BillingConfig) -> list[dict]:
    """Each change as ``{"tenant_id", "path", "change", "old", "new"}``; ``tenant_id`` is None
    for the global settings and ``path`` is relative to the tenant (or the settings)."""
    found: list[dict] = []
    _compare(document(old), document(new), (), found)
    return found


def _identity(items: Any) -> str | None:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return None
    for key in IDENTITIES:
        values = [i.get(key) for i in items]
        if all(v is not None for v in values) and len(set(values)) == len(values):
            return key
    return None


def _keyed(value: Any) -> dict | None:
    key = _identity(value)
    return {item[key]: item for item in value} if key else None


def _compare(old: Any, new: Any, path: tuple, found: list[dict]) -> None:
    if isinstance(old, list) and isinstance(new, list) and (not old or not new or _identity(old) == _identity(new)):
        old_keyed, new_keyed = _keyed(old), _keyed(new)
        if old_keyed is not None and new_keyed is not None:
            old, new = old_keyed, new_keyed
            path = (*path, "[]")  # the next part is an identity, shown in brackets
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new:
                found.append(_entry((*path, key), "removed", old[key], None))
            elif key not in old:
                found.append(_entry((*path, key), "added", None, new[key]))
            else:
                _compare(old[key], new[key], (*path, key), found)
    elif old != new:
        found.append(_entry(path, "changed", old, new))


def _entry(path: tuple, change: str, old: Any, new: Any) -> dict:
    tenant_id = None
    if path[:2] == ("tenants", "[]") and len(path) > 2:
        tenant_id, path = path[2], path[3:]
    text = ""
    for previous, part in zip((None, *path), path, strict=False):
        if part == "[]":
            continue
        text += f"[{part}]" if previous == "[]" else (f".{part}" if text else str(part))
    return {"tenant_id": tenant_id, "path": text or "(whole tenant)", "change": change, "old": old, "new": new}


def describe(changes: list[dict]) -> list[str]:
    """One line per change, for a terminal or a log."""
    lines = []
    for c in changes:
        subject = f"tenant {c['tenant_id']}" if c["tenant_id"] is not None else "settings"
        if c["change"] == "changed":
            lines.append(f"{subject}: {c['path']}: {c['old']!r} -> {c['new']!r}")
        else:
            lines.append(f"{subject}: {c['path']}: {c['change']}")
    return lines


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: mappings merge key by key, null removes a key (back to its default), anything
    else (a list too) replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged
