"""Process settings that the engine's speed depends on.

The engine streams audio in blocks of a few MB. With glibc's default thresholds each
block buffer is mapped from the kernel and handed back after use, so a 3-minute
stem costs about 300,000 page faults and half a second of kernel time (measured by
benchmarks/engine_speed.py). Raising the thresholds keeps those buffers in the
process for reuse; peak memory stays the same.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt parameters from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(
        mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
        and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
