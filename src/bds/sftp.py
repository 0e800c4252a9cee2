"""An SFTP billing server, through the sftp provider's ``SFTPHook`` (paramiko).

The counterpart of ``transmission.Bucket`` for ``billing_server.kind: sftp``: the same
methods, so the outbox, the archive, the manifests and the ledger work the same way. A file
is written under a temporary name in its folder (``.<name>.part``), read back and checked
(size and SHA-256), and only then renamed into place, so a receiver never sees half a file
under a billing file's name; a writer killed half-way leaves at most that one temporary file,
which its next attempt overwrites. Paths are ``key_prefix``/<the archive's relative path>,
relative to the login's folder; ``key_prefix`` must exist, the folders below it are created.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import posixpath
import re
import socket
from datetime import UTC, datetime
from pathlib import Path

from bds.config import BillingServer

log = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".part"


def temporary_name(key: str) -> str:
    folder, name = posixpath.split(key)
    return posixpath.join(folder, f".{name}{TEMPORARY_SUFFIX}")


class SftpServer:
    """The billing server's folder over SFTP, through the Airflow connection named in the
    settings (``sftp_conn_id``: host, port, login, and a password or key in its extra)."""

    where = "on the SFTP server"

    def __init__(self, server: BillingServer):
        self.server = server
        self.hook = None
        self._client = None
        self._folders: set[str] = set()

    @property
    def client(self):
        """The SFTP session, opened on first use (so that a connection that cannot be opened
        fails where the file it was for is named)."""
        if self._client is None:
            from airflow.providers.sftp.hooks.sftp import SFTPHook

            # One attempt: the error is classified at once (refused credentials are final), and
            # the task's retry policy retries what may pass.
            self.hook = SFTPHook(ssh_conn_id=self.server.sftp_conn_id, use_managed_conn=False, conn_retry_attempts=1)
            self._client = self.hook.get_conn()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self.hook.close_conn()
            self._client = None

    def errors(self) -> tuple[type[BaseException], ...]:
        return errors()

    def for_tenant(self, tenant_id: int) -> SftpServer:
        return self  # one connection for every tenant (see transmission.Destinations for a tenant's own)

    def explain(self, exc: Exception, subject: str):
        return explain(exc, self.server, subject)

    def key_of(self, key_or_uri: str) -> str:
        """A file's path, from its path or its URI (``sftp://<connection id>/<path>``, whichever
        connection it was sent through: a tenant's own, or the shared one)."""
        return re.sub(r"^[a-z0-9]+://[^/]+/", "", key_or_uri)

    def head(self, key: str) -> dict | None:
        try:
            found = self.client.stat(key)
        except FileNotFoundError:
            return None
        modified = datetime.fromtimestamp(found.st_mtime or 0, UTC)
        return {"ContentLength": found.st_size, "LastModified": modified}

    def read(self, key: str) -> bytes:
        with self.client.open(key, "rb") as remote:
            remote.prefetch()
            return remote.read()

    def compare(self, key_or_uri: str, data: bytes, read_back: bool = True) -> tuple[list[str], dict | None]:
        """What differs between the remote file and ``data`` (nothing: it is verified), and its
        attributes. SFTP keeps no checksum: the file is always read back and hashed."""
        key = self.key_of(key_or_uri)
        head = self.head(key)
        if head is None:
            return ["the file is not on the SFTP server"], None
        return _differences(head["ContentLength"], self.read(key), data), head

    def encryption_problems(self, head: dict) -> list[str]:
        return []  # the channel is encrypted; at rest is the server's business

    def upload(self, path: Path, key: str) -> None:
        """Write under the temporary name, read it back and check it, then rename into place."""
        data = path.read_bytes()
        self._make_folders(posixpath.dirname(key))
        part = temporary_name(key)
        with self.client.open(part, "wb") as remote:
            remote.set_pipelined(True)
            remote.write(data)
        problems = _differences(self.client.stat(part).st_size, self.read(part), data)
        if problems:
            raise SftpVerificationError(f"{part}: written, but {'; '.join(problems)}; not renamed into place")
        self._rename(part, key)

    def _rename(self, source: str, target: str) -> None:
        # OpenSSH's posix-rename replaces the target in one step. A server without it gets a
        # plain rename, which refuses an existing target: the old file is renamed aside first
        # and removed only once the new one is in place.
        try:
            self.client.posix_rename(source, target)
            return
        except OSError as exc:  # paramiko keeps only the server's text of an SFTP status
            if not any(words in str(exc).lower() for words in ("unsupported", "not supported")):
                raise
        if self.head(target) is None:
            self.client.rename(source, target)
            return
        folder, name = posixpath.split(target)
        aside = posixpath.join(folder, f".{name}.replaced{TEMPORARY_SUFFIX}")
        self.client.rename(target, aside)
        self.client.rename(source, target)
        self.client.remove(aside)

    def _make_folders(self, folder: str) -> None:
        """The folders below ``key_prefix`` (which must exist: it is the billing server's)."""
        base = self.server.key_prefix
        if folder in self._folders:
            return
        if base and self.head(base) is None:
            raise FileNotFoundError(errno.ENOENT, f"the folder '{base}' (billing_server.key_prefix) does not exist")
        parts = posixpath.relpath(folder, base or ".").split("/") if folder != base else []
        current = base
        for part in parts:
            current = posixpath.join(current, part) if current else part
            if current not in self._folders and self.head(current) is None:
                self.client.mkdir(current)
            self._folders.add(current)
        self._folders.add(folder)

    def move_aside(self, key: str, to_key: str, data: bytes) -> list[str]:
        """Move the file ``key`` to ``to_key`` if it holds ``data`` (else it stays where it
        is, and what differs is returned), and verify it there; a file already gone from
        ``key`` with a verified copy at ``to_key`` counts as moved."""
        if self.head(key) is not None:
            problems, _ = self.compare(key, data)
            if problems:
                return problems
            self._make_folders(posixpath.dirname(to_key))
            self._rename(key, to_key)
        problems, _ = self.compare(to_key, data)
        return problems

    def keys(self) -> list[str]:
        """Every file below ``key_prefix``, sorted; not the temporary ones of writes under way."""
        from stat import S_ISDIR

        found, folders = [], [self.server.key_prefix or "."]
        while folders:
            folder = folders.pop()
            for entry in self.client.listdir_attr(folder):
                path = posixpath.normpath(posixpath.join(folder, entry.filename))
                if S_ISDIR(entry.st_mode or 0):
                    folders.append(path)
                elif not entry.filename.startswith("."):
                    found.append(path)
        return sorted(found)


class SftpVerificationError(OSError):
    """A file written under its temporary name does not read back as it was sent."""


def _differences(size: int, stored: bytes, data: bytes) -> list[str]:
    problems = []
    if size != len(data):
        problems.append(f"{size} bytes on the server, {len(data)} in the file")
    if hashlib.sha256(stored).hexdigest() != hashlib.sha256(data).hexdigest():
        problems.append("the file read back has a different SHA-256 than the file")
    return problems


def explain(exc: Exception, server: BillingServer, subject: str):
    """Turn an SFTP or SSH error into a message naming the file, the cause and what to do."""
    import paramiko
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException

    from bds.transmission import TransmissionError, TransmissionRefused

    conn = f"Airflow connection '{server.sftp_conn_id}'"
    if isinstance(exc, AirflowNotFoundException):
        return TransmissionRefused(f"{subject}: the {conn} is not defined", stop_all=True)
    if isinstance(exc, (AirflowException, ValueError)):  # the hook refuses the connection's settings
        return TransmissionRefused(f"{subject}: the {conn} cannot be used: {exc}", stop_all=True)
    if isinstance(exc, paramiko.AuthenticationException):
        return TransmissionRefused(
            f"{subject}: the SFTP server rejected the credentials of the {conn} ({type(exc).__name__}); "
            f"check its login and password or key",
            stop_all=True,
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return TransmissionRefused(f"{subject}: the SFTP server's host key is not the one the {conn} expects", stop_all=True)
    if isinstance(exc, SftpVerificationError):
        return TransmissionError(f"{subject}: {exc}; it will be retried")
    if isinstance(exc, FileNotFoundError):
        return TransmissionRefused(
            f"{subject}: {exc.strerror or exc} on the SFTP server of the {conn}; create it or correct billing_server.key_prefix",
            stop_all=True,
        )
    if isinstance(exc, PermissionError):
        return TransmissionRefused(
            f"{subject}: permission denied on the SFTP server of the {conn} ({exc.strerror or exc}); its login needs to "
            f"create folders and files, read and rename them below '{server.key_prefix or '.'}'",
            stop_all=True,
        )
    unreachable = (ConnectionError, TimeoutError, socket.gaierror, paramiko.ssh_exception.NoValidConnectionsError)
    if isinstance(exc, (*unreachable, paramiko.SSHException, EOFError)):  # refused, timed out, dropped
        return TransmissionError(f"{subject}: could not reach the SFTP server of the {conn} ({exc}); it will be retried")
    # Any other failure the server reports (a full disk, a quota): it may pass.
    return TransmissionError(f"{subject}: the SFTP server of the {conn} could not take it now ({exc}); it will be retried")


def errors() -> tuple[type[BaseException], ...]:
    """What the SFTP client and the hook raise for a server's refusal, a broken connection or
    a connection that cannot be used."""
    import paramiko
    from airflow.sdk.exceptions import AirflowException

    return (OSError, EOFError, paramiko.SSHException, AirflowException, ValueError)
