"""What the console's tests share: users in the config, logging in with httpx, and
the system Chromium for the browser tests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from daemon.settings.passwords import hash_password
from tests.support import Daemon, write_config

PASSWORD = "console-pass-1"
_HASH = hash_password(PASSWORD)
# admin sees everything; op runs acme; view reads acme; the beta pair sees beta only.
USERS = {
    "admin": ("admin", []),
    "op": ("operator", ["acme"]),
    "view": ("viewer", ["acme"]),
    "betaop": ("operator", ["beta"]),
}


def users_toml(users: dict[str, tuple[str, list[str]]] = USERS) -> str:
    lines = []
    for name, (role, accounts) in users.items():
        lines += [f"[users.{name}]", f'password_hash = "{_HASH}"', f'role = "{role}"']
        if accounts:
            lines.append("accounts = [" + ", ".join(f'"{a}"' for a in accounts) + "]")
    return "\n".join(lines) + "\n"


def login_token(client: httpx.Client) -> str:
    page = client.get("/console/login")
    assert page.status_code == 200, page.text
    return re.search(r'name="token" value="([^"]+)"', page.text).group(1)


def login(base_url: str, user: str, password: str = PASSWORD) -> httpx.Client:
    """An httpx client logged in to the console as `user` (redirects not followed)."""
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    token = login_token(client)
    answer = client.post(
        "/console/login", data={"user": user, "password": password, "token": token}
    )
    assert answer.status_code == 303, answer.text
    return client


def console_daemon(
    folder: Path, accounts: str, relay_port: int, users: dict[str, tuple[str, list[str]]] = USERS
) -> Iterator[Daemon]:
    """A module's daemon with `users` in its config (a fixture yields from it)."""
    config = write_config(folder, accounts, extra=users_toml(users), relay_port=relay_port)
    d = Daemon(config).start()
    yield d
    if d.proc.poll() is None:
        d.terminate()


def logged_in(daemon: Daemon, names: Iterable[str]) -> Iterator[dict[str, httpx.Client]]:
    """A client logged in as each of `names`, closed after (a fixture yields from it)."""
    made = {name: login(daemon.api, name) for name in names}
    yield made
    for client in made.values():
        client.close()


def kept_folder(d: Daemon, run_id: str) -> Path:
    """The folder a final run's file is kept in, once the file is there (a moment after
    the run is final: the console offers its download then)."""
    folder = d.data_dir / "files" / run_id
    deadline = time.monotonic() + 10
    while not (folder.is_dir() and any(folder.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return folder


def csrf(client: httpx.Client, path: str = "/console/") -> str:
    """The CSRF token the session's forms carry, read from a page."""
    page = client.get(path)
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def chromium_or_skip(module_level: bool = False) -> str:
    """The system Chromium for the browser tests; without it (or Playwright) they skip,
    except in CI (CI=true), where they fail."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as problem:  # pragma: no cover - depends on the machine
        missing = f"Playwright for Python does not import: {problem}"
    else:
        missing = "" if path else "no chromium (or chromium-browser) on PATH"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the browser tests: {missing}", pytrace=False)
        pytest.skip(missing, allow_module_level=module_level)
    assert path is not None
    return path


@contextlib.contextmanager
def launched(path: str) -> Iterator[Any]:
    """Chromium at `path`, driven by Playwright (no sandbox as root, as CI runs)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        chromium = playwright.chromium.launch(executable_path=path, args=args)
        try:
            yield chromium
        finally:
            chromium.close()
