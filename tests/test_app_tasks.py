"""Background work in the app: Task (progress, Cancel, errors as dialogs) and the
latest-request worker, run with real core functions on the sample video."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget  # noqa: E402

from cuewatch.errors import VideoError  # noqa: E402
from cuewatch.features.keys import content_sha256  # noqa: E402
from cuewatch.media.video import probe_video, read_frame_at  # noqa: E402
from cuewatch.progress import Progress  # noqa: E402
from cuewatch_ui.latest_worker import LatestRequestWorker  # noqa: E402
from cuewatch_ui.tasks import Task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_media" / "demo_roleplay.mp4"


@pytest.fixture
def sample_video() -> Path:
    if not SAMPLE.is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"sample video missing at {SAMPLE}")
        pytest.skip("sample video not built")
    return SAMPLE


def error_boxes() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "cuewatch-error" and w.isVisible()]


def test_task_reports_progress_and_returns_on_the_main_thread(qtbot, sample_video):
    parent = QWidget()
    qtbot.addWidget(parent)
    seen: list[float] = []
    result: list[str] = []
    threads: list[threading.Thread] = []
    task = (Task(lambda progress: content_sha256(sample_video, progress))
            .with_progress("Hashing")
            .on_progress(lambda f, m: seen.append(f))
            .success(lambda digest: (result.append(digest), threads.append(threading.current_thread()))))
    task.run_in_background(parent)
    qtbot.waitUntil(lambda: task.done, timeout=10000)
    assert result == [content_sha256(sample_video)]
    assert seen and seen[-1] == pytest.approx(1.0)
    assert threads == [threading.main_thread()]
    assert task.dialog is not None


def test_cancel_stops_the_operation_quietly(qtbot, sample_video):
    parent = QWidget()
    qtbot.addWidget(parent)
    started = threading.Event()
    outcome: list[str] = []

    def op(progress: Progress) -> int:
        started.set()
        n = 0
        while True:                      # a long core loop: only Cancel ends it
            progress.check()
            progress.report(0.5, "working")
            read_frame_at(sample_video, 1.0)
            n += 1

    task = (Task(op).with_progress("Long job").success(lambda _r: outcome.append("success"))
            .cancelled(lambda: outcome.append("cancelled")))
    task.run_in_background(parent)
    assert started.wait(5)
    qtbot.waitUntil(lambda: task.dialog is not None and task.dialog.value() == 500, timeout=5000)
    cancel = task.dialog.findChild(QPushButton)
    assert cancel.text() == "Cancel"
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: task.done, timeout=10000)
    assert outcome == ["cancelled"]
    assert not error_boxes()


def test_errors_become_dialogs_never_crashes(qtbot, tmp_path):
    parent = QWidget()
    qtbot.addWidget(parent)
    missing = tmp_path / "gone.mp4"
    task = Task(lambda progress: probe_video(missing)).run_in_background(parent)
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    qtbot.waitUntil(lambda: bool(error_boxes()), timeout=2000)
    box = error_boxes()[0]
    assert "no such file" in box.text() and box.icon() == QMessageBox.Icon.Warning
    box.close()

    def bug(progress: Progress) -> None:
        raise ZeroDivisionError("a bug")

    task = Task(bug).run_in_background(parent)
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    qtbot.waitUntil(lambda: bool(error_boxes()), timeout=2000)
    box = error_boxes()[0]
    assert "ZeroDivisionError" in box.text() and "ZeroDivisionError" in box.detailedText()
    box.close()

    handled: list[BaseException] = []
    task = Task(lambda progress: probe_video(missing)).failure(handled.append).run_in_background(parent)
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert isinstance(handled[0], VideoError)


def test_latest_request_worker_serves_only_the_newest(qtbot, sample_video):
    worker = LatestRequestWorker()
    got: list[tuple[str, object]] = []
    worker.ready.connect(lambda channel, key, result: got.append((channel, key)))
    release = threading.Event()

    def slow(key: int) -> int:
        release.wait(5)
        return key

    worker.request("frames", 0, slow, 0)           # starts at once, blocks
    qtbot.waitUntil(lambda: not worker.idle() and not worker._pending, timeout=2000)
    for key in range(1, 20):                       # scrubbing: only the last one matters
        worker.request("frames", key, lambda k: (time.sleep(0.01), k)[1], key)
    release.set()
    qtbot.waitUntil(lambda: worker.idle(), timeout=5000)
    qtbot.wait(50)
    assert got == [("frames", 19)]                 # 0 was stale when done, 1-18 never ran
    frames: list[object] = []
    worker.ready.connect(lambda c, k, r: frames.append(r))
    worker.request("thumb", 1.0, read_frame_at, str(sample_video), 1.0)
    qtbot.waitUntil(lambda: bool(frames), timeout=5000)
    assert frames[0].image.shape[2] == 3
    worker.stop()
