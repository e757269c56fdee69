"""The app's flows as operations (ask/do Tasks) driven directly, the document as the one
source of change notifications reaching the recordings model, and no video hashed on the
UI thread. Real SQLite, real analysis, offscreen Qt, no mocks."""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import threading
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from test_app_main import sample_media, sample_project  # noqa: E402,F401

from cuewatch.cli.demo_cmd import SAMPLE_TRANSCRIPT, SAMPLE_VIDEO  # noqa: E402
from cuewatch.options import FlagSettings  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402
from cuewatch_ui import main_window, operations  # noqa: E402
from cuewatch_ui.document import ProjectDocument  # noqa: E402
from cuewatch_ui.main_window import MainWindow, make_settings  # noqa: E402
from cuewatch_ui.recordings_model import MOVED_MARK, RecordingsModel  # noqa: E402

REVIEWER = "tester"


def _sample_consent(media: Path) -> str:
    return str(media / (SAMPLE_VIDEO + ".consent.json"))


def test_main_window_holds_only_layout_menus_and_close():
    """The flows live in operations: the window runs no Task, opens no Project and stays small."""
    source = inspect.getsource(main_window)
    tree = ast.parse(source)
    calls = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
             for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, (ast.Name, ast.Attribute))}
    assert not calls & {"Task", "run_in_background", "run_queued", "export_project",
                        "recompute_recording", "load_recording", "relocate"}
    assert "Project" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    window_class = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MainWindow")
    assert window_class.end_lineno - window_class.lineno < 320  # was about 680 lines
    for flow in ("add_recording", "attach_transcript", "run_analyses", "recompute_flags",
                 "set_client_face", "ask_client_face", "export", "relocate"):
        assert callable(getattr(operations, flow)), flow
    window_methods = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert not window_methods & {"_loaded", "_analysis_done", "recompute_flags", "refresh_recordings",
                                 "_maybe_pick_face", "locate_recording", "set_client_face"}


def test_add_recording_operation_reaches_the_recordings_model(qtbot, tmp_path, sample_media):  # noqa: F811
    doc = ProjectDocument.create(tmp_path / "p.cuewatch", REVIEWER)
    model = RecordingsModel()
    model.set_document(doc)
    assert model.rowCount() == 0
    task = operations.add_recording(doc, sample_media / SAMPLE_VIDEO,
                                    {"consent": _sample_consent(sample_media), "queue": False})
    with qtbot.waitSignal(doc.recordingsChanged, timeout=15000), \
            qtbot.waitSignal(model.refreshed, timeout=15000):
        task.run_in_background()
    assert [r.name for r in model.rows] == [SAMPLE_VIDEO]
    assert model.item(0, 0).text() == SAMPLE_VIDEO and model.item(0, 1).text() == "active"
    assert model.item(0, 2).text() == "not analysed"
    # attaching a transcript queues an analysis: analysesChanged, and the model follows
    task = operations.attach_transcript(doc, 1, sample_media / SAMPLE_TRANSCRIPT)
    with qtbot.waitSignal(doc.analysesChanged, timeout=15000), \
            qtbot.waitSignal(model.refreshed, timeout=15000):
        task.run_in_background()
    assert model.item(0, 2).text() == "queued"
    with Project.open(doc.path) as p:
        assert set(p.recordings.transcripts(1)) == {"transcript"}
    model.set_document(None)
    doc.close()


def test_recompute_operation_emits_flags_changed_and_keeps_verdicts(qtbot, sample_project):  # noqa: F811
    doc = ProjectDocument.open(sample_project, REVIEWER)
    flags = doc.project.flags.all(1)
    assert flags
    doc.set_verdict(1, int(flags[0].id), "agree", "kept")
    task = operations.recompute_flags(doc, 1, FlagSettings(sensitivity="high"))
    with qtbot.waitSignal(doc.flagsChanged, timeout=15000) as signal:
        task.run_in_background()
    assert signal.args == [1]
    qtbot.waitUntil(lambda: task.done, timeout=5000)
    assert doc.project.analyses.latest(1).flag_settings.sensitivity == "high"
    assert [(r.verdict, r.note) for r in doc.project.reviews.all(reviewer=REVIEWER)] == [("agree", "kept")]
    doc.close()


def test_export_operation_refuses_without_purpose(qtbot, sample_project, tmp_path):  # noqa: F811
    doc = ProjectDocument.open(sample_project, REVIEWER)
    failures: list[BaseException] = []
    task = operations.export(doc, "csv", tmp_path / "out", None).failure(failures.append)
    task.run_in_background()
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    assert failures and "purpose" in str(failures[0]) and not (tmp_path / "out").exists()
    task = operations.export(doc, "csv", tmp_path / "out", "training")
    files: list = []
    task.success(files.extend).run_in_background()
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    assert files and all(f.exists() for f in files)
    doc.close()


def test_analysis_operation_runs_and_the_window_opens_the_result(qtbot, tmp_path, sample_media,  # noqa: F811
                                                                 model_path):
    project = tmp_path / "fresh.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(sample_media / SAMPLE_VIDEO, transcript=sample_media / SAMPLE_TRANSCRIPT)
    settings = make_settings(tmp_path / "s.ini")
    settings.reviewer = REVIEWER
    window = MainWindow(settings, model=str(model_path), auto_analyse=False)
    qtbot.addWidget(window)
    window.open_project(project)
    assert window.recordings_table.item(0, 2).text() == "queued"
    task = window.ops.start_analysis()
    assert window.ops.poll_timer.isActive()
    qtbot.waitUntil(lambda: task.done, timeout=240000)
    assert not window.ops.poll_timer.isActive()
    assert window.recordings_table.item(0, 2).text() == "done"   # via analysesChanged
    qtbot.waitUntil(lambda: window.data is not None and bool(window.data.flags), timeout=15000)
    with Project.open(project) as p:
        assert window.data.flags and [f.id for f in window.data.flags] == [f.id for f in p.flags.all(1)]
    window.close()


def test_the_recordings_list_hashes_no_video_on_the_ui_thread(qtbot, tmp_path, sample_media,  # noqa: F811
                                                              monkeypatch):
    """A project moved away from its video: the file at the old absolute path has to be
    hashed to be trusted. The periodic refresh must not do that on the main thread."""
    import cuewatch.project.recordings as recordings_module

    here = tmp_path / "first"
    here.mkdir()
    video = here / "session.mp4"
    shutil.copy2(sample_media / SAMPLE_VIDEO, video)
    with Project.create(here / "p.cuewatch") as p:
        p.recordings.add(video, consent=_sample_consent(sample_media), queue=False)
    moved = tmp_path / "moved" / "p.cuewatch"
    moved.parent.mkdir()
    shutil.copy2(here / "p.cuewatch", moved)
    hashed_on: list[str] = []
    real_hash = recordings_module.content_hash

    def recording_hash(path):
        hashed_on.append(threading.current_thread().name)
        return real_hash(path)

    monkeypatch.setattr(recordings_module, "content_hash", recording_hash)
    doc = ProjectDocument.open(moved, REVIEWER)
    model = RecordingsModel()
    with qtbot.waitSignal(doc.recordingsChanged, timeout=15000):
        model.set_document(doc)
        assert model.rows[0].present is None            # not known yet: being checked
        assert MOVED_MARK not in model.item(0, 0).text()
    assert model.rows[0].present is True and MOVED_MARK not in model.item(0, 0).text()
    for _ in range(3):                                   # what the 1.5 s timer does
        doc.analyses_changed()
    assert hashed_on and threading.main_thread().name not in hashed_on
    # and a video that is gone is known at once, with no hash
    video.unlink()
    hashed_on.clear()
    doc.recordings_changed()
    assert model.rows[0].present is False and model.item(0, 0).text().endswith(MOVED_MARK)
    assert hashed_on == []
    model.set_document(None)
    doc.close()


def test_client_face_operations(qtbot, sample_project):  # noqa: F811
    doc = ProjectDocument.open(sample_project, REVIEWER)
    asked: list[int] = []
    # one person in view: nothing to ask
    assert operations.ask_client_face(None, doc, 1, asked.append) is None
    track = doc.project.recordings.client_track(1)
    before = len(doc.project.analyses.all(1))
    task = operations.set_client_face(doc, 1, int(track))
    with qtbot.waitSignal(doc.recordingsChanged, timeout=15000):
        task.run_in_background()
    assert doc.project.recordings.metadata(1)["client_face"] == str(track)
    analyses = doc.project.analyses.all(1)
    assert len(analyses) == before + 1 and max(analyses, key=lambda a: a.id).state == "queued"
    assert asked == []
    doc.close()
