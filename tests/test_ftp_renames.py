"""What an FTP client sees is what the check takes, against the real daemon: RNFR/RNTO
and DELE of a name whose uploads wait (held aside ones too), the order uploads of one
logical file under different names are taken in, and a CP932 name without UTF-8."""

from __future__ import annotations

import ftplib
import io
import time

import pytest

from tests.support import Daemon, account, csv_bytes
from tests.test_crash_more import read_only, unprivileged  # noqa: F401 (a fixture)
from tests.test_ftp import ftp_config, ftp_section, home, login, poll


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    staff = account("staff", filename=["employees*.csv", "売上_{YYYYMMDD}.csv"])
    config, port = ftp_config(
        tmp_path_factory.mktemp("ftp_renames"), staff + ftp_section("staff", "demo-staff")
    )
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


def one_row(day: str, note: str) -> bytes:
    return csv_bytes([f"1,2024/05/{day},1,{note}"])


def stor(ftp: ftplib.FTP, name: str, data: bytes) -> str:
    return ftp.storbinary(f"STOR {name}", io.BytesIO(data))


def taken(daemon, account_name: str = "acme") -> list[tuple[str, str]]:
    """Poll: each run's file name and state, in the order the check took them."""
    reply = poll(daemon, account_name)
    assert reply.status_code == 200, reply.text
    runs = [daemon.wait_run(run["id"]) for run in reply.json()["runs"]]
    return [(run["filename"], run["state"]) for run in runs]


def notes(daemon, where: str, *args: str) -> list[tuple[str]]:
    return daemon.query(f"SELECT note FROM performance WHERE {where} ORDER BY note", args)


def test_rnto_onto_a_waiting_name_keeps_both_uploads_in_order(daemon):
    with login(daemon) as ftp:
        assert stor(ftp, "20240517.csv", one_row("17", "first")).startswith("226")
        assert stor(ftp, "20240525.csv", one_row("25", "second")).startswith("226")
        assert ftp.sendcmd("RNFR 20240525.csv").startswith("350")
        assert ftp.sendcmd("RNTO 20240517.csv").startswith("250")
        assert ftp.nlst() == ["20240517.csv"]
    # The first upload, answered 226, is imported too, before the one renamed onto it.
    assert taken(daemon) == [("20240517.csv", "completed")] * 2
    assert notes(daemon, "_source_file = ?", "20240517.csv") == [("second",)]
    assert not list(home(daemon).iterdir())


def test_rnto_to_a_name_breaking_the_rule_gets_553_and_the_upload_stays(daemon):
    with login(daemon) as ftp:
        assert stor(ftp, "20240522.csv", one_row("22", "kept")).startswith("226")
        assert ftp.sendcmd("RNFR 20240522.csv").startswith("350")
        with pytest.raises(ftplib.error_perm) as info:
            ftp.sendcmd("RNTO foo.txt")
        assert str(info.value).startswith("553")
        assert "foo.txt" in str(info.value)
        # The RNFR is spent: an RNTO now has nothing to rename.
        with pytest.raises(ftplib.error_perm, match="^503"):
            ftp.sendcmd("RNTO 20240523.csv")
        assert ftp.nlst() == ["20240522.csv"]
    assert taken(daemon) == [("20240522.csv", "completed")]


def test_rename_to_a_free_valid_name_moves_every_upload_of_the_name(daemon):
    with login(daemon) as ftp:
        assert stor(ftp, "20240603.csv", one_row("03", "older")).startswith("226")
        assert stor(ftp, "20240603.csv", one_row("03", "newer")).startswith("226")
        assert ftp.sendcmd("RNFR 20240603.csv").startswith("350")
        assert ftp.sendcmd("RNTO 20240604.csv").startswith("250")
        assert ftp.nlst() == ["20240604.csv"]
    assert taken(daemon) == [("20240604.csv", "completed")] * 2
    assert notes(daemon, "_source_file = ?", "20240604.csv") == [("newer",)]
    assert notes(daemon, "_source_file = ?", "20240603.csv") == []


def test_dele_withdraws_every_waiting_upload_of_the_name(daemon):
    with login(daemon) as ftp:
        assert stor(ftp, "20240602.csv", one_row("02", "first")).startswith("226")
        assert stor(ftp, "20240602.csv", one_row("02", "second")).startswith("226")
        assert ftp.delete("20240602.csv").startswith("250")
        assert ftp.nlst() == []
        with pytest.raises(ftplib.error_perm, match="^550"):
            ftp.delete("20240602.csv")
    assert taken(daemon) == []
    assert notes(daemon, "_source_file = ?", "20240602.csv") == []
    assert not list(home(daemon).iterdir())


def test_uploads_of_one_file_under_different_names_are_taken_in_arrival_order(daemon):
    with login(daemon, "staff", "demo-staff") as ftp:
        assert stor(ftp, "employees_2.csv", one_row("16", "old")).startswith("226")
        time.sleep(0.05)
        assert stor(ftp, "employees_10.csv", one_row("16", "new")).startswith("226")
    assert taken(daemon, "staff") == [
        ("employees_2.csv", "completed"),
        ("employees_10.csv", "completed"),
    ]
    # One logical file (employees*.csv): the last to come stands.
    assert notes(daemon, "_source_file LIKE 'employees%'") == [("new",)]


def test_a_cp932_name_without_opts_utf8_is_read_as_cp932(daemon):
    ftp = ftplib.FTP(encoding="cp932")
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    with ftp:
        ftp.login("staff", "demo-staff")
        assert stor(ftp, "売上_20240516.csv", one_row("16", "cp932")).startswith("226")
        assert stor(ftp, "売上_20240517.csv", one_row("17", "gone")).startswith("226")
        # Listed back as it sent the names, and deletable by the name it was shown.
        assert sorted(ftp.nlst()) == ["売上_20240516.csv", "売上_20240517.csv"]
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        assert sorted(line.split()[-1] for line in listing) == sorted(ftp.nlst())
        assert ftp.delete("売上_20240517.csv").startswith("250")
    # A client that reads UTF-8 (ftplib's default) still gets UTF-8.
    with login(daemon, "staff", "demo-staff") as utf8:
        assert utf8.nlst() == ["売上_20240516.csv"]
    assert [p.name for p in home(daemon, "staff").iterdir()] == ["売上_20240516.csv"]
    assert taken(daemon, "staff") == [("売上_20240516.csv", "completed")]


def test_a_cp932_session_hears_its_refused_name_in_cp932(daemon):
    """pyftpdlib's own replies name a path in the session's CP932; renkei's 553 does too
    (it said '??_20230229.csv')."""
    ftp = ftplib.FTP(encoding="cp932")
    ftp.connect("127.0.0.1", daemon.ftp_port, timeout=10)
    with ftp, pytest.raises(ftplib.error_perm, match="^553 ") as info:
        ftp.login("staff", "demo-staff")
        stor(ftp, "売上_20230229.csv", one_row("16", "no such day"))
    assert "売上_20230229.csv" in str(info.value)


@pytest.mark.usefixtures("unprivileged")
def test_uploads_given_back_after_a_spool_refusal_are_listed_and_deletable(tmp_path):
    config, port = ftp_config(tmp_path)
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    try:
        with login(daemon) as ftp:
            assert stor(ftp, "20240610.csv", one_row("10", "first")).startswith("226")
            assert stor(ftp, "20240610.csv", one_row("10", "second")).startswith("226")
            with read_only(daemon.data_dir / "spool" / "incoming"):
                assert poll(daemon).status_code == 503
            # Both wait again, and the client sees their name: it can still withdraw them.
            assert ftp.nlst() == ["20240610.csv"]
            assert ftp.delete("20240610.csv").startswith("250")
        assert taken(daemon) == []
        assert notes(daemon, "_source_file = ?", "20240610.csv") == []
    finally:
        daemon.terminate()


@pytest.mark.usefixtures("unprivileged")
@pytest.mark.parametrize("beside", [False, True], ids=["alone", "beside-another-session"])
def test_a_home_that_cannot_be_changed_answers_dele_and_rnto_451_and_keeps_the_upload(
    tmp_path, beside
):
    """Our own trouble (a home renkei may not write): 451, which the client may retry,
    and the session goes on; the same whether the change was made on the I/O thread
    (a session alone) or beside it (other sessions served)."""
    config, port = ftp_config(tmp_path, passive_ports=2)
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    other = login(daemon, "small", "demo-small") if beside else None
    try:
        with login(daemon) as ftp:
            assert stor(ftp, "20240610.csv", one_row("10", "first")).startswith("226")
            with read_only(home(daemon)):
                with pytest.raises(ftplib.error_temp, match="^451"):
                    ftp.delete("20240610.csv")
                with pytest.raises(ftplib.error_temp, match="^451"):
                    ftp.rename("20240610.csv", "20240611.csv")
            assert ftp.voidcmd("NOOP").startswith("200")
            assert ftp.nlst() == ["20240610.csv"]
        assert taken(daemon) == [("20240610.csv", "completed")]
    finally:
        if other is not None:
            other.close()
        daemon.terminate()


def test_a_symlink_out_of_the_home_leads_nowhere(daemon, tmp_path):
    """An admin's symlink in a home may point anywhere; the client stays in its home."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "20240601.csv").write_bytes(one_row("01", "not the client's"))
    staff = home(daemon, "staff")
    staff.mkdir(parents=True, exist_ok=True)
    (staff / "elsewhere").symlink_to(outside, target_is_directory=True)
    (staff / "20240602.csv").symlink_to(outside / "20240601.csv")
    try:
        with login(daemon, "staff", "demo-staff") as ftp:
            for command in ("CWD elsewhere", "SIZE 20240602.csv", "SIZE elsewhere/20240601.csv"):
                with pytest.raises(ftplib.error_perm, match="^550"):
                    ftp.sendcmd(command)
            with pytest.raises(ftplib.error_perm, match="^550"):
                stor(ftp, "elsewhere/employees.csv", one_row("03", "escaped"))
            with pytest.raises(ftplib.error_perm, match="^550"):
                ftp.retrbinary("RETR 20240602.csv", lambda _: None)
            # Its own files, beside the links, as ever.
            assert stor(ftp, "employees_own.csv", one_row("04", "own")).startswith("226")
            assert ftp.size("employees_own.csv") == len(one_row("04", "own"))
        assert sorted(p.name for p in outside.iterdir()) == ["20240601.csv"]
    finally:
        (staff / "elsewhere").unlink()
        (staff / "20240602.csv").unlink()
        (staff / "employees_own.csv").unlink(missing_ok=True)
