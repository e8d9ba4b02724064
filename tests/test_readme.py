"""Every example in the README runs as written, and every example config's samples import.

README.md's ```sh and ```python blocks are examples a reader pastes. An HTML comment
right before each (invisible on the rendered page) says what this test does with it:

    <!-- run: NAME -->   run it while `renkei serve --config config/NAME.example.toml`
                         serves (NAME: renkei, expense, mail-delivery)
    <!-- norun -->       leave it: setup, `make run` itself, servers, long-running commands

A block with neither fails, so a new example has to say which it is. Blocks in other
languages (toml, json, diagrams) are not commands and are not looked at.

Each config is served as shipped, on the fixed ports its file and the README name, from
a scratch copy of the project root (config/ copied, .venv linked): the blocks' relative
paths (config/sample/…, var/renkei.db, .venv/bin/renkei) mean what they mean to a reader,
and the developer's own var/ is never touched. A config whose port is taken is skipped
with the reason, as is a block whose command is not installed; under CI=true both fail.
sh blocks run with `bash -e`, python blocks with the venv's python, in README order per
config; after each, the test waits until every file it handed over became a finished
run, and checks that each completed and left its rows in its layout's table.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from daemon.settings import Settings, load
from tests.support import ROOT, Daemon

README = ROOT / "README.md"
SAMPLES = ROOT / "config" / "sample"
LANGUAGES = {"sh", "python"}
NORUN = "norun"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence in README.md
    language: str
    code: str
    marker: str  # "norun", "run: NAME", or "" when the README says neither

    @property
    def config(self) -> str | None:
        return self.marker.removeprefix("run:").strip() if self.marker.startswith("run:") else None


def readme_blocks() -> list[Block]:
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if not lines[i].startswith("```"):
            i += 1
            continue
        language = lines[i][3:].split()[0] if lines[i][3:].strip() else ""
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        if language in LANGUAGES:
            code = "\n".join(lines[i + 1 : end]) + "\n"
            blocks.append(Block(i + 1, language, code, _marker(lines[:i])))
        i = end + 1
    return blocks


def _marker(before: list[str]) -> str:
    """The `<!-- … -->` on the last non-blank line before a fence, else ''."""
    last = next((line.strip() for line in reversed(before) if line.strip()), "")
    if last.startswith("<!--") and last.endswith("-->"):
        return last[4:-3].strip()
    return ""


BLOCKS = readme_blocks()
CONFIGS = sorted({b.config for b in BLOCKS if b.config})
EXAMPLES = sorted(p.name.removesuffix(".example.toml") for p in ROOT.glob("config/*.example.toml"))


def skip_or_fail(reason: str) -> None:
    """Outside CI a busy port or a missing tool is the machine's, not the README's."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


def test_every_readme_example_says_whether_it_runs():
    unmarked = [
        f"README.md:{b.line}: ```{b.language} block has no <!-- run: NAME --> or <!-- norun -->"
        for b in BLOCKS
        if b.marker != NORUN and b.config is None
    ]
    assert not unmarked, "\n".join(unmarked)
    unknown = [
        f"README.md:{b.line}: {b.config}" for b in BLOCKS if b.config not in (None, *EXAMPLES)
    ]
    assert not unknown, f"no config/NAME.example.toml for: {unknown}"


def test_every_example_config_has_a_readme_example():
    assert set(CONFIGS) == set(EXAMPLES)


# --- serving the example configs ----------------------------------------------------


@dataclass
class Served:
    root: Path  # the scratch project root the blocks run in
    daemons: dict[str, Daemon]
    unserved: dict[str, str]  # config name -> why it is not served

    def settings(self, name: str) -> Settings:
        return load(self.config(name))

    def config(self, name: str) -> Path:
        return self.root / "config" / f"{name}.example.toml"

    def daemon(self, name: str) -> Daemon:
        if name in self.unserved:
            skip_or_fail(self.unserved[name])
        return self.daemons[name]


def mirror(folder: Path) -> Path:
    shutil.copytree(ROOT / "config", folder / "config")
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return folder


def port_in_use(listen: str) -> bool:
    host, port = listen.rsplit(":", 1)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            s.bind((host, int(port)))
        except OSError:
            return True
    return False


def example_daemon(config: Path) -> Daemon:
    settings = load(config)
    daemon = Daemon(config, data_dir=(config.parent / settings.daemon.data_dir).resolve())
    daemon.api_port = int(settings.api.listen.rsplit(":", 1)[1])
    daemon.log = config.with_suffix(".log")
    return daemon


def start(daemon: Daemon) -> str | None:
    """Start `daemon`; the reason when it would not."""
    try:
        daemon.start()
    except AssertionError as exc:
        return f"{daemon.config.name} did not start: {exc}"
    return None


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    it = Served(mirror(tmp_path_factory.mktemp("readme")), {}, {})
    for name in CONFIGS:
        busy = [a for a in it.settings(name).listeners().values() if port_in_use(a)]
        if busy:
            it.unserved[name] = f"config/{name}.example.toml: {', '.join(busy)} in use"
        else:
            it.daemons[name] = example_daemon(it.config(name))
    with ThreadPoolExecutor() as pool:  # the daemons start side by side, as a reader's would
        failures = dict(zip(it.daemons, pool.map(start, it.daemons.values()), strict=True))
    try:
        assert not any(failures.values()), "\n".join(filter(None, failures.values()))
        yield it
    finally:
        for name, daemon in it.daemons.items():
            if failures.get(name) is None:
                daemon.terminate()


# --- running the blocks -------------------------------------------------------------


def run_block(block: Block, root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RENKEI_", "NOTIFY_"))}
    env["PATH"] = f"{root / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if block.language == "sh":
        command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        command = [str(root / ".venv" / "bin" / "python"), "-c", block.code]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=60)


def wait_until_settled(daemon: Daemon, settings: Settings, timeout: float = 20) -> None:
    """Until every file handed over (drop folders, spool) is a finished run."""
    config_dir = daemon.config.parent
    folders = [daemon.data_dir / "spool" / "incoming", daemon.data_dir / "spool" / "active"]
    folders += [config_dir / a.dropdir.path for a in settings.accounts.values() if a.dropdir]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        waiting = [p for f in folders if f.is_dir() for p in f.iterdir()]
        busy = daemon.query("SELECT id FROM runs WHERE state IN ('queued', 'running')")
        if not waiting and not busy:
            return
        time.sleep(0.1)
    raise AssertionError(f"still waiting: files {waiting}, runs {busy}")


def unfinished_business(daemon: Daemon) -> list[tuple]:
    return daemon.query(
        "SELECT id, account, filename, state, message FROM runs WHERE state != 'completed'"
    )


def layouts_without_rows(daemon: Daemon) -> list[tuple[str, str]]:
    empty = []
    for layout, account in daemon.query("SELECT DISTINCT layout, account FROM runs"):
        sql = f'SELECT count(*) FROM "{layout}" WHERE _account = ?'
        if daemon.query(sql, (account,)) == [(0,)]:
            empty.append((layout, account))
    return empty


@pytest.mark.parametrize("name", CONFIGS)
def test_readme_examples_run_as_written(examples, name):
    daemon, settings = examples.daemon(name), examples.settings(name)
    missing = []
    for block in (b for b in BLOCKS if b.config == name):
        done = run_block(block, examples.root)
        where = f"README.md:{block.line} ({name})\n{block.code}{done.stdout}{done.stderr}"
        if done.returncode == 127 and "command not found" in done.stderr:
            missing.append(f"README.md:{block.line}: {done.stderr.strip()}")
            continue
        assert done.returncode == 0, where
        assert '"error":' not in done.stdout, where  # an API error body: curl exits 0 on it
        wait_until_settled(daemon, settings)
        assert not unfinished_business(daemon), where
    assert daemon.query("SELECT count(*) FROM runs") != [(0,)], f"no {name} block sent a file"
    assert not layouts_without_rows(daemon)
    if missing:
        skip_or_fail("\n".join(missing))


# --- the samples of every layout ----------------------------------------------------


def sample_layout(path: Path, settings: Settings, account: str) -> str:
    """The layout a sample is for: the one its name starts with, else the account's."""
    named = [layout for layout in settings.layouts if path.stem.startswith(layout)]
    return max(named, key=len) if named else settings.accounts[account].layout


def layout_parameters(settings: Settings, account: str, layout: str) -> dict[str, str]:
    """The request parameter that picks `layout` for `account`, as its sender would."""
    if layout == settings.accounts[account].layout:
        return {}
    for parameter, values in settings.accounts[account].api.params.items():
        for value, effect in values.items():
            if effect.layout == layout:
                return {parameter: value}
    raise AssertionError(f"no parameter of accounts.{account}.api picks layout {layout}")


def post_sample(daemon: Daemon, settings: Settings, account: str, path: Path) -> httpx.Response:
    api = settings.accounts[account].api
    token = f"Bearer {api.token}" if api.token_header == "Authorization" else api.token
    parameters = layout_parameters(settings, account, sample_layout(path, settings, account))
    fields = {api.json_field: json.dumps(parameters)} if api.body == "json" else parameters
    return httpx.post(
        f"{daemon.api}{api.path}",
        headers={api.token_header: token},
        files={api.file_field: (path.name, path.read_bytes(), "text/csv")},
        data=fields,
        params={"wait": "true"},
        timeout=60,
    )


def data_rows(path: Path) -> int:
    """Lines less the header: the samples hold no line break inside a cell."""
    return len(path.read_bytes().splitlines()) - 1


@pytest.mark.parametrize("name", [n for n in EXAMPLES if n != "renkei"])
def test_every_layout_of_an_example_config_has_a_sample_that_imports(examples, name):
    """config/sample/NAME/ holds what NAME's sender sends; renkei's own is config/sample/."""
    daemon, settings = examples.daemon(name), examples.settings(name)
    [account] = [n for n, a in settings.accounts.items() if a.api]
    samples = sorted((SAMPLES / name).glob("*.csv"))
    covered = {sample_layout(p, settings, account) for p in samples}
    assert covered == set(settings.layouts), f"config/sample/{name}/ lacks a layout"
    for path in samples:
        reply = post_sample(daemon, settings, account, path)
        assert reply.status_code == 200, (path.name, reply.text)
        run = reply.json()
        assert (run["state"], run["rows_failed"]) == ("completed", 0), (path.name, run)
        assert run["rows_total"] == data_rows(path), (path.name, run)
