"""A SIGHUP in the first moments of `renkei serve`, before the master exists: remembered
and made a reload once ready, never the end of the process (SIGHUP's default action)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ROOT, NotifySocket, account, stop_serving, write_config

EARLY_SECONDS = 0.3  # SIGHUPs keep coming this long after the settings are read


def _catches_sighup(pid: int) -> bool:
    """Whether the process has a handler for SIGHUP (the kernel's SigCgt mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)))
    return False


def _next_reader(fifo: Path, proc: subprocess.Popen, notify: NotifySocket) -> int | None:
    """The FIFO's write end once the process opens the FIFO to read it; None once the
    process is ready instead (it reads its config no more while starting)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        assert proc.poll() is None, "renkei serve ended while starting"
        notify.drain()
        if "READY=1" in notify.received:
            return None
        assert time.monotonic() < deadline, "renkei serve neither read its config nor started"
        time.sleep(0.005)


def _hup_for(proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.01)


def _reloaded_once_ready(proc: subprocess.Popen, log: Path, notify, api_port: int) -> None:
    """The daemon got ready, made the reload a SIGHUP while starting asked for, and
    serves."""
    notify.wait_for("READY=1", timeout=60, proc=proc)
    deadline = time.monotonic() + 60
    while "config reloaded" not in log.read_text() and proc.poll() is None:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    assert proc.poll() is None, log.read_text()
    assert "reloading: a SIGHUP came while starting" in log.read_text()
    assert httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=10).status_code == 200


def _hup_while_loading(config: Path, text: bytes, proc, notify) -> bool:
    """Hand the config to each read of it through a FIFO. At the first read made while
    the process already takes SIGHUP (inside `renkei serve`, loading its settings, long
    before the master exists), send SIGHUPs while it waits for the text. True when such
    a read came before READY=1. The reads before it (the command line's language, from
    the same file) only get the text. Later reads, the reloads', find a plain file."""
    plain = config.with_name("plain.toml")
    plain.write_bytes(text)
    os.mkfifo(config)
    while True:
        writer = _next_reader(config, proc, notify)
        held = writer is not None and _catches_sighup(proc.pid)
        # The FIFO's reader keeps its end while the name goes to what the next read
        # finds: in place before this read is given its text.
        if writer is None or held:
            plain.replace(config)
        else:
            config.unlink()
            os.mkfifo(config)
        if held:
            _hup_for(proc, 0.1)
            assert proc.poll() is None, "a SIGHUP ended renkei serve while it loaded"
        if writer is None:
            return False
        os.set_blocking(writer, True)
        os.write(writer, text)
        os.close(writer)
        if held:
            return True


def test_a_sighup_while_the_settings_load_is_reloaded_once_ready(tmp_path):
    config = write_config(tmp_path, account("acme"))
    text = config.read_bytes()
    api_port = int(text.split(b'[api]\nlisten = "127.0.0.1:')[1].split(b'"')[0])
    config.unlink()
    log = tmp_path / "daemon.log"
    notify = NotifySocket(tmp_path / "notify.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon.cli", "serve", "--config", str(config)],
        cwd=ROOT,
        env={**os.environ, "NOTIFY_SOCKET": str(notify.path), "LC_ALL": "en_US.UTF-8"},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        held = _hup_while_loading(config, text, proc, notify)
        assert held, "renkei serve did not take SIGHUP while it loaded its settings"
        _hup_for(proc, EARLY_SECONDS)  # while it imports its modules and starts
        _reloaded_once_ready(proc, log, notify, api_port)
    finally:
        stop_serving(proc, notify)


def _mapped(pid: int, library: str) -> bool:
    """Whether the process has loaded a shared library whose file name starts so."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(Path(line.split()[-1]).name.startswith(library) for line in maps.splitlines())


def test_the_renkei_command_holds_sighup_before_it_imports_its_modules(tmp_path):
    # The `renkei` command a user runs, as installed: from its entry point on, a SIGHUP
    # is held, long before the settings' models (pydantic_core) are even loaded.
    config = write_config(tmp_path, account("acme"))
    text = config.read_bytes()
    api_port = int(text.split(b'[api]\nlisten = "127.0.0.1:')[1].split(b'"')[0])
    log = tmp_path / "daemon.log"
    notify = NotifySocket(tmp_path / "notify.sock")
    command = Path(sys.executable).with_name("renkei")
    proc = subprocess.Popen(
        [str(command), "serve", "--config", str(config)],
        env={**os.environ, "NOTIFY_SOCKET": str(notify.path), "LC_ALL": "en_US.UTF-8"},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _catches_sighup(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.001)
        early = not _mapped(proc.pid, "_pydantic_core")
        _hup_for(proc, EARLY_SECONDS)
        assert early, "renkei took SIGHUP only once its modules were imported"
        _reloaded_once_ready(proc, log, notify, api_port)
    finally:
        stop_serving(proc, notify)
