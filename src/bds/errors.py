"""Errors no retry can fix, and naming what a failed write was about.

Every bds task has the retry policy ``dag_common.RETRY_POLICY``: an exception that is a
``PermanentError`` fails the task at once (the alert goes out now, not after the backoff);
anything else (a source or the billing server unreachable, a locked database) is retried.
"""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path


class PermanentError(Exception):
    """Retrying will not help until an operator changes something: the task fails at once."""


class StorageError(PermanentError, OSError):
    """A file could not be written for a reason no retry fixes (disk full, name too long,
    read-only or forbidden folder); the message names the subject, the file and the cause."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


# errno -> what to tell the operator; other OSErrors (EIO, EAGAIN, ...) stay as they are and are retried.
_PERMANENT_ERRNO = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENAMETOOLONG: "the file name is too long for the file system",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def free_space(path: str | Path | None) -> str:
    """'<free> of <total> free on the file system of <path>' for the nearest existing folder."""
    folder = Path(path or ".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return ""
    return f"{usage.free / 2**20:.1f} MiB free of {usage.total / 2**20:.1f} MiB under {folder}"


def storage_error(subject: str, exc: OSError) -> OSError:
    """``exc`` as a StorageError naming ``subject`` when no retry can fix it, else unchanged."""
    if isinstance(exc, StorageError):  # named already; add the subject if it is not there
        return exc if str(exc).startswith(subject) else StorageError(exc.errno, f"{subject}: {exc}")
    cause = _PERMANENT_ERRNO.get(exc.errno)
    if cause is None:
        return exc
    target = exc.filename or "a file"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) and (space := free_space(exc.filename)):
        cause += f" ({space})"
    return StorageError(exc.errno, f"{subject}: cannot write {target}: {cause}")


@contextmanager
def writing_for(subject: str):
    """Name ``subject`` (a tenant and its day or month) in a permanent write error of the block."""
    try:
        yield
    except OSError as exc:
        raised = storage_error(subject, exc)
        if raised is exc:
            raise
        raise raised from exc
