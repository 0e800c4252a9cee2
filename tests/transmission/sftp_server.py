"""A real SFTP server on loopback for the tests: asyncssh's, in a thread of the test process,
with password authentication, a host key of its own and its files in a folder (chrooted).
It records the files it opened for writing and the renames, in order."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import asyncssh

LOGIN, PASSWORD = "bds", "bds-sftp-secret"


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return (username, password) == (LOGIN, PASSWORD)


class SftpTestServer:
    def __init__(self, root: Path, posix_rename: bool = True):
        self.root = root
        self.posix_rename = posix_rename  # False: a server without OpenSSH's extension
        self.events: list[tuple[str, str]] = []  # ("write", path) and ("rename", target), in order
        self.key = asyncssh.generate_private_key("ssh-ed25519")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.listener = asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(timeout=30)
        self.port = self.listener.get_port()

    async def _listen(self):
        events, root, posix = self.events, str(self.root).encode(), self.posix_rename

        class Recording(asyncssh.SFTPServer):
            def __init__(self, chan):
                super().__init__(chan, chroot=root)

            def open(self, path, pflags, attrs):
                if pflags & asyncssh.FXF_WRITE:
                    events.append(("write", path.decode()))
                return super().open(path, pflags, attrs)

            def posix_rename(self, oldpath, newpath):
                if not posix:
                    raise asyncssh.SFTPOpUnsupported("Operation unsupported")  # OpenSSH's text for the status
                events.append(("rename", newpath.decode()))
                return super().posix_rename(oldpath, newpath)

            def rename(self, oldpath, newpath):
                events.append(("rename", newpath.decode()))
                return super().rename(oldpath, newpath)

        return await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[self.key], server_factory=_Server, sftp_factory=Recording, allow_scp=False
        )

    def connection(self, password: str = PASSWORD, port: int | None = None) -> str:
        """The JSON form of the Airflow ``sftp`` connection to this server, checking its host key."""
        host_key = self.key.export_public_key("openssh").decode().split()[1]
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": port or self.port,
                "login": LOGIN,
                "password": password,
                "extra": {"host_key": f"ssh-ed25519 {host_key}", "look_for_keys": False, "allow_host_key_change": False},
            }
        )

    def files(self) -> dict[str, bytes]:
        """Every file under the server's folder, by path relative to it."""
        return {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(self.root.rglob("*")) if p.is_file()}

    def close(self) -> None:
        self.listener.close()
        asyncio.run_coroutine_threadsafe(self.listener.wait_closed(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
