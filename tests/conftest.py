from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

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
