"""One progress-and-cancel protocol for every long core function.

The command line passes a tqdm-backed callback, the app a callback that emits a Qt signal
from its worker thread; both pass a ``threading.Event`` (or anything with ``is_set()``)
to cancel. Core code calls ``report`` and ``check`` at natural checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional, Protocol

ProgressCallback = Callable[[float, str], None]
"""Called with a fraction in [0, 1] and a short message."""


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class Cancelled(Exception):
    """Raised inside a core function when its cancel token is set."""


class Progress:
    """Wraps an optional callback and cancel token so core code needs no None checks."""

    def __init__(self, callback: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None) -> None:
        self._callback = callback
        self._cancel = cancel

    def report(self, fraction: float, message: str = "") -> None:
        if self._callback is not None:
            self._callback(min(1.0, max(0.0, float(fraction))), message)

    def cancelled(self) -> bool:
        """Whether the user asked to stop (for code that must not raise)."""
        return self._cancel is not None and self._cancel.is_set()

    def check(self) -> None:
        """Raise ``Cancelled`` if the user asked to stop."""
        if self.cancelled():
            raise Cancelled()

    def scaled(self, start: float, end: float) -> Progress:
        """A child that maps its own 0..1 onto [start, end] of this one."""
        parent = self

        def child(fraction: float, message: str) -> None:
            parent.report(start + (end - start) * fraction, message)

        return Progress(child if self._callback else None, self._cancel)


class BatchProgress:
    """Progress over a batch of items that run side by side (recordings in processes or on a
    cluster): a finished item counts whole, a running one its own fraction, reported to
    ``outer`` as "name: message"."""

    def __init__(self, outer: Progress, total: int) -> None:
        self.outer, self.total = outer, max(1, total)
        self.finished = 0
        self.current: dict[int, float] = {}
        self.names: dict[int, str] = {}

    def update(self, item: int, fraction: float, message: str) -> None:
        self.current[item] = fraction
        overall = (self.finished + sum(self.current.values())) / self.total
        self.outer.report(overall, f"{self.names.get(item, '')}: {message}")

    def end(self, item: int, message: str = "") -> None:
        self.current.pop(item, None)
        self.finished += 1
        if message:
            self.outer.report((self.finished + sum(self.current.values())) / self.total,
                              f"{self.names.get(item, '')}: {message}")
