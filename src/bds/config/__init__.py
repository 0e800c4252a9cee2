"""Tenant billing configuration: one validated schema for the files, the store and the API.

It mirrors Genesys Skills Management's billing pages: per tenant the Billable kind (None,
Salesforce, PureConnect) and the account identifiers; globally the billing server settings
and the switch that enables the billing process. Runs read it from the configuration store
(``bds.config.store``: immutable revisions in the ``bds_db`` database, changed through the
API of ``bds.config.api`` or ``python -m bds.config``); YAML files (``$BDS_CONFIG``) seed an
empty store, or are the source the store follows (``BDS_CONFIG_SOURCE=file``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bds.catalogue import METRICS, SOURCES
from bds.errors import PermanentError

CONFIG_ENV = "BDS_CONFIG"


class BillingConfigError(PermanentError, ValueError):
    """The billing configuration is unusable; the message names the tenant and the field,
    ``problems`` lists them one by one (see ``problems``)."""

    def __init__(self, message: str, found: list[dict] | None = None):
        super().__init__(message)
        self.problems = found if found is not None else [{"tenant": None, "path": "(whole document)", "message": message}]


class Billable(str, Enum):
    NONE = "None"
    SALESFORCE = "Salesforce"
    PURECONNECT = "PureConnect"


_ZONE_KEY = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")

# C0 and C1 control characters and the Unicode line and paragraph separators: a line break in
# a tenant name would split a CSV row for any line-based reader of the billing files.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value: Any) -> Any:
        for text in value if isinstance(value, tuple) else (value,):
            if isinstance(text, str) and (found := _CONTROL.search(text)):
                char = found.group()
                name = unicodedata.name(char, "") or {
                    "\n": "LINE FEED",
                    "\r": "CARRIAGE RETURN",
                    "\t": "TAB",
                    "\x00": "NULL",
                }.get(char, "control")
                raise ValueError(
                    f"control character U+{ord(char):04X} ({name}) at position {found.start() + 1} of {text!r}; "
                    f"text fields must be one line of printable characters"
                )
        return value


# An Airflow connection id, as Airflow accepts one (it also names the connection's pool).
CONN_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,250}$"


def source_connection(source: str, description: str):
    """A field naming the Airflow connection a source is read through (the source's shared one by default)."""
    return Field(SOURCES[source][0], pattern=CONN_ID_PATTERN, description=description)


class Location(_Model):
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$", max_length=32)
    name: str = ""
    enabled: bool = True
    # Switch names as in the configuration (GC_SWITCH.NAME): agent sessions on them are
    # billed here. A location with no switches is the tenant's default location: it takes
    # sessions on switches no other location lists, and sessions with no switch (multimedia).
    switches: tuple[str, ...] = ()
    # GVP components (Media Control Platform names in the Reporting Server's records) of
    # this location; records of unlisted components go to the default location.
    gvp_components: tuple[str, ...] = ()
    gvp_conn_id: str = source_connection(
        "gvp", "Airflow connection of the GVP Reporting Server that records this location's components"
    )


class Region(_Model):
    code: str = Field(pattern=r"^[A-Z0-9]{1,16}$", description="region code in file names, e.g. US, EU, AP")
    enabled: bool = True
    locations: tuple[Location, ...] = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _not_global(cls, code: str) -> str:
        if code == "GLOBAL":
            raise ValueError("'GLOBAL' is reserved for the files of global metrics")
        return code


class Placement(_Model):
    """Where a switch's sessions are billed."""

    region: str
    location: str
    billed: bool  # False when the location or its region is switched off


def task_label(name: str, tenant_id: int) -> str:
    return f"{name} ({tenant_id})"


class Tenant(_Model):
    # Configuration Server's DBIDs are 32-bit integers.
    tenant_id: int = Field(gt=0, le=2**31 - 1, description="tenant DBID in Configuration Server; the key in every source")
    name: str = Field(min_length=1)
    garn: str = ""
    billable: Billable
    tier1_account_id: str = ""
    tier2_account_id: str = ""
    tier3_account_id: str = ""
    tier3_account_name: str = ""
    external_id: str = ""
    source_id: str = ""
    time_zone: str = "UTC"
    production_date: date | None = None
    enabled: bool = True
    regions: tuple[Region, ...] = ()
    metrics: dict[str, bool] = Field(default_factory=dict)
    online: bool = Field(
        True,
        description="Off (offline): the tenant's files are billed, archived and queued in the outbox, but not sent "
        "until it is online again; then its waiting files go out, oldest period first",
    )
    billing_conn_id: str | None = Field(
        None,
        pattern=CONN_ID_PATTERN,
        description="The tenant's own Airflow connection to the billing server (one IAM user, or SFTP account, "
        "per tenant) instead of billing_server's aws_conn_id or sftp_conn_id",
    )
    info_mart_conn_id: str = source_connection("gim", "Airflow connection of the tenant's Genesys Info Mart database")
    configuration_conn_id: str = source_connection(
        "cme",
        "Airflow connection of the tenant's configuration database (Interaction Concentrator IDB or Info Mart's GIDB_ tables)",
    )

    @field_validator("billable", mode="before")
    @classmethod
    def _billable(cls, value: Any) -> Any:
        # YAML reads a bare None as the string "None"; null means the same thing.
        return "None" if value is None else value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        # The key is looked up as a file below the zone database: only what a key can look like.
        if len(value) > 64 or not _ZONE_KEY.fullmatch(value):
            raise ValueError(f"{value[:64]!r} is not an IANA time zone (e.g. Europe/Berlin)")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)") from None
        return value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
        return {
            key: value[key] for key in METRICS if key in value
        }  # catalogue order, however given: one export per configuration

    @model_validator(mode="after")
    def _consistent(self) -> Tenant:
        codes = [r.code for r in self.regions]
        if len(set(codes)) != len(codes):
            raise ValueError(f"region codes repeat: {codes}")
        seen: dict[str, str] = {}
        defaults = []
        for region in self.regions:
            for loc in region.locations:
                if loc.code in seen:
                    raise ValueError(f"location code '{loc.code}' is used twice")
                seen[loc.code] = region.code
                if not loc.switches:
                    defaults.append(loc.code)
        if len(defaults) > 1:
            raise ValueError(f"more than one default location (no switches): {', '.join(defaults)}")
        for attribute in ("switches", "gvp_components"):
            owners: dict[str, str] = {}
            for region in self.regions:
                for loc in region.locations:
                    for name in getattr(loc, attribute):
                        if name in owners:
                            raise ValueError(f"{attribute} entry '{name}' is listed in locations {owners[name]} and {loc.code}")
                        owners[name] = loc.code
        if self.billable is Billable.PURECONNECT and self.enabled:
            if self.production_date is None:
                raise ValueError("production_date is required for an enabled PureConnect tenant")
            regional = [k for k in self.enabled_metrics if METRICS[k].scope == "region"]
            if regional and not self.regions:
                raise ValueError(f"regional metrics {', '.join(regional)} are enabled but no region is configured")
            switchless = [k for k in self.enabled_metrics if METRICS[k].counts_switchless_sessions]
            if switchless and self.regions and not defaults:
                raise ValueError(
                    f"{', '.join(switchless)} count sessions on media that have no switch (chat, email), which are "
                    f"billed in the default location, but no location is one: add a location without switches"
                )
        self._file_names_fit()
        return self

    def _file_names_fit(self) -> None:
        """Every file name the tenant can get, and the name of its kept versions while being
        written, must fit in a file system's 255 bytes."""
        from bds.files import BLANK_GARN, NAME_MAX, VERSION_TEMPORARY_EXTRA, longest_file_name, name_part

        longest = longest_file_name(self)
        room = NAME_MAX - VERSION_TEMPORARY_EXTRA
        if len(longest.encode()) > room:
            garn_room = room - (len(longest.encode()) - len(name_part(self.garn, BLANK_GARN).encode()))
            raise ValueError(
                f"the file names would be {len(longest.encode())} bytes long (e.g. {longest[:60]}...), more than the "
                f"{room} a name may have here ({NAME_MAX} bytes less {VERSION_TEMPORARY_EXTRA} for a kept version's "
                f"digest and temporary name); shorten the GARN to at most {max(garn_room, 0)} bytes"
            )

    @property
    def label(self) -> str:
        return f"tenant '{self.name}' ({self.tenant_id})"

    @property
    def task_label(self) -> str:
        """How the runs name the tenant's mapped tasks (their map index), and the console finds them."""
        return task_label(self.name, self.tenant_id)

    @property
    def enabled_metrics(self) -> list[str]:
        """Enabled metric keys in catalogue order; a metric not listed is off."""
        return [k for k in METRICS if self.metrics.get(k, False)]

    @property
    def billed_regions(self) -> list[str]:
        return [r.code for r in self.regions if r.enabled and any(loc.enabled for loc in r.locations)]

    def connections(self, source: str) -> tuple[str, ...]:
        """The Airflow connections the tenant's rows of ``source`` are read through: its Info Mart
        or configuration database; for GVP, each once, the Reporting Servers its records are
        billed from: those of its enabled locations with GVP components, and its default
        location's (for components no location lists)."""
        if source == "gim":
            return (self.info_mart_conn_id,)
        if source == "cme":
            return (self.configuration_conn_id,)
        servers = tuple(
            dict.fromkeys(
                loc.gvp_conn_id
                for region in self.regions
                if region.enabled
                for loc in region.locations
                if loc.enabled and (loc.gvp_components or not loc.switches)
            )
        )
        return servers or (SOURCES["gvp"][0],)

    def gvp_billed_from(self, component: str | None, reading: str) -> str:
        """The connection a GVP record of ``component`` is billed from: its location's Reporting
        Server; for a component no location lists (or none), the default location's, or, without
        a default location, ``reading`` (the connection it was read through)."""
        servers = self.gvp_servers()
        return servers.get(component or "", servers.get("", reading))

    def gvp_servers(self) -> dict[str, str]:
        """GVP component name -> the connection of the Reporting Server its location reads ('' for
        unlisted components: the default location's, if there is one). A component's records
        are billed from that server only."""
        table: dict[str, str] = {}
        for region in self.regions:
            for loc in region.locations:
                table.update(dict.fromkeys(loc.gvp_components, loc.gvp_conn_id))
                if not loc.switches:
                    table[""] = loc.gvp_conn_id
        return table

    def placements(self, attribute: str = "switches") -> dict[str, Placement]:
        """Switch (or GVP component) name -> placement; '' maps to the default location, if any."""
        table: dict[str, Placement] = {}
        for region in self.regions:
            for loc in region.locations:
                placement = Placement(region=region.code, location=loc.code, billed=region.enabled and loc.enabled)
                for name in getattr(loc, attribute):
                    table[name] = placement
                if not loc.switches:
                    table[""] = placement
        return table


class Encryption(str, Enum):
    NONE = "none"
    SSE_S3 = "AES256"
    SSE_KMS = "aws:kms"


class BillingServer(_Model):
    """Where billing files are transmitted (Skills Management: Global Settings).

    Each tenant has its own folder under ``key_prefix`` (in the bucket, or on the SFTP server
    relative to the login's folder); below it the same folders as in the local archive.
    Credentials and the endpoint come from the Airflow connection. The encryption settings
    are S3's (an SFTP channel is encrypted as such).
    """

    kind: str = Field(
        "s3", pattern=r"^(s3|sftp)$", description="s3: a bucket (aws_conn_id); sftp: a folder on an SFTP server (sftp_conn_id)"
    )
    transmit: bool = False
    delivery: str = Field(
        "overwrite",
        pattern=r"^(overwrite|revisions)$",
        description=(
            "overwrite: a period's files keep one key each, a correction overwrites them (superseded files moved aside); "
            "revisions: every revision of a period is delivered whole under its own folder <period>/r<revision>/, "
            "nothing is overwritten"
        ),
    )
    aws_conn_id: str = Field("bds_s3", pattern=CONN_ID_PATTERN, description="Airflow connection of an S3 billing server")
    sftp_conn_id: str = Field(
        "bds_sftp",
        pattern=CONN_ID_PATTERN,
        description="Airflow connection (ssh) of an SFTP billing server: host, port, login, password or key",
    )
    bucket: str = Field("", pattern=r"^$|^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    key_prefix: str = ""
    region_name: str = ""
    server_side_encryption: Encryption = Encryption.SSE_S3
    kms_key_id: str = ""

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        if any(part in ("", ".", "..") for part in value.split("/")) and value:
            raise ValueError(f"'{value}' has an empty, '.' or '..' segment")
        return value

    @model_validator(mode="after")
    def _complete(self) -> BillingServer:
        if self.transmit and self.kind == "s3" and not self.bucket:
            raise ValueError("transmit is on but no bucket is set")
        if self.server_side_encryption is Encryption.SSE_KMS and not self.kms_key_id:
            raise ValueError("server_side_encryption aws:kms needs kms_key_id (a key id, alias or ARN)")
        if self.kms_key_id and self.server_side_encryption is not Encryption.SSE_KMS:
            raise ValueError("kms_key_id is set but server_side_encryption is not aws:kms")
        if self.kind == "sftp" and self.server_side_encryption is Encryption.SSE_KMS:
            raise ValueError("server_side_encryption aws:kms is S3's: an SFTP server does not apply it (kind is sftp)")
        return self

    def key(self, relative_path) -> str:
        """The object key of a file at ``relative_path`` below the archive."""
        return f"{self.key_prefix}/{relative_path}" if self.key_prefix else str(relative_path)

    def delivered_path(self, folder, period: str, name: str, revision: int):
        """Where, below ``key_prefix``, a file of revision ``revision`` of its period goes: beside
        its archived copy (``folder``) when delivery overwrites, else in its revision's own folder."""
        return folder / name if self.delivery == "overwrite" else folder / period / f"r{revision}" / name

    def uri(self, relative_path) -> str:
        """Where a file is on the billing server: ``s3://<bucket>/<key>``, or
        ``sftp://<connection id>/<path>`` (the host is the connection's, and stays there)."""
        if self.kind == "sftp":
            return f"sftp://{self.sftp_conn_id}/{self.key(relative_path)}"
        return f"s3://{self.bucket}/{self.key(relative_path)}"

    def for_tenant(self, tenant: Tenant) -> BillingServer:
        """The billing server as ``tenant`` reaches it: through its own connection, if it has one."""
        if not tenant.billing_conn_id:
            return self
        return self.model_copy(update={"sftp_conn_id" if self.kind == "sftp" else "aws_conn_id": tenant.billing_conn_id})

    def upload_arguments(self) -> dict[str, str]:
        """The encryption arguments of every upload (boto3 ExtraArgs)."""
        if self.server_side_encryption is Encryption.NONE:
            return {}
        args = {"ServerSideEncryption": self.server_side_encryption.value}
        if self.kms_key_id:
            args["SSEKMSKeyId"] = self.kms_key_id
        return args


class SourceReadiness(_Model):
    """When a source has the billing day (see docs/sources.md, Readiness), and what a
    malformed source row does to it."""

    # How long after a tenant's day has ended (plus settle_minutes) to wait for Info Mart
    # to load it before the tenant-day fails.
    timeout_minutes: int = Field(12 * 60, ge=0, le=7 * 24 * 60)
    # Info Mart's days-to-keep-gim-facts: older days are purged and are refused.
    gim_retention_days: int = Field(400, ge=1)
    # The GVP Reporting Server's retention of call detail records: older days are refused.
    gvp_retention_days: int = Field(30, ge=1)
    # A source row that cannot be billed as it is (a time that is not a number, an end before
    # its start, a negative duration; see include/sql/<source>/malformed/): "fail" stops the
    # tenant-day naming table, column and row; "tolerate" bills the day without such rows and
    # counts and names them in the run's summary and log. Never silently either way.
    malformed_rows: Literal["fail", "tolerate"] = "fail"


class AnomalyChecks(_Model):
    """When the console flags a tenant-day's count (docs/console.md, Anomalies)."""

    # A count further than this ratio from the median of the same count on the previous
    # same_weekday_days days of the same weekday is flagged (0.5: more than 50% up or down).
    jump_ratio: float = Field(0.5, gt=0, le=100)
    same_weekday_days: int = Field(4, ge=1, le=52)
    # A zero is flagged when the same count was at least zero_min_before on the last billed day
    # within zero_after_days (a service that stopped, not one agent who had a day off).
    zero_after_days: int = Field(7, ge=1, le=366)
    zero_min_before: int = Field(5, ge=1, le=10**9)


HOLD_CHECKS = ("jump", "zero", "concurrent_above_enabled", "missing", "restated")


class Approvals(_Model):
    """The approval hold and the period close (docs/operations.md, "Approval hold and period close")."""

    # Before a tenant-period's files are queued for transmission, the anomaly checks run on it;
    # if one of these is raised (and not acknowledged), the files stay in the archive until an
    # operator approves them in bds_approvals (restated: a sent file of a month already sent, or of
    # a day of it, is replaced; missing: a day before it has no file).
    hold: bool = True
    hold_on: tuple[Literal["jump", "zero", "concurrent_above_enabled", "missing", "restated"], ...] = HOLD_CHECKS
    # A month is closed this many days after its monthly files were first sent (none: never).
    # A correction of a closed month (a day or the month) is held whatever the hold says.
    close_after_days: int | None = Field(None, ge=0, le=3650)


class Housekeeping(_Model):
    """What bds_housekeeping keeps, and when it verifies the archive (docs/operations.md, "Housekeeping")."""

    # What is in the staging location and was not written for this long is removed: the extracts
    # and agent sets of runs that failed and were never rerun, and of months never rolled up. At
    # least a month and month_inputs_days, so a month's first day outlasts its rollup's keeping.
    staging_days: int = Field(75, ge=10, le=3650)
    # A day's agent set (what its month's Enabled counts read) stays this long after its month
    # was rolled up, so the month can be rolled up again (a correction) without rerunning its days.
    month_inputs_days: int = Field(35, ge=0, le=3650)
    # Task logs on the local disk (remote logs: the bucket's lifecycle rules) and alerts.jsonl.
    log_days: int = Field(90, ge=1, le=3650)
    alert_days: int = Field(365, ge=1, le=3650)
    # The day of the week on which the archive is verified against its manifests (and the bucket).
    verify_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] = "sunday"

    @model_validator(mode="after")
    def _month_inputs_outlast_their_rollup(self) -> Housekeeping:
        if self.staging_days < self.month_inputs_days + 35:
            raise ValueError(
                f"staging_days ({self.staging_days}) must be at least month_inputs_days ({self.month_inputs_days}) + 35: "
                f"a month's first day is staged up to 35 days before its rollup, and is kept month_inputs_days after it"
            )
        return self


class BillingConfig(_Model):
    # Skills Management: Global Events -> enable the PureConnect billing process.
    billing_process_enabled: bool = False
    billing_server: BillingServer = BillingServer()
    # Info Mart only keeps sessions that started before the day; how far back to look.
    session_lookback_days: int = Field(7, ge=1, le=400)
    # How long after the end of a day an interaction's later bot sessions may start and still
    # be billed with it (on the day its first bot session started); see docs/metrics.md. A
    # tenant billing voicebot_interactions is billable, and Info Mart must have loaded it,
    # only this long after its day has ended. At most a day, which the look-back always covers.
    voicebot_lookahead_minutes: int = Field(120, ge=0, le=24 * 60)
    # Minutes to wait after a tenant's local midnight before its day may be billed.
    settle_minutes: int = Field(15, ge=0, le=24 * 60)
    sources: SourceReadiness = SourceReadiness()
    anomalies: AnomalyChecks = AnomalyChecks()
    approvals: Approvals = Approvals()
    housekeeping: Housekeeping = Housekeeping()
    tenants: tuple[Tenant, ...] = ()

    @field_validator("tenants")
    @classmethod
    def _unique_tenants(cls, tenants: tuple[Tenant, ...]) -> tuple[Tenant, ...]:
        entries: dict[int, list[str]] = {}
        for number, t in enumerate(tenants, start=1):
            entries.setdefault(t.tenant_id, []).append(f"entry {number} '{t.name}'")
        repeated = [f"tenant_id {i} is used by {' and '.join(found)}" for i, found in sorted(entries.items()) if len(found) > 1]
        if repeated:
            raise ValueError("; ".join(repeated) + "; a tenant id must be unique (it names the files)")
        return tenants

    def tenant(self, tenant_id: int) -> Tenant:
        for t in self.tenants:
            if t.tenant_id == tenant_id:
                return t
        raise KeyError(f"tenant {tenant_id} is not in the billing configuration")


def problems(errors: list[dict], raw: Any, prefix: tuple = ()) -> list[dict]:
    """Each validation error as ``{"tenant", "path", "message"}``: the tenant it concerns (its
    name, id and entry number, or ``None`` for the global settings), the field's path within
    the tenant (or the settings; ``prefix`` is what the raw document sits under) and why."""
    found = []
    for err in errors:
        if err["type"] == "too_short" and any(
            other["loc"][: len(err["loc"])] == err["loc"] and other is not err for other in errors
        ):
            continue  # a list whose entries failed is reported as too short too: the entries' problems say why
        loc = list(err["loc"])[len(prefix) :]
        tenant = None
        if len(loc) >= 2 and loc[0] == "tenants" and isinstance(loc[1], int):
            index = loc[1]
            entries = raw.get("tenants", []) if isinstance(raw, dict) else []
            entry = entries[index] if isinstance(entries, list) and index < len(entries) else {}
            entry = entry if isinstance(entry, dict) else {}
            tenant = f"tenant '{entry.get('name', '?')}' (tenant_id {entry.get('tenant_id', '?')}, entry {index + 1})"
            loc = loc[2:]
        found.append(
            {"tenant": tenant, "path": field_path(loc, "(whole entry)"), "message": err["msg"].removeprefix("Value error, ")}
        )
    return found


def field_path(loc, whole: str) -> str:
    """A validation error's location as a field path: ``regions[0].locations[1].code``."""
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[") or whole


def describe_problems(found: list[dict], where: str) -> str:
    lines = [f"{p['tenant'] or 'settings'}: field '{p['path']}': {p['message']}" for p in found]
    return f"invalid billing configuration {where}:\n  " + "\n  ".join(lines)


def parse_billing_config(raw: Any, where: str = "(inline)") -> BillingConfig:
    if not isinstance(raw, dict):
        raise BillingConfigError(
            f"invalid billing configuration {where}: expected a mapping at the top level",
            [{"tenant": None, "path": "(whole document)", "message": "expected a mapping at the top level"}],
        )
    try:
        return BillingConfig.model_validate(raw)
    except ValidationError as exc:
        found = problems(exc.errors(), raw)
        raise BillingConfigError(describe_problems(found, where), found) from None


def document(config: BillingConfig) -> dict:
    """The whole configuration as plain JSON data, every default spelled out: what a revision
    stores, exports and hashes."""
    return config.model_dump(mode="json")


def canonical_json(config: BillingConfig) -> str:
    return json.dumps(document(config), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_hash(config: BillingConfig) -> str:
    """SHA-256 of the canonical JSON: equal for equal configurations, however they were written."""
    return hashlib.sha256(canonical_json(config).encode("utf-8")).hexdigest()


def to_yaml(config: BillingConfig) -> str:
    return yaml.safe_dump(document(config), sort_keys=False, allow_unicode=True, width=120)


def parse_yaml(text: str, where: str) -> BillingConfig:
    return parse_billing_config(_yaml_data(text, where), where)


def load_billing_config(path: str | os.PathLike | None = None) -> BillingConfig:
    """Load and validate the billing configuration (``$BDS_CONFIG`` unless a path is given).

    Several files may be named, separated by ``os.pathsep`` (``:``): each later file is laid
    over the earlier ones, mappings merged key by key and anything else replaced. A deployment
    thus keeps the tenants in one file and its own billing server and sources in another."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise BillingConfigError(f"no billing configuration: set {CONFIG_ENV} to the path of the YAML file")
    paths = [Path(p) for p in str(path).split(os.pathsep) if p]
    raw: Any = None
    for layer in paths:
        found = _read_yaml(layer)
        if raw is not None and not isinstance(found, dict):
            raise BillingConfigError(f"invalid billing configuration {layer}: expected a mapping at the top level")
        raw = found if raw is None else _overlay(raw, found)
    return parse_billing_config(raw, " over ".join(str(p) for p in reversed(paths)))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BillingConfigError(f"cannot read billing configuration {path}: {exc.strerror}") from None
    return _yaml_data(text, str(path))


def _yaml_data(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BillingConfigError(
            f"billing configuration {where} is not valid YAML: {exc}",
            [{"tenant": None, "path": "(whole document)", "message": f"not valid YAML: {exc}"}],
        ) from None


def _overlay(base: Any, layer: Any) -> Any:
    if isinstance(base, dict) and isinstance(layer, dict):
        return {**base, **{k: _overlay(base.get(k), v) for k, v in layer.items()}}
    return layer
