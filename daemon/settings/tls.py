"""TLS contexts made from the config's certificate, key and CA files.

Used by the listeners (smtp STARTTLS; the HTTP listener goes through uvicorn), the
report mail to the relay, the CLI talking to its own daemon, and the path checks, which
load each file once so that `renkei check` says what the listener would fail on.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def _no_passphrase() -> str:
    # An encrypted key would make OpenSSL prompt on the terminal: a daemon has none.
    raise ssl.SSLError("the key is encrypted; give it without a passphrase")


def server_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server context with the certificate chain `cert` and its key (in `cert` when
    `key` is None); TLS 1.2 at least."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key) if key else None, password=_no_passphrase)
    return context


def client_context(ca: Path | None) -> ssl.SSLContext:
    """A client context that verifies the server and its name: against the system's
    CAs, or only the CA file `ca` when given (a company's private CA)."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinned_context(cert: Path) -> ssl.SSLContext:
    """A client context that trusts exactly our own listener's certificate `cert`, on
    any name: how the CLI reaches its daemon on 127.0.0.1 whatever name the cert bears."""
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the leaf is the anchor
    return context
