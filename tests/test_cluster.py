"""``cuewatch analyze --scheduler`` and the app's analysis on a real Dask ``LocalCluster`` of
two worker processes (reached by its address, as a remote one is), on real CREMA-D clips:
each video's files written as the local analyze writes them, a broken video failing with
its message while the rest go on, the face pass's per-frame progress coming back from the
workers, and an unreachable scheduler as one line (CLI) or a dialog (app)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import distributed  # noqa: E402  (the batch extra, in the test extra: missing fails, never skips)
import pytest  # noqa: E402
from test_project_store import CONSENT  # noqa: E402

from cuewatch import cluster as cluster_module  # noqa: E402
from cuewatch.cluster import LOCAL_SCHEDULER, check_scheduler  # noqa: E402
from cuewatch.errors import CuewatchError  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
#: a port nothing listens on (discard): connecting is refused at once
UNREACHABLE = "tcp://127.0.0.1:9"


def _cli(*args: str, model: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUEWATCH_MODEL=str(model))
    return subprocess.run([sys.executable, "-m", "cuewatch", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_scheduler_addresses_are_checked_before_anything_runs(tmp_path: Path, model_path: Path) -> None:
    assert check_scheduler(" local ") == LOCAL_SCHEDULER
    assert check_scheduler("tcp://10.0.0.5:8786") == "tcp://10.0.0.5:8786"
    assert check_scheduler("head-node:8786") == "tcp://head-node:8786"
    assert check_scheduler("TLS://h:1") == "tls://h:1"
    for bad in ("", "tcp://host", "host:port", "http://host:8786", "tcp://:8786", "host:99999",
                "tcp://h:8786/x"):
        with pytest.raises(CuewatchError, match="Dask scheduler"):
            check_scheduler(bad)
    proc = _cli("analyze", str(ROOT / "sample_media" / "demo_roleplay.mp4"), "--out",
                str(tmp_path / "out"), "--scheduler", "http://x", model=model_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "tcp://HOST:8786" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()


def test_analyze_on_a_cluster_writes_every_video_and_fails_the_broken_one(
        tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path, model_path: Path,
        cluster: Any) -> None:
    """Two real clips and a garbage file: the garbage fails with its own line before anything
    is submitted, the clips are analysed on the workers into DIR/<stem>/ as the local analyze
    writes them, and the bar shows the workers' per-frame progress."""
    broken = tmp_path / "broken.flv"
    broken.write_bytes(os.urandom(100_000))
    videos = [crema_clips["HAP"], broken, crema_clips["NEU"]]
    consent = json.dumps(CONSENT)
    out = tmp_path / "out"
    proc = _cli("analyze", *map(str, videos), "--out", str(out), "--consent", consent,
                "--scheduler", cluster.scheduler_address, model=model_path)
    assert proc.returncode == 2, proc.stderr[-2000:]  # one video failed
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if "broken.flv" in ln]
    assert errors and "not a video" in errors[0], proc.stderr[-2000:]
    # per-frame progress of the face pass, sent from the workers while the tasks ran
    assert "finding and tracking faces" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [crema_clips["HAP"].stem, crema_clips["NEU"].stem]
    local = tmp_path / "local"  # the same video analysed here, without Dask
    proc = _cli("analyze", str(crema_clips["HAP"]), "--out", str(local), "--consent", consent,
                "--quiet", model=model_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stem = crema_clips["HAP"].stem
    assert sorted(p.name for p in (out / stem).iterdir()) == sorted(p.name for p in (local / stem).iterdir())
    assert (out / stem / "frames.csv").read_bytes() == (local / stem / "frames.csv").read_bytes()
    summary, local_summary = (json.loads((d / stem / "summary.json").read_text()) for d in (out, local))
    assert summary["tracks"] == local_summary["tracks"]


def test_analyze_with_an_unreachable_scheduler_is_one_line_exit_2(
        tmp_path: Path, crema_clips: dict[str, Path], model_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cuewatch.cli import main

    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)  # the real connect, waited for less long
    monkeypatch.setenv("CUEWATCH_MODEL", str(model_path))
    code = main(["analyze", str(crema_clips["HAP"]), "--out", str(tmp_path / "out"), "--quiet",
                 "--consent", json.dumps(CONSENT), "--scheduler", UNREACHABLE])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in lines[0], err
    assert not any((tmp_path / "out").rglob("*.csv"))


# ---------------------------------------------------------------- the app


def _error_boxes() -> list[Any]:
    from PySide6.QtWidgets import QApplication, QMessageBox

    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "cuewatch-error" and w.isVisible()]


def _window(qtbot: Any, tmp_path: Path, model_path: Path, project: Path) -> Any:
    from cuewatch_ui.main_window import MainWindow, make_settings

    settings = make_settings(tmp_path / "s.ini")
    settings.reviewer = "tester"
    window = MainWindow(settings, model=str(model_path), auto_analyse=False)
    qtbot.addWidget(window)
    window.open_project(project)
    return window


def test_the_app_analyses_on_the_scheduler_in_its_settings(
        qtbot: Any, tmp_path: Path, crema_clips: dict[str, Path], model_path: Path, cluster: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtWidgets import QInputDialog

    from cuewatch_ui.app_settings import AppSettings

    project = tmp_path / "app.cuewatch"
    with Project.create(project) as p:
        for code in ("HAP", "SAD"):
            p.recordings.add(crema_clips[code], consent=CONSENT)
    window = _window(qtbot, tmp_path, model_path, project)
    # File > Analysis cluster...: a wrong form is a dialog and nothing is saved
    answers = iter([("http://nowhere", True), (cluster.scheduler_address, True)])
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: next(answers))
    assert window.ops.cluster_dialog() is None
    boxes = _error_boxes()
    assert boxes and "tcp://HOST:8786" in boxes[0].text()
    boxes[0].close()
    assert window.settings.scheduler == ""
    assert window.ops.cluster_dialog() == cluster.scheduler_address
    assert AppSettings(window.settings.q).scheduler == cluster.scheduler_address  # remembered
    reports: list[tuple[float, str]] = []
    task = window.ops.start_analysis()
    assert task is not None
    task.on_progress(lambda f, m: reports.append((f, m)))
    qtbot.waitUntil(lambda: task.done, timeout=240000)
    assert not _error_boxes()
    assert [window.recordings_table.item(r, 2).text() for r in range(2)] == ["done", "done"]
    assert any("finding and tracking faces" in m for _f, m in reports)  # frames, from the workers
    with distributed.Client(cluster.scheduler_address, timeout=10) as watcher:
        ran = [k for k in watcher.run_on_scheduler(
            lambda dask_scheduler: [str(t[0]) for t in dask_scheduler.transition_log])
            if k.startswith("cuewatch-analysis-")]
    assert ran  # on the cluster, not here
    window.close()


def test_the_app_shows_a_dialog_when_the_scheduler_cannot_be_reached(
        qtbot: Any, tmp_path: Path, clips: dict[str, Path], model_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)
    project = tmp_path / "app.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(clips["HAP"])
    window = _window(qtbot, tmp_path, model_path, project)
    window.settings.scheduler = UNREACHABLE
    task = window.ops.start_analysis()
    assert task is not None
    qtbot.waitUntil(lambda: task.done, timeout=60000)
    qtbot.waitUntil(lambda: bool(_error_boxes()), timeout=5000)
    box = _error_boxes()[0]
    assert "cannot reach the Dask scheduler" in box.text() and box.windowTitle() == "Analysis"
    box.close()
    assert window.recordings_table.item(0, 2).text() == "queued"  # nothing claimed, nothing lost
    window.close()
