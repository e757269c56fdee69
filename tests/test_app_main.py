"""The desktop app on the real sample project (sample_media/, analysed with the real model):
open it, list flags, move the player, store verdicts by key, zoom, recompute, annotate,
and analyse in the background with progress and Cancel. Offscreen Qt, no mocks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from conftest import copy_project  # noqa: E402
from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton  # noqa: E402

from cuewatch.cli.demo_cmd import SAMPLE_MEDIA, SAMPLE_TRANSCRIPT, SAMPLE_VIDEO  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402
from cuewatch_ui.main_window import DISCLAIMER, MainWindow, make_settings  # noqa: E402
from cuewatch_ui.qt_flag_review import COLUMNS  # noqa: E402

REVIEWER = "tester"


@pytest.fixture(scope="session")
def sample_media() -> Path:
    if not (SAMPLE_MEDIA / SAMPLE_VIDEO).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"sample media missing at {SAMPLE_MEDIA}")
        pytest.skip("sample media not built")
    return SAMPLE_MEDIA


@pytest.fixture
def sample_project(analysed_demo, tmp_path) -> Path:
    """A private copy of the analysed sample project (tests write verdicts to it)."""
    return copy_project(analysed_demo, tmp_path)


@pytest.fixture
def window(qtbot, tmp_path, model_path):
    settings = make_settings(tmp_path / "settings.ini")
    settings.reviewer = REVIEWER
    w = MainWindow(settings, model=str(model_path), auto_analyse=False)
    qtbot.addWidget(w)
    w.resize(1400, 860)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    yield w
    w.close()


def open_sample(qtbot, window: MainWindow, project: Path) -> None:
    window.open_project(project)
    qtbot.waitUntil(lambda: window.data is not None, timeout=15000)
    qtbot.waitUntil(lambda: window.player.duration > 0, timeout=10000)


def stored_verdicts(project: Path) -> dict[int, str]:
    with Project.open(project) as p:
        return {r.flag_id: r.verdict for r in p.reviews.all(reviewer=REVIEWER)}


def test_opens_the_sample_and_lists_its_flags(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    with Project.open(sample_project) as p:
        flags = p.flags.all()
        segments = p.analyses.mood_segments(1)
    assert flags, "the sample is built to have incongruent moments"
    assert [r.name for r in window.rows] == [SAMPLE_VIDEO]
    row = window.rows[0]
    assert row.consent.state == "active" and row.analysis_state == "done"
    assert window.recordings_table.item(0, 1).text() == "active"
    table = window.flag_list.table
    assert table.model().rowCount() == len(flags)
    assert [window.review.flags[i].id for i in window.review.visible] == [f.id for f in flags]
    # the timeline shows the stored analysis: utterances, the client's face and the flags
    data = window.timeline.data
    assert len(data.segments) == len(segments) and data.client_speaker == "Client"
    assert data.valence is not None and len(data.valence) > 100
    assert data.expression is not None and len(data.flags) == len(flags)
    assert window.disclaimer.text() == DISCLAIMER and window.disclaimer.isVisible()
    assert window.player.duration == pytest.approx(21.0, abs=0.2)


def test_selecting_a_flag_moves_and_loops_the_player(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    table = window.flag_list.table
    target = window.review.flags[window.review.visible[-1]]
    table.selectRow(table.model().rowCount() - 1)
    qtbot.waitUntil(lambda: abs(window.player.position - target.start) < 0.05, timeout=5000)
    assert window.player.loop_span == pytest.approx((target.start, target.end))
    assert window.timeline.selected == window.review.current
    assert window.timeline.start <= target.start and target.end <= window.timeline.end
    # the detail shows the evidence, and the thumbnail arrives from the worker thread
    detail = window.flag_detail
    assert target.stated["words"] in detail.words.text()
    assert detail.aus.values
    qtbot.waitUntil(lambda: detail.thumbnail.pixmap() is not None
                    and not detail.thumbnail.pixmap().isNull(), timeout=10000)
    # the overlay: the client's landmarks and the expression name, read off the UI thread
    window.qt_player.overlay_box.setChecked(True)
    overlay = window.qt_player.overlay
    qtbot.waitUntil(lambda: overlay.points is not None, timeout=5000)
    assert overlay.points.shape == (478, 2)
    assert overlay.label in ("neutral", "happy", "sad", "angry", "fearful", "surprised",
                             "disgusted", "contempt")


#: Qt's complaints about the machine, not the app: no sound server or VA-API libraries,
#: and the offscreen platform's size hints.
ENVIRONMENT_MESSAGES = ("PulseAudioService:", "This plugin does not support")
ENVIRONMENT_CATEGORIES = ("qt.multimedia",)


def test_app_starts_without_qt_warnings(qtbot, tmp_path, model_path, sample_project):
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    warnings: list[str] = []

    def handler(mode, context, message):
        if mode != QtMsgType.QtInfoMsg and mode != QtMsgType.QtDebugMsg \
                and not (context.category or "").startswith(ENVIRONMENT_CATEGORIES) \
                and not message.startswith(ENVIRONMENT_MESSAGES):
            warnings.append(message)

    previous = qInstallMessageHandler(handler)
    try:
        settings = make_settings(tmp_path / "settings.ini")
        settings.reviewer = REVIEWER
        w = MainWindow(settings, model=str(model_path), auto_analyse=False)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        open_sample(qtbot, w, sample_project)
        w.review.step(1)   # the detail's verdict buttons are enabled and styled
        w.flag_detail.buttons["agree"].setChecked(True)
        qtbot.wait(200)
        w.close()
    finally:
        qInstallMessageHandler(previous)
    assert warnings == []


def test_verdict_column_shows_the_chosen_reviewers_verdicts(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    flags = window.review.flags
    assert len(flags) >= 2
    with Project.open(sample_project) as p:
        p.reviews.set_verdict(int(flags[0].id), "Dr. Supervisor", "agree", "")
        p.reviews.set_verdict(int(flags[0].id), REVIEWER, "disagree", "")
        p.reviews.set_verdict(int(flags[1].id), "Dr. Supervisor", "unsure", "")
    window.review.reload_reviews()
    model, combo = window.flag_list.model, window.flag_list.reviewer_combo
    verdict_col = COLUMNS.index("Verdict")

    def column() -> list[str]:
        return [model.data(model.index(r, verdict_col)) for r in range(model.rowCount())]

    assert combo.currentText() == REVIEWER
    assert column()[:2] == ["disagree", ""]
    combo.setCurrentText("Dr. Supervisor")
    assert column()[:2] == ["agree", "unsure"]
    window.flag_list.verdict_combo.setCurrentIndex(
        window.flag_list.verdict_combo.findData("agree"))     # the filter reads the same reviewer
    assert column() == ["agree"]
    combo.setCurrentText(REVIEWER)
    assert column() == []


def test_flag_detail_face_reads_what_the_overlay_shows(qtbot, window, sample_project):
    from collections import Counter

    from cuewatch.exports.describe import peak_time

    open_sample(qtbot, window, sample_project)
    face = window.data.face
    assert face is not None and window.review.flags
    detail = window.flag_detail
    for i, flag in enumerate(window.review.flags):
        window.review.set_current(i)
        # the overlay's own reading, frame by frame, over the flag
        times = [t for t in face.timestamps if flag.start <= t < flag.end]
        labels = Counter(face.overlay_at(float(t))[1] for t in times)
        most = labels.most_common(1)[0][0]
        text = detail.expressed.text()
        assert text.split()[0] == most, (flag.start, text, labels)
        assert f"at the peak: {face.overlay_at(peak_time(flag))[1]}" in text
        assert flag.expressed["category"] in detail.prototype.text()


def test_demo_keeps_the_apps_output_in_a_log_file(sample_project, sample_media, model_path,
                                                 tmp_path):
    """A crash of an app started by ``cuewatch demo`` leaves its words in a log file."""
    import subprocess
    import sys

    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"),
               QT_QPA_PLATFORM="no-such-platform")   # the app cannot start: Qt aborts
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "demo", "--project",
                           str(sample_project), "--media", str(sample_media), "--model",
                           str(model_path), "--quiet"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    logs = list((tmp_path / "state").rglob("app.log"))
    assert len(logs) == 1
    assert f"app log: {logs[0]}" in proc.stderr
    assert "no-such-platform" in logs[0].read_text()
    assert "no-such-platform" in proc.stderr            # its last lines are shown too
    assert str(logs[0]) in proc.stderr.strip().splitlines()[-1]


def test_the_app_started_offscreen_writes_its_log_file(tmp_path):
    """However it is started, the app logs to the file a user attaches to a bug report."""
    import subprocess
    import sys
    import time

    state = tmp_path / "state"
    env = dict(os.environ, XDG_STATE_HOME=str(state), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.Popen([sys.executable, "-m", "cuewatch_ui.app", "--settings",
                             str(tmp_path / "settings.ini")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = state / "cuewatch" / "log" / "app.log"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if log.is_file() and "started" in log.read_text():
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lines = log.read_text().splitlines()
    assert any(" INFO cuewatch_ui.app_log: cuewatch " in line and "started" in line for line in lines)


def test_help_menu_shows_the_log_file_and_about(window):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    assert [a.text() for a in help_menu.actions()] == ["Show &log file\u2026", "&About cuewatch"]


def test_verdict_keys_store_reviews_at_once_and_undo(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    review = window.review
    assert len(review.visible) >= 3
    qtbot.keyClick(window, Qt.Key.Key_N)                 # first flag
    first = review.current_flag
    assert first is not None and review.current == review.visible[0]
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert stored_verdicts(sample_project) == {first.id: "agree"}
    qtbot.keyClick(window, Qt.Key.Key_N)
    second = review.current_flag
    qtbot.keyClick(window, Qt.Key.Key_D)
    qtbot.keyClick(window, Qt.Key.Key_N)
    third = review.current_flag
    qtbot.keyClick(window, Qt.Key.Key_U)
    assert stored_verdicts(sample_project) == {first.id: "agree", second.id: "disagree",
                                               third.id: "unsure"}
    assert window.timeline.data.verdicts[second.id] == "disagree"   # the verdicts lane
    assert window.flag_detail.buttons["unsure"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_P)
    assert review.current_flag is second
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert stored_verdicts(sample_project) == {first.id: "agree", second.id: "disagree"}
    assert review.current_flag is third           # undo shows the flag it took the verdict from
    assert not any(b.isChecked() for b in window.flag_detail.buttons.values())
    qtbot.keyClick(window, Qt.Key.Key_P)
    # a note typed in the detail is saved with the verdict
    window.flag_detail.note.setText("smile looks polite")
    window.flag_detail.note.editingFinished.emit()
    with Project.open(sample_project) as p:
        assert [r.note for r in p.reviews.all(second.id, reviewer=REVIEWER)] == ["smile looks polite"]
    # filters read the stored verdicts
    combo = window.flag_list.verdict_combo
    combo.setCurrentIndex(combo.findData("agree"))
    assert [review.flags[i].id for i in review.visible] == [first.id]


def test_space_plays_and_arrows_step_one_frame(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    player = window.player
    player.seek(5.0)
    qtbot.waitUntil(lambda: player.frame_span is not None and abs(player.frame_span[0] - 5.0) < 0.05,
                    timeout=5000)
    start = player.frame_span[0]
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: player.frame_span[0] > start + 1e-4, timeout=5000)
    step = player.frame_span[0] - start
    assert step == pytest.approx(1 / 30, abs=0.004)          # exactly one decoded frame
    qtbot.keyClick(window, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: abs(player.frame_span[0] - start) < 1e-3, timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: player.playing, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not player.playing, timeout=3000)
    window.qt_player.rate_combo.setCurrentIndex(0)
    assert player.rate == pytest.approx(0.25)


def test_timeline_zooms_and_click_seeks(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    timeline, view = window.timeline, window.qt_timeline
    full = timeline.span
    timeline.zoom(0.25, anchor=10.0)
    assert timeline.span == pytest.approx(full * 0.25)
    assert timeline.start < 10.0 < timeline.end
    lane = view.lane("speaker:Client")
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(view.x_of(11.0)), int(lane.top + 4)))
    qtbot.waitUntil(lambda: abs(window.player.position - 11.0) < 0.1, timeout=5000)
    assert window.timeline.playhead == pytest.approx(11.0, abs=0.1)


def test_sensitivity_recomputes_flags_from_stored_features(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    counts = {}
    for level in ("low", "high"):
        window.sensitivity.setCurrentText(level)
        qtbot.waitUntil(lambda: window.recompute_task is not None and window.recompute_task.done,
                        timeout=5000)
        with Project.open(sample_project) as p:
            stored = p.flags.all(1)
        counts[level] = len(stored)
        assert [f.id for f in window.timeline.data.flags] == [f.id for f in stored]
        assert window.flag_list.table.model().rowCount() == len(stored)
    assert counts["high"] >= counts["low"]


def test_sensitivity_change_keeps_every_verdict_and_lists_orphans(qtbot, window, sample_project,
                                                                  monkeypatch):
    """Issue 10.1: low then back to medium in the app loses no verdict or note."""
    import dataclasses

    from cuewatch.flags import incongruence
    from cuewatch.flags.matching import ORPHANED_STATUS

    # low is an operating point that may raise what medium raises on the sample: here it
    # must drop flags, so its valence threshold is raised (the recompute runs in-process)
    monkeypatch.setitem(incongruence.PRESETS, "low",
                        dataclasses.replace(incongruence.PRESETS["low"], valence=0.3))
    open_sample(qtbot, window, sample_project)
    review = window.review
    medium = {f.id: (f.start, f.end) for f in review.flags}
    assert len(medium) >= 2 and all(f.raised for f in review.flags)
    for index, flag in enumerate(review.flags):
        review.set_current(index)
        review.set_verdict("agree", f"note on {flag.id}")
    with Project.open(sample_project) as p:
        p.reviews.set_verdict(min(medium), "supervisor", "disagree", "not congruent")

    def saved() -> dict:
        with Project.open(sample_project) as p:
            return {(r.flag_id, r.reviewer): (r.verdict, r.note, p.flags.get(r.flag_id).start)
                    for r in p.reviews.all()}

    before = saved()
    assert len(before) == len(medium) + 1

    def recompute(level: str) -> None:
        window.sensitivity.setCurrentText(level)
        qtbot.waitUntil(lambda: window.recompute_task is not None and window.recompute_task.done,
                        timeout=10000)

    recompute("low")
    assert saved() == before
    with Project.open(sample_project) as p:
        raised = [f.id for f in p.flags.all(1)]
        orphans = [f.id for f in p.flags.orphaned(1)]
    assert orphans and set(raised) | set(orphans) == set(medium)
    assert [f.id for f in window.timeline.data.flags] == raised  # the timeline: raised only
    model = window.flag_list.table.model()
    assert model.rowCount() == len(medium)  # the list: raised flags and orphaned verdicts
    marked = [model.index(r, 1).data() for r in range(model.rowCount())
              if review.flags[model.flag_index(r)].id in orphans]
    assert len(marked) == len(orphans) and all("no longer raised" in m for m in marked)
    assert "no longer raised" in window.flag_list.count_label.text()
    index = next(i for i, f in enumerate(review.flags) if f.id == orphans[0])
    review.set_current(index)
    assert ORPHANED_STATUS in window.flag_detail.title.text()
    assert window.flag_detail.note.text() == f"note on {orphans[0]}"
    assert window.flag_detail.buttons["agree"].isChecked()
    assert "kept on flags no longer raised" in window.status_label.text()

    recompute("medium")
    assert saved() == before
    assert {f.id: (f.start, f.end) for f in review.flags} == medium
    assert all(f.raised for f in review.flags)
    with Project.open(sample_project) as p:
        assert p.flags.orphaned(1) == [] and p.analyses.latest(1).flag_settings.sensitivity == "medium"
        assert all(a.detail["reviews_removed"] == 0 for a in p.audit.all(action="replace_flags"))


def test_drag_on_annotation_lane_stores_a_labelled_span(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    view = window.qt_timeline
    view.ask_label = lambda a, b: "missed eye roll"
    lane = view.lane("annotations")
    y = int(lane.top + lane.height / 2)
    qtbot.mousePress(view.canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(view.x_of(3.0)), y))
    qtbot.mouseMove(view.canvas, QPoint(int(view.x_of(4.0)), y))
    qtbot.mouseRelease(view.canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(view.x_of(5.0)), y))
    with Project.open(sample_project) as p:
        (a,) = p.annotations.all(1)
    assert a.label == "missed eye roll" and a.reviewer == REVIEWER
    assert a.start == pytest.approx(3.0, abs=0.1) and a.end == pytest.approx(5.0, abs=0.1)
    assert [x.label for x in window.timeline.data.annotations] == ["missed eye roll"]


def test_background_analysis_reports_progress_and_cancels(qtbot, window, tmp_path, sample_media):
    project = tmp_path / "fresh.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(sample_media / SAMPLE_VIDEO, transcript=sample_media / SAMPLE_TRANSCRIPT)
    window.open_project(project)
    seen: list[float] = []
    task = window.start_analysis()
    task.on_progress(lambda f, m: seen.append(f))
    qtbot.waitUntil(lambda: any(0 < f < 0.9 for f in seen), timeout=60000)
    assert task.dialog is not None and task.dialog.value() > 0
    qtbot.mouseClick(task.dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)  # Cancel
    qtbot.waitUntil(lambda: task.done, timeout=60000)
    assert "cancelled" in window.status_label.text()
    with Project.open(project) as p:
        assert [a.state for a in p.analyses.all()] != ["done"]
        assert p.flags.all() == []


def test_errors_are_dialogs(qtbot, window, tmp_path):
    window._safely(lambda: window.open_project(tmp_path / "missing.cuewatch"))
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "cuewatch-error" and w.isVisible()]
    assert boxes and "missing.cuewatch" in boxes[0].text()
    boxes[0].close()
    assert window.document is None


def test_import_needs_consent_then_adds_the_recording(qtbot, window, tmp_path, sample_media):
    from cuewatch_ui.import_dialogs import ImportDialog

    project = tmp_path / "new.cuewatch"
    window.open_project(project, create=True)
    video = sample_media / SAMPLE_VIDEO
    dialog = ImportDialog(video, recorded_by=REVIEWER)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    # prefilled from the consent sidecar and the transcript beside the video
    assert dialog.client_name.text() == "CREMA-D actor 1001"
    assert Path(dialog.transcript.text()) == sample_media / SAMPLE_TRANSCRIPT
    assert ok.isEnabled()
    for scope in ("training", "supervision"):
        dialog.scope_boxes[scope].setChecked(False)
    assert not ok.isEnabled() and "training or supervision" in dialog.status.text()
    dialog.scope_boxes["training"].setChecked(True)
    dialog.expires_box.setChecked(True)
    dialog.expires.setDate(dialog.obtained.date().addDays(-1))
    assert not ok.isEnabled() and "expired" in dialog.status.text()
    dialog.expires_box.setChecked(False)
    assert ok.isEnabled()
    task = window.add_recording(video, dialog.values())
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    assert [r.name for r in window.rows] == [SAMPLE_VIDEO]
    with Project.open(project) as p:
        consent = p.consents.get(1)
        assert consent.scopes == ("training", "research")
        assert consent.participants[0].name == "CREMA-D actor 1001"
        assert set(p.recordings.transcripts(1)) == {"transcript"}
        assert [a.state for a in p.analyses.all(1)] == ["queued"]


def test_attach_a_transcript_to_a_recording_later(qtbot, window, tmp_path, sample_media):
    project = tmp_path / "later.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(sample_media / SAMPLE_VIDEO, queue=False)
    window.auto_analyse = False
    window.open_project(project)
    qtbot.waitUntil(lambda: len(window.rows) == 1, timeout=10000)
    window.recordings_table.selectRow(0)
    assert window.selected_recording() == 1
    window.start_analysis = lambda: None  # only the attaching is under test here
    task = window.attach_transcript(1, sample_media / SAMPLE_TRANSCRIPT)
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    with Project.open(project) as p:
        assert set(p.recordings.transcripts(1)) == {"transcript"}
        assert [a.state for a in p.analyses.all(1)] == ["queued"]


def test_a_webvtt_file_attaches_as_a_transcript_not_a_mood_file(qtbot, window, tmp_path,
                                                                sample_media):
    """The app and the core read file extensions from one table (formats)."""
    import shutil

    project = tmp_path / "webvtt.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(sample_media / SAMPLE_VIDEO, queue=False)
    webvtt = tmp_path / "roleplay.webvtt"
    shutil.copy(sample_media / SAMPLE_TRANSCRIPT, webvtt)
    window.auto_analyse = False
    window.open_project(project)
    qtbot.waitUntil(lambda: len(window.rows) == 1, timeout=10000)
    window.start_analysis = lambda: None
    task = window.attach_transcript(1, webvtt)
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    with Project.open(project) as p:
        assert set(p.recordings.transcripts(1)) == {"transcript"}


def test_face_pick_dialog_returns_the_clicked_face(qtbot, sample_media):
    from cuewatch.media.video import read_frame_at
    from cuewatch_ui.import_dialogs import FacePickDialog

    image = read_frame_at(sample_media / SAMPLE_VIDEO, 2.0).image
    dialog = FacePickDialog(image, {0: (40.0, 40.0, 200.0, 240.0), 3: (400.0, 60.0, 600.0, 300.0)})
    qtbot.addWidget(dialog)
    dialog.resize(700, 560)
    dialog.show()
    qtbot.waitExposed(dialog)
    canvas = dialog.canvas
    s, ox, oy = canvas._scale()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(ox + 500 * s), int(oy + 150 * s)))
    assert dialog.chosen == 3 and dialog.result() == dialog.DialogCode.Accepted


def test_export_menu_writes_every_format_it_lists(qtbot, window, sample_project, tmp_path):
    from cuewatch.exports import EXPORT_FORMATS

    open_sample(qtbot, window, sample_project)
    labels = [a.text().rstrip("\u2026") for a in window.export_menu.actions()]
    assert labels == list(EXPORT_FORMATS)
    out = tmp_path / "out"
    task = window.export("csv", out, "training")
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    written = sorted(p.name for p in out.iterdir())
    tables = [name for name in written if name.endswith(".csv")]
    # plain CSVs, each with its provenance in a sidecar (issue 10, section 6)
    assert tables and set(written) == set(tables) | {t + ".provenance.json" for t in tables}
    assert "cuewatch_version" not in (out / tables[0]).read_text()
    assert "cuewatch_version" in (out / (tables[0] + ".provenance.json")).read_text()


def test_settings_remember_reviewer_recent_projects_and_layout(qtbot, tmp_path, sample_project):
    settings = make_settings(tmp_path / "s.ini")
    settings.reviewer = "Dr Who"
    first = MainWindow(settings, auto_analyse=False)
    qtbot.addWidget(first)
    first.resize(1234, 777)
    first.show()
    qtbot.waitExposed(first)
    first.open_project(sample_project)
    qtbot.waitUntil(lambda: first.data is not None, timeout=15000)
    first.docks["recordings"].hide()
    first.close()
    again = make_settings(tmp_path / "s.ini")
    assert again.reviewer == "Dr Who"
    assert again.recent_projects() == [str(sample_project)]
    second = MainWindow(again, auto_analyse=False)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitExposed(second)
    assert not second.docks["recordings"].isVisible()          # the layout came back
    assert not again.q.value("window/geometry").isEmpty()     # (offscreen clamps the size)
    second.close()


def test_a_moved_recording_offers_to_locate_it(qtbot, window, tmp_path, sample_media, monkeypatch):
    video = tmp_path / "session.mp4"
    shutil.copy2(sample_media / SAMPLE_VIDEO, video)
    project = tmp_path / "moved.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(video, consent=str(sample_media / (SAMPLE_VIDEO + ".consent.json")),
                         queue=False)
    elsewhere = tmp_path / "archive"
    elsewhere.mkdir()
    video.rename(elsewhere / "renamed.mp4")
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append(text) or QMessageBox.StandardButton.Yes)
    monkeypatch.setattr("cuewatch_ui.main_window.QFileDialog.getOpenFileName",
                        lambda *a, **k: (str(elsewhere / "renamed.mp4"), ""))
    window.open_project(project)
    assert asked and "session.mp4" in asked[0]
    qtbot.waitUntil(lambda: window.data is not None, timeout=15000)
    assert window.rows[0].present
    with Project.open(project) as p:
        assert p.recordings.locate(1) == elsewhere / "renamed.mp4"
    assert window.player.path == str(elsewhere / "renamed.mp4")


def test_demo_command_reuses_the_analysed_sample(sample_project, sample_media, model_path, tmp_path, capsys):
    from cuewatch.cli import main

    with Project.open(sample_project) as p:
        before = len(p.analyses.all())
    assert main(["demo", "--project", str(sample_project), "--media", str(sample_media),
                 "--model", str(model_path), "--no-app", "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(sample_project)
    with Project.open(sample_project) as p:
        assert len(p.analyses.all()) == before            # analysed already: nothing redone
    assert main(["demo", "--project", str(tmp_path / "x.cuewatch"), "--media", str(tmp_path),
                 "--no-app"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cuewatch: sample video not found") and err.count("\n") == 1
    assert not (tmp_path / "x.cuewatch").exists()


def test_dropping_a_project_file_opens_it(qtbot, window, sample_project, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    def mime(path: Path) -> QMimeData:
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(path))])
        return data

    text = tmp_path / "notes.txt"
    text.write_text("not a video")
    not_a_video = mime(text)   # events keep a bare pointer: hold the mime data here
    refused = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, not_a_video,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(refused)
    assert not refused.isAccepted()
    data = mime(sample_project)
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, data,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    window.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data,
                                Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: window.data is not None, timeout=15000)
    assert window.document.path == sample_project
