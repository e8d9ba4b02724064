"""FTP uploads aimed at what is no file of the home, against the real daemon: `STOR ..`
(`.`, `/`) and RNTO onto the home or a folder in it, a name too long for the upload's
temporary name, MFMT (never offered), and a home that is not a folder at start and at
reload."""

from __future__ import annotations

import ftplib
import signal

import httpx
import pytest

from tests.support import Daemon, account, wait_for
from tests.test_ftp import ADMIN, ftp_config, ftp_section, home, login
from tests.test_ftp_renames import one_row, stor
from tests.test_ftp_renames import taken as taken_in_order

# Every name is taken: the home's own name ("beta") too, as `STOR ..` names it.
BETA = account("beta", filename="any") + ftp_section("beta", "demo-beta")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    config, port = ftp_config(tmp_path_factory.mktemp("ftp_names_abuse"), BETA)
    d = Daemon(config).start()
    d.ftp_port = port
    yield d
    assert d.terminate() == 0


def taken(daemon, account_name: str) -> list[tuple[str, str]]:
    return sorted(taken_in_order(daemon, account_name))


def refused(daemon, reason: str) -> list[tuple[str, str, str]]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals", headers=ADMIN, timeout=10)
    rows = reply.json()["refusals"]
    return [(r["code"], r["what"], r["detail"]) for r in rows if r["reason"] == reason]


def test_stor_or_rnto_onto_the_home_or_a_folder_gets_553_and_the_home_stays(daemon):
    beta = home(daemon, "beta")
    (beta / "sub").mkdir(parents=True)  # a folder an admin made in the home
    with login(daemon, "beta", "demo-beta") as ftp:
        assert stor(ftp, "waiting.csv", one_row("16", "before")).startswith("226")
        for target in ("..", ".", "/", "sub", "sub/inside.csv"):
            with pytest.raises(ftplib.error_perm, match="^553 Name a file in your home"):
                stor(ftp, target, one_row("17", "aimed at the home"))
        for target in ("..", "sub"):
            assert ftp.sendcmd("RNFR waiting.csv").startswith("350")
            with pytest.raises(ftplib.error_perm, match="^553 Name a file in your home"):
                ftp.sendcmd(f"RNTO {target}")
        assert stor(ftp, "after.csv", one_row("18", "after")).startswith("226")
        assert sorted(ftp.nlst()) == ["after.csv", "sub", "waiting.csv"]
    # Nothing was written or moved outside the home, nor the folder in it set aside.
    assert sorted(p.name for p in beta.parent.iterdir()) == ["acme", "beta", "halted", "small"]
    assert beta.is_dir() and (beta / "sub").is_dir() and not list((beta / "sub").iterdir())
    assert taken(daemon, "beta") == [("after.csv", "completed"), ("waiting.csv", "completed")]
    whats = [what for code, what, _ in refused(daemon, "bad_filename") if code == "553"]
    assert whats[:7][::-1] == ["/", "/", "/", "/sub", "/sub/inside.csv", "/", "/sub"]


def test_a_name_too_long_for_its_temporary_name_gets_553_with_its_length(daemon):
    # Bytes, not characters: "あ" is 3 in UTF-8. With its 23-byte temporary name, the
    # longest makes the 255 a file system takes.
    longest = "あ" * 76 + ".csv"  # 232 bytes
    too_long = "あ" * 76 + "a.csv"  # 233 bytes
    with login(daemon, "beta", "demo-beta") as ftp:
        with pytest.raises(ftplib.error_perm, match="^553 .*233") as info:
            stor(ftp, too_long, one_row("19", "too long"))
        assert "232 bytes" in str(info.value)
        assert stor(ftp, longest, one_row("20", "longest")).startswith("226")
        assert ftp.sendcmd(f"RNFR {longest}").startswith("350")
        with pytest.raises(ftplib.error_perm, match="^553 .*233"):
            ftp.sendcmd(f"RNTO {too_long}")
    assert taken(daemon, "beta") == [(longest, "completed")]
    assert (
        "553",
        too_long,
        "a name of 233 bytes, over 232",
    ) in refused(daemon, "bad_filename")


def test_feat_does_not_offer_mfmt(daemon):
    """A client told of MFMT (WinSCP) sends it after each upload and reports its refusal:
    an upload's time is the check's order, which a client may not set."""
    with login(daemon, "beta", "demo-beta") as ftp:
        features = ftp.sendcmd("FEAT")
        assert "MDTM" in features and "SIZE" in features and "MFMT" not in features
        with pytest.raises(ftplib.error_perm, match="^500"):
            ftp.sendcmd("MFMT 20240101000000 x.csv")


def test_a_file_in_place_of_a_home_is_a_config_problem_at_reload_and_at_start(tmp_path):
    config, port = ftp_config(tmp_path, BETA)
    daemon = Daemon(config).start()
    daemon.ftp_port = port
    beta = home(daemon, "beta")
    try:
        beta.rmdir()
        beta.write_bytes(b"not a folder")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in daemon.log.read_text())
        said = f"reload refused: accounts.beta.ftp: {beta} is not a folder"
        assert said in daemon.log.read_text()
        assert "Traceback" not in daemon.log.read_text()
        with login(daemon) as ftp:  # the old config goes on serving
            assert stor(ftp, "20240516.csv", one_row("16", "served")).startswith("226")
    finally:
        assert daemon.terminate() == 0
    with pytest.raises(AssertionError, match="is not a folder|はフォルダではありません"):
        Daemon(config).start()
    assert "Traceback" not in daemon.log.read_text()


def test_a_name_ending_in_a_slash_or_with_spaces_around_it_gets_553(daemon):
    """`STOR x.csv/` names a folder, and was stored as x.csv with a 226; ` x.csv` and
    `x.csv ` were each a file of their own beside x.csv, where the other doors take
    the name without its spaces."""
    with login(daemon, "beta", "demo-beta") as ftp:
        with pytest.raises(ftplib.error_perm, match="^553 Name a file in your home"):
            stor(ftp, "slash.csv/", one_row("21", "a folder"))
        for spaced in (" spaced.csv", "spaced.csv "):
            with pytest.raises(ftplib.error_perm, match="^553 Names starting or ending"):
                stor(ftp, spaced, one_row("22", "spaced"))
        assert stor(ftp, "plain.csv", one_row("23", "plain")).startswith("226")
        assert ftp.sendcmd("RNFR plain.csv").startswith("350")
        with pytest.raises(ftplib.error_perm, match="^553 Names starting or ending"):
            ftp.sendcmd("RNTO plain.csv ")
        assert "slash.csv" not in ftp.nlst()
    assert ("plain.csv", "completed") in taken(daemon, "beta")
    assert not [name for name, _ in taken(daemon, "beta") if name.strip() != name]
    assert "slash.csv" not in [name for name, _ in taken(daemon, "beta")]
