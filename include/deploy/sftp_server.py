"""The SFTP billing server of the docker-compose deployment's ``sftp`` profile: a stand-in for
a customer's SFTP server, as MinIO stands in for S3. asyncssh's server (the sftp provider
installs asyncssh in the image), one account, its files in a folder it cannot leave.

- account: ``$SFTP_LOGIN`` (default ``bds``) with the password ``$BDS_SFTP_PASSWORD``;
- files: ``$SFTP_ROOT/files`` (default ``/srv/sftp/files``), where ``billing`` (the
  ``key_prefix`` of include/config/compose-sftp.yaml) is created;
- host key: ``$SFTP_ROOT/ssh_host_ed25519_key``, made on the first start and kept, so the
  server is the same one after a restart; its public key is printed at start, for the
  connection's ``host_key`` extra;
- port: ``$SFTP_PORT`` (default 2222: the container does not run as root).

    python include/deploy/sftp_server.py
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from pathlib import Path

import asyncssh


def main() -> int:
    root = Path(os.environ.get("SFTP_ROOT", "/srv/sftp"))
    login = os.environ.get("SFTP_LOGIN", "bds")
    password = os.environ.get("BDS_SFTP_PASSWORD", "")
    port = int(os.environ.get("SFTP_PORT", "2222"))
    if not password:
        print("BDS_SFTP_PASSWORD is empty: set it in .env (make compose-env)", file=sys.stderr)
        return 2
    files = root / "files"
    (files / "billing").mkdir(parents=True, exist_ok=True)
    key_path = root / "ssh_host_ed25519_key"
    if not key_path.exists():
        asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(key_path))
    key = asyncssh.read_private_key(str(key_path))

    class Account(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, given: str) -> bool:
            return secrets.compare_digest(username, login) & secrets.compare_digest(given.encode(), password.encode())

    async def serve() -> None:
        server = await asyncssh.listen(
            "",
            port,
            server_host_keys=[key],
            server_factory=Account,
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(files).encode()),
            allow_scp=False,
        )
        public = key.export_public_key("openssh").decode().split()[:2]
        print(f"SFTP server on port {port}, files in {files}, host key {' '.join(public)}", flush=True)
        await server.wait_closed()

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
