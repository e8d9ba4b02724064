"""The serving process keeps memory its doors free (daemon/heap.py): a buffer the size
of an upload comes from the heap and stays there once freed, instead of being mapped
and unmapped, or trimmed, for every delivery."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys

import pytest

GLIBC = sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")

# In a fresh interpreter: the thresholds are process-wide and set once, before threads.
PROBE = """
import ctypes, json, sys
from daemon.heap import keep_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
tuned = keep_freed_memory() if sys.argv[1] == "tuned" else None
before = libc.mallinfo2()
upload = bytearray(3_000_000)  # one 3 MB delivery's buffer
during = libc.mallinfo2()
del upload
after = libc.mallinfo2()
print(json.dumps({
    "tuned": tuned,
    "mapped": during.hblkhd - before.hblkhd,
    "kept_free": after.fordblks,
}))
"""


def probe(mode: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="the tuning is for glibc's malloc (2.33+ to observe)")
def test_an_uploads_buffer_comes_from_the_heap_and_stays_there():
    plain, tuned = probe("plain"), probe("tuned")
    # Untuned, glibc maps a fresh 3 MB buffer of its own and unmaps it when freed.
    assert plain["mapped"] >= 3_000_000
    assert tuned["tuned"] is True
    assert tuned["mapped"] == 0
    # Freed, it stays with the process for the next delivery instead of being trimmed.
    assert tuned["kept_free"] >= 3_000_000
