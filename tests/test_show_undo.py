"""`renkei show RUN` in text says a run was undone, by which run, and that a run is the
undo of another, in the catalog's words of the config's language.

The real command line: `renkei import` twice, `renkei undo` of the second, then
`renkei show` of both runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importers.messages import message
from tests.support import account, csv_bytes, renkei, write_config


def imported(config: Path, folder: Path, name: str, *rows: str) -> dict:
    path = folder / name
    path.write_bytes(csv_bytes(list(rows)))
    args = ("import", str(path), "--account", "acme", "--json", "--config", str(config))
    result = renkei(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def shown(config: Path, run_id: str, *more: str) -> str:
    result = renkei("show", run_id, *more, "--config", str(config))
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("language", ["ja", "en"])
def test_show_says_undone_by_and_undo_of(tmp_path, language):
    config = write_config(tmp_path, account("acme"))
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[report]\n", f'[report]\nlanguage = "{language}"\n'), "utf-8")
    imported(config, tmp_path, "20240515.csv", "1,2024/05/15,10,x")
    undone = imported(config, tmp_path, "20240516.csv", "2,2024/05/16,20,y")
    assert undone["state"] == "completed", undone
    assert renkei("undo", undone["id"], "--config", str(config)).returncode == 0
    undo_id = json.loads(shown(config, undone["id"], "--json"))["undone_by"]
    assert undo_id

    undone_text = shown(config, undone["id"])
    assert f"{message('cli.show.undone_by', language)}: {undo_id}" in undone_text
    assert message("cli.show.undo_of", language) not in undone_text
    undo_text = shown(config, undo_id)
    assert f"{message('cli.show.undo_of', language)}: {undone['id']}" in undo_text
    assert message("cli.show.undone_by", language) not in undo_text
    # An undo is no import: no mode, counts or result of its own, no file "not kept";
    # its message says what it deleted and restored.
    for said in ("report.field.mode", "report.field.counts", "report.field.result"):
        assert f"{message(said, language)}:" not in undo_text, undo_text
    assert message("cli.show.not_kept", language) not in undo_text
    assert message("report.field.filename", language) not in undo_text
    assert f"{message('report.field.message', language)}:" in undo_text
