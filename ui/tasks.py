"""Run a core function off the Qt main thread, with progress, Cancel and error dialogs.

Modelled on Anki's ``QueryOp``: the caller describes what to run and what to do with
the result, and one ``run_in_background`` starts it::

    Task(lambda progress: run_pipeline(video, ..., progress=progress))
        .with_progress("Analysing interview.mp4")
        .success(show_result)
        .failure(on_error)          # optional; default: a message box
        .run_in_background(window)

The operation runs on a ``QThreadPool`` worker and receives a ``cuewatch.progress.Progress``
whose callback emits a Qt signal (queued to the main thread) and whose cancel token is a
``threading.Event`` set by the dialog's Cancel button. ``success``/``failure`` callbacks
and every widget change run on the main thread. A ``CuewatchError`` becomes a message box
with its one line; ``Cancelled`` is quiet; anything else is a bug and is shown as one,
never a crash of the app.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from typing import Any, Generic, Optional, TypeVar

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from cuewatch.errors import CuewatchError
from cuewatch.progress import Cancelled, Progress

log = logging.getLogger(__name__)

T = TypeVar("T")

#: tasks still running, so their Python objects outlive the caller's references.
_RUNNING: set[Task[Any]] = set()


class _Signals(QObject):
    """Lives on the main thread; the worker emits, Qt queues the calls across threads."""

    progress = Signal(float, str)
    finished = Signal(object)
    failed = Signal(object)


class _Runnable(QRunnable):
    """Runs on a QThreadPool worker thread: calls the operation, emits the outcome."""

    def __init__(self, op: Callable[[Progress], Any], progress: Progress, signals: _Signals) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._op = op
        self._progress = progress
        self._signals = signals

    def run(self) -> None:  # worker thread
        try:
            result = self._op(self._progress)
        except BaseException as exc:  # noqa: BLE001 - every outcome goes back to the UI
            if not isinstance(exc, (CuewatchError, Cancelled)):
                exc.__cuewatch_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            self._emit(self._signals.failed, exc)
        else:
            self._emit(self._signals.finished, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        try:
            signal.emit(value)
        except RuntimeError:  # the app is shutting down: nobody is left to tell
            pass


def show_error(parent: Optional[QWidget], exc: BaseException,
               title: str = "cuewatch") -> QMessageBox:
    """Show an error as a dialog: one clear line for a CuewatchError, a bug report otherwise.

    The box is window-modal but does not block the caller (``open``, not ``exec``), so a
    background task's failure never stalls the event loop.
    """
    if isinstance(exc, CuewatchError):
        log.warning("shown to the user: %s", exc)
        box = QMessageBox(QMessageBox.Icon.Warning, title, str(exc),
                          QMessageBox.StandardButton.Ok, parent)
    else:
        log.error("shown to the user: %s: %s\n%s", type(exc).__name__, exc,
                  getattr(exc, "__cuewatch_traceback__", "") or repr(exc))
        box = QMessageBox(QMessageBox.Icon.Critical, title,
                          f"Something went wrong inside cuewatch ({type(exc).__name__}: {exc}).\n"
                          "Your saved work is unchanged. Please report this with the details.",
                          QMessageBox.StandardButton.Ok, parent)
        box.setDetailedText(getattr(exc, "__cuewatch_traceback__", "") or repr(exc))
    box.setObjectName("cuewatch-error")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
    return box


class Task(Generic[T]):
    """A core operation to run in the background. Build it, then ``run_in_background``.

    Create and run on the main thread. The operation itself (``op``) runs on a worker
    thread and must not touch widgets; it gets a ``Progress`` to report to and check.
    """

    def __init__(self, op: Callable[[Progress], T]) -> None:
        self._op = op
        self._label: Optional[str] = None
        self._on_success: Optional[Callable[[T], None]] = None
        self._on_failure: Optional[Callable[[BaseException], None]] = None
        self._on_cancel: Optional[Callable[[], None]] = None
        self._on_progress: Optional[Callable[[float, str], None]] = None
        self.cancel_event = threading.Event()
        self.dialog: Optional[QProgressDialog] = None
        self.done = False
        self._signals: Optional[_Signals] = None
        self._parent: Optional[QWidget] = None

    # -- building ---------------------------------------------------------------------
    def with_progress(self, label: str) -> Task[T]:
        """Show a modal-less progress dialog with this label and a Cancel button."""
        self._label = label
        return self

    def success(self, callback: Callable[[T], None]) -> Task[T]:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], None]) -> Task[T]:
        """Handle errors yourself instead of the default message box."""
        self._on_failure = callback
        return self

    def cancelled(self, callback: Callable[[], None]) -> Task[T]:
        self._on_cancel = callback
        return self

    def on_progress(self, callback: Callable[[float, str], None]) -> Task[T]:
        """Also receive progress on the main thread (e.g. for a status bar)."""
        self._on_progress = callback
        return self

    # -- running ----------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the operation to stop at its next checkpoint (any thread)."""
        self.cancel_event.set()

    def run_in_background(self, parent: Optional[QWidget] = None,
                          pool: Optional[QThreadPool] = None) -> Task[T]:
        self._parent = parent
        signals = _Signals()
        signals.progress.connect(self._progress_main, Qt.ConnectionType.QueuedConnection)
        signals.finished.connect(self._finished_main, Qt.ConnectionType.QueuedConnection)
        signals.failed.connect(self._failed_main, Qt.ConnectionType.QueuedConnection)
        self._signals = signals
        if self._label is not None:
            dialog = QProgressDialog(self._label, "Cancel", 0, 1000, parent)
            dialog.setWindowTitle("cuewatch")
            dialog.setWindowModality(Qt.WindowModality.NonModal)
            dialog.setMinimumDuration(300)
            dialog.setAutoClose(False)
            dialog.setAutoReset(False)
            dialog.setValue(0)
            dialog.canceled.connect(self._cancel_clicked)
            self.dialog = dialog
        def report(fraction: float, message: str) -> None:  # worker thread
            try:
                signals.progress.emit(fraction, message)
            except RuntimeError:  # the window is gone: stop the work
                self.cancel_event.set()

        progress = Progress(report, self.cancel_event)
        _RUNNING.add(self)
        (pool or QThreadPool.globalInstance()).start(_Runnable(self._op, progress, signals))
        return self

    # -- main-thread slots --------------------------------------------------------------
    def _cancel_clicked(self) -> None:
        self.cancel_event.set()
        if self.dialog is not None:
            self.dialog.setLabelText("Cancelling...")

    def _progress_main(self, fraction: float, message: str) -> None:
        if self.dialog is not None and not self.cancel_event.is_set():
            self.dialog.setValue(int(round(fraction * 1000)))
            if message:
                self.dialog.setLabelText(f"{self._label}\n{message}")
        if self._on_progress is not None:
            self._on_progress(fraction, message)

    def _close(self) -> None:
        self.done = True
        if self.dialog is not None:
            self.dialog.canceled.disconnect(self._cancel_clicked)
            self.dialog.close()
            self.dialog.deleteLater()
        # drop our reference once Qt has delivered everything queued for us
        QTimer.singleShot(0, lambda: _RUNNING.discard(self))

    def _finished_main(self, result: T) -> None:
        self._close()
        if self._on_success is not None:
            try:
                self._on_success(result)
            except BaseException as exc:  # noqa: BLE001 - a callback error is a dialog too
                exc.__cuewatch_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
                show_error(self._parent, exc)

    def _failed_main(self, exc: BaseException) -> None:
        self._close()
        if isinstance(exc, Cancelled):
            if self._on_cancel is not None:
                self._on_cancel()
            return
        if self._on_failure is not None:
            self._on_failure(exc)
        else:
            show_error(self._parent, exc)
