"""The config model: one frozen pydantic model, every key with its default and one line
of help (the Field description); unknown keys are errors.

Built by loading.parse(); read by every part of the daemon.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from daemon.settings.listeners import check_listen
from daemon.settings.passwords import is_password_hash
from daemon.settings.problems import Invalid, not_one_of, shown
from daemon.settings.secrets import secret_matches
from daemon.settings.tokens import is_sha256
from daemon.settings.values import (
    check_address,
    check_network,
    check_recipient,
    check_sender,
    check_store_url,
    check_zone,
)
from importers.dates import compile_format
from importers.layouts import header_names

DEFAULT_CONFIG = "/etc/renkei/renkei.toml"
INTERVALS = ("5m", "10m", "15m", "30m", "1h", "2h")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
COLUMN_TYPES = ("text", "int", "decimal", "date", "datetime", "bool", "choice")
DEMO_PREFIX = "demo-"
DEFAULT_FILENAMES = ("{YYYYMMDD}.csv", "{YYYYMM00}.csv")  # daily and monthly, as ever
# The store's own tables and indexes (SQLite and PostgreSQL): a layout's table of one of
# these names would be refused by the database at start, or worse, be renkei's own.
# Written out here (settings do not import the store); tests/test_config_more.py checks
# it against the names the store's schema creates.
RESERVED_TABLES = (
    *("runs", "run_errors", "run_reports", "run_undo", "sources", "sources_by_run"),
    *("choice_values", "expected_misses", "expect_checks", "digests", "schedule_slots"),
    *("account_switches", "audit_log", "console_secret", "console_sessions", "mail_outbox"),
    "mail_sent",
    *("outward_bodies", "outward_jobs", "outward_requests", "record_log", "renkei_schema"),
    *("undo_images", "undo_rows", "undo_sources", "staged_rows", "staged_errors"),
    *("audit_log_at", "outward_requests_by_run", "record_log_by_layout", "run_errors_by_run"),
    *("run_undo_by_file", "runs_by_account", "runs_by_direction", "runs_by_file"),
    *("runs_by_file_key", "runs_by_key", "runs_by_state", "runs_by_channel"),
    *("runs_by_received", "runs_by_retry", "runs_by_sha256", "undo_images_by_rowid"),
    *("undo_images_by_run", "undo_rows_by_run", "undo_sources_by_run", "runs_pending_report"),
    "runs_pending_forward",
    "delivery_keys",
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# Names a database gives a column of its own: SQLite's row id (a column of that name
# hides it) and PostgreSQL's system columns (a table may not have one).
RESERVED_COLUMNS = frozenset(("rowid", "oid", "ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"))
# Past this a number is a slip of the keyboard, not a setting; past 2**63 the standard
# library refuses it (a read's size, a time span) where it is first used, not at check.
MAX_NUMBER = 2**62
# The longest a retry may wait (a day) and a peer be waited for (an hour): `inf` and
# 1e300 passed, a report mail was then queued with "next_try": Infinity, never sent.
MAX_DELAY = 86400
MAX_TIMEOUT = 3600
# ASCII digits only: \d would take full-width ones (２２:００), which the clock code
# after the check cannot read. Times are written as an IME types them too: clock()
# makes them ASCII first.
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})", re.ASCII)
# RFC 9110 5.6.2: a header's name is a token, one or more of these characters.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
_DELAY = re.compile(r"(\d{1,3})m", re.ASCII)
# A time quoted as TOML writes one (18:00:00) is taken too: the config error of a bare
# TOML time shows it so. Seconds other than :00 would be cut, so they are refused.
_TIME = re.compile(r"(\d{2}):(\d{2})(:00)?", re.ASCII)


def clock(value: str) -> str:
    """A time or window as written, full-width digits and colons (２２：００－０２：００, as
    a Japanese IME types them) made ASCII."""
    return unicodedata.normalize("NFKC", value)


def check_time(value: str) -> str:
    """A time of day, as HH:MM (18:00:00 made 18:00)."""
    value = clock(value)
    match = _TIME.fullmatch(value)
    if not match or int(match.group(1)) >= 24 or int(match.group(2)) >= 60:
        raise Invalid("config.expect_by", value=repr(value))
    return value[:5]


def check_secret(value: str | None) -> str | None:
    """A token or password that is written: an empty one would match nothing (or, in
    a door that compares by prefix, everything)."""
    if value is not None and not value:
        raise Invalid("config.secret_empty")
    return value


def check_field_name(value: str) -> str:
    """A form field's name a request can carry: else no part of a request could be the
    one named (an upload's file never found, a send's file under a name no receiver
    reads)."""
    if not value or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise Invalid("config.field_name", value=shown(value))
    return value


def check_part_filename(value: str) -> str:
    """A send's file name: one that is empty (or only spaces, or control characters,
    which the part drops) went out as `filename=""`, which receivers take for no file."""
    if not value.strip() or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise Invalid("config.part_filename", value=shown(value))
    return value


def check_sha256(value: str | None) -> str | None:
    """A secret's sha256 as `sha256sum` writes it: 64 hex digits, else no secret ever
    matches it."""
    if value is not None and not is_sha256(value):
        raise Invalid("config.sha256", value=shown(value))
    return value


def _no_wildcard(value: str) -> str:
    """An allowed sender holds no `*`: "*@acme.example" is a valid address that no
    mail ever comes from, so it passed and let nobody in; `@acme.example` is a domain."""
    if "*" in value:
        domain = value.rpartition("@")[2].lstrip("*.")
        suggestion = repr(f"@{domain}" if domain and "*" not in domain else "@domain")
        raise Invalid("config.sender_wildcard", value=repr(value), suggestion=suggestion)
    return value


# A path is written as a string: the one value strict mode would refuse as text.
LaxPath = Annotated[Path, Strict(False)]
Address = Annotated[str, AfterValidator(check_address)]
# An address renkei's own mail goes from or to (values.check_recipient).
MailTo = Annotated[str, AfterValidator(check_recipient)]
# Each once: `sales@例え.テスト` and its IDNA form are one address, and got the mail twice.
MailToList = Annotated[list[MailTo], AfterValidator(lambda found: list(dict.fromkeys(found)))]
# The wildcard first: check_sender takes "*@acme.example" for an address.
Sender = Annotated[str, AfterValidator(_no_wildcard), AfterValidator(check_sender)]
Network = Annotated[str, AfterValidator(check_network)]


class Model(BaseModel):
    # Strict: a number or a boolean written as a string ("30", "true") is refused rather
    # than converted, so that a quoted value is never silently something else.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)

    @field_validator("*")
    @classmethod
    def _bounded(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            raise Invalid("config.number_too_large", value=value, limit=MAX_NUMBER)
        return value


class DaemonSettings(Model):
    data_dir: LaxPath = Field(
        Path("var"), description="spool/, files/, renkei.db, reports/, outbox/"
    )
    timezone: str = Field("Asia/Tokyo", description="time zone of schedules and reports")
    min_free_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="refuse new files while the spool has less free"
    )
    max_attempts: int = Field(3, ge=1, description="failed attempts before a file is quarantined")
    retention_days: int = Field(
        90,
        ge=1,
        le=36500,
        description="days a finished run, its file, error CSV and failed mail are kept",
    )

    _check_zone = field_validator("timezone")(lambda cls, v: check_zone(v))


class StoreSettings(Model):
    url: str | None = Field(
        None,
        description="postgresql://user@host/db (or env:NAME) shared by instances; none: SQLite",
    )
    instance: str | None = Field(
        None, description="this instance's name on its runs (default: the host name)"
    )

    _check_url = field_validator("url")(lambda cls, v: check_store_url(v))


class Limits(Model):
    max_rows: int = Field(10000, ge=1, description="data rows a file may hold")
    max_bytes: int = Field(3145728, ge=1, description="bytes a file may hold")


class AccountLimits(Model):
    max_rows: int | None = Field(None, ge=1, description="this account's own max_rows")
    max_bytes: int | None = Field(None, ge=1, description="this account's own max_bytes")


class SmtpSettings(Model):
    enabled: bool = Field(True, description="serve mail intake")
    listen: str = Field("127.0.0.1:2525", description="host:port of the SMTP listener")
    hostname: str = Field("renkei", description="name in the SMTP greeting")
    max_message_bytes: int = Field(20971520, ge=1024, description="largest mail taken")
    max_connections: int = Field(100, ge=1, description="SMTP sessions at once")
    max_connections_per_address: int = Field(10, ge=1, description="sessions from one address")
    timeout: int = Field(300, ge=1, description="seconds an idle SMTP session is kept")
    min_data_rate: int = Field(
        1000, ge=0, description="bytes/s a sender must keep up in DATA (0: no minimum)"
    )
    tls_cert: LaxPath | None = Field(None, description="certificate (chain, PEM) for STARTTLS")
    tls_key: LaxPath | None = Field(None, description="key for STARTTLS (default: in tls_cert)")
    require_tls: bool = Field(False, description="refuse MAIL before STARTTLS (530 5.7.0)")
    proxy_protocol: bool = Field(
        False, description="require a PROXY v1/v2 header; its source address is the client's"
    )

    _check_listen = field_validator("listen")(lambda cls, v: check_listen(v))

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str) -> str:
        # Said in the greeting and the Received header: a space or a line break there
        # would end the line and start another reply.
        if not value or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise Invalid("config.smtp_hostname", value=shown(value))
        if not value.isascii():
            # aiosmtpd writes the greeting in ASCII: the session task died before it,
            # and every connection hung unanswered.
            try:
                idna = value.encode("idna").decode("ascii")
            except UnicodeError:  # a label too long or empty: no IDNA form to offer
                raise Invalid("config.smtp_hostname_ascii", value=shown(value)) from None
            raise Invalid("config.smtp_hostname_idna", value=shown(value), idna=repr(idna))
        return value


class FtpSettings(Model):
    enabled: bool = Field(True, description="serve FTP intake")
    listen: str = Field("127.0.0.1:2121", description="host:port of the FTP listener")
    passive_ports: str = Field("30000-30099", description="range of passive data ports")
    max_login_failures: int = Field(4, ge=1, description="failed logins before a ban")
    ban_minutes: int = Field(
        15, ge=1, le=525600, description="how long a banned address is refused"
    )
    max_connections: int = Field(50, ge=1, description="FTP sessions at once")
    max_connections_per_address: int = Field(5, ge=1, description="FTP sessions from one address")
    tls_cert: LaxPath | None = Field(None, description="certificate for explicit FTPS")
    tls_key: LaxPath | None = Field(None, description="key for explicit FTPS")
    require_tls: bool = Field(
        False, description="no USER before AUTH TLS, no data connection before PROT P"
    )

    _check_listen = field_validator("listen")(lambda cls, v: check_listen(v))

    @field_validator("passive_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        low, sep, high = value.partition("-")
        if not (sep and low.isdigit() and high.isdigit() and 0 < int(low) <= int(high) < 65536):
            raise Invalid("config.port_range", value=repr(value))
        return value


class ApiSettings(Model):
    enabled: bool = Field(True, description="serve the HTTP API")
    listen: str = Field("127.0.0.1:8080", description="host:port of the HTTP listener")
    admin_token: str | None = Field(None, description="token that sees every account")
    admin_token_sha256: str | None = Field(None, description="sha256 hex of the admin token")
    tls_cert: LaxPath | None = Field(None, description="certificate: serve HTTPS, not HTTP")
    tls_key: LaxPath | None = Field(None, description="key for HTTPS (default: in tls_cert)")
    forwarded_allow_ips: list[Network] = Field(
        default_factory=list,
        description="proxies (addresses, CIDRs) whose X-Forwarded-For names the client",
    )
    client_timeout: float = Field(
        60, gt=0, description="seconds a client has for a request's headers, and may pause its body"
    )

    _check_listen = field_validator("listen")(lambda cls, v: check_listen(v))
    _check_secret = field_validator("admin_token")(lambda cls, v: check_secret(v))
    _check_sha256 = field_validator("admin_token_sha256")(lambda cls, v: check_sha256(v))


class ReportSettings(Model):
    relay: str = Field("127.0.0.1:25", description="host:port of the relay for report mail")
    from_: MailTo = Field("renkei@localhost", alias="from", description="From of report mail")
    language: Literal["ja", "en"] = Field("ja", description="language of reports and messages")
    retry_seconds: float = Field(
        30, gt=0, le=MAX_DELAY, description="first retry delay while the relay is down"
    )
    max_retry_seconds: float = Field(3600, gt=0, le=MAX_DELAY, description="longest retry delay")
    timeout: float = Field(30, gt=0, le=MAX_TIMEOUT, description="seconds to wait for the relay")
    admin_to: MailToList = Field(
        default_factory=list,
        description="admin alerts to (reload refused, report refused, file quarantined, disk low)",
    )
    tls: Literal["off", "required", "implicit"] = Field(
        "off",
        description="required: STARTTLS with a verified certificate, or nothing goes;"
        " implicit: TLS from the first byte (port 465), verified likewise",
    )
    tls_ca: LaxPath | None = Field(None, description="CA file to verify the relay's certificate")
    user: str | None = Field(
        None, description="login at the relay (needs tls = required or implicit)"
    )
    password: str | None = Field(
        None, repr=False, description="the relay login's password: literal or env:NAME"
    )

    _check_relay = field_validator("relay")(lambda cls, v: check_listen(v))


class Column(Model):
    name: str = Field(description="column name: header name and table column")
    type: Literal["text", "int", "decimal", "date", "datetime", "bool", "choice"] = Field(
        "text", description="how a cell is converted"
    )
    required: bool = Field(False, description="an empty cell is an error")
    max_length: int | None = Field(None, ge=1, description="longest text, in characters")
    max_digits: int | None = Field(None, ge=1, description="most digits of a number")
    values: list[str] | None = Field(None, description="allowed values of a choice column")
    reference: str | None = Field(
        None, description="a layout whose rows the value must name (by its key or member_key)"
    )
    label: str | None = Field(None, description="what the partner's header calls it (会員番号)")
    aliases: list[str] = Field(default_factory=list, description="other header names it takes")
    format: str | None = Field(
        None, description="date/datetime: the one house format taken (YYYYMMDD, YYYY年M月D日)"
    )
    wareki: bool = Field(False, description="date: also take era dates (令和6年5月16日, R6.5.16)")

    @field_validator("name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if value.startswith("_"):  # _source_file, _run_id: renkei's own columns
            raise Invalid("config.column_underscore", value=repr(value))
        if not _IDENTIFIER.fullmatch(value):
            raise Invalid("config.column_name", value=repr(value))
        if value.lower() in RESERVED_COLUMNS:
            raise Invalid("config.column_reserved", value=repr(value))
        return value

    @model_validator(mode="after")
    def _date_options(self) -> Column:
        if self.format is not None:
            if self.type not in ("date", "datetime"):
                raise Invalid("config.format_type", type=self.type)
            try:
                compile_format(self.format)
            except ValueError as exc:
                raise Invalid("config.format", value=repr(self.format), detail=exc) from None
        if self.wareki and (self.type != "date" or self.format is not None):
            raise Invalid("config.wareki")
        return self


class Layout(Model):
    columns: list[Column] = Field(min_length=1, description="the columns of a row, in order")
    key: list[str] = Field(
        default_factory=list, description="key columns: what upsert, delete and set match on"
    )

    @model_validator(mode="after")
    def _distinct_headers(self) -> Layout:
        """A header cell must name one column: names, labels and aliases may not clash
        (compared as header cells are: NFKC, trimmed, case folded)."""
        owner: dict[str, str] = {}
        for column in self.columns:
            for text in header_names(column):
                if owner.setdefault(text, column.name) != column.name:
                    raise Invalid(
                        "config.header_clash", text=repr(text), one=owner[text], other=column.name
                    )
        return self


Mode = Literal["replace_file", "insert", "upsert", "delete", "set"]
OnDuplicate = Literal["skip", "update"]
Blank = Literal["keep", "overwrite"]
ReportPolicy = Literal["always", "errors", "never"]
# An account may also gather its runs into one daily digest (daemon/report/digest.py);
# a delivery's parameters choose only among the per-run policies.
AccountReport = Literal["always", "errors", "never", "digest", "digest+errors"]


class ParamEffect(Model):
    """What one value of a request parameter sets for that import."""

    layout: str | None = Field(None, description="import into this layout")
    mode: Mode | None = Field(None, description="import mode")
    on_duplicate: OnDuplicate | None = Field(None, description="upsert: a key that exists")
    blank: Blank | None = Field(None, description="update: what a blank cell does")
    set_values: dict[str, str] | None = Field(None, description="set: the fixed column values")
    on_unknown: Literal["error", "create"] | None = Field(
        None, description="a choice value not yet known: error, or create it"
    )
    member_key: str | None = Field(None, description="the column reference columns match on")
    on_row_error: Literal["reject", "skip"] | None = Field(None, description="reject or skip")
    report: ReportPolicy | None = Field(None, description="when to mail this run's report")


class MailAccount(Model):
    address: Address = Field(description="the address this account receives mail at")
    allowed_senders: list[Sender] = Field(default_factory=list, description="who may send")
    allowed_networks: list[Network] = Field(
        default_factory=list, description="CIDRs mail may come from (empty: any)"
    )

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return value.lower()


class Timetable(Model):
    """When something runs: on `weekdays`, from the window's start every `interval` up to
    its end, each tick shifted by `delay` (FTP checks and scheduled sends alike)."""

    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: list(WEEKDAYS[:5]), description="days with checks"
    )
    window: str = Field("00:00-23:59", description="HH:MM-HH:MM when checks run")
    interval: str = Field("15m", description="time between checks: 5m 10m 15m 30m 1h 2h")
    delay: str = Field("0m", description="minutes after each tick the check runs")

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        value = clock(value)
        match = _WINDOW.fullmatch(value)
        if not match or not all(
            int(h) < 24 and int(m) < 60 for h, m in (match.groups()[:2], match.groups()[2:])
        ):
            raise Invalid("config.window", value=repr(value))
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVALS:
            raise not_one_of(value, INTERVALS)
        return value

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str) -> str:
        value = clock(value)
        match = _DELAY.fullmatch(value)
        if not match or int(match.group(1)) >= 120:
            raise Invalid("config.delay", value=repr(value))
        return value


class FtpAccount(Timetable):
    user: str = Field(description="FTP user name")
    password: str | None = Field(None, description="password: literal, env:NAME or demo-…")
    password_sha256: str | None = Field(None, description="sha256 hex of the password")
    priority: int = Field(0, description="higher goes first when accounts tick together")

    _check_secret = field_validator("password")(lambda cls, v: check_secret(v))
    _check_sha256 = field_validator("password_sha256")(lambda cls, v: check_sha256(v))


class ApiAccount(Model):
    token: str | None = Field(None, description="API token: literal, env:NAME or demo-…")
    token_sha256: str | None = Field(None, description="sha256 hex of the API token")
    path: str = Field("/api/v1/imports", description="the URL path this account posts to")
    token_header: str = Field(
        "Authorization", description="header carrying the token (Authorization: Bearer …)"
    )
    file_field: str = Field("file", description="the multipart part holding the CSV")
    body: Literal["form-data", "json"] = Field(
        "form-data", description="parameters as form fields, or JSON in one field"
    )
    json_field: str = Field("settings", description="the field holding JSON parameters")
    header: bool | None = Field(None, description="overrides the account's header for API files")
    encoding: Literal["auto", "cp932", "utf-8"] | None = Field(
        None, description="overrides the account's encoding for API files"
    )
    params: dict[str, dict[str, ParamEffect]] = Field(
        default_factory=dict,
        description='request parameter → value → effect ("*" matches any value)',
    )

    _check_secret = field_validator("token")(lambda cls, v: check_secret(v))
    _check_sha256 = field_validator("token_sha256")(lambda cls, v: check_sha256(v))

    @field_validator("token_header")
    @classmethod
    def _token_header(cls, value: str) -> str:
        # Else no request could carry the token, and every upload is refused as without.
        if not _HEADER_NAME.fullmatch(value):
            raise Invalid("config.header_name", value=shown(value))
        return value

    _check_fields = field_validator("file_field", "json_field")(lambda cls, v: check_field_name(v))

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", value):
            raise Invalid("config.url_path", value=repr(value))
        return value


class DropdirAccount(Model):
    path: LaxPath = Field(description="folder watched for files")
    # At most a day: `inf` passed, and a file was then never taken.
    settle: float = Field(
        5, ge=0, le=86400, description="seconds unchanged before a file is complete"
    )


class Expect(Model):
    """When an account's file is due: by `by` on `weekdays` (daily), or on `day` of each
    month (monthly), in daemon.timezone."""

    weekdays: list[str] | None = Field(None, description="daily: the days a file is due")
    day: int | str | None = Field(None, description='monthly: the day a file is due, or "last"')
    by: str = Field(description="HH:MM by which the day's file has completed")

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str] | None) -> list[str] | None:
        for day in value or []:
            if day not in WEEKDAYS:
                raise not_one_of(day, WEEKDAYS)
        return value

    # Before the union is tried: else each of its members refused the value on its own,
    # at a key of its own (`expect.day.int`, `expect.day.str`), saying opposite things.
    @field_validator("day", mode="before")
    @classmethod
    def _day(cls, value: object) -> object:
        number = isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, str) and value.isascii() and value.isdigit() and 1 <= int(value) <= 31:
            # `day = "31"`: said to be neither 1 to 31 nor "last", which it seemed to be.
            raise Invalid("config.quoted.int", value=shown(value), bare=int(value))
        if value is not None and value != "last" and not (number and 1 <= value <= 31):
            raise Invalid("config.expect_day", value=shown(value))
        return value

    _check_by = field_validator("by")(lambda cls, v: check_time(v))

    @model_validator(mode="after")
    def _daily_or_monthly(self) -> Expect:
        if (self.weekdays is None) == (self.day is None):
            raise Invalid("config.expect_shape")
        return self


class Account(Model):
    status: Literal["active", "stopped"] = Field("active", description="stopped: 連動稼働停止")
    layout: str = Field(description="name of the layout its rows follow")
    encoding: Literal["auto", "cp932", "utf-8"] = Field("auto", description="file encoding")
    header: bool = Field(True, description="the first row holds column names")
    filename: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FILENAMES),
        description="file-name patterns: {YYYYMMDD}.csv, 売上_{YYYYMMDD}.csv, employees*.csv, any",
    )
    excel: bool = Field(False, description="also take Excel workbooks (.xlsx, .xls)")
    sheet: str | None = Field(None, description="the sheet read from a workbook (default: first)")
    on_row_error: Literal["reject", "skip"] = Field("reject", description="reject or skip")
    report: AccountReport = Field(
        "always", description="when to mail: always, errors, never, digest, digest+errors"
    )
    digest_at: str = Field("18:00", description="HH:MM the daily digest goes (digest)")
    mode: Mode = Field("replace_file", description="how rows are written")
    on_duplicate: OnDuplicate = Field("update", description="upsert: a key that exists")
    blank: Blank = Field("overwrite", description="update: what a blank cell does")
    set_values: dict[str, str] = Field(
        default_factory=dict, description="set: the fixed column values"
    )
    on_unknown: Literal["error", "create"] = Field(
        "error", description="a choice value not yet known: error, or create it"
    )
    member_key: str | None = Field(
        None, description="the column reference columns match on (default: the key's first)"
    )
    error_report_to: MailToList = Field(default_factory=list, description="error report to")
    success_report_to: MailToList = Field(default_factory=list, description="success report to")
    mail: MailAccount | None = Field(None, description="mail intake")
    sender_auth: Literal["off", "flag", "require"] = Field(
        "flag", description="mail: SPF/DKIM/DMARC off, flag (import and say so) or require"
    )
    ftp: FtpAccount | None = Field(None, description="FTP intake")
    api: ApiAccount | None = Field(None, description="API intake")
    dropdir: DropdirAccount | None = Field(None, description="drop-folder intake")
    limits: AccountLimits = Field(default_factory=AccountLimits, description="own limits")
    expect: Expect | None = Field(None, description="when a file is due; a miss is alerted")

    @field_validator("filename", mode="before")
    @classmethod
    def _patterns(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    _check_digest_at = field_validator("digest_at")(lambda cls, v: check_time(v))


class Outbound(Model):
    """What every request renkei sends onward shares: where, how, and the retry rules
    (network errors, 429 and 5xx are retried with backoff, honouring Retry-After)."""

    url: str = Field(description="http(s) URL the request goes to")
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers; a value may be env:NAME (X-RS-apitoken)"
    )
    params: dict[str, str] = Field(
        default_factory=dict,
        description="request parameters; {run.id} {account} {file} {today} are filled in",
    )
    body: Literal["form-data", "json"] = Field(
        "form-data", description="parameters as form fields, or as JSON"
    )
    timeout: float = Field(30, gt=0, le=MAX_TIMEOUT, description="seconds to wait for an answer")
    max_attempts: int = Field(8, ge=1, description="tries before a request fails")
    retry_seconds: float = Field(5, gt=0, le=MAX_DELAY, description="first retry delay (doubles)")
    max_retry_seconds: float = Field(600, gt=0, le=MAX_DELAY, description="longest retry delay")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", value):
            raise Invalid("config.url", value=repr(value))
        # A port past 65535 (or 0) passed, and every request then failed with an
        # ExceptionGroup from the HTTP client's task group.
        port = _url_port(value)
        if port is not None and not 1 <= port <= 65535:
            raise Invalid("config.url_port", value=repr(value), port=port)
        return value


def _url_port(url: str) -> int | None:
    """The port a URL names in digits; None when it names none, or a placeholder."""
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    _, sep, port = authority.rpartition("@")[2].rpartition(":")
    return int(port) if sep and port.isascii() and port.isdigit() else None


class Send(Outbound):
    """楽楽販売's システム連携, outward: a layout's rows as CSV to another system's API."""

    layout: str = Field(description="the layout whose rows are sent")
    account: str | None = Field(None, description="only this account's rows")
    where: dict[str, str] = Field(default_factory=dict, description="only rows with these values")
    rows: Literal["all", "run"] = Field(
        "all", description="all: every matching row; run: the rows of the triggering import"
    )
    columns: list[str] = Field(default_factory=list, description="columns in order (default all)")
    labels: dict[str, str] = Field(
        default_factory=dict, description="column → header label (default its label or name)"
    )
    method: Literal["POST", "PUT"] = Field("POST", description="HTTP method")
    json_field: str = Field("json", description="body = json: the form field holding the JSON")
    file_field: str = Field("file", description="the multipart part holding the CSV")
    filename: str = Field("{today}.csv", description="the CSV part's file name")
    header: bool = Field(True, description="a header row first")
    encoding: Literal["cp932", "utf-8"] = Field("utf-8", description="cp932 (SJIS) or utf-8")
    max_rows: int = Field(10_000, ge=1, description="rows per request; more are split")
    max_bytes: int = Field(3_145_728, ge=1024, description="bytes per request; more are split")
    after_import: list[str] = Field(
        default_factory=list, description="forward after every completed import of these accounts"
    )
    schedule: Timetable | None = Field(None, description="send on this timetable")
    report: Literal["always", "errors", "never"] = Field(
        "errors", description="report mail: always, errors, never"
    )
    report_to: Literal["executor", "admin", "both"] = Field(
        "admin", description="report to the executor, report.admin_to, or both"
    )
    executor_to: MailToList = Field(
        default_factory=list, description="the executor's addresses (by hand or on schedule)"
    )

    _check_fields = field_validator("file_field", "json_field")(lambda cls, v: check_field_name(v))
    _check_filename = field_validator("filename")(lambda cls, v: check_part_filename(v))


class Call(Outbound):
    """楽楽販売's http送信: an HTTP request per row of a completed import, or per run."""

    after_import: list[str] = Field(description="after every completed import of these accounts")
    per: Literal["row", "run"] = Field("row", description="one request per row, or per run")
    method: Literal["GET", "POST"] = Field("POST", description="HTTP method")
    json_template: dict[str, Any] = Field(
        default_factory=dict,
        alias="json",
        description="body = json: the JSON; {row.COLUMN} and {run.…} are filled in; "
        "a list of one object repeats it per row (per = run)",
    )
    concurrency: int = Field(4, ge=1, le=32, description="requests at once")


class User(Model):
    """Someone who logs in to the console. An admin sees and does everything; an operator
    or a viewer only the accounts listed."""

    password_hash: str = Field(description="made by `renkei passwd` (scrypt)")
    role: Literal["admin", "operator", "viewer"] = Field(
        "viewer", description="admin: everything; operator: run linkage; viewer: read"
    )
    accounts: list[str] = Field(
        default_factory=list, description="operator/viewer: the accounts this user sees"
    )

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not is_password_hash(value):
            raise Invalid("config.password_hash")
        return value

    def may_see(self, account: str) -> bool:
        return self.role == "admin" or account in self.accounts


class Settings(Model):
    daemon: DaemonSettings = Field(default_factory=DaemonSettings, description="the service")
    limits: Limits = Field(default_factory=Limits, description="default file limits")
    store: StoreSettings = Field(default_factory=StoreSettings, description="the database")
    smtp: SmtpSettings = Field(default_factory=SmtpSettings, description="mail intake")
    ftp: FtpSettings = Field(default_factory=FtpSettings, description="FTP intake")
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP API")
    report: ReportSettings = Field(default_factory=ReportSettings, description="report mail")
    layouts: dict[str, Layout] = Field(default_factory=dict, description="row layouts")
    accounts: dict[str, Account] = Field(default_factory=dict, description="partner accounts")
    users: dict[str, User] = Field(default_factory=dict, description="console users")
    sends: dict[str, Send] = Field(default_factory=dict, description="rows sent onward as CSV")
    calls: dict[str, Call] = Field(default_factory=dict, description="HTTP calls per row or run")

    # Filled in by load(): where the config came from, to resolve relative paths.
    source: Path | None = Field(None, exclude=True, description="config file (internal)")

    def path(self, value: Path) -> Path:
        base = self.source.parent if self.source else Path.cwd()
        return value if value.is_absolute() else resolved(base / value)

    @property
    def data_dir(self) -> Path:
        return self.path(self.daemon.data_dir)

    def ftp_home(self, account: str) -> Path:
        """The folder an account's FTP user sees as its root."""
        return self.data_dir / "ftp" / account

    def account_by_address(self, address: str) -> tuple[str, Account] | None:
        address = address.lower()
        for name, account in self.accounts.items():
            if account.mail and account.mail.address == address:
                return name, account
        return None

    def limits_for(self, account: Account) -> Limits:
        own = account.limits
        return Limits(
            max_rows=own.max_rows or self.limits.max_rows,
            max_bytes=own.max_bytes or self.limits.max_bytes,
        )

    def is_admin_token(self, token: str) -> bool:
        return secret_matches(token, self.api.admin_token, self.api.admin_token_sha256)

    def token_account(self, token: str) -> str | None:
        """The account whose API token `token` is, or None."""
        for name, account in self.accounts.items():
            if account.api and secret_matches(token, account.api.token, account.api.token_sha256):
                return name
        return None

    def listeners(self) -> dict[str, str]:
        """Every listener that will be bound, by section name."""
        sections = {"smtp": self.smtp, "ftp": self.ftp, "api": self.api}
        return {name: s.listen for name, s in sections.items() if s.enabled}


def resolved(path: Path) -> Path:
    """`path` made absolute, its links followed; as it is where they loop (Python's
    RuntimeError, a traceback out of `renkei check`): the folder's own check says so."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return path.absolute()
