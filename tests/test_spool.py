"""The spool on its own: durable enqueue, claim by rename, recovery and locks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from daemon.spool.queue import Meta, Spool


def meta(**kw) -> Meta:
    return Meta(kw.pop("account", "acme"), "mail", "x@y", "20240516.csv", **kw)


# A small file, and one large enough to be synced while it is hashed.
@pytest.mark.parametrize("data", [b"a,b\r\n", b"1,2,3\r\n" * 300_000], ids=["small", "2mb"])
def test_enqueue_writes_data_and_metadata(tmp_path, data):
    spool = Spool(tmp_path)
    item = spool.enqueue(meta(), data)
    stored = Meta.from_json((spool.incoming / item.id / "meta.json").read_bytes())
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert stored.received_at and stored.account == "acme"
    assert (spool.incoming / item.id / "data").read_bytes() == data
    assert not list(spool.tmp.iterdir())


def test_claim_moves_to_active_once(tmp_path):
    spool = Spool(tmp_path / "spool")
    item = spool.enqueue(meta(), b"x")
    claimed = spool.claim(item.id)
    assert claimed is not None and claimed.path.parent == spool.active
    assert spool.claim(item.id) is None
    spool.finish(claimed)
    assert not list(spool.active.iterdir())


def test_finish_keeps_the_file_beside_its_run_by_rename(tmp_path):
    spool = Spool(tmp_path / "spool")
    claimed = spool.claim(spool.enqueue(meta(), b"a,b\r\n").id)
    inode = claimed.data_path.stat().st_ino
    spool.finish(claimed)
    kept = tmp_path / "files" / claimed.id / "20240516.csv"
    assert kept.read_bytes() == b"a,b\r\n"
    assert kept.stat().st_ino == inode  # moved, not copied
    assert not (spool.active / claimed.id).exists()
    spool.finish(claimed)  # again, as after a crash just after the move: nothing to do
    assert kept.read_bytes() == b"a,b\r\n"


def test_recover_counts_attempts_and_skips_locked_items(tmp_path):
    spool = Spool(tmp_path)
    dead = spool.claim(spool.enqueue(meta(), b"x").id)
    os.close(dead.lock_fd)  # its process died: the lock went with it
    live = spool.enqueue(meta(account="beta"), b"y", claim=True)  # held by "us"
    # Recovery runs in another process, as the daemon starting beside a `renkei import`.
    code = (
        "import sys; from daemon.spool.queue import Spool; "
        f"print([i.id for i in Spool(__import__('pathlib').Path({str(tmp_path)!r})).recover()])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str([dead.id])
    assert Meta.from_json((spool.incoming / dead.id / "meta.json").read_bytes()).attempts == 1
    assert (spool.active / live.id).exists()


def test_a_failed_multi_file_delivery_leaves_nothing(tmp_path):
    spool = Spool(tmp_path)
    spool.incoming.rmdir()
    spool.incoming.write_text("")  # renames into it fail
    try:
        spool.enqueue_many([(meta(), b"1", None), (meta(), b"2", None)])
    except OSError:
        pass
    else:
        raise AssertionError("enqueue should have failed")
    assert not list(spool.tmp.iterdir())
