"""Encrypted transport against the real daemon, with a CA and certificate made here:
SMTP STARTTLS (and its refusal before, with smtp.require_tls), FTPS required, HTTPS,
and report mail that goes to the relay only inside verified TLS, the login with it."""

from __future__ import annotations

import contextlib
import datetime as dt
import ftplib
import io
import ipaddress
import smtplib
import ssl
import time
from email import policy
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from daemon.settings import ConfigError, check_warnings, parse
from tests.support import (
    Daemon,
    Relay,
    account,
    csv_bytes,
    free_port,
    mail,
    queued_ids,
    quiet_ftp_schedule,
    renkei,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}
RELAY_USER, RELAY_PASSWORD = "renkei-relay", "s3cret-relay-pw"


# -- a private CA and the certificate it signs for 127.0.0.1 ---------------------------


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): the server's certificate names 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("renkei test CA"))
        .issuer_name(_name("renkei test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


# -- relays: one with STARTTLS and AUTH, one that offers neither TLS nor safety -------


class WatchedRelay(Relay):
    """A relay that also notes every MAIL and every AUTH it sees, and whether the
    session was in TLS at that moment."""

    def __init__(self, tls: ssl.SSLContext | None, implicit: bool = False) -> None:
        super().__init__()
        self.tls = tls
        self.implicit = implicit  # TLS from the first byte (SMTPS), not STARTTLS
        self.mails: list[bool] = []  # per MAIL: in TLS?
        self.logins: list[tuple[str, str, bool]] = []  # user, password, in TLS?

    @staticmethod
    def in_tls(server, session) -> bool:
        # aiosmtpd sets session.ssl after STARTTLS only; implicit TLS is the transport's.
        return session.ssl is not None or bool(server.transport.get_extra_info("sslcontext"))

    async def handle_MAIL(self, server, session, envelope, address, options) -> str:
        with self._lock:
            self.mails.append(self.in_tls(server, session))
        envelope.mail_from = address
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        user, password = auth_data.login.decode(), auth_data.password.decode()
        with self._lock:
            self.logins.append((user, password, self.in_tls(server, session)))
        return AuthResult(success=(user, password) == (RELAY_USER, RELAY_PASSWORD))

    def start(self) -> None:
        params: dict[str, Any] = {"authenticator": self.authenticate}
        if self.implicit:
            # aiosmtpd's auth_require_tls knows STARTTLS only; here all of it is in TLS.
            params |= {"ssl_context": self.tls, "auth_require_tls": False}
        elif self.tls is not None:
            params |= {"tls_context": self.tls, "auth_require_tls": True}
        else:
            # Offers AUTH in clear: the daemon must still never use it.
            params |= {"auth_require_tls": False}
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **params)
        self.controller.start()


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


# -- the daemon: every listener on TLS, each required ---------------------------------


def _ftp_account(name: str) -> str:
    return (
        f'[accounts.{name}.ftp]\nuser = "{name}"\npassword = "demo-{name}-ftp"\n'
        + quiet_ftp_schedule()
    )


def tls_config(folder: Path, relay_port: int, report: str, pki, ftp_port: int = 0) -> Path:
    ca, cert, key = pki
    config = write_config(
        folder, account("acme") + _ftp_account("acme"), extra=report, relay_port=relay_port
    )
    text = config.read_text()
    text = text.replace(
        "max_connections_per_address = 3\n",
        f'max_connections_per_address = 3\ntls_cert = "{cert}"\ntls_key = "{key}"\n'
        "require_tls = true\n",
        1,
    )
    if ftp_port:
        low = free_port()
        text = text.replace(
            "[ftp]\nenabled = false",
            f'[ftp]\nlisten = "127.0.0.1:{ftp_port}"\npassive_ports = "{low}-{low}"\n'
            f'tls_cert = "{cert}"\ntls_key = "{key}"\nrequire_tls = true',
        )
    text = text.replace(
        'admin_token = "demo-admin"\n',
        f'admin_token = "demo-admin"\ntls_cert = "{cert}"\ntls_key = "{key}"\n',
        1,
    )
    config.write_text(text)
    return config


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_relay(pki):
    relay = WatchedRelay(_server_tls(pki[1], pki[2]))
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory, pki, tls_relay):
    folder = tmp_path_factory.mktemp("tls")
    report = (
        f'tls = "required"\ntls_ca = "{pki[0]}"\n'
        f'user = "{RELAY_USER}"\npassword = "env:RENKEI_RELAY_PASSWORD"\n'
    )
    port = free_port()
    config = tls_config(folder, tls_relay.port, report, pki, ftp_port=port)
    d = Daemon(config, env={"RENKEI_RELAY_PASSWORD": RELAY_PASSWORD}).start()
    d.ftp_port = port
    d.https = f"https://127.0.0.1:{d.api_port}"
    yield d
    assert d.terminate() == 0
    assert RELAY_PASSWORD not in d.log.read_text()


def _data(note: str) -> bytes:
    return csv_bytes([f"1,2024/05/16,100,{note}"])


# -- SMTP ------------------------------------------------------------------------------


def test_mail_before_starttls_is_refused_with_530(daemon, pki):
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, reply = s.mail("export@acme.example")
        assert (code, reply.decode()) == (530, "5.7.0 Must issue a STARTTLS command first")
        s.starttls(context=trusting(pki[0]))
        s.ehlo()
        assert s.mail("export@acme.example")[0] == 250
    reply = httpx.get(
        f"{daemon.https}/api/v1/refusals", headers=ADMIN, verify=trusting(pki[0]), timeout=10
    )
    [refusal] = [r for r in reply.json()["refusals"] if r["reason"] == "tls_required"]
    assert (refusal["channel"], refusal["code"]) == ("mail", "530 5.7.0")


def test_mail_after_starttls_is_imported_and_reported_inside_tls(daemon, pki, tls_relay):
    [run_id] = send_in_tls(daemon, pki, "starttls")
    run = daemon.wait_run(run_id)
    assert run["state"] == "completed"
    [report] = tls_relay.for_recipient("sales@acme.example")
    assert report is not None
    # The report went inside TLS, after a login inside TLS; nothing ever in clear.
    assert tls_relay.mails and all(tls_relay.mails)
    assert (RELAY_USER, RELAY_PASSWORD, True) in tls_relay.logins
    assert all(in_tls for *_, in_tls in tls_relay.logins)
    deadline = time.monotonic() + 10
    while daemon.run(run["id"])["report_state"] != "sent" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemon.run(run["id"])["report_state"] == "sent"


def send_in_tls(daemon, pki, note: str) -> list[str]:
    """Mail a CSV inside STARTTLS; the ids of the runs it made."""
    msg = mail([("20240516.csv", _data(note))]).as_bytes(policy=policy.SMTP)
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s:
        s.starttls(context=trusting(pki[0]))
        assert s.sock.version() in ("TLSv1.2", "TLSv1.3")
        s.ehlo()
        assert s.mail("export@acme.example")[0] == 250
        assert s.rcpt("acme@in.example.jp")[0] == 250
        code, reply = s.data(msg)
    assert code == 250, reply
    return queued_ids(reply)


# -- FTPS ------------------------------------------------------------------------------


def test_ftp_login_in_clear_is_refused(daemon):
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        with pytest.raises(ftplib.error_perm, match="^530 Use AUTH TLS first"):
            ftp.login("acme", "demo-acme-ftp")


def test_ftps_upload_needs_prot_p_and_is_imported(daemon, pki):
    with ftplib.FTP_TLS(context=trusting(pki[0])) as ftp:
        ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
        ftp.login("acme", "demo-acme-ftp")  # AUTH TLS first
        with pytest.raises(ftplib.error_perm, match="^534 "):
            ftp.storbinary("STOR 20240516.csv", io.BytesIO(_data("clear")))
        ftp.prot_p()
        reply = ftp.storbinary("STOR 20240516.csv", io.BytesIO(_data("ftps")))
        assert reply.startswith("226")
    # `renkei poll` reaches its daemon over HTTPS, trusting the daemon's own certificate.
    out = renkei(
        "poll", "--config", str(daemon.config), "acme",
        env={"RENKEI_RELAY_PASSWORD": RELAY_PASSWORD}, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # The poll names the run it spooled; the store records it once the importer takes it.
    run_id = out.stdout.splitlines()[1].split()[0]
    assert daemon.wait_run(run_id)["state"] == "completed"
    rows = daemon.query("SELECT id FROM runs WHERE channel = 'ftp' AND account = 'acme'")
    assert rows == [(run_id,)]


# -- HTTPS -----------------------------------------------------------------------------


def test_http_listener_serves_https_only(daemon, pki):
    reply = httpx.get(f"{daemon.https}/healthz", verify=trusting(pki[0]), timeout=10)
    assert reply.status_code == 200
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{daemon.api_port}/healthz", timeout=5)


# -- a relay without STARTTLS ----------------------------------------------------------


@contextlib.contextmanager
def imported_beside(relay: WatchedRelay, tmp_path: Path, pki, report: str, note: str):
    """A daemon reporting to `relay` with `[report]` lines `report`, and the run of one
    file it imported and is to report on: (daemon, run id)."""
    relay.start()
    login = f'user = "{RELAY_USER}"\npassword = "{RELAY_PASSWORD}"\n'
    daemon = Daemon(tls_config(tmp_path, relay.port, report + login, pki)).start()
    try:
        [run_id] = send_in_tls(daemon, pki, note)
        assert daemon.wait_run(run_id)["state"] == "completed"
        yield daemon, run_id
    finally:
        daemon.terminate()
        relay.stop()


def wait_in_log(daemon: Daemon, text: str, count: int = 1) -> None:
    deadline = time.monotonic() + 15
    while daemon.log.read_text().count(text) < count:
        assert time.monotonic() < deadline, daemon.log.read_text()[-2000:]
        time.sleep(0.1)


def test_report_waits_when_the_relay_strips_starttls(tmp_path, pki):
    relay = WatchedRelay(None)  # offers AUTH, in clear, and no STARTTLS
    report = f'tls = "required"\ntls_ca = "{pki[0]}"\n'
    with imported_beside(relay, tmp_path, pki, report, "stripped") as (daemon, run_id):
        # retry_seconds = 0.5, max 1: a few attempts come and fail meanwhile.
        wait_in_log(daemon, "STARTTLS extension not supported", 2)
        assert daemon.run(run_id)["report_state"] == "queued"
        assert (daemon.data_dir / "outbox" / f"{run_id}.eml").exists()
        assert relay.messages == [] and relay.mails == [] and relay.logins == []
        assert RELAY_PASSWORD not in daemon.log.read_text()


# -- a relay on implicit TLS (SMTPS) ---------------------------------------------------


def test_report_goes_to_an_implicit_tls_relay_with_its_login(tmp_path, pki):
    relay = WatchedRelay(_server_tls(pki[1], pki[2]), implicit=True)
    report = f'tls = "implicit"\ntls_ca = "{pki[0]}"\n'
    with imported_beside(relay, tmp_path, pki, report, "smtps") as (daemon, run_id):
        [report_mail] = relay.wait()
        assert report_mail["To"] == "sales@acme.example"
        assert relay.mails == [True]  # the MAIL, and the login before it, inside TLS
        assert relay.logins == [(RELAY_USER, RELAY_PASSWORD, True)]
        deadline = time.monotonic() + 10
        while daemon.run(run_id)["report_state"] != "sent" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert daemon.run(run_id)["report_state"] == "sent"


def test_an_implicit_tls_relay_with_an_untrusted_certificate_gets_nothing(tmp_path, pki):
    relay = WatchedRelay(_server_tls(pki[1], pki[2]), implicit=True)
    # No tls_ca: the system's CAs do not know this test CA.
    with imported_beside(relay, tmp_path, pki, 'tls = "implicit"\n', "untrusted") as (
        daemon,
        run_id,
    ):
        wait_in_log(daemon, "CERTIFICATE_VERIFY_FAILED")
        assert daemon.run(run_id)["report_state"] == "queued"
        assert relay.messages == [] and relay.mails == [] and relay.logins == []


# -- config checks ---------------------------------------------------------------------


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    return [str(p) for p in info.value.problems]


def test_tls_asked_for_without_a_certificate_and_logins_in_clear_are_refused(tmp_path):
    found = _problems(
        {
            "smtp": {"require_tls": True},
            "ftp": {"require_tls": True},
            "api": {"tls_key": "k.pem"},
            "report": {"user": "u", "password": "env:RENKEI_TLS_TEST_UNSET"},
        }
    )
    assert "smtp.require_tls: requiring TLS needs smtp.tls_cert (a certificate)" in found
    assert "ftp.require_tls: requiring TLS needs ftp.tls_cert (a certificate)" in found
    assert any(p.startswith("api.tls_key: a key alone") for p in found)
    assert any(
        p.startswith('report.user: a relay login needs report.tls = "required" or "implicit"')
        for p in found
    )
    assert "report.password: environment variable RENKEI_TLS_TEST_UNSET is not set" in found
    missing = _problems({"smtp": {"tls_cert": str(tmp_path / "none.pem")}})
    assert len(missing) == 1 and missing[0].startswith("smtp.tls_cert: the certificate")


def test_relay_password_is_never_in_the_settings_repr(pki):
    settings = parse({"report": {"tls": "required", "user": "u", "password": "hush-hush"}})
    assert "hush-hush" not in repr(settings)


def test_no_auth_is_offered_after_starttls_and_a_failed_handshake_logs_no_traceback(daemon, pki):
    """aiosmtpd offered AUTH LOGIN PLAIN inside TLS, with nothing to log in to: a mailer
    set to log in where offered failed every mail (535). A client that gave up on the
    handshake (our certificate untrusted) left an ERROR and a traceback in the log."""
    with smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s:
        s.starttls(context=trusting(pki[0]))
        s.ehlo()
        assert not s.has_extn("auth"), s.esmtp_features
    logged = daemon.log.stat().st_size
    untrusting = ssl.create_default_context()  # the system's CAs: ours is not among them
    with (
        smtplib.SMTP("127.0.0.1", daemon.smtp_port, timeout=10) as s,
        pytest.raises(ssl.SSLError),
    ):
        s.starttls(context=untrusting)
    deadline = time.monotonic() + 10

    def since() -> str:  # a byte offset: the log's Japanese lines are longer in bytes
        return daemon.log.read_bytes()[logged:].decode("utf-8", "replace")

    while "STARTTLS handshake failed" not in since():
        assert time.monotonic() < deadline, since()
        time.sleep(0.05)
    said = since()
    assert "Traceback" not in said and "ERROR" not in said, said


def _certificate(folder: Path, days: int, name: str = "c") -> tuple[Path, Path]:
    """A self-signed certificate ending `days` from now (past, when negative), its key."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(_name("127.0.0.1"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    paths = folder / f"{name}.pem", folder / f"{name}.key"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(_pem_key(key))
    paths[1].chmod(0o600)
    return paths


def test_certificate_trouble_is_said_as_what_it_is(tmp_path):
    """A key of another certificate was 'system error ESTALE', a file of no PEM 'system
    error 524297', an encrypted key a Python tuple; an expired certificate passed."""
    cert, key = _certificate(tmp_path, 300)
    _, other_key = _certificate(tmp_path, 300, "other")
    [mismatch] = _problems({"api": {"tls_cert": str(cert), "tls_key": str(other_key)}})
    assert mismatch == (
        "api.tls_cert: the certificate, key or CA file cannot be used: the key is not this"
        " certificate's (tls_key and tls_cert are no pair)"
    )
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    [not_pem] = _problems({"api": {"tls_cert": str(garbage)}})
    assert not_pem.endswith("not readable as a PEM certificate or key (an empty file,"
                            " another format, or the certificate and the key swapped)")  # fmt: skip
    expired, expired_key = _certificate(tmp_path, -3, "expired")
    settings = parse({"api": {"tls_cert": str(expired), "tls_key": str(expired_key)}})
    [warning] = [str(w) for w in check_warnings(settings) if "tls" in w.where]
    assert warning.startswith(f"api.tls_cert: the certificate {expired} expired on ")
    soon, soon_key = _certificate(tmp_path, 10, "soon")
    soon_key.chmod(0o644)
    settings = parse({"ftp": {"tls_cert": str(soon), "tls_key": str(soon_key)}})
    warnings = [str(w) for w in check_warnings(settings) if "tls" in w.where]
    assert warnings[0].startswith(f"ftp.tls_cert: the certificate {soon} expires in 9 days")
    assert warnings[1] == (
        f"ftp.tls_key: the key {soon_key} is readable by other users (mode 0644): close it"
        f" with chmod 600 {soon_key}"
    )
