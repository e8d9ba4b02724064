"""A real PostgreSQL server for the tests, started by pytest-postgresql.

Finding the server: `pg_ctl` on PATH, else the newest Debian/Ubuntu install,
`/usr/lib/postgresql/<version>/bin/pg_ctl` (Debian's `postgresql` package does not put
the server binaries on PATH). Without one the PostgreSQL tests skip with the reason,
except under `CI=true`, where they fail (`.ci/run` installs `postgresql` when missing).

Each pytest-xdist worker is its own session: it starts its own server on a free port
(`port=None`) with a data directory under that worker's pytest temporary directory, and
stops it and removes the directory at the end of the session.

Running as root: `initdb` and `postgres` refuse to run as root, and pytest-postgresql runs
`pg_ctl` as the current user. So as root the executable handed to pytest-postgresql is a
small generated wrapper around the real `pg_ctl` that drops to the `postgres` system user
(created by Debian's package) with `setpriv` (util-linux, always installed on Debian)
before exec'ing `pg_ctl`. `setpriv` exec's directly, with no PAM session and no extra
process in between, unlike `su`/`runuser`. Every `pg_ctl` call pytest-postgresql makes
(`--version`, `initdb`, `start`, `status`, `stop`) passes through it. The data directory
lives in pytest's root-owned, mode-0700 temporary tree, so before dropping privileges
the wrapper makes the data directory's parent (the fixture's own temporary directory,
which also holds the server log) owned by `postgres`, and gives its ancestors search
permission for others (`o+x`, no listing). Root still removes everything afterwards.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI") == "true"
RUN_AS = "postgres"  # the system user Debian's postgresql package creates


def find_pg_ctl() -> str | None:
    """pg_ctl on PATH, else the newest /usr/lib/postgresql/<version>/bin/pg_ctl."""
    found = shutil.which("pg_ctl")
    if found:
        return found

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parents[1].name))

    installed = [
        p for p in Path("/usr/lib/postgresql").glob("*/bin/pg_ctl") if os.access(p, os.X_OK)
    ]
    return str(max(installed, key=version)) if installed else None


PG_CTL = find_pg_ctl()
AS_ROOT = os.geteuid() == 0
# The executable pytest-postgresql runs: pg_ctl itself, or as root the wrapper that
# `_write_root_wrapper` writes there before the server starts (one per worker process).
EXECUTABLE = (
    str(Path(tempfile.gettempdir()) / f"renkei-pg_ctl-as-{RUN_AS}-{os.getpid()}")
    if AS_ROOT
    else PG_CTL or "pg_ctl"
)

_WRAPPER = """#!/bin/sh
# Written by renkei's tests/postgres.py: run pg_ctl as {user}, not root (see there).
set -e
prev=
for arg in "$@"; do
  case "$prev" in -D|--pgdata) parent=$(dirname "$arg") ;; esac
  prev=$arg
done
if [ -n "${{parent:-}}" ] && [ -d "$parent" ]; then
  chown {user}: "$parent"
  dir=$(dirname "$parent")
  while [ "$dir" != / ]; do
    [ -x "$dir" ] && [ "$(stat -c %A "$dir" | cut -c10)" != - ] || chmod o+x "$dir"
    dir=$(dirname "$dir")
  done
fi
cd /
exec setpriv --reuid={user} --regid={user} --init-groups -- {pg_ctl} "$@"
"""


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must run the PostgreSQL tests: {reason}", pytrace=False)
    pytest.skip(reason)


def _write_root_wrapper() -> None:
    try:
        pwd.getpwnam(RUN_AS)
    except KeyError:
        _unavailable(f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as")
    if shutil.which("setpriv") is None:
        _unavailable("running as root and setpriv (util-linux) is not installed")
    path = Path(EXECUTABLE)
    path.write_text(_WRAPPER.format(user=RUN_AS, pg_ctl=shlex.quote(str(PG_CTL))), "utf-8")
    path.chmod(0o700)
    # Removed when the worker exits: the server's teardown (pg_ctl stop) still needs it.
    atexit.register(path.unlink, missing_ok=True)


def server_fixture(process_fixture_name: str) -> Callable[..., Iterator[object]]:
    """Session fixture (per xdist worker): the started server of `process_fixture_name`.

    `process_fixture_name` names a `factories.postgresql_proc(executable=EXECUTABLE, ...)`
    fixture. This one first checks that a server binary exists (skip, or fail under
    CI=true) and, as root, writes the wrapper; only then does it start the server.
    """

    @pytest.fixture(scope="session")
    def server(request: pytest.FixtureRequest) -> Iterator[object]:
        if PG_CTL is None:
            _unavailable(
                "no PostgreSQL server binary: pg_ctl is neither on PATH nor in "
                "/usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
            )
        if AS_ROOT:
            _write_root_wrapper()
        yield request.getfixturevalue(process_fixture_name)

    return server


def database_url(proc) -> Iterator[str]:
    """A fresh empty database on the server `proc` for one test, dropped afterwards."""
    from pytest_postgresql.janitor import DatabaseJanitor

    dbname = f"renkei_test_{uuid.uuid4().hex[:12]}"
    with DatabaseJanitor(
        user=proc.user,
        host=proc.host,
        port=proc.port,
        dbname=dbname,
        template_dbname=proc.template_dbname,
        password=proc.password,
    ):
        yield f"postgresql://{proc.user}@{proc.host}:{proc.port}/{dbname}"
