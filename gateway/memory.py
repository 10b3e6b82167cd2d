"""Keeping a process's memory bounded: glibc's arenas and returning freed memory to the system.

glibc gives each thread that allocates a lot an arena of its own and keeps what is freed there
for reuse: after a 30 MB body a gthread worker (or the SMTP listener's intake pool) holds on to
tens of megabytes it no longer uses. Fewer arenas (mallopt M_ARENA_MAX, what MALLOC_ARENA_MAX
sets) and malloc_trim(0) after a large body give it back. Elsewhere than glibc both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from typing import Any

log = logging.getLogger(__name__)

# mallopt's parameter numbers (glibc's malloc.h).
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
ARENAS = 2
# Blocks at least this large get pages of their own (mmap) that go back to the system when
# freed. Setting it also stops glibc from raising the threshold after each large free (up to
# 32 MB), which is how the buffers of a 30 MB body end up kept in the heap.
MMAP_THRESHOLD = 1024 * 1024


@functools.cache
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "malloc_trim") or not hasattr(libc, "mallopt"):
        return None  # not glibc (musl has neither)
    return libc


def trim() -> bool:
    """Return freed heap memory to the system (glibc's malloc_trim(0)); True when it could."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def limit_arenas(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap glibc's malloc arenas for this process (as MALLOC_ARENA_MAX does) and fix the size
    from which blocks are mapped on their own; True when both were set."""
    libc = _libc()
    if libc is None:
        return False
    arenas_set = libc.mallopt(_M_ARENA_MAX, arenas)
    threshold_set = libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
    return bool(arenas_set and threshold_set)


def resident_bytes(pid: int | str = "self") -> int:
    """Return the process's resident memory (VmRSS) in bytes, 0 where /proc is missing."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
