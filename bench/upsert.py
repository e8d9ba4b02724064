"""`python -m bench upsert`: a keyed import against a replace of the same file.

Each round imports the 4-column file three times by the whole `renkei import`
command: as a replace into an empty table, as an upsert into an empty table (every
key new), and as an upsert again into that table (every key there already, so every
row is looked up and matched). Both upserts are held to 2× the replace.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bench.child import run_child
from bench.figures import Figure
from bench.layout import IMPORT_ONLY

CONFIG = (
    """
[daemon]
data_dir = "{data}"
"""
    + IMPORT_ONLY
    + """
[layouts.keyed]
key = ["member_no"]
columns = [
  { name = "member_no",    type = "int",  required = true },
  { name = "date",         type = "date", required = true },
  { name = "sales_amount", type = "int",  max_digits = 13 },
  { name = "note",         type = "text", max_length = 3000 },
]
[accounts.replace]
layout = "keyed"
encoding = "cp932"
report = "never"
[accounts.upsert]
layout = "keyed"
mode = "upsert"
encoding = "cp932"
report = "never"
"""
)
TARGET = 2.0


def _import(source: Path, folder: Path, account: str) -> float:
    renkei = str(Path(sys.executable).with_name("renkei"))
    config = str(folder / "renkei.toml")
    seconds, _, _ = run_child(
        [renkei, "import", str(source), "--account", account, "--config", config]
    )
    return seconds


def _folder(work: Path, name: str) -> Path:
    folder = work / name
    folder.mkdir()
    text = CONFIG.replace("{data}", str(folder / "var"))
    (folder / "renkei.toml").write_text(text, encoding="utf-8")
    return folder


def run(rounds: int, source: Path, rows: int) -> list[Figure]:
    replaced, new, again = [], [], []
    for number in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(dir=source.parent) as tmp:
            work = Path(tmp)
            replaced.append(_import(source, _folder(work, "replace"), "replace"))
            upserted = _folder(work, "upsert")
            new.append(_import(source, upserted, "upsert"))
            again.append(_import(source, upserted, "upsert"))
        print(
            f"upsert round {number}/{rounds}: replace {replaced[-1]:.2f} s,"
            f" upsert of new keys {new[-1] / replaced[-1]:.2f}x,"
            f" of existing keys {again[-1] / replaced[-1]:.2f}x",
            flush=True,
        )
    label = f"{rows:,} rows"
    return [
        Figure(
            f"renkei import upsert, new keys, {label}",
            "replace of the same file",
            new,
            replaced,
            "s",
            TARGET,
            higher_is_better=False,
        ),
        Figure(
            f"renkei import upsert, keys there, {label}",
            "replace of the same file",
            again,
            replaced,
            "s",
            TARGET,
            higher_is_better=False,
        ),
    ]
