"""Sender authentication at the mail door: SPF, DKIM and DMARC of one mail.

Why: `allowed_senders` trusts the addresses a mail *claims*; anyone can write them.
SPF (the peer address against the MAIL FROM and HELO domains), DKIM (a signature by the
domain) and DMARC (either of them aligned with the header From) say whether the claim
holds. The verdict is an RFC 8601 `Authentication-Results` value kept on the run, and an
account's `sender_auth` decides what a mail that fails it comes to (handlers/smtp.py).

Why its own module: DNS is the one I/O here, and it must be bounded (a lookup that
times out is a temporary failure, never a pass) and replaceable. Every lookup goes
through a `Resolver`: dnspython against the system's resolvers with a total time budget
per mail, or, for tests and offline demos only, a JSON zone file named by the
environment variable `RENKEI_DNS_STUB` (see `StubResolver`). The libraries (pyspf,
dkimpy, authheaders) are given our lookups, never their own.

Blocking: `evaluate()` does DNS and RSA work; the SMTP handler runs it in a thread.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Protocol

import authheaders
import authheaders.dmarc_lookup
import dkim
import spf
from authheaders import check_dmarc
from authres import AuthenticationResultsHeader, DKIMAuthenticationResult, SPFAuthenticationResult


def _domain_part(address: str | bytes) -> str:
    """The domain of an address, whole. authheaders' own (get_domain_part, 0.16) stops
    at the first character its pattern lacks, a hyphen among them: the From domain
    acme-corp.jp was looked up as `_dmarc.acme`, its policy never applied, and an
    envelope sender's subdomain counted as `sub.acme` in the alignment."""
    text = address.decode("utf-8", "replace") if isinstance(address, bytes) else address
    name, at, domain = text.rpartition("@")
    if not at or not name or not domain.strip():
        raise IndexError(text)  # as authheaders says a From it cannot read: permerror
    return domain.strip().strip(">").lower()


@functools.lru_cache(maxsize=1024)
def _registrable(domain: str) -> str:
    """The organizational domain of `domain`: its public suffix and one label more,
    the public suffix list read once per domain (authheaders' reads its file at every
    call, and check_dmarc calls it for each alignment it tries). Its own
    (publicsuffix2's) gives a TLD its list lacks (`.example`, `.local`,
    `.corp`, a gTLD newer than the list) as the whole answer, where the list's default
    rule `*` makes that TLD the suffix: every domain under it was one organization, and
    a signature of `d=esp.example` passed DMARC for mail From `partner.example`."""
    found = str(_library_org_domain(domain))
    labels = domain.lower().rstrip(".").split(".")
    if "." not in found and len(labels) > 1:
        return ".".join(labels[-2:])
    return found


_library_org_domain = authheaders.dmarc_lookup.get_org_domain
# check_dmarc looks the functions up in its modules' globals at each call.
authheaders.get_domain_part = _domain_part
authheaders.get_org_domain = _registrable
authheaders.dmarc_lookup.get_org_domain = _registrable

STUB_ENV = "RENKEI_DNS_STUB"  # tests and offline demos: a JSON zone file instead of DNS
DNS_BUDGET = 5.0  # seconds of DNS per mail, every lookup together
QUERY_TYPES = ("TXT", "A", "AAAA", "MX", "PTR")


class DnsTemporaryError(Exception):
    """A lookup timed out or the resolver failed: the verdict is unknown, not a fail."""


class Resolver(Protocol):
    """One DNS lookup. Answers TXT as bytes (its strings joined), A/AAAA/PTR as text,
    MX as (preference, exchange); [] when the name or the type has no records. Raises
    DnsTemporaryError on a timeout or a server failure; `timeout` bounds this lookup."""

    def __call__(self, name: str, qtype: str, timeout: float) -> list[Any]: ...


class DnsPythonResolver:
    """The system's resolvers, through dnspython."""

    def __call__(self, name: str, qtype: str, timeout: float) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            answer = dns.resolver.resolve(name, qtype, lifetime=max(timeout, 0.01))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as exc:
            raise DnsTemporaryError(f"{qtype} {name}: {exc}") from exc
        except dns.exception.DNSException as exc:
            raise DnsTemporaryError(f"{qtype} {name}: {exc}") from exc
        records: list[Any] = []
        for rdata in answer:
            if qtype in ("A", "AAAA"):
                records.append(rdata.address)
            elif qtype == "MX":
                records.append((rdata.preference, rdata.exchange.to_text(True)))
            elif qtype == "PTR":
                records.append(rdata.target.to_text(True))
            else:
                records.append(b"".join(rdata.strings))
        return records


class StubResolver:
    """A zone from a JSON file, for tests and offline demos (never for production):

        {"sel._domainkey.acme.example": ["v=DKIM1; k=rsa; p=…"],
         "acme.example": {"TXT": ["v=spf1 ip4:127.0.0.1 -all"], "A": ["127.0.0.1"]},
         "slow.example": "timeout"}

    A list is the name's TXT records; "timeout" makes every lookup of the name (and of
    the names under it) time out. A name not in the file does not exist.
    """

    def __init__(self, path: Path) -> None:
        zone = json.loads(Path(path).read_text(encoding="utf-8"))
        self.zone = {str(k).lower().rstrip("."): v for k, v in zone.items()}

    def __call__(self, name: str, qtype: str, timeout: float) -> list[Any]:
        name = name.lower().rstrip(".")
        labels = name.split(".")
        for i in range(len(labels)):
            if self.zone.get(".".join(labels[i:])) == "timeout":
                raise DnsTemporaryError(f"{qtype} {name}: timed out (stub)")
        entry = self.zone.get(name)
        if entry is None or entry == "timeout":
            return []
        records = entry if isinstance(entry, list) else entry.get(qtype, [])
        if isinstance(entry, list) and qtype != "TXT":
            return []
        if qtype == "TXT":
            return [r.encode() if isinstance(r, str) else bytes(r) for r in records]
        if qtype == "MX":
            return [tuple(r) for r in records]
        return list(records)


def default_resolver() -> Resolver:
    """The stub zone when `RENKEI_DNS_STUB` names one (tests, demos), else real DNS."""
    stub = os.environ.get(STUB_ENV, "")
    return StubResolver(Path(stub)) if stub else DnsPythonResolver()


class _Lookups:
    """One mail's lookups: one time budget for them all, and whether any failed for a
    reason that says nothing of the sender (the libraries turn such errors into a
    `temperror` or a plain `fail`; the flag is what we go by)."""

    def __init__(self, resolver: Resolver, budget: float) -> None:
        self.resolver = resolver
        self.deadline = time.monotonic() + budget
        self.failed: str | None = None

    def __call__(self, name: str | bytes, qtype: str) -> list[Any]:
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        name = name.rstrip(".")
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise DnsTemporaryError(f"{qtype} {name}: DNS time budget spent")
            return self.resolver(name, qtype, left)
        except DnsTemporaryError as exc:
            self.failed = self.failed or str(exc)
            raise

    def dkim_txt(self, name: str | bytes, timeout: float = 5) -> bytes | None:
        """dkimpy's lookup: the key record's text."""
        try:
            records = self(name, "TXT")
        except DnsTemporaryError:
            return None
        return records[0] if records else None

    def dmarc_txt(self, name: str | bytes, *_: object) -> str | None:
        """authheaders' lookup for a test resolver: the one text, unquoted."""
        try:
            records = self(name, "TXT")
        except DnsTemporaryError:
            return None
        texts = [r.decode("utf-8", "replace") for r in records]
        dmarc = [t for t in texts if t.startswith("v=DMARC1")]
        return (dmarc or texts or [None])[0]


class _SpfQuery(spf.query):
    """pyspf's query with its DNS through our lookups (pyspf has no hook of its own)."""

    def __init__(self, lookups: _Lookups, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lookups = lookups

    def dns(self, name: Any, qtype: str, cnames: Any = None, ignore_void: bool = False) -> list:
        name = str(name).rstrip(".").lower()
        if not name or qtype not in QUERY_TYPES:
            return []
        key = (name, qtype)
        if key in self.cache:
            return self.cache[key]
        try:
            found = self._lookups(name, qtype)
        except DnsTemporaryError as exc:
            raise spf.TempError(f"DNS {exc}") from None
        if qtype == "TXT":
            found = [(r,) for r in found]  # pyspf joins a record's strings itself
        self.cache[key] = found
        if not found and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return found


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the door found: the results, and the Authentication-Results value."""

    header: str  # RFC 8601 value: "renkei; spf=pass smtp.mailfrom=…; dkim=pass …"
    spf: str  # pass fail softfail neutral none temperror permerror
    dkim: str  # pass fail none
    dkim_domain: str  # d= of the passing signature (aligned first), else of the first
    dmarc: str  # pass fail none (none: the From domain publishes no policy)
    from_domain: str
    mail_from_domain: str

    @property
    def aligned(self) -> bool:
        """DKIM or SPF passes for the header From's domain (DMARC alignment): the
        domain's own DMARC verdict when it publishes one, else relaxed alignment."""
        if self.dmarc in ("pass", "fail"):
            return self.dmarc == "pass"
        if not self.from_domain:
            return False
        dkim_ok = self.dkim == "pass" and _same_org(self.dkim_domain, self.from_domain)
        spf_ok = self.spf == "pass" and _same_org(self.mail_from_domain, self.from_domain)
        return dkim_ok or spf_ok

    @property
    def refusal_code(self) -> str:
        """The enhanced code of a refusal (RFC 7372): 5.7.23 when SPF failed and the
        mail has no DKIM signature, else 5.7.26."""
        if self.dkim == "none" and self.spf in ("fail", "softfail", "permerror"):
            return "5.7.23"
        return "5.7.26"


def evaluate(
    raw: bytes,
    peer_ip: str,
    mail_from: str,
    helo: str,
    authserv_id: str,
    resolver: Resolver | None = None,
    budget: float = DNS_BUDGET,
) -> Verdict:
    """SPF, DKIM and DMARC of one mail as received. Raises DnsTemporaryError when any
    lookup timed out or failed: a verdict we could not reach is never a pass."""
    lookups = _Lookups(resolver or default_resolver(), budget)
    helo = helo or "unknown"
    mail_from = mail_from.strip("<>")
    spf_result = _spf(lookups, _ip(peer_ip), mail_from or f"postmaster@{helo}", helo, budget)
    from_domain = _from_domain(raw)
    dkim_result, dkim_domain, dkim_i = _dkim(lookups, raw, from_domain)
    if lookups.failed:
        raise DnsTemporaryError(lookups.failed)
    spf_part = SPFAuthenticationResult(
        result=spf_result, smtp_mailfrom=mail_from or None, smtp_helo=None if mail_from else helo
    )
    dkim_part = DKIMAuthenticationResult(
        result=dkim_result, header_d=dkim_domain or None, header_i=dkim_i or None
    )
    # check_dmarc rewrites the SPF result's mailfrom to its domain: give it copies.
    for_dmarc_spf = SPFAuthenticationResult(result=spf_result, smtp_mailfrom=mail_from)
    for_dmarc_dkim = DKIMAuthenticationResult(result=dkim_result, header_d=dkim_domain)
    dmarc_part = check_dmarc(raw, for_dmarc_spf, for_dmarc_dkim, dnsfunc=lookups.dmarc_txt)
    if lookups.failed:
        raise DnsTemporaryError(lookups.failed)
    header = str(
        AuthenticationResultsHeader(
            authserv_id=authserv_id, results=[spf_part, dkim_part, dmarc_part]
        )
    )
    value = header.split(":", 1)[1].strip()
    return Verdict(
        header=" ".join(value.split()),
        spf=spf_result,
        dkim=dkim_result,
        dkim_domain=dkim_domain,
        dmarc=str(dmarc_part.result or "none"),
        from_domain=from_domain,
        mail_from_domain=(mail_from or helo).rpartition("@")[2].lower(),
    )


def network_allowed(peer_ip: str, networks: Sequence[str]) -> bool:
    """Whether `peer_ip` is in one of `networks` (CIDRs); an empty list allows all."""
    if not networks:
        return True
    try:
        address = _ip_address(peer_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def _spf(lookups: _Lookups, ip: str, sender: str, helo: str, budget: float) -> str:
    if not ip:
        return "none"
    try:
        query = _SpfQuery(lookups, i=ip, s=sender, h=helo, querytime=budget)
        result, _code, _reason = query.check()
    except spf.TempError:  # query.check() says temperror itself; this is a safety net
        return "temperror"
    return str(result)


def _dkim(lookups: _Lookups, raw: bytes, from_domain: str) -> tuple[str, str, str]:
    """pass (some signature verifies), fail, or none (no signature); the d= and i=.

    The first passing signature aligned with the From domain (relaxed: the same
    organizational domain), else the first passing one: DMARC is given this one only,
    and an ESP or a list that signs too puts its own signature above the author's."""
    try:
        headers, _ = dkim.rfc822_parse(raw)
    except dkim.DKIMException:
        return "none", "", ""
    count = sum(1 for name, _ in headers if name.lower() == b"dkim-signature")
    if not count:
        return "none", "", ""
    first = passed = ("", "")
    for idx in range(count):
        signer = dkim.DKIM(raw)
        try:
            ok = signer.verify(idx=idx, dnsfunc=lookups.dkim_txt)
        except Exception:  # a malformed signature or key is a failed signature
            ok = False
        fields = signer.signature_fields or {}
        d = fields.get(b"d", b"").decode("ascii", "replace").lower()
        i = fields.get(b"i", b"").decode("ascii", "replace")
        if ok and _same_org(d, from_domain):
            return "pass", d, i
        if ok and not passed[0]:
            passed = (d, i)
        first = first if first[0] else (d, i)
    return ("pass", *passed) if passed[0] else ("fail", *first)


def _from_domain(raw: bytes) -> str:
    try:
        headers, _ = dkim.rfc822_parse(raw)
    except dkim.DKIMException:
        return ""
    values = [v.decode("utf-8", "replace") for n, v in headers if n.lower() == b"from"]
    addresses = [a for _, a in getaddresses(values) if "@" in a]
    return addresses[0].rpartition("@")[2].lower() if addresses else ""


def _same_org(a: str, b: str) -> bool:
    if not a or not b:
        return False
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    return a == b or _registrable(a) == _registrable(b)


def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(text.strip("[]"))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _ip(text: str) -> str:
    try:
        return str(_ip_address(text))
    except ValueError:
        return ""
