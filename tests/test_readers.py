"""Reader processes stay for the next file (daemon/worker/readers.py): a reader taken
again reads its next part as a fresh one would, one that died is replaced, one left
part-way is never taken again, none outlives its pool, and the daemon's import process
reads a middling file in parts by the readers it started with. And what the reader
(importers/reader.py) makes of records whole or in parts: a value under an empty
header cell is a row error, never dropped; a broken record is said in the catalog's
words, not the csv module's."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from daemon.worker import staging
from daemon.worker.readers import ReaderPool
from importers.errors import ERRORS_KEPT, PermanentProblem
from importers.layouts import ColumnSpec
from importers.messages import said
from importers.reader import CsvFile, ImportSpec
from tests.support import (
    Daemon,
    account,
    children,
    cli_import,
    import_process,
    mail,
    queued_ids,
    send,
    wait_for,
    write_config,
)
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


# -- the reader, whole and in parts ------------------------------------------------------

SALES = [
    ColumnSpec("member_no", "int", required=True, label="会員番号"),
    ColumnSpec("date", "date", label="日付"),
    ColumnSpec("sales_amount", "int", max_digits=13, label="売上金額"),
    ColumnSpec("note", "text", label="備考"),
]


def read(tmp_path: Path, text: str, language: str = "ja") -> tuple[list[list], list]:
    """The rows and row errors of `text` read whole, as UTF-8."""
    path = tmp_path / "20240516.csv"
    path.write_text(text, encoding="utf-8", newline="")
    csv_file = CsvFile(path, ImportSpec(SALES, "utf-8", True, 10000, 1 << 20, language))
    csv_file.open()
    rows, errors = [], []
    for chunk in csv_file.chunks():
        rows += chunk.rows
        errors += chunk.errors
    return rows, errors


def test_a_value_under_an_empty_header_cell_is_a_row_error(tmp_path):
    """`備考,` ends in an empty header cell, read past while the cells under it are
    empty; a record with a value there was imported without it."""
    text = "会員番号,日付,売上金額,備考,\n1,2024-05-16,1,a,zzz\n2,2024-05-16,2,b,\n"
    rows, errors = read(tmp_path, text)
    assert rows == [[2, "2024-05-16", 2, "b"]]
    [error] = errors
    assert (error.line, error.column, error.value) == (2, "", "zzz")
    assert error.message == (
        "2行目: 5列目に値「zzz」がありますが、その列の見出しが空です(見出しのない列の値は取り込めません)"
    )
    assert error.record == ["1", "2024-05-16", "1", "a", "zzz"]
    _, [error] = read(tmp_path, text, "en")
    assert error.message == (
        "line 2: has 'zzz' in column 5, whose header is empty"
        " (a column without a header cannot be imported)"
    )
    # A long value is quoted by its start and its length; the error keeps it whole.
    _, [error] = read(tmp_path, text.replace("zzz", "z" * 3000))
    assert error.value == "z" * 3000
    assert "値「" + "z" * 40 + "…(全3,000文字)」" in error.message


def test_the_errors_a_run_may_keep_are_given_their_words_the_rest_their_sentence(tmp_path):
    """Words for every error would cost a file of nothing but bad cells a fifth more
    time: the first ERRORS_KEPT of each reading get them, as many as a run keeps."""
    text = "会員番号,日付,売上金額,備考\n" + "".join(
        f"x{i},2024-05-16,1,a\n" for i in range(ERRORS_KEPT + 5)
    )
    path = tmp_path / "20240516.csv"
    path.write_text(text, encoding="utf-8", newline="")
    csv_file = CsvFile(path, ImportSpec(SALES, "utf-8", True, 10000, 1 << 20, "ja"))
    csv_file.open()
    for _ in range(2):  # a second reading (read again in one pass) gives them again
        errors = [e for chunk in csv_file.chunks() for e in chunk.errors]
        assert len(errors) == ERRORS_KEPT + 5 and all(e.message for e in errors)
        assert [e.said is not None for e in errors] == [True] * ERRORS_KEPT + [False] * 5
        assert said(errors[0].said, "", "en").startswith("line 2, column '会員番号'")


def test_empty_header_cells_before_the_returned_columns_are_read_past_too(tmp_path):
    """The error CSV of a file whose header ends in `備考,` comes back as
    `備考,,行番号,エラー内容`: corrected, it imports; its empty column still holds nothing."""
    header = "会員番号,日付,売上金額,備考,,行番号,エラー内容\n"
    rows, errors = read(tmp_path, header + "1,2024-05-16,1,a,,2,直した\n")
    assert (rows, errors) == ([[1, "2024-05-16", 1, "a"]], [])
    rows, [error] = read(tmp_path, header + "1,2024-05-16,1,a,zzz,2,直した\n")
    assert rows == [] and "5列目に値「zzz」" in error.message


def stray_cells(lines: int, stray: set[int]) -> str:
    """A file whose header ends in two empty cells; the records `stray` fill the last."""
    out = ["note,member_no,date,,"]
    for i in range(1, lines + 1):
        out.append(f"備考{i},{i},2024/05/16,,{'余分' + str(i) if i in stray else ''}")
    return "\r\n".join(out) + "\r\n"


def test_parts_refuse_a_value_under_an_empty_header_cell_as_one_pass_does(tmp_path, pool):
    """A part is not handed the header: its reader finds the empty cells all the same."""
    path = tmp_path / "20240516.csv"
    path.write_text(stray_cells(3000, {5, 2500}), encoding="cp932", newline="")
    staged, rows, errors = in_parts(path, SPEC, tmp_path / "staging", 3)
    assert (rows, errors) == whole(path, SPEC)
    assert staged[0].records + staged[1].records < 2500  # the second one in the last part
    assert [(line, value) for line, _, value, *_ in errors] == [(6, "余分5"), (2501, "余分2500")]
    assert "2501行目: 5列目に値「余分2500」があります" in errors[1][3]
    assert len(rows) == 2998


def test_renkei_import_refuses_a_value_under_an_empty_header_cell(tmp_path):
    """Through `renkei import`: the record is a row error with its line, the others
    import, and its error CSV, corrected, imports as it is."""
    config = write_config(tmp_path, account("acme", report="never", on_row_error="skip"))
    path = tmp_path / "20240516.csv"
    text = (
        "member_no,date,sales_amount,note,\r\n1,2024-05-16,1,東京,zzz\r\n2,2024-05-16,2,大阪,\r\n"
    )
    path.write_bytes(text.encode("cp932"))
    run = cli_import(config, path)
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 1, 1), run
    db_path = tmp_path / "var" / "renkei.db"
    with sqlite3.connect(db_path) as db:
        errors = db.execute(
            "SELECT line, value, message FROM run_errors WHERE run_id = ?", (run["id"],)
        ).fetchall()
        stored = db.execute("SELECT member_no, note FROM performance ORDER BY rowid").fetchall()
    assert errors == [
        (
            2,
            "zzz",
            "2行目: 5列目に値「zzz」がありますが、その列の見出しが空です(見出しのない列の値は取り込めません)",
        )
    ]
    assert stored == [(2, "大阪")]

    report = tmp_path / "var" / "reports" / run["id"] / "20240516.errors.csv"
    sent_back = list(csv.reader(report.read_text(encoding="cp932").splitlines()))
    assert sent_back[0] == ["member_no", "date", "sales_amount", "note", "", "行番号", "エラー内容"]
    assert sent_back[1][:6] == ["1", "2024-05-16", "1", "東京", "zzz", "2"]
    sent_back[1][4] = ""  # the partner clears the stray value
    corrected = tmp_path / "20240517.csv"
    with corrected.open("w", encoding="cp932", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerows(sent_back)
    run = cli_import(config, corrected)
    assert (run["state"], run["rows_imported"], run["rows_failed"]) == ("completed", 1, 0), run


@pytest.mark.parametrize(
    ("lines", "ja", "en"),
    [
        (
            ['2,2024-05-16,x,"q"q"'],
            '3行目: CSV として読めません(引用符(")で囲んだセルの中に、2つ重ねていない引用符が'
            'あります。セルの中の " は "" と書きます)',
            'line 3: not readable as CSV (a quoted cell holds a quote (") that is not doubled;'
            ' inside a quoted cell, " is written "")',
        ),
        (
            ['2,2024-05-16,x,"二行の', '備考" です'],
            '3行目から始まるレコードが 4行目で CSV として読めません(引用符(")で囲んだセルの中に、'
            '2つ重ねていない引用符があります。セルの中の " は "" と書きます)',
            "the record starting on line 3 is not readable as CSV on line 4"
            ' (a quoted cell holds a quote (") that is not doubled; inside a quoted cell,'
            ' " is written "")',
        ),
    ],
    ids=["one line", "a record of two lines"],
)
def test_a_quote_not_doubled_is_said_in_the_catalogs_words(tmp_path, lines, ja, en):
    text = "\n".join(["会員番号,日付,売上金額,備考", "1,2024-05-16,1,a", *lines]) + "\n"
    for language, expected in (("ja", ja), ("en", en)):
        with pytest.raises(PermanentProblem) as caught:
            read(tmp_path, text, language)
        assert caught.value.render(language) == expected


def test_a_cell_past_the_csv_modules_limit_is_said_in_the_catalogs_words(tmp_path):
    limit = csv.field_size_limit()
    try:
        csv.field_size_limit(12)
        with pytest.raises(PermanentProblem) as caught:
            read(
                tmp_path,
                "会員番号,日付,売上金額,備考\n1,2024-05-16,1,長い長い長い長い長い長い備考\n",
            )
    finally:
        csv.field_size_limit(limit)
    assert (
        caught.value.render("ja")
        == "2行目: CSV として読めません(1つのセルが 12 文字を超えています)"
    )
    assert caught.value.render("en") == (
        "line 2: not readable as CSV (a cell is longer than 12 characters)"
    )


def test_a_csv_error_without_words_in_the_catalog_keeps_english_out(tmp_path, monkeypatch):
    """Should the csv module say something new, a Japanese message gets none of it."""
    monkeypatch.setattr("importers.reader._CSV_ERRORS", {})
    with pytest.raises(PermanentProblem) as caught:
        read(tmp_path, '会員番号,日付,売上金額,備考\n2,2024-05-16,x,"q"q"\n')
    assert caught.value.render("ja") == "2行目: CSV として読めません"
    assert "expected" not in caught.value.render("en")


def test_a_reader_killed_under_a_run_is_the_servers_trouble_not_an_attempt(tmp_path):
    """A reader killed mid-part (the OOM killer) failed the file's attempt with a
    traceback; three such kills quarantined a good file and mailed the partner that
    it failed. Now the run waits and is read again, its attempts untouched."""
    daemon = Daemon(big_config(tmp_path)).start()
    try:
        importer = import_process(daemon)
        _wait_readers(importer)
        _, code, reply = send(daemon.smtp_port, mail([("20240516.csv", big_csv(600_000))]))
        assert code == 250
        [run_id] = queued_ids(reply)
        staged = tmp_path / "var" / "staging" / run_id
        wait_for(lambda: list(staged.glob("part*.db")), timeout=60, step=0.01)
        os.kill(_wait_readers(importer)[0], signal.SIGKILL)
        run = daemon.wait_run(run_id, timeout=120)
        assert (run["state"], run["rows_imported"]) == ("completed", 600_000), run
        [(attempts,)] = daemon.query("SELECT attempts FROM runs WHERE id = ?", (run_id,))
        assert attempts == 0
        said = daemon.log.read_text()
        assert "put back to try again later" in said and "attempt 1 failed" not in said
        assert "Traceback" not in said
    finally:
        daemon.terminate()
