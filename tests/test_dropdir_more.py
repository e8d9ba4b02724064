"""Drop folder against the real daemon, what a probe found: links never followed, a
file renkei cannot read refused once without holding up the others, a file taken only
once renkei saw it settle whatever its mtime says, a claim a crash left imported before
a newer file of its name, files taken in the order they came, and a folder renkei
cannot read said once without holding up the other folders."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx

from tests.support import Daemon, account, csv_bytes, wait_for, write_config
from tests.test_crash_more import unprivileged  # noqa: F401 (a fixture)
from tests.test_dropdir import dropdir_config, put_whole, runs_of, wait_for_runs

ADMIN = {"Authorization": "Bearer demo-admin"}
SECRET_ROWS = csv_bytes(["9,2024/05/16,9,secret"])


def refusals(daemon: Daemon, reason: str) -> list[dict]:
    reply = httpx.get(f"{daemon.api}/api/v1/refusals?channel=dropdir", headers=ADMIN, timeout=10)
    return [r for r in reply.json()["refusals"] if r["reason"] == reason]


def notes(daemon: Daemon) -> list[str]:
    return [r[0] for r in daemon.query("SELECT note FROM performance ORDER BY member_no")]


def secret(tmp_path: Path) -> Path:
    """A file the drop folder's writer may not read (mode 600), outside the folder."""
    path = tmp_path / "private" / "secret.csv"
    path.parent.mkdir()
    path.write_bytes(SECRET_ROWS)
    path.chmod(0o600)
    return path


# -- 1. symbolic links ----------------------------------------------------------------


def test_a_symlink_in_the_drop_folder_is_refused_once_and_never_followed(tmp_path):
    target = secret(tmp_path)
    daemon = Daemon(dropdir_config(tmp_path, settle=0)).start()
    try:
        drop = tmp_path / "drop"
        (drop / "20240516.csv").symlink_to(target)
        [refused] = wait_for(lambda: refusals(daemon, "symlink"))
        assert (refused["channel"], refused["who"], refused["what"]) == (
            "dropdir",
            "acme",
            "20240516.csv",
        )
        assert "symbolic link" in refused["detail"]
        put_whole(drop, "20240517.csv", csv_bytes(["1,2024/05/17,1,plain"]))
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240517.csv", "completed")
        time.sleep(1.5)  # three rescans: still said once, still no run of it
        assert len(refusals(daemon, "symlink")) == 1
        assert len(runs_of(daemon)) == 1 and notes(daemon) == ["plain"]
        assert (drop / "20240516.csv").is_symlink()  # left where it is, for the admin
        assert target.read_bytes() == SECRET_ROWS
        assert "refused dropdir" in daemon.log.read_text()
    finally:
        daemon.terminate()


def test_links_named_as_claims_a_crash_left_are_never_followed(tmp_path):
    """A link named as a claim, to a folder, once had that folder's files moved into
    the drop folder at start and imported; one to a file was given back and read."""
    target = secret(tmp_path)
    config = dropdir_config(tmp_path, settle=0)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / ".claimed-20240601T000000000000-abcdef").symlink_to(target.parent)
    (drop / ".claimed-20240601T000000000001-abcdef-20240601.csv").symlink_to(target)
    # A long name's claim folder holding a link: claimed, never read through.
    holder = drop / ".claimed-20240601T000000000002-abcdef"
    holder.mkdir()
    (holder / "20240602.csv").symlink_to(target)
    daemon = Daemon(config).start()
    try:
        [refused] = wait_for(lambda: refusals(daemon, "symlink"))
        assert refused["what"] == "20240602.csv"
        put_whole(drop, "20240603.csv", csv_bytes(["1,2024/06/03,1,plain"]))
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240603.csv", "completed")
        time.sleep(1.5)
        assert len(refusals(daemon, "symlink")) == 1
        assert len(runs_of(daemon)) == 1 and notes(daemon) == ["plain"]
        assert target.read_bytes() == SECRET_ROWS  # still where it was
        assert (drop / "20240602.csv").is_symlink()  # given back, not followed
    finally:
        daemon.terminate()


# -- 2. an old mtime proves nothing ---------------------------------------------------


def test_a_file_written_with_an_old_mtime_is_taken_once_renkei_saw_it_settle(tmp_path):
    """As Samba's sticky write time or a sync tool leaves it: the mtime an hour old
    while rows are still being written. It was taken at first sight, one row of six."""
    daemon = Daemon(dropdir_config(tmp_path, settle=2)).start()
    try:
        path = tmp_path / "drop" / "20240518.csv"
        rows = [f"{i},2024/05/18,{i},row{i}" for i in range(1, 7)]
        with open(path, "wb") as f:
            for i, row in enumerate(rows):
                f.write(csv_bytes([row], header=i == 0))
                f.flush()
                old = time.time() - 3600
                os.utime(path, (old, old))
                time.sleep(0.5)
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240518.csv", "completed")
        assert notes(daemon) == [f"row{i}" for i in range(1, 7)]
    finally:
        daemon.terminate()


# -- 3. a file renkei cannot read -----------------------------------------------------


def test_an_unreadable_file_is_refused_once_and_holds_up_no_other(tmp_path, unprivileged):  # noqa: F811
    daemon = Daemon(dropdir_config(tmp_path, settle=0)).start()
    drop = tmp_path / "drop"
    locked = drop / "20240520.csv"
    try:
        # Made unreadable before it is in the folder: written there first, it could be
        # taken (settle = 0) before the chmod.
        outside = tmp_path / "20240520.csv"
        outside.write_bytes(csv_bytes(["1,2024/05/20,1,locked"]))
        outside.chmod(0)
        outside.rename(locked)
        [refused] = wait_for(lambda: refusals(daemon, "unreadable"))
        assert (refused["who"], refused["what"]) == ("acme", "20240520.csv")
        assert "permission denied" in refused["detail"]
        # Whole before it is there, too: written in place, it could be taken half-written.
        other = tmp_path / "20240521.csv"
        other.write_bytes(csv_bytes(["2,2024/05/21,2,other"]))
        other.rename(drop / "20240521.csv")
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240521.csv", "completed")
        time.sleep(1.5)  # three rescans
        assert len(refusals(daemon, "unreadable")) == 1
        assert locked.exists()  # untouched, under its name
        assert "spool unavailable" not in daemon.log.read_text()
        locked.chmod(0o644)  # made readable: it changed, so it is looked at again
        runs = wait_for_runs(daemon, 2, timeout=20)
        assert sorted((name, state) for _, name, state in runs) == [
            ("20240520.csv", "completed"),
            ("20240521.csv", "completed"),
        ]
    finally:
        if locked.exists():
            locked.chmod(0o644)  # pytest's tmp_path cleanup must read it
        daemon.terminate()


# -- 4. a claim a crash left ----------------------------------------------------------


def test_a_claim_a_crash_left_is_imported_before_the_newer_file_of_its_name(tmp_path):
    config = dropdir_config(tmp_path, settle=0, mode="replace_file")
    drop = tmp_path / "drop"
    drop.mkdir()
    claimed = drop / ".claimed-20240519T000000000000-abcdef-20240519.csv"
    claimed.write_bytes(csv_bytes(["1,2024/05/19,1,old"]))
    (drop / "20240519.csv").write_bytes(csv_bytes(["1,2024/05/19,1,new"]))
    daemon = Daemon(config).start()
    try:
        runs = wait_for_runs(daemon, 2, timeout=20)
        assert [(name, state) for _, name, state in runs] == [
            ("20240519.csv", "completed"),
            ("20240519.csv", "completed"),
        ]
        assert runs[0][0] == "20240519T000000000000-abcdef"  # the claim's, first
        assert notes(daemon) == ["new"]  # the newer file's rows stand
        assert not list(drop.iterdir())
    finally:
        daemon.terminate()


# -- 5. the order files came in -------------------------------------------------------


def test_files_present_at_start_are_taken_in_the_order_they_came(tmp_path):
    """One master list sent under two names: by name, employees_10.csv went first and
    the older employees_2.csv's rows stood."""
    accounts = account("acme", filename=["employees*.csv"], mode="replace_file")
    accounts += '[accounts.acme.dropdir]\npath = "drop"\nsettle = 0\n'
    config = write_config(tmp_path, accounts)
    drop = tmp_path / "drop"
    drop.mkdir()
    now = time.time()
    for name, note, age in (("employees_2.csv", "older", 120), ("employees_10.csv", "newer", 60)):
        (drop / name).write_bytes(csv_bytes([f"1,2024/06/01,1,{note}"]))
        os.utime(drop / name, (now - age, now - age))
    daemon = Daemon(config).start()
    try:
        runs = wait_for_runs(daemon, 2, timeout=20)
        assert [name for _, name, _ in runs] == ["employees_2.csv", "employees_10.csv"]
        assert notes(daemon) == ["newer"]
    finally:
        daemon.terminate()


# -- 6. a folder renkei cannot read ---------------------------------------------------


def test_an_unreadable_folder_is_said_once_and_holds_up_no_other(tmp_path, unprivileged):  # noqa: F811
    """One account's folder made unreadable stopped the scan of every folder after it,
    with a traceback in the log twice a second."""
    accounts = "".join(
        account(name) + f'[accounts.{name}.dropdir]\npath = "drop/{name}"\nsettle = 0\n'
        for name in ("acme", "beta")
    )
    daemon = Daemon(write_config(tmp_path, accounts)).start()
    acme, beta = tmp_path / "drop" / "acme", tmp_path / "drop" / "beta"
    try:
        acme.chmod(0)
        put_whole(acme, "20240601.csv", csv_bytes(["1,2024/06/01,1,acme"]))
        put_whole(beta, "20240602.csv", csv_bytes(["2,2024/06/02,2,beta"]))
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240602.csv", "completed")
        time.sleep(1.5)  # three rescans
        said = daemon.log.read_text()
        assert said.count("cannot be read") == 1
        assert f"folder {str(acme)!r} cannot be read, its files wait: permission denied" in said
        assert "Traceback" not in said and "scan failed" not in said
        assert len(runs_of(daemon)) == 1 and (acme / "20240601.csv").exists()
        acme.chmod(0o755)  # readable again: its file is taken
        runs = wait_for_runs(daemon, 2, timeout=20)
        assert sorted((name, state) for _, name, state in runs) == [
            ("20240601.csv", "completed"),
            ("20240602.csv", "completed"),
        ]
        assert sorted(notes(daemon)) == ["acme", "beta"]
        assert f"folder {str(acme)!r} can be read again" in daemon.log.read_text()
    finally:
        acme.chmod(0o755)  # pytest's tmp_path cleanup must read it
        daemon.terminate()


def test_a_reload_refused_over_a_drop_folder_leaves_later_reloads_working(
    tmp_path,
    unprivileged,  # noqa: F811
):
    """A drop folder the daemon could not create refused the reload, and every reload
    after it failed too ('cannot join thread before it is started') until a restart:
    the folders were watched by an observer left unstarted."""
    acme = account("acme") + '[accounts.acme.dropdir]\npath = "drop/acme"\nsettle = 0\n'
    config = write_config(tmp_path, acme)
    original = config.read_text()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    daemon = Daemon(config).start()
    try:
        beta = account("beta") + '[accounts.beta.dropdir]\npath = "locked/beta"\n'
        config.write_text(original + beta)
        wait_for(lambda: "reload refused" in daemon.log.read_text(), timeout=20)
        assert httpx.get(f"{daemon.api}/api/v1/accounts/beta", headers=ADMIN).status_code == 404
        config.write_text(original + account("gamma"))

        def gamma_there() -> bool:
            reply = httpx.get(f"{daemon.api}/api/v1/accounts/gamma", headers=ADMIN, timeout=10)
            return reply.status_code == 200

        wait_for(gamma_there, timeout=20)
        assert "cannot join thread" not in daemon.log.read_text()
        put_whole(tmp_path / "drop" / "acme", "20240601.csv", csv_bytes(["1,2024/06/01,1,a"]))
        [(_, name, state)] = wait_for_runs(daemon, 1, timeout=20)
        assert (name, state) == ("20240601.csv", "completed")
    finally:
        locked.chmod(0o755)
        daemon.terminate()
