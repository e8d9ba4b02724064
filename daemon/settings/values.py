"""Single values of the config checked on their own: mail addresses and time zones, with
the near miss to suggest for a zone that does not exist.

Used by the model's validators; each raises Invalid, which names a catalog message.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
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


def check_store_url(value: str | None) -> str | None:
    if value is None or value.startswith("env:"):
        return value
    if value.startswith(("postgresql://", "postgres://")):
        try:
            urlsplit(value).port  # noqa: B018 - read for the ValueError it may raise
        except ValueError:
            # A password holding [ ] : / @ unescaped: check and serve died with a
            # traceback. The value is not shown: it holds the password.
            raise Invalid("config.store_url_unreadable") from None
        return _known_options(value)
    raise Invalid("config.store_url", value=repr(value))


# Values libpq reads only when it connects: one it does not know made serve refuse
# to start after check had passed the config.
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any", "read-write", "read-only", "primary", "standby", "prefer-standby"
    ),
    "load_balance_hosts": ("disable", "random"),
}  # fmt: skip
_NUMBERS = ("port", "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval")


def _known_options(value: str) -> str:
    """`value`, unless libpq would refuse its options (`?foo=bar`, `?sslmode=bogus`,
    `?port=abc`)."""
    from psycopg import ProgrammingError  # imported here: loaded only for PostgreSQL
    from psycopg.conninfo import conninfo_to_dict

    try:
        options = conninfo_to_dict(value)
    except ProgrammingError as exc:
        # libpq's words name the option, never the password.
        raise Invalid("config.store_url_option", detail=str(exc).strip()) from None
    for name, choices in _CHOICES.items():
        given = options.get(name)
        if given is not None and given not in choices:
            detail = f"{name}={given!r}: {', '.join(choices)}"
            raise Invalid("config.store_url_option", detail=detail)
    for name in _NUMBERS:
        given = options.get(name)
        # A list of hosts has a list of ports (`5432,5433`).
        if given is not None and not all(p.strip().isdigit() for p in str(given).split(",")):
            raise Invalid("config.store_url_option", detail=f"{name}={given!r}")
    return value


def check_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
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
