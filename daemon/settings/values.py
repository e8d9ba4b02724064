"""Single values of the config checked on their own: mail addresses, time zones (with
the near miss to suggest for a zone that does not exist) and the store's URL.

Used by the model's validators; each raises Invalid, which names a catalog message.
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from typing import Any
from urllib.parse import urlsplit

from daemon.settings.problems import Invalid, near

# local@domain, bare (no display name: the address is also an envelope sender). The
# local part takes what RFC 5322 allows unquoted, non-ASCII included (RFC 6531); a
# domain is dot-separated labels, `localhost` alone included.
_LOCAL = r"[^\s@<>()\[\]\\,;:\"]+"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
_ADDRESS = re.compile(rf"{_LOCAL}@{_DOMAIN}")

# Abbreviations people write for a zone; tzdata knows some of them as zones of their
# own (UTC, EST, CET), but not these.
ZONE_ALIASES = {
    "JST": "Asia/Tokyo",
    "KST": "Asia/Seoul",
    "HKT": "Asia/Hong_Kong",
    "SGT": "Asia/Singapore",
    "IST": "Asia/Kolkata",
    "AEST": "Australia/Sydney",
    "BST": "Europe/London",
    "CEST": "Europe/Paris",
    "PST": "America/Los_Angeles",
    "PDT": "America/Los_Angeles",
    "EDT": "America/New_York",
    "CDT": "America/Chicago",
    "JAPAN": "Asia/Tokyo",
}


def is_address(text: str) -> bool:
    local = text.rpartition("@")[0]
    dots_ok = not (local.startswith(".") or local.endswith(".") or ".." in local)
    return bool(_ADDRESS.fullmatch(text)) and dots_ok


def check_address(value: str) -> str:
    if not is_address(value):
        raise Invalid("config.address", value=repr(value))
    return value


def check_recipient(value: str) -> str:
    """An address renkei sends mail to or from: its domain in its ASCII (IDNA) form,
    which every relay takes, and its local part in ASCII. A relay takes a non-ASCII
    local part only with SMTPUTF8, which few offer: such an address made every report
    mail fail, a traceback at each try."""
    check_address(value)
    local, _, domain = value.rpartition("@")
    if not local.isascii():
        raise Invalid("config.address_not_ascii", value=repr(value))
    try:
        # Lower case too: a domain has no case, and the codec lowers only the labels
        # it encodes (ops@ACME.EXAMPLE beside ops@acme.example got the mail twice).
        ascii_domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise Invalid("config.address", value=repr(value)) from None
    return f"{local}@{ascii_domain}"


def check_sender(value: str) -> str:
    """An allowed sender: an address, or `@domain` for every address of a domain."""
    if not (is_address(value) or re.fullmatch(rf"@{_DOMAIN}", value)):
        raise Invalid("config.sender", value=repr(value))
    return value.lower()


def check_network(value: str) -> str:
    """An allowed network: a CIDR (`192.0.2.0/24`, `2001:db8::/32`) or one address."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise Invalid("config.network", value=repr(value)) from None


# libpq tells a URL from its key=value form by these prefixes, case and all (a
# `PostgreSQL://` URL is read as key=value and refused when serve connects).
_URL_SCHEMES = ("postgresql://", "postgres://")
_SCHEME = re.compile(r"([A-Za-z][\w+.-]*)://")


def check_store_url(value: str | None) -> str | None:
    """`store.url` as serve connects with it: a URL, or `env:NAME` holding a URL or
    libpq's key=value form (`host=db port=5432 dbname=renkei`)."""
    if value is None:
        return value
    if value.startswith("env:"):
        _check_environment(value[4:])
        return value
    if not value.startswith(_URL_SCHEMES):
        raise _not_a_url(value)
    _check_url(value)
    return value


def _not_a_url(value: str) -> Invalid:
    scheme = _SCHEME.match(value)
    if scheme is not None and f"{scheme[1].lower()}://" in _URL_SCHEMES:
        return Invalid("config.store_url_scheme", scheme=scheme[1])
    return Invalid("config.store_url", value=repr(value))


def _check_environment(name: str) -> None:
    """The value of `env:NAME` as serve reads it, unstripped: a URL checked as one
    written in the config is, or libpq's key=value form."""
    given = os.environ.get(name, "")
    if not given.strip():
        return  # unset or empty: tokens.env_problem says so
    if given.strip().startswith(_URL_SCHEMES):
        if given.strip() != given:
            # libpq reads a URL after a space as key=value, and a line break after
            # it (an environment file's) as part of the database name.
            raise Invalid("config.store_url_env_spaces", name=name)
        _check_url(given)
        return
    if _SCHEME.match(given.strip()):
        raise _not_a_url(given.strip())
    options = _parsed(given, Invalid("config.store_url_keywords", name=name))
    _check_values(options)


def _check_url(value: str) -> None:
    """libpq reads the URL as urlsplit does (which shown_url hides the password by),
    and takes its options."""
    try:
        read_ports(value)
    except ValueError:
        # A password holding [ ] : / # ? unescaped: check and serve died with a
        # traceback. The value is not shown: it holds the password.
        raise Invalid("config.store_url_unreadable") from None
    options = _parsed(value, Invalid("config.store_url_unreadable"))
    if "@" in options.get("host", ""):
        # An @ in the password: libpq ends the user's part at the first @, and
        # connected to the rest of the password as the host.
        raise Invalid("config.store_url_unreadable")
    _check_values(options)


def read_ports(url: str) -> None:
    """Read the port of each host `url` names, as urlsplit reads one (a list of hosts,
    `h1:5432,h2:5433`, has one each): ValueError for an unreadable URL (a password
    holding [ ] : / # ? unescaped) or a port that is none."""
    for host in urlsplit(url).netloc.rpartition("@")[2].split(","):
        urlsplit(f"//{host}").port  # noqa: B018 - read for the ValueError it may raise


def _parsed(text: str, unreadable: Invalid) -> dict[str, Any]:
    """`text`'s options by libpq's own parser, which refuses an option it does not
    know; `unreadable` when it cannot read `text`."""
    from psycopg import ProgrammingError  # imported here: loaded only for PostgreSQL
    from psycopg.conninfo import conninfo_to_dict

    try:
        return conninfo_to_dict(text)
    except ProgrammingError as exc:
        said = str(exc).strip()
        if said.startswith(("invalid URI query parameter", "invalid connection option")):
            # These words name the option alone: libpq's others quote the string,
            # password and all.
            raise Invalid("config.store_url_option", detail=said) from None
        if said.startswith("unexpected spaces found"):
            raise Invalid("config.store_url_spaces") from None
        raise unreadable from None


# What libpq reads only when it connects: a value it does not take made serve refuse
# to start after check had passed the config. Its parser knows the option names.
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "sslnegotiation": ("postgres", "direct"),
    "sslcertmode": ("disable", "allow", "require"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby"
    ),
    "load_balance_hosts": ("disable", "random"),
}  # fmt: skip
# A replication session runs no SQL (the server refuses the store's statements): only
# off, in any case the server reads a boolean in.
_NOT_REPLICATION = ("false", "off", "no", "0")
_NUMBERS = (
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
)
_VERIFIED = ("require", "verify-ca", "verify-full")
_AUTH_METHODS = ("password", "md5", "scram-sha-256", "gss", "sspi", "oauth", "none")


def _check_values(options: dict[str, Any]) -> None:
    for name, choices in _CHOICES.items():
        given = options.get(name)
        if given is not None and given not in choices:
            detail = f"{name}={given!r}: {', '.join(choices)}"
            raise Invalid("config.store_url_option", detail=detail)
    given = options.get("replication")
    if given is not None and given.lower() not in _NOT_REPLICATION:
        detail = f"replication={given!r}: {', '.join(_NOT_REPLICATION)}"
        raise Invalid("config.store_url_option", detail=detail)
    for name in _NUMBERS:
        given = options.get(name)
        if given is not None and not re.fullmatch(r"\s*-?\d+\s*", given):
            raise Invalid("config.store_url_option", detail=f"{name}={given!r}")
    if options.get("sslnegotiation") == "direct" and options.get("sslmode") not in _VERIFIED:
        # libpq will not begin TLS at once on a connection it may also open in clear.
        detail = f"sslnegotiation='direct': sslmode={', '.join(_VERIFIED)}"
        raise Invalid("config.store_url_option", detail=detail)
    _check_auth(options.get("require_auth"))
    _check_hosts(options)


def _check_auth(given: str | None) -> None:
    """libpq's require_auth: methods separated by commas, each refused by a `!`
    before it or all allowed."""
    if given is None:
        return
    methods = given.split(",")
    refused = {method.startswith("!") for method in methods}
    if len(refused) > 1 or any(m.removeprefix("!") not in _AUTH_METHODS for m in methods):
        detail = f"require_auth={given!r}: {', '.join(_AUTH_METHODS)} (!method: not it)"
        raise Invalid("config.store_url_option", detail=detail)


def _check_hosts(options: dict[str, Any]) -> None:
    """A list of hosts is tried in turn, each with its port: one port for all, or a
    port for each (an empty one is 5432)."""
    ports = options.get("port", "").split(",")
    if not all(re.fullmatch(r"\s*\d*\s*", port) for port in ports):
        raise Invalid("config.store_url_option", detail=f"port={options['port']!r}")
    hosts = (options.get("host") or options.get("hostaddr") or "").split(",")
    if len(ports) > 1 and len(ports) != len(hosts):
        raise Invalid("config.store_url_ports", hosts=len(hosts), ports=len(ports))


def check_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    # OSError: a folder of the zone database (`Asia`), which zoneinfo opens as a file.
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise Invalid("config.time_zone", near=near_zone(value), value=repr(value)) from None
    return value


def near_zone(value: str) -> str | None:
    """The zone meant by `value`: an abbreviation, a zone in the wrong case, a city
    alone (tokyo), or a misspelling."""
    if value.upper() in ZONE_ALIASES:
        return ZONE_ALIASES[value.upper()]
    zones = zoneinfo.available_timezones()
    by_fold = {zone.casefold(): zone for zone in zones}
    by_city = {zone.rsplit("/", 1)[-1].casefold(): zone for zone in zones if "/" in zone}
    folded = value.strip().casefold().replace(" ", "_")
    found = by_fold.get(folded) or by_city.get(folded)
    return found or near(value, zones)
