"""The tree is the architecture: channels never reach the importer or the store, the
importer never opens a socket, SQL lives only in the store, nothing after the spool
asks which channel a file came by, and no module imports itself round a cycle.
Checked on the source itself."""

from __future__ import annotations

import ast
import re
import string
from functools import cache
from pathlib import Path

import pytest

from importers.messages import CATALOG, LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("daemon", "handlers", "importers")
# What comes after the spool: blind to the channel a file came by.
AFTER_SPOOL = ("daemon/worker", "daemon/store", "daemon/report", "importers")
SQL = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM"
    r"|CREATE\s+(TABLE|INDEX)|ALTER\s+TABLE|DROP\s+TABLE|PRAGMA\s|BEGIN\b|ATTACH\s+DATABASE)",
    re.DOTALL,
)


@cache
def modules() -> dict[str, ast.Module]:
    """Every module of the packages, by dotted name."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def source_of(name: str) -> str:
    return name.replace(".", "/")


def imports_of(name: str) -> set[str]:
    """Every module `name` imports, anywhere in it (a lazy import is still a use)."""
    known = modules()
    names = set()
    for node in ast.walk(known[name]):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from daemon.worker import staging` imports the module daemon.worker.staging
            names |= {f"{node.module}.{a.name}" for a in node.names} & known.keys()
    return names


def strings_of(tree: ast.Module) -> list[str]:
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "handlers",
            ("importers", "daemon.store", "daemon.worker", "daemon.spool", "aiosqlite", "sqlite3"),
        ),
        (
            "importers",
            ("daemon", "handlers", "socket", "asyncio", "aiosmtpd", "fastapi", "sqlite3"),
        ),
    ],
)
def test_layers_keep_to_themselves(package, forbidden):
    for name in modules():
        if name.split(".")[0] == package:
            bad = {n for n in imports_of(name) if n.startswith(forbidden)}
            assert not bad, f"{source_of(name)} imports {bad}"


def test_no_import_cycles():
    known = modules()
    graph = {name: {n for n in imports_of(name) if n in known and n != name} for name in known}
    # A package's __init__ that imports its own modules is how it re-exports them,
    # not a cycle through them.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not (t.startswith(name + ".") and name in known)}
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            cycle = path[path.index(name) :] + [name]
            raise AssertionError("import cycle: " + " → ".join(cycle))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


def test_only_the_store_holds_sql():
    for name, tree in modules().items():
        if name.startswith("daemon.store"):
            continue
        statements = [s for s in strings_of(tree) if SQL.search(s)]
        assert not statements, f"{source_of(name)} holds SQL: {statements[0][:80]!r}"


def _channel_reads(node: ast.AST) -> list[ast.AST]:
    return [
        n
        for n in ast.walk(node)
        if (isinstance(n, ast.Attribute) and n.attr == "channel")
        or (
            isinstance(n, ast.Subscript)
            and isinstance(n.slice, ast.Constant)
            and n.slice.value == "channel"
        )
    ]


def test_nothing_after_the_spool_branches_on_the_channel():
    for name, tree in modules().items():
        if not source_of(name).startswith(AFTER_SPOOL):
            continue
        for node in ast.walk(tree):
            tests = []
            if isinstance(node, ast.If | ast.IfExp | ast.While):
                tests = [node.test]
            elif isinstance(node, ast.Compare | ast.BoolOp | ast.Match):
                tests = [node]
            elif isinstance(node, ast.comprehension):
                tests = node.ifs
            for test in tests:
                assert not _channel_reads(test), (
                    f"{source_of(name)}:{test.lineno} decides by the channel"
                )


def test_the_worker_never_reads_the_channel():
    for name, tree in modules().items():
        if name.startswith("daemon.worker"):
            reads = _channel_reads(tree)
            assert not reads, f"{source_of(name)}:{reads[0].lineno} reads the channel"


def test_every_module_opens_with_a_docstring():
    for name, tree in modules().items():
        assert ast.get_docstring(tree), f"{source_of(name)} has no docstring"


def test_every_message_exists_in_every_language_with_the_same_placeholders():
    for key, entry in CATALOG.items():
        assert set(entry) == set(LANGUAGES), key
        fields = {
            lang: {f for _, f, _, _ in string.Formatter().parse(text) if f}
            for lang, text in entry.items()
        }
        assert fields["ja"] == fields["en"], key


def test_every_catalog_key_used_in_code_exists():
    sources = "\n".join(p.read_text(encoding="utf-8") for p in ROOT.glob("*/**/*.py"))
    for key in CATALOG:
        prefix = key.rsplit(".", 1)[0]
        assert f'"{key}"' in sources or f"{prefix}." in sources, f"unused message {key}"
