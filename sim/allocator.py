"""Keep freed memory in the process for the next block of numpy arrays (glibc only).

A planning block of the vectorized engine allocates and frees a few megabytes of numpy
temporaries per step. glibc's defaults hand such blocks back to the kernel (large ones are
``mmap``-ed and unmapped, a freed heap top is trimmed), so the next step gets fresh pages that
the kernel must zero on first touch. In a worker process that was half the CPU time of a
two-job run of the pure chain (480,000 page faults per 1,000 replications); in one process a
few percent; in the main process of a run on several jobs, which receives every batch's
results, half its page faults. Raising the two thresholds keeps those pages for reuse; the peak
memory is the same.

The setting is the whole process's (a notebook's too, when it calls the library): memory freed
after a run may stay with the process, up to the trim threshold, instead of going back.
"""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# 32 MB is the largest mmap threshold glibc accepts on 64-bit machines; the trim threshold
# keeps up to 256 MB of freed heap top (a block's arrays are far smaller).
_MMAP_THRESHOLD = 32 * 1024 * 1024
_TRIM_THRESHOLD = 256 * 1024 * 1024

_tuned = False


def keep_freed_memory() -> bool:
    """Tune this process's allocator once; False where there is no glibc (macOS, musl)."""
    global _tuned
    if _tuned:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no libc to open, or no mallopt in it (musl)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _tuned
