"""FTP intake against the real daemon: uploads with ftplib and curl, checks by poll."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import ftplib
import io
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import (
    Daemon,
    account,
    csv_bytes,
    ftp_served,
    mail,
    queued_ids,
    renkei,
    send,
    stor_reply,
    wait_for,
    write_config,
)

ADMIN = {"Authorization": "Bearer demo-admin"}


def quiet_weekday() -> str:
    """A weekday three days from today in Tokyo: no scheduled tick during the test."""
    today = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo")).weekday()
    return ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(today + 3) % 7]


def ftp_section(name: str, password: str, **keys) -> str:
    keys = {"weekdays": [quiet_weekday()], "window": "09:00-18:00", "interval": "2h", **keys}
    lines = [f"[accounts.{name}.ftp]", f'user = "{name}"', f'password = "{password}"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in keys.items()]
    return "\n".join(lines) + "\n"


def ftp_config(
    tmp_path, extra_accounts: str = "", extra: str = "", passive_ports: int = 1
) -> tuple:
    accounts = (
        account("acme")
        + ftp_section("acme", "demo-acme-ftp")
        + account("small")
        + ftp_section("small", "demo-small")
        + "[accounts.small.limits]\nmax_bytes = 1000\n"
        + account("halted", status="stopped")
        + ftp_section("halted", "demo-halted")
        + extra_accounts
    )
    config = write_config(tmp_path, accounts)
    door = "max_login_failures = 4\nban_minutes = 1" + (f"\n{extra}" if extra else "")
    return config, ftp_served(config, door, passive_ports)


def ftp_daemon(folder: Path) -> Iterator[Daemon]:
    """A daemon serving FTP (its port as `ftp_port`) for a module's tests."""
    config, port = ftp_config(folder)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    yield from ftp_daemon(tmp_path_factory.mktemp("ftp"))


def login(daemon, user="acme", password="demo-acme-ftp") -> ftplib.FTP:
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    ftp.login(user, password)
    return ftp


def poll(daemon, name="acme") -> httpx.Response:
    return httpx.post(f"{daemon.api}/api/v1/accounts/{name}/poll", headers=ADMIN, timeout=30)


def home(daemon, name="acme"):
    return daemon.data_dir / "ftp" / name


def test_upload_is_taken_only_at_the_check_and_once(daemon):
    data = csv_bytes(["1,2024/05/16,10,①", "2,2024/05/16,20,②"])
    with login(daemon) as ftp:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)
        assert ftp.storbinary("STOR 20240516.csv", io.BytesIO(data)).startswith("226")
        after = dt.datetime.now(dt.UTC) + dt.timedelta(milliseconds=1)
    assert (home(daemon) / "20240516.csv").read_bytes() == data
    time.sleep(1.0)
    assert daemon.query("SELECT count(*) FROM runs WHERE channel = 'ftp'") == [(0,)]
    checked = dt.datetime.now(dt.UTC)
    reply = poll(daemon)
    assert reply.status_code == 200
    [run] = reply.json()["runs"]
    done = daemon.wait_run(run["id"])
    assert (done["state"], done["channel"], done["sender"], done["rows_imported"]) == (
        "completed",
        "ftp",
        "acme",
        2,
    )
    # Received at its 226, not at the check a second later.
    received = dt.datetime.fromisoformat(done["received_at"])
    assert before <= received <= after < checked, (before, received, after)
    assert not list(home(daemon).iterdir())
    assert poll(daemon).json()["runs"] == []


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_curl_upload_and_renkei_poll(daemon, tmp_path):
    source = tmp_path / "20240517.csv"
    source.write_bytes(csv_bytes(["3,2024/05/17,30,curl"]))
    subprocess.run(
        [
            "curl",
            "-s",
            "-T",
            str(source),
            f"ftp://127.0.0.1:{daemon.ftp_port}/",
            "--user",
            "acme:demo-acme-ftp",
        ],
        check=True,
        timeout=30,
    )
    result = renkei("poll", "acme", "--config", str(daemon.config), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "acme: 1 件のファイルを取り込みに回しました" in result.stdout
    run_id = result.stdout.splitlines()[1].split()[0]
    assert daemon.wait_run(run_id)["state"] == "completed"


def test_renkei_poll_asks_of_the_account_it_names_alone(daemon):
    """The name went into the path as it was: `x/../acme` polled acme, `shop#1` asked
    of `shop`."""
    for name in ("x/../acme", "acme#1"):
        result = renkei("poll", name, "--config", str(daemon.config), timeout=60)
        assert result.returncode == 1, (name, result.stdout)
        assert name in result.stderr and "取り込みに回しました" not in result.stdout, result.stderr


def test_bad_name_gets_553_with_the_rule(daemon):
    with login(daemon) as ftp, pytest.raises(ftplib.error_perm) as info:
        ftp.storbinary("STOR 20230229.csv", io.BytesIO(b"x"))
    assert str(info.value).startswith("553") and "YYYYMMDD.csv" in str(info.value)
    assert not list(home(daemon).iterdir())


def test_upload_over_max_bytes_is_cut_off_with_552(daemon):
    big = csv_bytes([f"{i},2024/05/16,{i},{'x' * 50}" for i in range(200)])
    with login(daemon, "small", "demo-small") as ftp:
        assert stor_reply(ftp, "20240516.csv", big).startswith("552")
    assert not list(home(daemon, "small").iterdir())


def test_reset_mid_upload_is_removed_and_never_imported(daemon):
    with login(daemon) as ftp:
        conn = ftp.transfercmd("STOR 20240518.csv")
        conn.sendall(csv_bytes(["1,2024/05/18,1,a"] * 50)[:700])
        time.sleep(0.2)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # RST: the server knows the upload was cut
        with pytest.raises(ftplib.Error):
            ftp.voidresp()
    time.sleep(0.3)
    assert not list(home(daemon).iterdir())
    assert poll(daemon).json()["runs"] == []


def test_upload_cut_without_the_server_knowing_fails_as_truncated(daemon):
    data = csv_bytes(["1,2024/05/19,1,complete", '2,2024/05/19,2,"cut in the mid'])
    with login(daemon) as ftp:
        ftp.storbinary("STOR 20240519.csv", io.BytesIO(data[:-3]))
    [run] = poll(daemon).json()["runs"]
    done = daemon.wait_run(run["id"])
    assert done["state"] == "failed" and "途中で切れています" in done["message"]


def test_slow_upload_is_taken_at_the_check_after_it_completes(daemon):
    data = csv_bytes([f"{i},2024/05/20,{i},slow" for i in range(100)])
    with login(daemon) as ftp:
        conn = ftp.transfercmd("STOR 20240520.csv")
        conn.sendall(data[: len(data) // 2])
        assert poll(daemon).json()["runs"] == []  # still being written: not taken
        conn.sendall(data[len(data) // 2 :])
        conn.close()
        assert ftp.voidresp().startswith("226")
    [run] = poll(daemon).json()["runs"]
    assert daemon.wait_run(run["id"])["rows_imported"] == 100


def test_stopped_account_may_upload_but_poll_answers_409_and_files_stay(daemon):
    with login(daemon, "halted", "demo-halted") as ftp:
        ftp.storbinary("STOR 20240516.csv", io.BytesIO(b"a\r\n"))
    reply = poll(daemon, "halted")
    assert reply.status_code == 409 and reply.json()["error"] == "account_stopped"
    assert (home(daemon, "halted") / "20240516.csv").exists()


def test_four_bad_passwords_then_the_address_is_refused(tmp_path):
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    try:
        for _ in range(4):
            with pytest.raises(ftplib.error_perm):
                login(daemon, "acme", "wrong")
        with pytest.raises((ftplib.error_temp, EOFError, ConnectionError)) as info:
            login(daemon)  # even the right password is refused now
        assert "421" in str(info.value) or isinstance(info.value, EOFError | ConnectionError)
    finally:
        daemon.terminate()


def test_a_tick_missed_while_down_runs_once_at_start(tmp_path):
    now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if to_midnight < 120:  # the window below closes at 23:59: no check may run then
        time.sleep(to_midnight + 2)
        now = dt.datetime.now(zoneinfo.ZoneInfo("Asia/Tokyo"))
    day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][now.weekday()]
    extra = account("early") + ftp_section(
        "early", "demo-early", weekdays=[day], window="00:00-23:59", interval="2h"
    )
    config, port = ftp_config(tmp_path, extra)
    folder = tmp_path / "var" / "ftp" / "early"
    folder.mkdir(parents=True)
    (folder / "20240521.csv").write_bytes(csv_bytes(["7,2024/05/21,7,missed"]))
    daemon = Daemon(config).start()
    try:
        deadline = time.monotonic() + 15
        while not daemon.query("SELECT id FROM runs WHERE account = 'early'"):
            assert time.monotonic() < deadline, "the missed tick did not run"
            time.sleep(0.1)
        [(run_id,)] = daemon.query("SELECT id FROM runs WHERE account = 'early'")
        assert daemon.wait_run(run_id)["state"] == "completed"
    finally:
        daemon.terminate()


def self_signed(folder) -> tuple:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "ftp.crt", folder / "ftp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_explicit_ftps_upload_when_a_certificate_is_configured(tmp_path):
    import ssl

    config, port = ftp_config(tmp_path)
    cert, key = self_signed(tmp_path)
    config.write_text(
        config.read_text().replace(
            "max_login_failures = 4",
            f'max_login_failures = 4\ntls_cert = "{cert}"\ntls_key = "{key}"',
        )
    )
    daemon = Daemon(config).start()
    try:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with ftplib.FTP_TLS(context=context) as ftp:
            ftp.connect("127.0.0.1", port, timeout=10)
            ftp.login("acme", "demo-acme-ftp")  # AUTH TLS first
            ftp.prot_p()
            data = csv_bytes(["1,2024/05/16,1,tls"])
            assert ftp.storbinary("STOR 20240516.csv", io.BytesIO(data)).startswith("226")
        reply = httpx.post(f"{daemon.api}/api/v1/accounts/acme/poll", headers=ADMIN, timeout=30)
        [run] = reply.json()["runs"]
        assert daemon.wait_run(run["id"])["state"] == "completed"
    finally:
        daemon.terminate()


def test_connections_over_the_per_address_limit_are_refused(daemon):
    held = [login(daemon) for _ in range(5)]
    try:
        with pytest.raises((ftplib.error_temp, EOFError, ConnectionError)):
            login(daemon)
    finally:
        for ftp in held:
            ftp.close()


def test_max_connections_counts_sessions_not_their_data_connections(tmp_path):
    """ftp.max_connections sessions at once, each with an upload's data connection open
    (and the server's own sockets beside them): one more session is told 421, and the
    two uploads end with 226."""
    config, port = ftp_config(tmp_path, extra="max_connections = 2", passive_ports=4)
    d = Daemon(config).start()
    d.ftp_port = port
    sessions: list[tuple[ftplib.FTP, socket.socket]] = []
    try:
        for n in range(2):
            ftp = login(d)
            sessions.append((ftp, ftp.transfercmd(f"STOR 2024051{n}.csv")))
        third = ftplib.FTP()
        with pytest.raises(ftplib.error_temp, match="^421"):
            third.connect("127.0.0.1", port, timeout=10)
        for n, (ftp, conn) in enumerate(sessions):
            conn.sendall(csv_bytes([f"{n},2024/05/16,1,x"]))
            conn.close()
            assert ftp.voidresp().startswith("226")
        assert sorted(p.name for p in home(d).iterdir()) == ["20240510.csv", "20240511.csv"]
    finally:
        for ftp, conn in sessions:
            conn.close()
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.quit()
        assert d.terminate() == 0


def two_sessions(tmp_path) -> tuple[Daemon, ftplib.FTP, ftplib.FTP]:
    """A daemon with its FTP door, and a session of acme's and one of small's: with
    another session served, acme's disk work goes to the server's pool."""
    config, port = ftp_config(tmp_path, passive_ports=4)
    d = Daemon(config).start()
    d.ftp_port = port
    return d, login(d), login(d, "small", "demo-small")


@contextlib.contextmanager
def held_home(daemon, name: str = "acme") -> Iterator[Callable[[], None]]:
    """The account's home flocked, as another instance's check holds it: an upload
    finished meanwhile waits, in the pool beside the I/O thread, to be made durable.
    Yields the release."""
    fd = os.open(home(daemon, name), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield lambda: fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def test_a_home_held_by_another_instance_holds_up_no_other_accounts_upload(tmp_path):
    """Another instance's check holds acme's home (its flock, taken here): acme's upload
    waits for it, made durable beside the I/O thread, while another account's session
    uploads and hears its 226; acme then hears its own."""
    d, acme, small = two_sessions(tmp_path)
    replies: list[str] = []
    data = csv_bytes(["1,2024/05/16,1,x"])
    try:
        with held_home(d) as release:
            waiting = threading.Thread(
                target=lambda: replies.append(
                    acme.storbinary("STOR 20240516.csv", io.BytesIO(data))
                )
            )
            waiting.start()
            time.sleep(0.5)  # acme's data is in, its publish waits for the home
            assert small.storbinary("STOR 20240517.csv", io.BytesIO(data)).startswith("226")
            assert waiting.is_alive() and replies == []
            release()
            waiting.join(10)
        assert replies and replies[0].startswith("226")
        assert [p.name for p in home(d).iterdir()] == ["20240516.csv"]
        assert [p.name for p in home(d, "small").iterdir()] == ["20240517.csv"]
    finally:
        for ftp in (acme, small):
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.quit()
        assert d.terminate() == 0


def test_an_upload_whose_client_left_while_it_was_made_durable_is_kept(tmp_path):
    """The client sent its whole file, then left before the 226 while the upload was
    being made durable: the file is kept whole under its name, nothing is said to the
    closed session, and the door goes on serving every session."""
    d, acme, small = two_sessions(tmp_path)  # two: made durable aside
    data = csv_bytes(["1,2024/05/16,1,x"])
    logged = d.log.stat().st_size
    try:
        with held_home(d) as release:
            acme.voidcmd("TYPE I")
            conn = acme.transfercmd("STOR 20240516.csv")
            conn.sendall(data)
            conn.close()
            time.sleep(0.5)  # its data is in; the rename waits for the home
            acme.sock.close()  # gone before the 226
            time.sleep(0.5)
            assert not (home(d) / "20240516.csv").exists()
            release()
            wait_for(lambda: (home(d) / "20240516.csv").exists(), timeout=10, step=0.05)
        assert (home(d) / "20240516.csv").read_bytes() == data
        assert small.storbinary("STOR 20240517.csv", io.BytesIO(data)).startswith("226")
        with login(d) as again:
            assert again.storbinary("STOR 20240518.csv", io.BytesIO(data)).startswith("226")
        assert sorted(p.name for p in home(d).iterdir()) == ["20240516.csv", "20240518.csv"]
    finally:
        with contextlib.suppress(OSError, ftplib.Error):
            small.quit()
        assert d.terminate() == 0
    said = d.log.read_bytes()[logged:].decode(errors="replace")
    assert "Traceback" not in said and "ERROR" not in said, said


def test_a_stop_answers_an_upload_being_made_durable_before_it_closes_the_sessions(tmp_path):
    """A stop while an upload is being made durable: the upload is finished and its
    client hears the 226 before the door closes its session, and the daemon ends."""
    d, acme, small = two_sessions(tmp_path)
    replies: list[str] = []
    data = csv_bytes(["1,2024/05/16,1,x"])

    def upload() -> None:
        try:
            replies.append(acme.storbinary("STOR 20240516.csv", io.BytesIO(data)))
        except (ftplib.Error, OSError, EOFError) as exc:
            replies.append(repr(exc))

    try:
        with held_home(d) as release:
            waiting = threading.Thread(target=upload)
            waiting.start()
            time.sleep(0.5)  # its data is in; the rename waits for the home
            d.proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert waiting.is_alive() and replies == [] and d.proc.poll() is None
            release()
            waiting.join(10)
        assert replies and replies[0].startswith("226"), replies
        assert d.proc.wait(30) == 0
        assert (home(d) / "20240516.csv").read_bytes() == data
    finally:
        for ftp in (acme, small):
            with contextlib.suppress(OSError, ftplib.Error, EOFError):
                ftp.close()
        if d.proc.poll() is None:
            d.kill()
        d.notify.close()


@pytest.mark.parametrize(
    ("command", "left"),
    [("DELE 20240516.csv", []), ("RNTO 20240517.csv", ["20240517.csv"])],
)
def test_a_dele_or_rnto_waiting_for_its_home_holds_up_no_other_session(tmp_path, command, left):
    """A DELE or RNTO whose home another instance's check holds waits beside the I/O
    thread: another session uploads and hears its 226 meanwhile. The waiting session
    answers nothing more until it has answered that command, so a command sent right
    behind it is answered after it."""
    d, acme, small = two_sessions(tmp_path)
    data = csv_bytes(["1,2024/05/16,1,x"])
    try:
        assert acme.storbinary("STOR 20240516.csv", io.BytesIO(data)).startswith("226")
        if command.startswith("RNTO"):
            assert acme.sendcmd("RNFR 20240516.csv").startswith("350")
        with held_home(d) as release:
            acme.putcmd(command)
            acme.putcmd("NOOP")
            time.sleep(0.5)
            assert small.storbinary("STOR 20240518.csv", io.BytesIO(data)).startswith("226")
            assert select.select([acme.sock], [], [], 0.3)[0] == []  # nothing said yet
            release()
            assert acme.getresp().startswith("250")
            assert acme.getresp().startswith("200")
        assert sorted(p.name for p in home(d).iterdir()) == left
        assert [p.name for p in home(d, "small").iterdir()] == ["20240518.csv"]
    finally:
        for ftp in (acme, small):
            with contextlib.suppress(OSError, ftplib.Error):
                ftp.quit()
        assert d.terminate() == 0


def test_sessions_uploading_at_once_all_get_226_and_every_file_is_whole(tmp_path):
    # They share one narrow passive port range, where two sessions opening a port at
    # the same moment (each on a thread of its own, as sessions were) closed one of
    # them; and each upload is made durable while the others are served. One port per
    # session: with fewer, the last ones get 425 (a port outside the range was used).
    config, port = ftp_config(tmp_path, passive_ports=5)
    d = Daemon(config).start()
    d.ftp_port = port
    failures: list[str] = []

    def upload(session: int) -> None:
        try:
            with login(d) as ftp:
                for day in range(1, 13):
                    data = csv_bytes([f"{session},2024/05/{day:02d},{day},x"] * 2000)
                    reply = ftp.storbinary(
                        f"STOR 2024{session + 1:02d}{day:02d}.csv", io.BytesIO(data)
                    )
                    if not reply.startswith("226"):
                        failures.append(reply)
        except (ftplib.Error, OSError, EOFError) as exc:
            failures.append(repr(exc))

    try:
        threads = [threading.Thread(target=upload, args=(s,)) for s in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        names = sorted(p.name for p in home(d).iterdir())
        assert names == sorted(
            f"2024{s + 1:02d}{day:02d}.csv" for s in range(5) for day in range(1, 13)
        )
        for s in range(5):
            expected = csv_bytes([f"{s},2024/05/07,7,x"] * 2000)
            assert (home(d) / f"2024{s + 1:02d}07.csv").read_bytes() == expected
    finally:
        assert d.terminate() == 0


def test_a_japanese_rule_in_a_553_is_not_said_with_question_marks(tmp_path):
    """Before OPTS UTF8 ON a reply is ASCII: the rule `売上データ_{YYYYMMDD}.csv` read
    `?????_{YYYYMMDD}.csv`, and the same reply says `?` is any one character."""
    extra = account("uri", filename="売上データ_{YYYYMMDD}.csv") + ftp_section("uri", "demo-uri")
    config, port = ftp_config(tmp_path, extra_accounts=extra)
    d = Daemon(config).start()
    d.ftp_port = port
    try:
        with login(d, "uri", "demo-uri") as ftp, pytest.raises(ftplib.error_perm) as info:
            ftp.storbinary("STOR abcde_20240516.csv", io.BytesIO(b"x"))
        said = str(info.value)
        assert said.startswith("553") and "?????_" not in said, said
        assert "\\u58f2\\u4e0a\\u30c7\\u30fc\\u30bf_{YYYYMMDD}.csv" in said, said
    finally:
        d.terminate()


def test_an_upload_older_than_a_mail_of_its_name_does_not_replace_its_rows(daemon):
    """An upload waits in its home for the check; a mail of the same name sent after
    it was imported at once, and the check then put the older upload's rows over the
    mail's. The upload is received at its 226: older, it is recorded as ignored."""
    with login(daemon) as ftp:
        old = csv_bytes(["1,2024/06/11,10,ftp"])
        assert ftp.storbinary("STOR 20240611.csv", io.BytesIO(old)).startswith("226")
    time.sleep(0.05)
    new = mail([("20240611.csv", csv_bytes(["2,2024/06/11,20,mail"]))])
    _, code, reply = send(daemon.smtp_port, new)
    assert code == 250
    [mailed] = queued_ids(reply)
    assert daemon.wait_run(mailed)["state"] == "completed"
    [run] = poll(daemon).json()["runs"]
    done = daemon.wait_run(run["id"])
    assert done["state"] == "ignored" and mailed in done["message"], done
    rows = daemon.query(
        "SELECT member_no, note FROM performance WHERE _source_file = '20240611.csv'"
    )
    assert rows == [(2, "mail")]
