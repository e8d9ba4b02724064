"""Golden files: each tests/golden/<case>.csv beside <case>.json, imported through the
same pipeline `renkei import` uses, must give exactly the expected run, rows and errors.
A new case is a new pair of files, not new code."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from daemon.oneshot import import_file
from tests.support import PERFORMANCE_LAYOUT, in_process_settings

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json"))
LAYOUT = PERFORMANCE_LAYOUT


def run_case(tmp_path: Path, case: str) -> tuple[dict, list, list]:
    spec = json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))
    account = {"layout": "performance", **spec["account"]}
    # A case may add keys to columns: {"columns": {"date": {"wareki": true}}}.
    changes = spec.get("columns", {})
    layout = {"columns": [{**c, **changes.get(c["name"], {})} for c in LAYOUT["columns"]]}
    settings = in_process_settings(tmp_path / "var", {"performance": layout}, {"golden": account})
    source = tmp_path / "in" / spec["filename"]
    source.parent.mkdir()
    shutil.copy(GOLDEN / f"{case}.csv", source)
    run, _ = asyncio.run(import_file(settings, source, "golden"))
    with sqlite3.connect(tmp_path / "var" / "renkei.db") as db:
        rows = db.execute(
            "SELECT member_no, date, sales_amount, note FROM performance ORDER BY rowid"
        ).fetchall()
        errors = db.execute(
            'SELECT line, "column", value, message FROM run_errors WHERE run_id = ? ORDER BY rowid',
            (run["id"],),
        ).fetchall()
    return run, [list(r) for r in rows], [list(e) for e in errors]


@pytest.mark.parametrize("case", CASES)
def test_golden(tmp_path, case):
    expect = json.loads((GOLDEN / f"{case}.json").read_text(encoding="utf-8"))["expect"]
    run, rows, errors = run_case(tmp_path, case)
    assert run["state"] == expect["state"], run
    for key in ("encoding", "rows_total", "rows_imported", "rows_failed", "rows_empty"):
        if key in expect:
            assert run[key] == expect[key], (key, run)
    if "rows" in expect:
        assert rows == expect["rows"]
    if run["state"] != "completed":
        assert rows == [], "a failed file leaves no row behind"
    if "errors" in expect:
        assert [e[:3] for e in errors] == expect["errors"]
    # The message of each error, in order: a part of it that must appear.
    if "error_messages" in expect:
        for (_, _, _, text), part in zip(errors, expect["error_messages"], strict=True):
            assert part in text, (part, text)
    if "message_contains" in expect:
        assert expect["message_contains"] in run["message"], run["message"]
    for text in expect.get("message_contains_all", []):
        assert text in run["message"], run["message"]
    assert run["channel"] == "cli" and run["account"] == "golden"
