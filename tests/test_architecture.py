"""The tree is the architecture: channels never reach the importer or the store, and the
importer never opens a socket. Checked on the import statements themselves."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from importers.messages import CATALOG, LANGUAGES

ROOT = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("handlers", ("importers", "daemon.store", "daemon.pipeline", "daemon.spool", "aiosqlite")),
        ("importers", ("daemon", "handlers", "socket", "asyncio", "aiosmtpd", "fastapi")),
    ],
)
def test_layers_keep_to_themselves(package, forbidden):
    for module, names in imports_of(package).items():
        bad = {n for n in names if n.startswith(forbidden)}
        assert not bad, f"{package}/{module} imports {bad}"


def test_every_message_exists_in_every_language_with_the_same_placeholders():
    for key, entry in CATALOG.items():
        assert set(entry) == set(LANGUAGES), key
        fields = {
            lang: {f for _, f, _, _ in string.Formatter().parse(text) if f}
            for lang, text in entry.items()
        }
        assert fields["ja"] == fields["en"], key


def test_every_catalog_key_used_in_code_exists():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("*/*.py"))
    for key in CATALOG:
        prefix = key.rsplit(".", 1)[0]
        assert f'"{key}"' in sources or f"{prefix}." in sources, f"unused message {key}"
