from __future__ import annotations

import pytest

from tests.support import Relay


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
