"""The spool on its own: durable enqueue, claim by rename, recovery and locks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.spool import durable, packed
from daemon.spool.queue import Damaged, Meta, Spool, waiting_count


def meta(**kw) -> Meta:
    return Meta(kw.pop("account", "acme"), "mail", "x@y", "20240516.csv", **kw)


# A small file, one large enough to be hashed while it is written, and one from disk.
@pytest.mark.parametrize(
    "data", [b"a,b\r\n", b"1,2,3\r\n" * 300_000, "path"], ids=["small", "2mb", "path"]
)
def test_enqueue_writes_data_and_metadata(tmp_path, data):
    spool = Spool(tmp_path / "spool")
    if data == "path":
        data = b"x,y\r\n" * 500_000
        (tmp_path / "upload.csv").write_bytes(data)
        item = spool.enqueue(meta(), tmp_path / "upload.csv")
    else:
        item = spool.enqueue(meta(), data)
    waiting = spool.incoming / item.id
    assert waiting.is_file()  # one file while it waits
    assert waiting.read_bytes().startswith(data)
    stored = spool.load(waiting).meta
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert stored.received_at and stored.account == "acme"
    assert not list(spool.tmp.iterdir())
    claimed = spool.claim(item.id)
    assert claimed is not None and claimed.path == spool.active / item.id
    assert claimed.data_path.read_bytes() == data
    assert Meta.from_json((claimed.path / "meta.json").read_bytes()) == stored
    assert sorted(p.name for p in spool.active.iterdir()) == [item.id]


def test_a_delivery_without_a_file_waits_as_a_folder(tmp_path):
    spool = Spool(tmp_path)
    item = spool.enqueue(meta(problem="account_stopped"), None)
    claimed = spool.claim(item.id)
    assert claimed is not None and claimed.meta.problem == "account_stopped"
    assert not claimed.data_path.exists()


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


# The steps of claiming a one-file item and unpacking it into its folder, in order.
UNPACKING_STEPS = ["rename", "mkdir", "write_synced", "rename", "strip", "rename"]
CLAIM_AND_DIE = """
import os, pathlib, signal, sys
from daemon.spool import packed, queue

root, item_id, die_after = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
spool = queue.Spool(root)
done = []

def step(call):
    def stepped(*args, **kwargs):
        result = call(*args, **kwargs)
        done.append(call.__name__)
        if len(done) == die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return stepped

pathlib.Path.mkdir = step(pathlib.Path.mkdir)
queue.write_synced = step(queue.write_synced)
queue.os.rename = step(queue.os.rename)
packed.strip = step(packed.strip)
spool.claim(item_id)
"""


@pytest.mark.parametrize("die_after", range(len(UNPACKING_STEPS)))
def test_a_claim_killed_while_unpacking_is_recovered_whole(tmp_path, die_after):
    spool = Spool(tmp_path)
    data = b"member_no,note\r\n1,\x82\xa0\r\n"
    item = spool.enqueue(meta(), data)
    # Killed just after step `die_after` of the unpacking (0: just after the claim's
    # rename, 5: unpacked but never imported).
    args = [sys.executable, "-c", CLAIM_AND_DIE, str(tmp_path), item.id, str(die_after + 1)]
    assert subprocess.run(args).returncode == -9
    recovered = [i.id for i in Spool(tmp_path).recover()]
    assert recovered == [item.id]
    assert sorted(p.name for p in spool.active.iterdir()) == []
    again = spool.claim(item.id)
    assert again is not None and again.data_path.read_bytes() == data
    assert again.meta.sha256 == item.meta.sha256 and again.meta.size == len(data)
    # An attempt counts once the data left the one file (the import could have begun).
    assert again.meta.attempts == (1 if die_after >= 3 else 0)


def test_a_claim_that_cannot_unpack_leaves_the_item_waiting(tmp_path):
    spool = Spool(tmp_path)
    item = spool.enqueue(meta(), b"a,b\r\n")
    (spool.active / f"{item.id}.unpacking").write_text("")  # mkdir fails on it
    with pytest.raises(FileExistsError):
        spool.claim(item.id)
    assert (spool.incoming / item.id).read_bytes().startswith(b"a,b\r\n")
    (spool.active / f"{item.id}.unpacking").unlink()
    claimed = spool.claim(item.id)
    assert claimed is not None and claimed.data_path.read_bytes() == b"a,b\r\n"


def test_withdraw_and_recover_remove_one_file_items(tmp_path):
    spool = Spool(tmp_path)
    [item] = spool.enqueue_many([(meta(), b"1", None)])
    spool.withdraw([item])
    assert not list(spool.incoming.iterdir()) and not list(spool.tmp.iterdir())
    (spool.tmp / "20240516T000000000000-abcdef").write_bytes(b"half written")
    assert list(spool.recover()) == []
    assert not list(spool.tmp.iterdir())


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


def test_meta_round_trips_through_its_json():
    described = meta(
        options={"encoding": "cp932", "columns": ["会員番号", "日付"], "set": {"a": 1}},
        sha256="0" * 64,
        size=3,
        retry_of="20240516T000000000000-abcdef",
    )
    text = described.to_json()
    assert Meta.from_json(text) == described
    assert "会員番号".encode() in text  # written as read, not escaped


def damage_footer(path) -> bytes:
    """Overwrite the end of a one-file item (its footer); the bytes it then holds."""
    with open(path, "r+b") as f:
        f.seek(-8, os.SEEK_END)
        f.write(b"\xff" * 8)
    return path.read_bytes()


def test_an_item_that_cannot_be_read_is_set_aside_and_the_next_is_claimed(tmp_path):
    spool = Spool(tmp_path)
    bad, good = spool.enqueue(meta(), b"a,b\r\n"), spool.enqueue(meta(), b"c,d\r\n")
    damaged = damage_footer(spool.incoming / bad.id)
    with pytest.raises(Damaged) as raised:
        spool.claim(bad.id)
    assert raised.value.item_id == bad.id and raised.value.path == spool.failed / bad.id
    assert (spool.failed / bad.id).read_bytes() == damaged  # kept as it was
    assert spool.waiting() == [good.id] and list(spool.active.iterdir()) == []
    claimed = spool.claim(good.id)
    assert claimed is not None and claimed.data_path.read_bytes() == b"c,d\r\n"


@pytest.mark.parametrize(
    "meta_json", [b"{not json", b"[]", b'{"account": "acme"}', b"\xff\xfe", None, b"folder"]
)
def test_a_folder_item_whose_meta_cannot_be_read_is_set_aside(tmp_path, meta_json):
    spool = Spool(tmp_path)
    item = spool.claim(spool.enqueue(meta(), b"a,b\r\n").id)
    spool.release(item, count_attempt=True)  # waits as a folder now
    if meta_json is None:
        (spool.incoming / item.id / "meta.json").unlink()
    elif meta_json == b"folder":
        (spool.incoming / item.id / "meta.json").unlink()
        (spool.incoming / item.id / "meta.json").mkdir()
    else:
        (spool.incoming / item.id / "meta.json").write_bytes(meta_json)
    with pytest.raises(Damaged):
        spool.claim(item.id)
    assert (spool.failed / item.id / "data").read_bytes() == b"a,b\r\n"
    assert spool.waiting() == [] and list(spool.active.iterdir()) == []
    # Another item of the same id set aside later keeps the first.
    [again] = spool.enqueue_many([(meta(), b"e,f\r\n", item.id)])
    damage_footer(spool.incoming / again.id)
    with pytest.raises(Damaged) as raised:
        spool.claim(again.id)
    assert raised.value.path.parent == spool.failed and raised.value.path.name != item.id
    assert (spool.failed / item.id / "data").read_bytes() == b"a,b\r\n"


def test_recovery_sets_aside_what_it_cannot_read(tmp_path):
    spool = Spool(tmp_path)
    packed, unpacked, fine = (spool.enqueue(meta(), b"x\r\n") for _ in range(3))
    # Left in active/ by a process killed after its claim: one still one file, one
    # unpacked; both then damaged.
    os.rename(spool.incoming / packed.id, spool.active / packed.id)
    damage_footer(spool.active / packed.id)
    claimed = spool.claim(unpacked.id)
    os.close(claimed.lock_fd)
    (claimed.path / "meta.json").write_bytes(b"\x00\x00")
    found = list(spool.recover())
    damaged = sorted(d.item_id for d in found if isinstance(d, Damaged))
    assert damaged == sorted([packed.id, unpacked.id])
    assert sorted(p.name for p in spool.failed.iterdir()) == sorted([packed.id, unpacked.id])
    assert list(spool.active.iterdir()) == [] and spool.waiting() == [fine.id]


def test_a_claim_whose_read_fails_otherwise_leaves_the_item_waiting(tmp_path):
    """Not damage but a failing read (here a symlink loop, as an I/O error would): the
    item waits in `incoming/` again, unlocked, and is claimed once it reads."""
    spool = Spool(tmp_path)
    item = spool.claim(spool.enqueue(meta(), b"a,b\r\n").id)
    spool.release(item, count_attempt=True)
    described = spool.incoming / item.id / "meta.json"
    kept = described.read_bytes()
    described.unlink()
    described.symlink_to("meta.json")  # itself, wherever the folder is
    for _ in range(2):
        with pytest.raises(OSError, match="symbolic links"):
            spool.claim(item.id)
        assert spool.waiting() == [item.id] and list(spool.active.iterdir()) == []
    assert list(spool.failed.iterdir()) == []
    described.unlink()
    described.write_bytes(kept)
    claimed = spool.claim(item.id)
    assert claimed is not None and claimed.data_path.read_bytes() == b"a,b\r\n"


def test_an_item_is_taken_only_once_it_is_published(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    item_id = "20240516T000000000000-abcdef"
    seen = {}
    publish = packed.publish

    def looked_at_first(fd: int) -> None:
        # Written and not yet published: no worker may take it.
        path = spool.incoming / item_id
        seen["mode"] = path.stat().st_mode & 0o777
        seen["waiting"] = spool.waiting()
        seen["count"] = waiting_count(tmp_path)  # the console's "waiting"
        seen["claimed"] = spool.claim(item_id)
        seen["there"] = path.exists()
        publish(fd)

    monkeypatch.setattr(packed, "publish", looked_at_first)
    [item] = spool.enqueue_many([(meta(), b"a,b\r\n", item_id)])
    assert seen == {"mode": 0, "waiting": [], "count": 0, "claimed": None, "there": True}
    assert item.path == spool.incoming / item_id and spool.waiting() == [item_id]
    assert waiting_count(tmp_path) == 1
    assert waiting_count(tmp_path / "no spool here") == 0
    claimed = spool.claim(item_id)
    assert claimed is not None and claimed.data_path.read_bytes() == b"a,b\r\n"
    # The file kept beside its run is readable as a file open() made would be.
    assert claimed.data_path.stat().st_mode & 0o600 == 0o600


def test_a_delivery_whose_second_file_cannot_be_read_leaves_nothing(tmp_path):
    spool = Spool(tmp_path)
    # The first, written already, goes too.
    with pytest.raises(FileNotFoundError):
        spool.enqueue_many([(meta(), b"1", None), (meta(), tmp_path / "gone.csv", None)])
    assert list(spool.incoming.iterdir()) == []


WRITE_AND_DIE = """
import os, pathlib, signal, sys
from daemon.spool import packed
from daemon.spool.queue import Meta, Spool

spool = Spool(pathlib.Path(sys.argv[1]))
meta = Meta("acme", "mail", "export@acme.example", "20240516.csv")
packed.publish = lambda fd: os.kill(os.getpid(), signal.SIGKILL)  # written, never published
spool.enqueue_many([(meta, b"a,b\\r\\n", None)])
"""


def test_what_a_writer_left_unpublished_is_never_imported_and_swept_once_stale(tmp_path):
    args = [sys.executable, "-c", WRITE_AND_DIE, str(tmp_path)]
    assert subprocess.run(args).returncode == -9
    spool = Spool(tmp_path)
    [left] = list(spool.incoming.iterdir())
    assert spool.waiting() == [] and spool.claim(left.name) is None
    assert waiting_count(tmp_path) == 0
    # A writer may be writing it right now: a fresh one stays.
    assert list(spool.recover()) == [] and left.exists()
    os.utime(left, (0, 0))
    assert list(spool.recover()) == []
    assert list(spool.incoming.iterdir()) == []


def test_a_file_removed_before_it_was_published_is_not_accepted(tmp_path, monkeypatch):
    spool = Spool(tmp_path)
    item_id = "20240516T000000000000-abcdef"
    publish = packed.publish

    def swept_meanwhile(fd: int) -> None:
        os.utime(spool.incoming / item_id, (0, 0))
        assert spool.sweep_unpublished() == [item_id]
        publish(fd)

    monkeypatch.setattr(packed, "publish", swept_meanwhile)
    with pytest.raises(FileNotFoundError):
        spool.enqueue_many([(meta(), b"a,b\r\n", item_id)])
    assert list(spool.incoming.iterdir()) == []


MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 27 0:50 / /mnt/share rw,relatime shared:5 - nfs4 server:/export rw
41 27 8:1 / /srv/data\\040set rw,relatime - xfs /dev/sdb1 rw
42 40 0:51 / /mnt/share/local rw,relatime - btrfs /dev/sdc rw
43 40 0:52 / /mnt/share rw,relatime - ext4 /dev/sdd rw
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/var/lib/renkei/spool/incoming", "ext4"),
        ("/mnt/sharedstuff/spool", "ext4"),  # not under /mnt/share
        ("/mnt/share/local/spool", "btrfs"),
        ("/mnt/share/spool", "ext4"),  # mounted over the NFS share, later in the table
        ("/srv/data set/spool", "xfs"),
    ],
)
def test_the_file_system_of_a_folder_is_read_from_the_mount_table(path, kind):
    assert durable.filesystem_of(Path(path), MOUNTINFO) == kind


def test_only_on_a_file_system_known_to_keep_names_is_the_folder_left_unsynced(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTINFO)
    keeps = durable.file_sync_keeps_names
    assert keeps(Path("/var/lib/renkei/spool"), table)
    assert keeps(Path("/srv/data set/spool"), table)
    table.write_text(MOUNTINFO.replace("0:52 / /mnt/share ", "0:52 / /mnt/elsewhere "))
    assert not keeps(Path("/mnt/share/spool"), table)  # NFS: the folder is fsynced too
    assert not keeps(Path("/var/lib/renkei/spool"), tmp_path / "no mount table")


@pytest.mark.parametrize("data", [b"a,b\r\n", b"1,2,3\r\n" * 300_000], ids=["small", "2mb"])
def test_a_file_spooled_without_its_sha256_gets_it_when_taken(tmp_path, data):
    """The doors spool without hashing: the sha256 is taken by the importer's claim
    (once, into the claimed item's meta.json) or by whoever asks the spool for it."""
    spool = Spool(tmp_path / "spool")
    [item] = spool.enqueue_many([(meta(), data, None)], hashed=False)
    expected = hashlib.sha256(data).hexdigest()
    waiting = spool.load(spool.incoming / item.id).meta
    assert waiting.sha256 == "" and waiting.size == len(data)
    assert spool.digest(item.id) == expected  # asked while it waits
    claimed = spool.claim(item.id)
    assert claimed.meta.sha256 == expected
    assert Meta.from_json((claimed.path / "meta.json").read_bytes()).sha256 == expected
    assert claimed.data_path.read_bytes() == data
    assert spool.digest(item.id) == expected  # asked once it is taken
    spool.finish(claimed)
    assert spool.digest(item.id) is None  # gone: its run knows it


def test_the_sha256_of_a_file_claimed_while_it_is_unpacked_is_found(tmp_path):
    """Asked while the claim is part-way (a crash between its steps leaves each), the
    spool finds the item where it is."""
    spool = Spool(tmp_path / "spool")
    data = b"x,y\r\n" * 1000
    [item] = spool.enqueue_many([(meta(), data, None)], hashed=False)
    expected = hashlib.sha256(data).hexdigest()
    os.rename(spool.incoming / item.id, spool.active / item.id)  # claimed, not unpacked
    assert spool.digest(item.id) == expected
    unpacking = spool.active / (item.id + ".unpacking")
    unpacking.mkdir()
    described = spool.load(spool.active / item.id).meta
    described.sha256 = expected
    (unpacking / "meta.json").write_bytes(described.to_json())
    os.rename(spool.active / item.id, unpacking / "data")
    packed.strip(unpacking / "data", len(data))
    assert spool.digest(item.id) == expected
