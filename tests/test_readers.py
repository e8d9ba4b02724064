"""Reader processes stay for the next file (daemon/worker/readers.py): a reader taken
again reads its next part as a fresh one would, one that died is replaced, one left
part-way is never taken again, none outlives its pool, and the daemon's import process
reads a middling file in parts by the readers it started with."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from daemon.worker import staging
from daemon.worker.readers import ReaderPool
from importers.reader import CsvFile, ImportSpec
from tests.support import Daemon, children, import_process, mail, queued_ids, send
from tests.test_durability import big_config, big_csv
from tests.test_import_process import alive
from tests.test_staging import COLUMNS, TABLE, in_parts, sample, whole

SPEC = ImportSpec(COLUMNS, "cp932", True, 1000000, 1 << 30, "ja")

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


@pytest.fixture
def pool(monkeypatch):
    pool = ReaderPool()
    monkeypatch.setattr(staging, "POOL", pool)
    monkeypatch.setattr(staging, "cores", lambda: 2)
    yield pool
    pool.close()


def test_a_reader_reads_one_files_part_after_another(tmp_path, pool):
    first, second = tmp_path / "20240516.csv", tmp_path / "20240517.csv"
    first.write_text(sample(3000), encoding="cp932", newline="")
    second.write_text(sample(2000, stray_quote_at=5), encoding="cp932", newline="")
    _, rows, errors = in_parts(first, SPEC, tmp_path / "one", 2)
    assert (rows, errors) == whole(first, SPEC)
    kept = {child.pid for child in pool._idle}
    assert len(kept) == 2
    staged, rows, errors = in_parts(second, SPEC, tmp_path / "two", 2)
    assert {child.pid for child in pool._idle} == kept  # the same two processes
    assert (rows, errors) == whole(second, SPEC)
    assert sum(part.records for part in staged) == 2000


def test_a_reader_that_died_is_replaced_and_none_outlives_the_pool():
    pool = ReaderPool()
    pool.warm(2)
    dead, living = pool._idle
    dead.kill()
    dead.wait()
    assert pool.idle() == 1
    taken = pool.take(2)
    assert living in taken and dead not in taken
    assert all(child.poll() is None for child in taken)
    pool.give_back(taken, keep=1)  # one kept, the other ended
    assert pool.idle() == 1
    assert sum(child.poll() is None for child in taken) == 1
    pool.close()
    assert all(child.poll() is not None for child in taken)


def test_readers_left_part_way_are_ended_not_taken_again(tmp_path, pool):
    path = tmp_path / "20240516.csv"
    path.write_text(sample(150_000), encoding="cp932", newline="")
    folder = tmp_path / "staging"

    async def cancelled() -> list[int]:
        csv_file = CsvFile(path, SPEC)
        csv_file.open()
        # Readers other tests left with the module's own pool are not this test's.
        others = set(children_of_this_process())
        task = asyncio.create_task(staging.stage(csv_file, TABLE, folder, None, parts=2))
        deadline = time.monotonic() + 60
        while not list(folder.glob("part*.db")) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        busy = sorted(set(children_of_this_process()) - others)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return busy

    busy = asyncio.run(cancelled())
    assert len(busy) == 2, "both parts were being read"
    assert pool.idle() == 0
    assert not set(busy) & set(children_of_this_process())


def test_the_import_process_reads_a_middling_file_with_the_readers_it_started(tmp_path):
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        importer = import_process(daemon)
        readers = _wait_readers(importer)
        before = {pid: _cpu_ticks(pid) for pid in readers}
        data = big_csv(20_000)  # about 700 KB: over PARTS_PAY, far under LARGE_FILE
        assert staging.PARTS_PAY < len(data) < staging.LARGE_FILE
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", data)]))
        assert code == 250
        run = daemon.wait_run(queued_ids(reply)[0])
        assert (run["state"], run["rows_imported"]) == ("completed", 20_000)
        assert daemon.query("SELECT count(DISTINCT member_no) FROM performance") == [(20_000,)]
        # The same processes, kept for the next file, did the reading.
        assert _wait_readers(importer) == readers
        assert all(_cpu_ticks(pid) > before[pid] for pid in readers)
    finally:
        assert daemon.terminate() == 0
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in readers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in readers), "a reader outlived the daemon"


def children_of_this_process() -> list[int]:
    return [pid for pid in children(os.getpid()) if _is_reader(pid)]


def _is_reader(pid: int) -> bool:
    try:
        return b"daemon.worker.partreader" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _wait_readers(importer: int, timeout: float = 30) -> list[int]:
    """The import process's reader children, once it has started them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(pid for pid in children(importer) if _is_reader(pid) and alive(pid))
        if len(found) >= staging.cores():
            return found
        time.sleep(0.05)
    raise AssertionError(f"no readers under the import process: {children(importer)}")
