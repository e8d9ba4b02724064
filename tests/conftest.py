from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from pytest_postgresql import factories

from tests import postgres
from tests.capture import Capture
from tests.support import Relay

# Mail senders are authenticated at the door (handlers/mailauth.py) with DNS lookups:
# every daemon a test starts answers them from an empty stub zone (nothing exists), so
# no test depends on the network. tests/test_sender_auth.py gives its own zones.
_EMPTY_ZONE = Path(tempfile.gettempdir()) / f"renkei-empty-zone-{os.getpid()}.json"
_EMPTY_ZONE.write_text("{}", encoding="utf-8")
os.environ.setdefault("RENKEI_DNS_STUB", str(_EMPTY_ZONE))


@pytest.fixture
def relay():
    r = Relay()
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def module_relay():
    r = Relay()
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="module")
def capture():
    """A receiver of sends and calls that keeps every request (tests/capture.py)."""
    server = Capture()
    yield server
    server.close()


# A real PostgreSQL server per xdist worker (tests/postgres.py: finding pg_ctl, skipping
# without it, running it as root). `postgresql_proc` replaces pytest-postgresql's default
# fixture of that name, so the plugin's `postgresql` client fixture uses this server too.
_postgresql_server = factories.postgresql_proc(executable=postgres.EXECUTABLE, port=None)
postgresql_proc = postgres.server_fixture("_postgresql_server")


@pytest.fixture
def pg_url(postgresql_proc):
    """postgresql://user@host:port/dbname of a fresh empty database for this test."""
    yield from postgres.database_url(postgresql_proc)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow tests first. xdist hands out whole files, in this order
    (`--no-loadscope-reorder`): a file of a few minute-long tests handed out last kept
    one worker busy for minutes after the other had finished."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)  # stable: each file stays whole
