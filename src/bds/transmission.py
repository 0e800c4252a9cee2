"""Transmission: the outbox, verified uploads to the billing server (S3 or SFTP), the archive.

The pipelines write every billing file into the local archive (always) and, when
``billing_server.transmit`` is on, put a copy of each new or changed file, and of its
manifest, into the outbox: the folder of the Airflow connection ``bds_outbox``. bds_transmit
takes what is in the outbox, tenant by tenant:

1. each billing file is checked (a file dropped by hand must be a billing file whose
   content matches its name), uploaded to ``<key_prefix>/<relative path>`` through the
   amazon provider's S3Hook, and verified: the object's size, its SHA-256 (read back and
   hashed, and the server's own SHA-256 checksum when it keeps one) and its encryption;
   or, to an SFTP server (``bds.sftp``), written under a temporary name, read back and
   checked, and renamed into place;
2. only then is it archived (a hand-dropped file takes its place in the archive; an
   earlier different version is kept), recorded in its manifest, and removed from the outbox;
3. a manifest is uploaded once every file it lists is in the bucket (written last).

An object already in the bucket with the right content is not uploaded again, so a run
killed between upload and archive leaves one object and archives the file once. Keys
follow from file names alone: nothing is ever uploaded under two names.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from datetime import UTC
from pathlib import Path, PurePosixPath

from bds import changes
from bds.config import BillingConfig, BillingServer, Encryption
from bds.config.store import default_store
from bds.errors import PermanentError
from bds.files import ARCHIVE, NamedFile, check_billing_file, folder_lock, parse_name, replace_keeping_previous, write_atomic
from bds.ledger import producer, record_attempt
from bds.ledger.replay import record_period
from bds.manifest import read as read_manifest
from bds.manifest import record_moved_aside, record_sent, revision_with, sha256, to_move_aside, unsent

log = logging.getLogger(__name__)

OUTBOX_CONN_ID = "bds_outbox"
CONTENT_TYPES = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}

# Error codes that no retry can fix: the run stops at once and says what to change.
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "AuthorizationHeaderMalformed",
}
_ENCRYPTION_CODES = {"InvalidEncryptionAlgorithmError", "KMSNotFoundException", "NotImplemented"}
_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable", "Throttling"}


class TransmissionError(RuntimeError):
    """A file could not be sent now; a retry may succeed (the file stays in the outbox)."""

    stop_all = False


class TransmissionRefused(PermanentError, TransmissionError):
    """The billing server or the file itself refuses; retrying will not help until an
    operator changes something. ``stop_all``: no other file can succeed either."""

    def __init__(self, message: str, stop_all: bool = False):
        super().__init__(message)
        self.stop_all = stop_all


def quiet_command_line() -> None:
    """For commands that print results: no log line per connection lookup among them.
    Takes effect only before Airflow is first imported (it reads its logging settings then)."""
    os.environ.setdefault("AIRFLOW__LOGGING__NAMESPACE_LEVELS", "airflow.providers.amazon=WARNING")


def outbox_dir() -> Path:
    """The outbox folder: the path of the Airflow connection ``bds_outbox`` (File (path))."""
    from airflow.providers.standard.hooks.filesystem import FSHook

    try:
        path = FSHook(OUTBOX_CONN_ID).get_path()
    except Exception as exc:  # the hook raises AirflowNotFoundException, among others
        raise TransmissionRefused(
            f"transmission needs the Airflow connection '{OUTBOX_CONN_ID}' (type File (path), "
            f'extra {{"path": "/folder/of/the/outbox"}}): {exc}'
        ) from None
    if not path:
        raise TransmissionRefused(f"the Airflow connection '{OUTBOX_CONN_ID}' has no path in its extra")
    return Path(path)


def queue(outbox: Path, named: NamedFile, data: bytes) -> Path:
    """Put a copy of a file into the outbox (atomically; a queued copy is replaced)."""
    path = Path(outbox) / named.relative_path
    write_atomic(path, data)
    return path


def outbox_files(outbox: Path) -> list[Path]:
    """Every visible file below the outbox (temporary and hidden files are not offered)."""
    found = []
    for folder, dirs, names in os.walk(outbox):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / n for n in sorted(names) if not n.startswith("."))
    return found


def plan_outbox(config: BillingConfig, outbox: Path) -> tuple[list[dict], list[str], list[str]]:
    """Work items (one per tenant with files in the outbox), notes, and rejected files."""
    files = outbox_files(outbox)
    if not files:
        return [], [f"the outbox {outbox} is empty"], []
    if not config.billing_server.transmit:
        listing = ", ".join(str(f.relative_to(outbox)) for f in files[:10]) + (" ..." if len(files) > 10 else "")
        raise TransmissionRefused(
            f"transmission is off (billing_server.transmit: false) but the outbox {outbox} holds "
            f"{len(files)} file(s): {listing}; turn transmission on, or move the files out of the outbox"
        )
    known = {t.tenant_id: t for t in config.tenants}
    by_tenant: dict[int, list[str]] = {}
    rejected: list[str] = []
    seen: dict[str, Path] = {}
    for path in files:
        try:
            named = parse_name(path.name)
        except ValueError as exc:
            rejected.append(f"outbox file {path}: {exc}")
            continue
        if named.tenant_id not in known:
            rejected.append(f"outbox file {path}: tenant {named.tenant_id} is not in the billing configuration")
            continue
        if named.name in seen and seen[named.name].read_bytes() != path.read_bytes():
            rejected.append(f"outbox files {seen[named.name]} and {path}: same name, different content; keep one")
            continue
        seen[named.name] = path
        by_tenant.setdefault(named.tenant_id, []).append(str(path.relative_to(outbox)))
    work, notes = [], []
    for tenant_id, paths in sorted(by_tenant.items()):
        tenant = known[tenant_id]
        if not tenant.online:
            notes.append(
                f"{tenant.label}: offline: {len(paths)} file(s) wait in the outbox, sent when the tenant is online again"
            )
            continue
        notes.append(f"{tenant.label}: {len(paths)} file(s) in the outbox")
        paths.sort(key=lambda p: sending_order(parse_name(PurePosixPath(p).name)))
        work.append(
            {
                "tenant": {"tenant_id": tenant_id, "name": tenant.name},
                "label": tenant.label,
                "server": config.billing_server.for_tenant(tenant).model_dump(mode="json"),
                "files": paths,
            }
        )
    return work, notes, rejected


def sending_order(named: NamedFile) -> tuple[str, str]:
    """Oldest period first, a month after its days; then by name."""
    return (named.period if len(named.period) == 8 else f"{named.period}99", named.name)


def destination(server: BillingServer):
    """The billing server the settings name: its bucket (``Bucket``) or SFTP folder
    (``bds.sftp.SftpServer``), which answer to the same methods."""
    if server.kind == "sftp":
        from bds.sftp import SftpServer

        return SftpServer(server)
    return Bucket(server)


class Destinations:
    """The billing server as each tenant reaches it (``BillingServer.for_tenant``), each
    connection opened once: what checks every tenant's files at once reads through."""

    def __init__(self, config: BillingConfig):
        self.server = config.billing_server
        self.tenants = {t.tenant_id: t for t in config.tenants}
        self.opened: dict[str, object] = {}

    def for_tenant(self, tenant_id: int):
        tenant = self.tenants.get(tenant_id)
        server = self.server.for_tenant(tenant) if tenant else self.server
        key = server.sftp_conn_id if server.kind == "sftp" else server.aws_conn_id
        if key not in self.opened:
            self.opened[key] = destination(server)
        return self.opened[key]

    def close(self) -> None:
        for opened in self.opened.values():
            opened.close()


class Bucket:
    """The billing server's bucket, through the amazon provider's S3Hook and the Airflow
    connection named in the settings (its ``endpoint_url`` extra for MinIO and the like)."""

    where = "in the bucket"

    def __init__(self, server: BillingServer):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self.server = server
        options = {"region_name": server.region_name} if server.region_name else {}
        upload = server.upload_arguments() | {"ChecksumAlgorithm": "SHA256"}
        self.hooks = {
            suffix: S3Hook(aws_conn_id=server.aws_conn_id, extra_args=upload | {"ContentType": kind}, **options)
            for suffix, kind in CONTENT_TYPES.items()
        }
        self.client = self.hooks[".csv"].get_conn()

    def close(self) -> None:
        return None  # the client keeps no connection open between requests

    def for_tenant(self, tenant_id: int) -> Bucket:
        return self  # one connection for every tenant (see Destinations for a tenant's own)

    def errors(self) -> tuple[type[BaseException], ...]:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        return (ClientError, BotoCoreError, S3UploadFailedError)

    def explain(self, exc: Exception, subject: str) -> TransmissionError:
        return explain(exc, self.server, subject)

    def head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.server.bucket, Key=key, ChecksumMode="ENABLED")
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status == 404 and _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            if status == 403:  # a HEAD response has no body; a GET says why (bad key, denied, ...)
                self.client.get_object(Bucket=self.server.bucket, Key=key, Range="bytes=0-0")
            raise

    def keys(self) -> list[str]:
        """Every object's key below ``key_prefix``."""
        prefix = f"{self.server.key_prefix}/" if self.server.key_prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.server.bucket, Prefix=prefix)
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    def key_of(self, key_or_uri: str) -> str:
        """An object's key, from its key or its ``s3://<bucket>/`` URI."""
        return key_or_uri.removeprefix(f"s3://{self.server.bucket}/")

    def compare(self, key_or_uri: str, data: bytes, read_back: bool = True) -> tuple[list[str], dict | None]:
        """What differs between the object and ``data`` (nothing: it is verified), and its HEAD.
        Without ``read_back``, an object whose whole SHA-256 the server keeps is judged by its
        HEAD alone (a weekly check of a large bucket); the others are read back all the same."""
        key = self.key_of(key_or_uri)
        head = self.head(key)
        if head is None:
            return ["the object is not in the bucket"], None
        problems = []
        if head["ContentLength"] != len(data):
            problems.append(f"{head['ContentLength']} bytes in the bucket, {len(data)} in the file")
        digest = hashlib.sha256(data)
        stored = head.get("ChecksumSHA256")
        if stored and "-" not in stored and stored != base64.b64encode(digest.digest()).decode():
            problems.append("the server's SHA-256 checksum differs from the file's")
        problems.extend(self.encryption_problems(head))
        if not read_back and stored and "-" not in stored:
            return problems, head
        body = self.client.get_object(Bucket=self.server.bucket, Key=key)["Body"].read()
        if hashlib.sha256(body).hexdigest() != digest.hexdigest():
            problems.append("the object read back has a different SHA-256 than the file")
        return problems, head

    def encryption_problems(self, head: dict) -> list[str]:
        wanted = self.server.server_side_encryption
        if wanted is Encryption.NONE:
            return []
        got = head.get("ServerSideEncryption")
        if got != wanted.value:
            return [
                f"stored with server-side encryption {got or 'none'}, not {wanted.value}: the server did not apply the encryption setting"
            ]
        key_id, got_key = self.server.kms_key_id, head.get("SSEKMSKeyId") or ""
        if key_id and not key_id.startswith("alias/") and got_key != key_id and not got_key.endswith("/" + key_id):
            return [f"encrypted with KMS key {got_key or '(none)'}, not {key_id}"]
        return []

    def upload(self, path: Path, key: str) -> None:
        self.hooks[path.suffix].load_file(path, key, bucket_name=self.server.bucket, replace=True)

    def move_aside(self, key: str, to_key: str, data: bytes) -> list[str]:
        """Copy the object ``key`` (which must hold ``data``) to ``to_key``, verify the copy,
        then delete ``key``. Returns what differs (nothing: moved); an object already gone
        from ``key`` with a verified copy at ``to_key`` counts as moved."""
        bucket = self.server.bucket
        if self.head(key) is not None:
            self.client.copy_object(
                Bucket=bucket,
                Key=to_key,
                CopySource={"Bucket": bucket, "Key": key},
                ChecksumAlgorithm="SHA256",
                **self.server.upload_arguments(),
            )
        problems, _ = self.compare(to_key, data)
        if not problems:
            self.client.delete_object(Bucket=bucket, Key=key)
        return problems


def _code(exc) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def explain(exc: Exception, server: BillingServer, subject: str) -> TransmissionError:
    """Turn a client error into a message naming the file, the cause and what to do."""
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, (ClientError, BotoCoreError)):
        exc = exc.__context__  # upload_file wraps the server's answer
    conn = f"Airflow connection '{server.aws_conn_id}'"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return TransmissionRefused(f"{subject}: no usable credentials in the {conn} ({exc})", stop_all=True)
    if isinstance(exc, ClientError):
        code, message = _code(exc), exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        said = f"{code}: {message}" if message else code
        encryption = server.server_side_encryption.value + (f" with KMS key {server.kms_key_id}" if server.kms_key_id else "")
        if code in _CREDENTIAL_CODES:
            return TransmissionRefused(
                f"{subject}: the S3 server rejected the credentials of the {conn} ({said}); check its access key and secret",
                stop_all=True,
            )
        if code == "NoSuchBucket":
            return TransmissionRefused(
                f"{subject}: the bucket '{server.bucket}' does not exist on the S3 server of the "
                f"{conn} ({code}); create it or correct billing_server.bucket",
                stop_all=True,
            )
        if code.startswith("KMS") or code in _ENCRYPTION_CODES or (code == "InvalidArgument" and "ncryption" in message):
            return TransmissionRefused(
                f"{subject}: the S3 server refused the encryption setting (server_side_encryption {encryption}): {said}",
                stop_all=True,
            )
        if code == "AccessDenied" or status == 403:
            return TransmissionRefused(
                f"{subject}: access denied ({said}); the {conn} needs s3:PutObject, s3:GetObject, "
                f"s3:DeleteObject and s3:ListBucket on {server.uri('*')}, and a bucket policy may refuse the "
                f"encryption setting (server_side_encryption {encryption})",
                stop_all=True,
            )
        if code in _TRANSIENT_CODES or status >= 500:
            return TransmissionError(f"{subject}: the S3 server could not take it now ({said}); it will be retried")
        return TransmissionRefused(f"{subject}: the S3 server refused it ({said})")
    if isinstance(exc, BotoCoreError):  # endpoint unreachable, timeouts, broken connections
        return TransmissionError(f"{subject}: could not reach the S3 server of the {conn} ({exc}); it will be retried")
    return TransmissionError(f"{subject}: {exc}")


def send(bucket, named: NamedFile, path: Path, data: bytes, revision: int = 1) -> dict:
    """Upload ``data`` (the file at ``path``, of revision ``revision`` of its period) unless
    the billing server (``destination``) already holds exactly it, then verify. Returns its
    URI, upload time and whether an earlier attempt had sent it."""
    server = bucket.server
    relative = server.delivered_path(named.folder, named.period, named.name, revision)
    key = server.key(relative)
    subject = f"tenant {named.tenant_id} {named.period_label}: {named.name} -> {server.uri(relative)}"
    try:
        problems, head = bucket.compare(key, data)
        already = not problems
        if not already:
            bucket.upload(path, key)
            problems, head = bucket.compare(key, data)
    except bucket.errors() as exc:
        raise bucket.explain(exc, subject) from None
    if problems:
        refused = bool(head and bucket.encryption_problems(head))  # no retry brings the encryption back
        cls = TransmissionRefused if refused else TransmissionError
        raise cls(f"{subject}: uploaded, but verification failed: {'; '.join(problems)}", stop_all=refused)
    # The server's Last-Modified, not our clock: a manifest rewritten later says the same.
    uploaded_at = head["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"s3_uri": server.uri(relative), "uploaded_at": uploaded_at, "already": already}


def send_tenant(work: dict, data_dir: Path, outbox: Path | None = None) -> dict:
    """Send one tenant's outbox files: billing files first, then the manifests they complete."""
    outbox = Path(outbox or outbox_dir())
    archive = Path(data_dir) / ARCHIVE
    bucket = destination(BillingServer.model_validate(work["server"]))
    try:
        return _send_tenant(work, archive, outbox, bucket)
    finally:
        bucket.close()


def _send_tenant(work: dict, archive: Path, outbox: Path, bucket) -> dict:
    done: dict[str, list[str]] = {"sent": [], "already": [], "manifests": [], "waiting": []}
    failures: list[TransmissionError] = []
    paths = [outbox / p for p in work["files"]]
    billing = [p for p in paths if p.suffix == ".csv"]
    manifests = {p.name: p for p in paths if p.suffix == ".json"}
    billing += _queue_unsent(bucket.server, archive, outbox, manifests.values(), billing)
    for path in billing:
        named = parse_name(path.name)
        try:
            receipt = _send_billing_file(bucket, archive, outbox, named, path)
        except TransmissionError as exc:
            log.error("%s", exc)
            failures.append(exc)
            if exc.stop_all:
                break
            continue
        if receipt is None:
            continue
        done["already" if receipt["already"] else "sent"].append(named.name)
        manifests.setdefault(named.manifest, outbox / named.folder / named.manifest)
    if not any(f.stop_all for f in failures):
        for path in sorted(manifests.values()):
            try:
                status = _send_manifest(bucket, archive, parse_name(path.name), path)
            except TransmissionError as exc:
                log.error("%s", exc)
                failures.append(exc)
                continue
            done["manifests" if status == "sent" else "waiting"].append(path.name)
    label = work["label"]
    line = f"{label}: {len(done['sent'])} file(s) sent, {len(done['already'])} already {bucket.where}, {len(done['manifests'])} manifest(s) sent"
    if done["waiting"]:
        line += f", {len(done['waiting'])} manifest(s) waiting for their files"
    log.info("%s", line)
    if failures:
        left = sum(1 for p in [*billing, *manifests.values()] if p.exists())
        message = f"{line}; {len(failures)} failure(s), {left} file(s) stay in the outbox:\n  " + "\n  ".join(map(str, failures))
        permanent = all(isinstance(f, TransmissionRefused) for f in failures)
        raise (TransmissionRefused(message) if permanent else TransmissionError(message))
    destination = bucket.server.uri(f"{work['tenant']['tenant_id']}/")
    return {"label": label, "summary": line, "tenant_id": work["tenant"]["tenant_id"], "destination": destination, **done}


def waiting_files(server: BillingServer, named: NamedFile, manifest: dict) -> list[str]:
    """The files ``manifest`` (the manifest ``named``) lists that the billing server does not
    hold where this delivery puts them: never sent; in a delivery in revisions, also those sent
    for an earlier revision (a file dropped by hand made a new one) or before the mode was
    switched, since each revision goes out whole."""
    if server.delivery == "overwrite":
        return unsent(manifest)
    revision = manifest.get("revision", 1)
    return [
        e["name"]
        for e in manifest["files"]
        if e["s3_uri"] != server.uri(server.delivered_path(named.folder, named.period, e["name"], revision))
    ]


def _queue_unsent(server: BillingServer, archive: Path, outbox: Path, manifests, queued: list[Path]) -> list[Path]:
    """Files a queued manifest lists that the billing server is waiting for (``waiting_files``)
    and are not in the outbox: queue them from the archive, so the manifest can follow them
    (e.g. after transmission was off)."""
    names = {p.name for p in queued}
    added = []
    for path in manifests:
        named = parse_name(path.name)
        with folder_lock(archive / named.folder):
            manifest = read_manifest(archive / named.relative_path)
            for name in waiting_files(server, named, manifest) if manifest else []:
                source = archive / named.folder / name
                if name not in names and source.is_file():
                    added.append(queue(outbox, parse_name(name), source.read_bytes()))
                    log.info(
                        "queued %s: listed in %s, and not on the billing server where this delivery puts it", name, named.name
                    )
    return added


def _send_billing_file(bucket, archive: Path, outbox: Path, named: NamedFile, path: Path) -> dict | None:
    """Upload, verify, archive, record, then take the file out of the outbox. Under the
    period's lock, so a rerun of the day cannot replace the file half-way."""
    with folder_lock(archive / named.folder) as folder:
        if not path.exists():
            return None  # another run took it
        data = path.read_bytes()
        try:
            check_billing_file(named, data)
        except ValueError as exc:
            raise TransmissionRefused(f"tenant {named.tenant_id} {named.period_label}: outbox file {path}: {exc}") from None
        produced = producer()
        subject = f"tenant {named.tenant_id} {named.period_label}: {named.name}"
        revision = revision_with(read_manifest(folder / named.manifest), named.name, data)
        try:
            receipt = send(bucket, named, path, data, revision)
        except TransmissionError as exc:
            with default_store(archive.parent).writing(
                f"cannot record the failed send of {subject} in the billing ledger"
            ) as connection:
                record_attempt(connection, named.name, sha256(data), "failed", str(exc), produced=produced)
            raise
        listed = {e["name"]: e for e in (read_manifest(folder / named.manifest) or {}).get("files", [])}
        status, kept = replace_keeping_previous(archive, named, data)
        if kept is not None:
            _hand_restatement(archive, named, data, kept, listed.get(named.name), produced["at"])
        manifest_status, manifest = record_sent(folder, named, data, receipt["s3_uri"], receipt["uploaded_at"], produced)
        if manifest_status != "unchanged":
            queue(outbox, parse_name(manifest.name), manifest.read_bytes())
        store = default_store(archive.parent)
        record_period(store, archive, manifest, produced["at"], set())  # a file dropped by hand joins the ledger
        with store.writing(f"cannot record the send of {subject} in the billing ledger") as connection:
            record_attempt(
                connection,
                named.name,
                sha256(data),
                "sent",
                "verified" if not receipt["already"] else f"already {bucket.where}, verified",
                receipt["s3_uri"],
                receipt["uploaded_at"],
                produced,
            )
        path.unlink()
        verb = f"already {bucket.where}" if receipt["already"] else "uploaded and verified"
        log.info("%s: %s as %s; archive %s", named.name, verb, receipt["s3_uri"], status)
        return receipt


def _hand_restatement(archive: Path, named: NamedFile, data: bytes, kept: Path, listed: dict | None, at: str) -> None:
    """A file dropped into the outbox by hand replaced a different archived version: a
    restatement like any other, logged with the record of the version it replaced."""
    old = kept.read_bytes()
    previous = listed | {"superseded_at": at} if listed and listed["sha256"] == sha256(old) else None
    entry = changes.restatement(named, old, data, kept, archive, previous=previous)
    changes.append(archive.parent, [entry])
    log.warning("%s (dropped into the outbox by hand)", changes.describe(entry))


def _move_aside(bucket, archive: Path, manifest: NamedFile, superseded: dict) -> None:
    """Move a superseded file's object to the bucket's ``versions/`` (the archive's layout), so
    the period's folder on the billing server holds only its current set."""
    server = bucket.server
    key = bucket.key_of(superseded["s3_uri"])
    to_key = server.key(superseded["previous_version"])
    subject = f"tenant {manifest.tenant_id} {manifest.period_label}: superseded {superseded['name']} -> {server.uri(superseded['previous_version'])}"
    kept = (archive / superseded["previous_version"]).read_bytes()  # a local file: never the server's error
    try:
        problems = bucket.move_aside(key, to_key, kept)
    except bucket.errors() as exc:
        raise bucket.explain(exc, subject) from None
    if problems:
        raise TransmissionError(
            f"{subject}: copied, but verification failed: {'; '.join(problems)}; the object stays where it was"
        )
    log.info("%s: moved aside (%s)", subject, superseded["reason"])


def _send_manifest(bucket, archive: Path, named: NamedFile, path: Path) -> str:
    """Upload the archive's manifest once every file it lists is in the bucket."""
    with folder_lock(archive / named.folder):
        if not path.exists():
            return "sent"
        archived = archive / named.relative_path
        manifest = read_manifest(archived)
        if manifest is None:
            raise TransmissionRefused(
                f"tenant {named.tenant_id} {named.period_label}: outbox file {path}: "
                f"there is no manifest {named.name} in the archive to send"
            )
        missing = waiting_files(bucket.server, named, manifest)
        lost = [n for n in missing if not (archive / named.folder / n).is_file() and not (path.parent / n).is_file()]
        if lost:
            raise TransmissionRefused(
                f"tenant {named.tenant_id} {named.period_label}: {named.name} lists "
                f"{', '.join(lost)}, which is neither in the archive nor in the outbox"
            )
        if missing:
            log.info("%s waits for %d file(s): %s", named.name, len(missing), ", ".join(missing))
            return "waiting"
        # The current set is on the server: now take the old names out (a delivery in revisions
        # has none to take out: each revision is in a folder of its own).
        for superseded in to_move_aside(manifest) if bucket.server.delivery == "overwrite" else []:
            _move_aside(bucket, archive, named, superseded)
            record_moved_aside(archived, superseded["name"], bucket.server.uri(superseded["previous_version"]))
        receipt = send(bucket, named, archived, archived.read_bytes(), manifest.get("revision", 1))
        path.unlink()
        log.info("%s: uploaded and verified as %s", named.name, receipt["s3_uri"])
        return "sent"


def plan_transmission_run() -> tuple[str, list[dict], list[str], list[str]]:
    """What a bds_transmit run sends (current configuration revision, outbox from ``bds_outbox``)."""
    from bds.config.store import for_runs

    outbox = outbox_dir()
    revision, config_notes = for_runs()
    work, notes, rejected = plan_outbox(revision.config, outbox)
    return str(outbox), work, [*config_notes, *notes], rejected


def send_tenant_run(work: dict) -> dict:
    from bds.staging import data_dir

    return send_tenant(work, data_dir())
