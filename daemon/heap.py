"""The serving process's heap: keep memory the doors free for the next delivery.

Every file a door takes passes through a few buffers of its size (the socket's, the
form's or the mail's, the file's), freed once it is answered. glibc's malloc hands the
top of its heap back to the kernel as soon as a little more than the largest recent
buffer lies free there, so the next delivery faults the same pages back in, zeroed,
and a freeing thread makes the kernel flush every other thread's TLB. Measured on the
event loop of `renkei serve`, that was about 1.5 ms of system time per 300 KB upload
and 4 ms per 3 MB one, a fifth of the loop's time per request.

`keep_freed_memory()` sets glibc's thresholds once at start, before any thread:
buffers up to MMAP_THRESHOLD (over the largest `max_bytes` most setups use) come from
the heap, and up to TRIM_THRESHOLD of free heap stays with the process. An idle daemon
may therefore hold that much more than it uses. Elsewhere (musl, macOS) it does
nothing: their allocators differ, and nothing depends on it but speed.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

# mallopt(3) parameters, from glibc's <malloc.h>.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # glibc's upper bound for it on 64-bit
TRIM_THRESHOLD = 64 << 20


def keep_freed_memory() -> bool:
    """Tune glibc's malloc as above; True when it took the settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return False
    # Only glibc has this symbol; musl's mallopt() exists but ignores everything.
    if not hasattr(libc, "gnu_get_libc_version"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    taken = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    taken = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and taken
    if not taken:
        log.warning("malloc thresholds not taken; deliveries cost more system time")
    return taken
