"""Worker processes that die with the process that started them.

A process pool's workers wait on the pool's queue, and (forked) each holds a copy of the
queue's write end, so when their parent is killed (``kill -9``, the OOM killer, a closed
terminal) nothing tells them to stop: they stay for good, each holding a face model and
hundreds of MB. Every helper process cuewatch starts runs ``die_with_parent`` first: on
Linux the kernel kills it when its parent goes (``prctl(PR_SET_PDEATHSIG)``), and on
every system a daemon thread also watches the parent's pid, as a fallback.

Threads: call ``process_pool`` and ``process_manager`` from the thread that will shut
them down (on Linux the death signal follows the thread that started the process).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.managers import SyncManager

#: how often a worker checks that its parent is still there (seconds).
PARENT_POLL_S = 0.5
#: ``prctl`` option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1


def _set_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(PARENT_POLL_S)
        if os.getppid() != parent_pid:  # re-parented: the parent is gone
            os._exit(1)


def die_with_parent(parent_pid: int) -> None:
    """Initializer of a worker process started by ``parent_pid``: end with it."""
    _set_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                     name="cuewatch-parent-watch").start()


def process_pool(max_workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers die with this process."""
    return ProcessPoolExecutor(max_workers=max_workers, initializer=die_with_parent,
                               initargs=(os.getpid(),))


def process_manager() -> SyncManager:
    """A started ``multiprocessing`` manager (shared queues) that dies with this process."""
    manager = SyncManager()
    manager.start(die_with_parent, (os.getpid(),))
    return manager
