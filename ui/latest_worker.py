"""A worker thread that serves only the latest request (after SLEAP's frame loader).

Scrubbing the timeline asks for dozens of frames a second; decoding each would queue up
and lag behind the playhead. Here a new request replaces any that has not started, so the
worker always moves on to what the user is looking at now, and stale answers are dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, Optional

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal


class LatestRequestWorker(QObject):
    """Runs ``fn(*args)`` on its own QThread for the newest request of each channel.

    Create, call and connect ``ready`` on the main thread; the functions run on the
    worker thread and must not touch widgets. ``ready(channel, key, result)`` arrives on
    the main thread only if no newer request of that channel was made meanwhile.
    """

    ready = Signal(str, object, object)
    failed = Signal(str, object, object)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[Hashable, Callable[..., Any], tuple[Any, ...]]] = {}
        self._latest: dict[str, Hashable] = {}
        self._stop = False
        self._thread = _Loop(self)
        self._thread.start()
        app = QCoreApplication.instance()
        if app is not None:  # never leave a running QThread behind at exit
            app.aboutToQuit.connect(self.stop)

    def request(self, channel: str, key: Hashable, fn: Callable[..., Any], *args: Any) -> None:
        """Ask for ``fn(*args)``; replaces the channel's request that has not started yet."""
        with self._cond:
            self._pending[channel] = (key, fn, args)
            self._latest[channel] = key
            self._cond.notify()

    def is_latest(self, channel: str, key: Hashable) -> bool:
        with self._cond:
            return self._latest.get(channel) == key

    def idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._thread.busy

    def stop(self) -> None:
        """Finish the running request, drop the rest, and end the thread."""
        if self._thread.isFinished():
            return
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._cond.notify()
        self._thread.wait(5000)

    # worker thread
    def _next(self) -> Optional[tuple[str, Hashable, Callable[..., Any], tuple[Any, ...]]]:
        with self._cond:
            while not self._pending and not self._stop:
                self._cond.wait()
            if self._stop:
                return None
            channel = next(iter(self._pending))
            key, fn, args = self._pending.pop(channel)
            self._thread.busy = True
            return channel, key, fn, args

    def _deliver(self, channel: str, key: Hashable, result: Any, ok: bool) -> None:
        with self._cond:
            self._thread.busy = False
            current = self._latest.get(channel) == key and not self._stop
        if current:
            (self.ready if ok else self.failed).emit(channel, key, result)


class _Loop(QThread):
    def __init__(self, owner: LatestRequestWorker) -> None:
        super().__init__()
        self.owner = owner
        self.busy = False

    def run(self) -> None:  # worker thread
        while True:
            item = self.owner._next()
            if item is None:
                return
            channel, key, fn, args = item
            try:
                result, ok = fn(*args), True
            except Exception as exc:  # noqa: BLE001 - reported as a signal, never fatal
                result, ok = exc, False
            self.owner._deliver(channel, key, result, ok)
