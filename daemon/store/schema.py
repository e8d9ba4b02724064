"""The SQLite schema: renkei's own tables, their migrations, and how a connection is set up.

Run at every open (`SqliteStore.open`; PostgreSQL's in postgres/schema.py), so a newer
renkei migrates an older database; a database newer than this renkei is refused, and
an older one is left alone by an opener that may not upgrade it (store/open.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite

from daemon.store.errors import SchemaBehind, SchemaNewer
from daemon.store.sql import quote

META_COLUMNS = ("_account", "_source_file", "_run_id")

MIGRATIONS = [
    """
    CREATE TABLE runs (
      id TEXT PRIMARY KEY,
      account TEXT NOT NULL,
      channel TEXT NOT NULL,
      sender TEXT NOT NULL DEFAULT '',
      filename TEXT NOT NULL DEFAULT '',
      layout TEXT NOT NULL DEFAULT '',
      encoding TEXT NOT NULL DEFAULT '',
      state TEXT NOT NULL,
      rows_total INTEGER NOT NULL DEFAULT 0,
      rows_imported INTEGER NOT NULL DEFAULT 0,
      rows_failed INTEGER NOT NULL DEFAULT 0,
      message TEXT NOT NULL DEFAULT '',
      received_at TEXT NOT NULL,
      started_at TEXT,
      finished_at TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      sha256 TEXT NOT NULL DEFAULT '',
      error_report TEXT NOT NULL DEFAULT '',
      report_state TEXT NOT NULL DEFAULT 'none'
    );
    CREATE INDEX runs_by_account ON runs (account, received_at);
    CREATE INDEX runs_by_received ON runs (received_at);
    CREATE TABLE run_errors (
      run_id TEXT NOT NULL REFERENCES runs (id),
      line INTEGER NOT NULL,
      "column" TEXT NOT NULL,
      value TEXT NOT NULL,
      message TEXT NOT NULL
    );
    CREATE INDEX run_errors_by_run ON run_errors (run_id, line);
    """,
    """
    CREATE TABLE sources (
      layout TEXT NOT NULL,
      account TEXT NOT NULL,
      source_file TEXT NOT NULL,
      run_id TEXT NOT NULL,
      first_rowid INTEGER NOT NULL,
      last_rowid INTEGER NOT NULL,
      PRIMARY KEY (layout, account, source_file)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN problem TEXT NOT NULL DEFAULT ''
    """,
    """
    ALTER TABLE runs ADD COLUMN idempotency_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_by_key ON runs (account, idempotency_key);
    CREATE INDEX runs_by_sha256 ON runs (account, sha256)
    """,
    """
    ALTER TABLE runs ADD COLUMN rows_inserted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_updated INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_skipped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_deleted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'replace_file';
    ALTER TABLE runs ADD COLUMN dry_run INTEGER NOT NULL DEFAULT 0
    """,
    """
    CREATE TABLE choice_values (
      layout TEXT NOT NULL,
      column_name TEXT NOT NULL,
      value TEXT NOT NULL,
      run_id TEXT NOT NULL,
      PRIMARY KEY (layout, column_name, value)
    )
    """,
    """
    ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}'
    """,
    # The delivery memory asks for the latest run of a file name.
    """
    CREATE INDEX runs_by_file ON runs (account, filename)
    """,
    # Honest counts: keys set and delete did not find, lines of empty cells read past.
    """
    ALTER TABLE runs ADD COLUMN rows_not_found INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN rows_empty INTEGER NOT NULL DEFAULT 0
    """,
    # A logical file may hold the rows of several runs: the file, then the corrected
    # error CSVs sent back for it (importers/filenames.py), all replaced together.
    """
    CREATE TABLE sources_by_run (
      layout TEXT NOT NULL,
      account TEXT NOT NULL,
      source_file TEXT NOT NULL,
      run_id TEXT NOT NULL,
      first_rowid INTEGER NOT NULL,
      last_rowid INTEGER NOT NULL,
      PRIMARY KEY (layout, account, source_file, run_id)
    );
    INSERT INTO sources_by_run SELECT layout, account, source_file, run_id, first_rowid,
      last_rowid FROM sources;
    DROP TABLE sources;
    ALTER TABLE sources_by_run RENAME TO sources
    """,
    # `renkei show` gives the file's size beside its sha256, received file kept or not
    # (NULL: the run is older than this column).
    """
    ALTER TABLE runs ADD COLUMN size INTEGER
    """,
    # A retry imports a run's kept file again as a new run that names the old one
    # (NULL: not a retry); a second retry while one is pending finds it by this index.
    """
    ALTER TABLE runs ADD COLUMN retry_of TEXT;
    CREATE INDEX runs_by_retry ON runs (retry_of)
    """,
    # Expected files: a day an account's file had not completed by its `expect.by`,
    # alerted once; closed by the first completed run received that day.
    """
    CREATE TABLE expected_misses (
      account TEXT NOT NULL,
      day TEXT NOT NULL,
      alerted_at TEXT NOT NULL,
      closed_at TEXT,
      closed_by_run TEXT,
      PRIMARY KEY (account, day)
    )
    """,
    # Daily digests: one row per (account, day) queued, so none is mailed twice.
    """
    CREATE TABLE digests (
      account TEXT NOT NULL,
      day TEXT NOT NULL,
      sent_at TEXT NOT NULL,
      runs INTEGER NOT NULL,
      PRIMARY KEY (account, day)
    )
    """,
    # Undo (取込取消): an undo is a run of its own naming the run it took back; what a
    # run changed is kept until a newer run of its file (or, keyed, of its account's
    # layout) commits: the before-images of the rows it replaced, updated or deleted,
    # and the `sources` entries it replaced. `run_undo` says a run's are kept (kept = 1)
    # and, in commit order (seq), which logical file it was.
    """
    ALTER TABLE runs ADD COLUMN undo_of TEXT;
    ALTER TABLE runs ADD COLUMN undone_by TEXT;
    CREATE TABLE run_undo (
      seq INTEGER PRIMARY KEY,
      run_id TEXT NOT NULL UNIQUE,
      layout TEXT NOT NULL,
      account TEXT NOT NULL,
      logical_file TEXT NOT NULL,
      mode TEXT NOT NULL,
      columns TEXT NOT NULL DEFAULT '[]',
      kept INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX run_undo_by_file ON run_undo (layout, account, logical_file COLLATE NOCASE);
    CREATE TABLE undo_rows (
      run_id TEXT NOT NULL,
      old_rowid INTEGER NOT NULL,
      image TEXT NOT NULL
    );
    CREATE INDEX undo_rows_by_run ON undo_rows (run_id);
    CREATE TABLE undo_sources (
      run_id TEXT NOT NULL,
      source_file TEXT NOT NULL,
      owner_run TEXT NOT NULL,
      first_rowid INTEGER NOT NULL,
      last_rowid INTEGER NOT NULL
    )
    """,
    # The report mail of each run as it went out, for the run's page: whom it was
    # queued for, when the relay took it (NULL: not yet, or never), how many tries, and
    # the relay's last answer. Alerts are no run's report and are not kept here.
    """
    CREATE TABLE run_reports (
      run_id TEXT PRIMARY KEY,
      recipients TEXT NOT NULL,
      queued_at TEXT NOT NULL,
      sent_at TEXT,
      attempts INTEGER NOT NULL DEFAULT 0,
      last_answer TEXT
    )
    """,
    # The console: who is logged in (a session ends at logout, at its expiry, or when
    # its user leaves the config), and the audit log of every login and action.
    """
    CREATE TABLE console_sessions (
      id TEXT PRIMARY KEY,
      user TEXT NOT NULL,
      address TEXT NOT NULL,
      created_at TEXT NOT NULL,
      expires_at TEXT NOT NULL
    );
    CREATE TABLE audit_log (
      seq INTEGER PRIMARY KEY,
      at TEXT NOT NULL,
      user TEXT NOT NULL,
      address TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      outcome TEXT NOT NULL,
      detail TEXT NOT NULL
    );
    CREATE INDEX audit_log_at ON audit_log (at)
    """,
    # Linkage the other way: a run is a receive (a file came in) or a send (rows went
    # out). Each request sent onward — a send's parts, a call's requests — is kept with
    # its answer, under the run it belongs to.
    """
    ALTER TABLE runs ADD COLUMN direction TEXT NOT NULL DEFAULT 'receive';
    CREATE TABLE outward_requests (
      job_id TEXT NOT NULL,
      seq INTEGER NOT NULL,
      run_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      name TEXT NOT NULL,
      method TEXT NOT NULL,
      url TEXT NOT NULL,
      bytes INTEGER NOT NULL,
      rows INTEGER NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      status INTEGER,
      answer TEXT NOT NULL DEFAULT '',
      at TEXT NOT NULL,
      PRIMARY KEY (job_id, seq)
    );
    CREATE INDEX outward_requests_by_run ON outward_requests (run_id)
    """,
    # The Records API's operation log: every create, update and delete of a layout's
    # row through the API, by whom ("admin" or the account), with the row before and
    # after as JSON (NULL: none); `record_key` is the JSON array of the key's values.
    """
    CREATE TABLE record_log (
      seq INTEGER PRIMARY KEY,
      layout TEXT NOT NULL,
      account TEXT NOT NULL,
      record_key TEXT NOT NULL,
      action TEXT NOT NULL,
      who TEXT NOT NULL,
      at TEXT NOT NULL,
      before TEXT,
      after TEXT
    );
    CREATE INDEX record_log_by_layout ON record_log (layout, account, seq)
    """,
    # Mail: the SPF/DKIM/DMARC verdict at the door, an RFC 8601 Authentication-Results
    # value ('' when not evaluated: another channel, or `sender_auth = "off"`).
    """
    ALTER TABLE runs ADD COLUMN authentication_results TEXT NOT NULL DEFAULT ''
    """,
    # Several instances on one store (PostgreSQL): which instance imported a run, and
    # one row per scheduled job and tick, taken by the one instance that runs it.
    """
    ALTER TABLE runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';
    CREATE TABLE schedule_slots (
      job TEXT NOT NULL,
      tick TEXT NOT NULL,
      instance TEXT NOT NULL,
      claimed_at TEXT NOT NULL,
      PRIMARY KEY (job, tick)
    )
    """,
    # The console's account switches and its signing key, when several instances
    # share the store (one instance keeps them in data_dir/switches.json and
    # data_dir/console.key), so a session and a switch hold on every instance.
    """
    CREATE TABLE account_switches (
      account TEXT PRIMARY KEY,
      status TEXT NOT NULL,
      by_user TEXT NOT NULL,
      at TEXT NOT NULL
    );
    CREATE TABLE console_secret (
      name TEXT PRIMARY KEY,
      secret TEXT NOT NULL
    )
    """,
    # Before-images as the row's own cells (c0, c1, … added as a layout needs them,
    # images.py) rather than a JSON array, found by the rowid range the run wrote
    # them in (run_undo.images_after, images_last) rather than by an index on run_id:
    # the JSON, the run's id on every image and its index were a third of a
    # million-row upsert. `image` keeps the JSON of the images taken before, and
    # PostgreSQL's; `run_id` is theirs (SQLite's range alone tells a run's own).
    """
    CREATE TABLE undo_images (
      run_id TEXT,
      old_rowid INTEGER NOT NULL,
      image TEXT
    );
    INSERT INTO undo_images (run_id, old_rowid, image)
      SELECT run_id, old_rowid, image FROM undo_rows ORDER BY run_id, old_rowid;
    DROP TABLE undo_rows;
    ALTER TABLE run_undo ADD COLUMN images_after INTEGER;
    ALTER TABLE run_undo ADD COLUMN images_last INTEGER
    """,
    # The sends and calls that follow a completed import (`after_import`): `pending`,
    # committed with the run, until the daemon has spooled them (`done`); '' when none
    # follows. A start finds those a crash left pending, as it finds reports.
    """
    ALTER TABLE runs ADD COLUMN forward_state TEXT NOT NULL DEFAULT ''
    """,
    # Expected files: the moment each account's expectation was last checked, so that
    # a due day whose `by` passed while the daemon was down is still alerted.
    """
    CREATE TABLE expect_checks (
      account TEXT PRIMARY KEY,
      checked_to TEXT NOT NULL
    )
    """,
    # The logical file each delivery is (filenames.file_key): a resend is answered only
    # while its run is the latest of that file, however the later ones spelled its name.
    # '' for runs recorded before: those are compared by their name, as they were.
    """
    ALTER TABLE runs ADD COLUMN file_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX runs_by_file_key ON runs (account, file_key)
    """,
    # The console's overview asks for the latest sends every few seconds: without it,
    # a store of many runs and few sends is read whole to find them.
    """
    CREATE INDEX runs_by_direction ON runs (direction, received_at)
    """,
    # Asked at every run's commit (the undo sources a newer run of the file drops) and
    # once a minute (reports still to queue): without these, each read every row kept.
    """
    CREATE INDEX undo_sources_by_run ON undo_sources (run_id);
    CREATE INDEX runs_pending_report ON runs (report_state) WHERE report_state = 'pending'
    """,
    # The run lists filtered by state or channel (the console's, the API's, `renkei
    # runs --state failed`): without these, a page of the few failed runs among many
    # read the whole history, twice (its count too).
    """
    CREATE INDEX runs_by_state ON runs (state, received_at);
    CREATE INDEX runs_by_channel ON runs (channel, received_at)
    """,
    # A run's message and its row errors as catalog words (messages.words_json), for
    # the console to say in its viewer's language; '' for those recorded before, and
    # for a message made without words: said as written.
    """
    ALTER TABLE runs ADD COLUMN said TEXT NOT NULL DEFAULT '';
    ALTER TABLE run_errors ADD COLUMN said TEXT NOT NULL DEFAULT ''
    """,
    # The sends and calls a crash left to start, asked at every start: without it, the
    # whole history was read to find the few (or none).
    """
    CREATE INDEX runs_pending_forward ON runs (forward_state) WHERE forward_state = 'pending'
    """,
    # A report's last answer as catalog words (messages.words_json) where it is the
    # system's (a refused connection, a timeout), not the relay's own: said in the
    # reader's language; '' for the relay's words and for tries recorded before.
    """
    ALTER TABLE run_reports ADD COLUMN last_said TEXT NOT NULL DEFAULT ''
    """,
    # Where a digest's window ended (UTC, as finished_at is written): the next one
    # starts there whatever digest_at says by then. Rebuilt from the current digest_at,
    # a change of it lost runs (moved later) or listed them twice (moved earlier).
    # NULL for those sent before: their day at the current digest_at, as before.
    """
    ALTER TABLE digests ADD COLUMN ended_at TEXT
    """,
    # A send's or call's request answer as catalog words where it is renkei's own (a
    # refused connection, a timeout), not the receiver's: said in the console viewer's
    # language; '' for the receiver's words and for answers recorded before.
    """
    ALTER TABLE outward_requests ADD COLUMN said TEXT NOT NULL DEFAULT ''
    """,
    # The idempotency keys of deliveries answered with an earlier run of the same
    # content, never spooled, so on no run of their own: the key's retry is answered
    # with that run too, after a restart as well (the same content was imported again,
    # over a newer version, once the first was no longer its file's latest).
    """
    CREATE TABLE delivery_keys (
      account TEXT NOT NULL,
      idempotency_key TEXT NOT NULL,
      run_id TEXT NOT NULL,
      at TEXT NOT NULL,
      PRIMARY KEY (account, idempotency_key)
    )
    """,
]


def _always() -> bool:
    return True


BUSY_TIMEOUT_MS = 30000
# For tests only: a shorter wait for another writer's lock, so that a database busy
# past its timeout can be reproduced in seconds (tests/test_resource_faults.py).
BUSY_TIMEOUT_VARIABLE = "RENKEI_BUSY_TIMEOUT_MS"


def busy_timeout_ms() -> int:
    """How long a statement waits for another writer before "database is locked"."""
    value = os.environ.get(BUSY_TIMEOUT_VARIABLE, "")
    return int(value) if value.isdigit() else BUSY_TIMEOUT_MS


# The page size a store is created with (SQLite's default is 4 KiB; one made before
# keeps its own, below). A large file's parts are copied in faster: claim to commit of a
# million rows 1.70 -> 1.64 s (4 columns, four alternated rounds), 3.82 -> 3.72 s (16
# columns, three), for about 0.1 ms more a small run's commits, whose pages go to the
# log whole. 64 KiB pages copied faster still (1.56 s), but a new store then took 3 MB
# before its first run, and every small commit wrote 64 KiB a page.
PAGE_SIZE = 16384


async def connect(path: Path) -> aiosqlite.Connection:
    """A connection to the store at `path`, set up. One that fails (a damaged file, a
    folder) leaves no thread behind: aiosqlite's thread is no daemon thread, and one
    left running keeps the process from ever exiting."""
    db = await opened(path, isolation_level=None)
    try:
        await _set_up(db)
    except BaseException:
        with contextlib.suppress(Exception):
            await db.close()
        raise
    return db


async def opened(*args: Any, **kwargs: Any) -> aiosqlite.Connection:
    """aiosqlite.connect(*args, **kwargs), leaving no thread behind when it fails."""
    connecting = aiosqlite.connect(*args, **kwargs)
    try:
        return await connecting
    except BaseException:
        # XXX aiosqlite stops its thread without waiting for it, which then reports its
        # end to a loop asyncio.run may have closed ("Event loop is closed"): wait for it.
        connecting._thread.join()
        raise


JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


async def _set_up(db: aiosqlite.Connection) -> None:
    db.row_factory = aiosqlite.Row
    for pragma in (
        # First, and a no-op on a store that exists: set after the cache size, the
        # page size made the 16 MiB below a cache of 4,000 pages of the new size (with
        # 64 KiB pages the copy of a large file took the process past 200 MB).
        f"page_size = {PAGE_SIZE}",
        f"busy_timeout = {busy_timeout_ms()}",
        # FULL: a commit survives power loss, because the spooled copy is deleted after it.
        "synchronous = FULL",
        "foreign_keys = ON",
        "cache_size = -16384",
        "temp_store = MEMORY",
        # The WAL kept the size of the largest import's (120 MB and more) until the
        # last connection closed: past a checkpoint that empties it, it is cut to this.
        f"journal_size_limit = {JOURNAL_SIZE_LIMIT}",
    ):
        await db.execute(f"PRAGMA {pragma}")


async def migrate(db: aiosqlite.Connection, may_upgrade: Callable[[], bool] = _always) -> None:
    """Bring the store up to MIGRATIONS. A store past them raises SchemaNewer; one
    behind raises SchemaBehind unless it is empty or `may_upgrade()` says this opener
    may migrate it (asked only then: the usual, up-to-date open pays nothing)."""
    # Up to date, the usual case: no write lock taken, so a read (`renkei runs`) never
    # waits for a writer that holds the store.
    [[version]] = await db.execute_fetchall("PRAGMA user_version")
    check_version(version, may_upgrade)
    if version == len(MIGRATIONS):
        return
    # Read the version again inside the write lock: a `renkei import` may start beside
    # the daemon and migrate first.
    await db.execute("BEGIN IMMEDIATE")
    try:
        [[version]] = await db.execute_fetchall("PRAGMA user_version")
        check_version(version, may_upgrade)
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                await db.execute(statement)
            if number == _SOURCES_MADE and version > 0:
                await _sources_of_older_rows(db)
            await db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        await db.rollback()
        raise
    await db.commit()


# The migration that made `sources`, which same-name replace finds a file's rows by.
_SOURCES_MADE = 2


async def _sources_of_older_rows(db: aiosqlite.Connection) -> None:
    """Record in `sources` the rows a renkei before it imported, found by their meta
    columns: a file sent again found none, and its new rows were added beside the
    old ones. One run's rows hold one range of rowids (it had the only writer)."""
    tables = await db.execute_fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    for (table,) in tables:
        columns = {
            row[1] for row in await db.execute_fetchall(f"PRAGMA table_info({quote(table)})")
        }
        if not columns.issuperset(META_COLUMNS):
            continue
        await db.execute(
            "INSERT OR IGNORE INTO sources (layout, account, source_file, run_id, first_rowid,"
            f" last_rowid) SELECT ?, _account, _source_file, _run_id, min(rowid), max(rowid)"
            f" FROM {quote(table)} GROUP BY _account, _source_file, _run_id",
            (table,),
        )


def check_version(version: int, may_upgrade: Callable[[], bool]) -> None:
    """Refuse a schema this renkei must not touch: one written by a newer renkei, or an
    older one an opener that may not upgrade it (a one-shot command beside a daemon)
    finds. An empty store (version 0) is no one's yet: any opener builds it."""
    known = len(MIGRATIONS)
    if version > known:
        raise SchemaNewer(version, known)
    if 0 < version < known and not may_upgrade():
        raise SchemaBehind(version, known)
