"""Before-images kept by an older renkei (a JSON array per row, found by run_id) are
carried over by the migration and put back by an undo after the upgrade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from daemon.store.schema import MIGRATIONS
from daemon.store.sqlite import SqliteStore
from daemon.store.undo import UndoRun
from tests.test_store_contract import COLUMNS, at, describe, import_file, rows_of, run_id

# What the version before undo_images left (schema.py, the migration that adds it).
_OLDER = """
CREATE TABLE undo_rows (run_id TEXT NOT NULL, old_rowid INTEGER NOT NULL, image TEXT NOT NULL);
CREATE INDEX undo_rows_by_run ON undo_rows (run_id);
INSERT INTO undo_rows (run_id, old_rowid, image)
  SELECT r.run_id, i.old_rowid, json_array({cells})
  FROM undo_images AS i JOIN run_undo AS r ON i.rowid > r.images_after AND i.rowid <= r.images_last;
DROP TABLE undo_images;
ALTER TABLE run_undo DROP COLUMN images_after;
ALTER TABLE run_undo DROP COLUMN images_last;
PRAGMA user_version = {version}
"""


def _as_older_renkei_left_it(path: Path, width: int) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        cells = ", ".join(f"i.c{n}" for n in range(width))
        script = _OLDER.format(cells=cells, version=len(MIGRATIONS) - 1)
        db.executescript(f"BEGIN; {script}; COMMIT")
        assert db.execute("SELECT count(*) FROM undo_rows").fetchone() == (2,)
    finally:
        db.close()


async def test_images_kept_as_json_are_put_back_after_the_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "renkei.db"
    store = await SqliteStore.open(path)
    try:
        await store.ensure_layout("items", COLUMNS)
        await import_file(store, run_id(1), [["A1", 1, "1.5", 1], ["A2", None, "2", 0]])
        await import_file(store, run_id(2), [["B1", 7, "7", 1]])
    finally:
        await store.close()
    _as_older_renkei_left_it(path, width=len(COLUMNS) + 3)

    store = await SqliteStore.open(path)  # migrates: undo_rows into undo_images
    try:
        await store.ensure_layout("items", COLUMNS)
        # A newer run of another file keeps its images beside the carried-over ones.
        await import_file(store, run_id(3), [["C1", 3, "3", 1]], filename="c.csv")
        await import_file(store, run_id(4), [["C2", 4, "4", 1]], filename="c.csv")
        undone = await store.undo_run(run_id(2), UndoRun(run_id(9), "cli", "me", at(2)), describe)
        assert (undone.deleted, undone.restored, undone.refusal) == (1, 2, None)
        rows = [row for row in await rows_of(store) if row[5] == "items.csv"]
        # Types as the table held them: an int, a NULL, a decimal's text.
        assert rows == [
            ("A1", 1, "1.5", 1, "acme", "items.csv", run_id(1)),
            ("A2", None, "2", 0, "acme", "items.csv", run_id(1)),
        ]
        undone = await store.undo_run(run_id(4), UndoRun(run_id(10), "cli", "me", at(2)), describe)
        assert (undone.deleted, undone.restored) == (1, 1)
        left = await store.reader.execute_fetchall("SELECT count(*) FROM undo_images")
        assert [tuple(row) for row in left] == [(0,)]
    finally:
        await store.close()
