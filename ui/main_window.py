"""The main window: recordings, player, timeline and flag review around one project.

Layout: the recordings list (left dock), the video over the timeline (centre), the flag
list with the current flag's detail and the sensitivity control (right dock), and a
status bar that always says this is a training aid, not a diagnosis. Everything slow
goes through ``Task`` (analysis, loading, export, recompute) or the ``LatestRequestWorker``
(thumbnails, overlay); errors become dialogs. Main thread only.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import (QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QImage,
                           QKeySequence, QShortcut)
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDockWidget, QFileDialog,
                               QHBoxLayout, QHeaderView, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from cuewatch import __version__
from cuewatch.errors import CuewatchError
from cuewatch.exports import EXPORT_FORMATS
from cuewatch.options import SENSITIVITIES
from cuewatch.progress import Progress
from cuewatch.project.relocation import relocate
from cuewatch.project.store import Project
from cuewatch.media.video import VIDEO_EXTENSIONS
from cuewatch_ui.app_settings import AppSettings
from cuewatch_ui.document import ProjectDocument, RecordingData, RecordingRow, load_recording
from cuewatch_ui.flag_review import FlagReview
from cuewatch_ui.export_dialog import ExportPurposeDialog
from cuewatch_ui.import_dialogs import FacePickDialog, ImportDialog
from cuewatch_ui.latest_worker import LatestRequestWorker
from cuewatch_ui.player import Player
from cuewatch_ui.qt_flag_review import QtFlagDetail, QtFlagList
from cuewatch_ui.qt_player import QtPlayer
from cuewatch_ui.qt_timeline import QtTimeline
from cuewatch_ui.tasks import Task, show_error
from cuewatch_ui.timeline import Timeline, TimelineData

DISCLAIMER = "Training aid, not a diagnosis: flags are prompts for reflection, not findings."
PROJECT_SUFFIX = ".cuewatch"
#: a second face counts as a person (not a poster or a false find) above this coverage.
MIN_FACE_COVERAGE = 0.2


def _rgb_to_qimage(image: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                  QImage.Format.Format_RGB888).copy()


def _thumbnail(path: str, t: float) -> QImage:
    """Worker thread: the frame at ``t`` as a small QImage (QImage is thread-safe)."""
    from cuewatch.media.video import read_frame_at

    return _rgb_to_qimage(read_frame_at(path, t).image).scaledToWidth(
        320, Qt.TransformationMode.SmoothTransformation)


class MainWindow(QMainWindow):
    """The cuewatch window. Main thread."""

    def __init__(self, settings: Optional[AppSettings] = None, model: Optional[str] = None,
                 auto_analyse: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.model = model
        self.auto_analyse = auto_analyse
        self.document: Optional[ProjectDocument] = None
        self.data: Optional[RecordingData] = None
        self.recording_id: Optional[int] = None
        self.rows: list[RecordingRow] = []
        self.analysis_task: Optional[Task[Any]] = None
        self.load_task: Optional[Task[Any]] = None
        self.recompute_task: Optional[Task[Any]] = None
        self.setWindowTitle("cuewatch")
        self.setAcceptDrops(True)
        # while analyses run, the recordings list shows the progress they store
        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(1500)
        self.refresh_timer.timeout.connect(lambda: self.document is not None and self.refresh_recordings())

        self.worker = LatestRequestWorker(self)
        self.worker.ready.connect(self._worker_ready)
        self.player = Player(self)
        self.qt_player = QtPlayer(self.player)
        self.timeline = Timeline(self)
        self.qt_timeline = QtTimeline(self.timeline)
        self.review = FlagReview(None, self)
        self.flag_list = QtFlagList(self.review)
        self.flag_detail = QtFlagDetail(self.review)
        self._build_recordings()
        self._build_layout()
        self._build_menus()
        self._build_shortcuts()
        self._connect()
        self.splitters = {"centre": self.centre_split, "review": self.review_split}
        if not self.settings.restore_window(self, self.splitters):
            self.resize(1400, 860)
            self.centre_split.setSizes([520, 300])
            self.review_split.setSizes([330, 420])

    # ------------------------------------------------------------------ building
    def _build_recordings(self) -> None:
        table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels(["Recording", "Consent", "Analysis"])
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        table.itemSelectionChanged.connect(self._recording_selected)
        self.recordings_table = table

    def _build_layout(self) -> None:
        self.centre_split = QSplitter(Qt.Orientation.Vertical)
        self.centre_split.addWidget(self.qt_player)
        self.centre_split.addWidget(self.qt_timeline)
        self.centre_split.setChildrenCollapsible(False)
        self.setCentralWidget(self.centre_split)

        rec_dock = QDockWidget("Recordings", self)
        rec_dock.setObjectName("recordings_dock")
        rec_box = QWidget()
        rec_layout = QVBoxLayout(rec_box)
        rec_layout.setContentsMargins(2, 2, 2, 2)
        rec_layout.addWidget(self.recordings_table)
        hint = QLabel("Drop videos here to add them.")
        hint.setEnabled(False)
        rec_layout.addWidget(hint)
        rec_dock.setWidget(rec_box)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, rec_dock)

        self.sensitivity = QComboBox()
        self.sensitivity.addItems(list(SENSITIVITIES))
        self.sensitivity.setCurrentText("medium")
        self.sensitivity.setToolTip("How readily flags are raised; recomputed from stored features")
        self.sensitivity.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        sens_row = QHBoxLayout()
        sens_row.addWidget(QLabel("Sensitivity"))
        sens_row.addWidget(self.sensitivity)
        sens_row.addStretch(1)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(2, 2, 2, 2)
        top_layout.addLayout(sens_row)
        top_layout.addWidget(self.flag_list, 1)
        self.review_split = QSplitter(Qt.Orientation.Vertical)
        self.review_split.addWidget(top)
        self.review_split.addWidget(self.flag_detail)
        flag_dock = QDockWidget("Flags", self)
        flag_dock.setObjectName("flags_dock")
        flag_dock.setWidget(self.review_split)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, flag_dock)
        self.resizeDocks([rec_dock, flag_dock], [230, 480], Qt.Orientation.Horizontal)
        self.docks = {"recordings": rec_dock, "flags": flag_dock}

        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setStyleSheet("font-weight: bold; color: #8a5a00; padding: 0 6px")
        self.status_label = QLabel()
        self.statusBar().addWidget(self.disclaimer)
        self.statusBar().addPermanentWidget(self.status_label)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New project\u2026", self.new_project_dialog, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Open project\u2026", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addSeparator()
        self.add_action = self._action(file_menu, "&Add recording\u2026", self.add_recording_dialog,
                                       QKeySequence("Ctrl+I"))
        self._action(file_menu, "Attach &transcript\u2026", self.attach_transcript_dialog)
        self.analyse_action = self._action(file_menu, "Analyse &queued recordings", self.start_analysis,
                                           QKeySequence("Ctrl+R"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.export_menu = bar.addMenu("&Export")
        for fmt in EXPORT_FORMATS:
            self._action(self.export_menu, f"{fmt}\u2026", functools.partial(self.export_dialog, fmt))

        review_menu = bar.addMenu("&Review")
        self._action(review_menu, "Reviewer &name\u2026", self.ask_reviewer)
        self._action(review_menu, "&Undo last verdict", self.undo_verdict, QKeySequence.StandardKey.Undo)

        view_menu = bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        self._action(view_menu, "Show &whole recording", self.timeline.show_all, QKeySequence("Ctrl+0"))

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About cuewatch", self.about)

    def _action(self, menu: Any, text: str, slot: Callable[[], Any],
                shortcut: Any = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.triggered.connect(lambda _checked=False: self._safely(slot))
        menu.addAction(action)
        return action

    def _build_shortcuts(self) -> None:
        keys: list[tuple[str, Callable[[], Any]]] = [
            ("Space", self.player.toggle),
            ("Left", lambda: self.player.step(-1)),
            ("Right", lambda: self.player.step(1)),
            ("N", lambda: self.review.step(1)),
            ("P", lambda: self.review.step(-1)),
            ("A", lambda: self.set_verdict("agree")),
            ("D", lambda: self.set_verdict("disagree")),
            ("U", lambda: self.set_verdict("unsure")),
        ]
        self.shortcuts = {}
        for key, slot in keys:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(functools.partial(self._safely, slot))
            self.shortcuts[key] = sc

    def _connect(self) -> None:
        self.player.positionChanged.connect(self._position_changed)
        self.player.errorOccurred.connect(lambda text: self.status_label.setText(f"Video: {text}"))
        self.qt_player.overlayToggled.connect(lambda _on: self._position_changed(self.player.position))
        self.qt_timeline.seekRequested.connect(self._seek_from_timeline)
        self.qt_timeline.flagClicked.connect(self.review.set_current)
        self.qt_timeline.annotationRequested.connect(
            lambda a, b, label: self._safely(lambda: self.add_annotation(a, b, label)))
        self.review.currentChanged.connect(self._flag_selected)
        self.review.reviewsChanged.connect(self._reviews_changed)
        self.flag_detail.thumbnailWanted.connect(self._want_thumbnail)
        self.sensitivity.currentTextChanged.connect(self.recompute_flags)

    # ------------------------------------------------------------------ helpers
    def _safely(self, fn: Callable[[], Any]) -> Any:
        """Run a UI action; a CuewatchError (or a bug) becomes a dialog, never a crash."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            import traceback
            exc.__cuewatch_traceback__ = traceback.format_exc()  # type: ignore[attr-defined]
            show_error(self, exc)
            return None

    def _need_project(self) -> ProjectDocument:
        if self.document is None:
            raise CuewatchError("open or create a project first (File menu)")
        return self.document

    # ------------------------------------------------------------------ projects
    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", "", f"cuewatch projects (*{PROJECT_SUFFIX})")
        if path:
            if not path.endswith(PROJECT_SUFFIX):
                path += PROJECT_SUFFIX
            self.open_project(path, create=True)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", f"cuewatch projects (*{PROJECT_SUFFIX})")
        if path:
            self.open_project(path)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_projects()
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        for p in recent:
            self._action(self.recent_menu, p, functools.partial(self.open_project, p))

    def open_project(self, path: Path | str, create: bool = False) -> ProjectDocument:
        """Open (or create) a project; starts its queued analyses when ``auto_analyse``."""
        if not self.settings.reviewer:
            self.ask_reviewer()
        document = (ProjectDocument.create if create else ProjectDocument.open)(path, self.settings.reviewer)
        self.close_project()
        self.document = document
        self.review.document = document
        self.settings.add_recent(document.path)
        read_only = document.project.read_only
        self.setWindowTitle(f"{document.path.name}{' (read-only)' if read_only else ''} \u2013 cuewatch")
        if read_only:
            self.status_label.setText(f"Read-only project ({read_only}): verdicts cannot be saved")
        self.refresh_recordings()
        if self.auto_analyse and not read_only and document.project.analyses.all(state="queued"):
            self.start_analysis()
        self._select_first_analysed()
        return document

    def close_project(self) -> None:
        if self.document is None:
            return
        self.player.unload()
        self.review.document = None
        self.review.set_flags(None, [])
        self.flag_detail.set_face(None)
        self.timeline.set_data(TimelineData())
        self.document.close()
        self.document = None
        self.data = None
        self.recording_id = None
        self.recordings_table.setRowCount(0)

    def refresh_recordings(self) -> None:
        doc = self._need_project()
        self.rows = doc.rows()
        table = self.recordings_table
        table.blockSignals(True)
        table.setRowCount(len(self.rows))
        selected_row = -1
        for i, row in enumerate(self.rows):
            name = QTableWidgetItem(row.name + ("" if row.present else "  (moved?)"))
            name.setToolTip(row.recording.path)
            name.setData(Qt.ItemDataRole.UserRole, row.recording.id)
            consent = QTableWidgetItem(row.consent.state)
            consent.setToolTip("scopes: " + ", ".join(row.consent.scopes) if row.consent.scopes else "no consent")
            if not row.consent.allows_analysis:
                consent.setForeground(Qt.GlobalColor.red)
            state = QTableWidgetItem(row.analysis_state)
            if row.analysis is not None and row.analysis.error:
                state.setToolTip(row.analysis.error)
            for col, item in enumerate((name, consent, state)):
                table.setItem(i, col, item)
            if row.recording.id == self.recording_id:
                selected_row = i
        if selected_row >= 0:
            table.selectRow(selected_row)
        table.blockSignals(False)

    def _select_first_analysed(self) -> None:
        for i, row in enumerate(self.rows):
            if row.analysis is not None and row.analysis.state == "done":
                self.recordings_table.selectRow(i)
                return
        if self.rows:
            self.recordings_table.selectRow(0)

    def _recording_selected(self) -> None:
        items = self.recordings_table.selectedItems()
        if not items:
            return
        rid = items[0].data(Qt.ItemDataRole.UserRole)
        row = next((r for r in self.rows if r.recording.id == rid), None)
        if row is None:
            return
        if not row.present:
            self._safely(lambda: self.locate_recording(row))
            return
        self.load(rid)

    def locate_recording(self, row: RecordingRow) -> None:
        """A recording whose file moved: offer to find it (matched by content, not name)."""
        answer = QMessageBox.question(
            self, "Recording moved",
            f"{row.name} is not where the project expects it:\n{row.recording.path}\n\nLocate it?")
        if answer != QMessageBox.StandardButton.Yes:
            return
        path, _ = QFileDialog.getOpenFileName(self, f"Locate {row.name}", "",
                                              "Videos (" + " ".join(f"*{e}" for e in VIDEO_EXTENSIONS) + ")")
        if not path:
            return
        doc = self._need_project()
        rid = row.recording.id

        def op(progress: Progress) -> dict[int, Path]:
            with Project.open(doc.path, actor=doc.reviewer or None) as project:
                return relocate(project, [str(Path(path).parent)])

        def done(found: dict[int, Path]) -> None:
            if rid not in found:
                raise CuewatchError(f"{Path(path).name} is not {row.name}: its content differs")
            self.refresh_recordings()
            self.load(rid)

        Task(op).with_progress(f"Looking for {row.name}").success(done).run_in_background(self)

    # ------------------------------------------------------------------ one recording
    def load(self, recording_id: int) -> Task[RecordingData]:
        doc = self._need_project()
        self.recording_id = recording_id
        self.status_label.setText("Loading\u2026")
        path = doc.path
        task: Task[RecordingData] = Task(lambda progress: load_recording(path, recording_id, progress))
        task.success(self._loaded)
        self.load_task = task
        return task.run_in_background(self)

    def _loaded(self, data: RecordingData) -> None:
        if self.document is None or data.recording.id != self.recording_id:
            return  # the user moved on meanwhile
        self.data = data
        doc = self.document
        data.timeline.verdicts = doc.verdicts(data.recording.id)  # type: ignore[arg-type]
        self.timeline.set_data(data.timeline)
        self.flag_detail.set_face(data.face)
        self.review.set_flags(data.recording.id, data.review_flags())
        self.sensitivity.blockSignals(True)
        self.sensitivity.setCurrentText(data.flag_settings.sensitivity)
        self.sensitivity.blockSignals(False)
        if data.video is not None and data.info is not None:
            self.player.load(data.video, data.info.fps, data.info.duration)
        else:
            self.player.unload()
        analysed = data.features_dir is not None
        text = f"{data.recording.path.rsplit('/', 1)[-1]}: {len(data.flags)} flags"
        if not analysed:
            text += " (not analysed yet)"
        elif data.client_track is None:
            text += " (no client face found)"
        for w in data.warnings:
            text += f"; {w}"
        self.status_label.setText(text)

    def _position_changed(self, t: float) -> None:
        self.timeline.set_playhead(t, follow=self.player.playing)
        if self.qt_player.overlay_enabled and self.data is not None and self.data.face is not None:
            frame = self.player.frame_at(t)
            self.worker.request("overlay", (self.recording_id, frame), self.data.face.overlay_at, t)

    def _seek_from_timeline(self, t: float) -> None:
        self.player.clear_loop()
        self.player.seek(t)

    def _flag_selected(self, index: int) -> None:
        self.timeline.select(index)
        flag = self.review.current_flag
        if flag is None:
            self.player.clear_loop()
            return
        span = max(flag.end - flag.start, 0.5)
        if flag.start < self.timeline.start or flag.end > self.timeline.end:
            self.timeline.set_view(flag.start - span, flag.end + span)
        self.player.loop(flag.start, flag.end)

    def _want_thumbnail(self, t: float) -> None:
        if self.data is not None and self.data.video is not None:
            self.worker.request("thumbnail", (self.recording_id, round(t, 3)), _thumbnail,
                                str(self.data.video), t)

    def _worker_ready(self, channel: str, key: Any, result: Any) -> None:
        if channel == "thumbnail":
            self.flag_detail.set_thumbnail(result)
        elif channel == "overlay" and self.data is not None and self.data.info is not None:
            points, label = result
            self.qt_player.set_overlay(points, (self.data.info.width, self.data.info.height), label)

    # ------------------------------------------------------------------ review
    def ask_reviewer(self) -> str:
        name, ok = QInputDialog.getText(self, "Reviewer", "Your name (stored with your verdicts):",
                                        text=self.settings.reviewer)
        if ok and name.strip():
            self.settings.reviewer = name.strip()
            if self.document is not None:
                self.document.reviewer = self.settings.reviewer
                self.review.reload_reviews()
        return self.settings.reviewer

    def set_verdict(self, verdict: str) -> None:
        if self.review.current_flag is None:
            self.status_label.setText("Select a flag first (N / P)")
            return
        if not self.settings.reviewer:
            self.ask_reviewer()
        self.review.set_verdict(verdict)

    def undo_verdict(self) -> None:
        review = self.review.undo()
        self.status_label.setText(f"Undid {review.verdict} on flag {review.flag_id}" if review
                                  else "No verdict to undo")

    def _reviews_changed(self) -> None:
        if self.document is not None and self.recording_id is not None:
            self.timeline.set_verdicts(self.document.verdicts(self.recording_id))

    def add_annotation(self, start: float, end: float, label: str) -> None:
        doc = self._need_project()
        if self.recording_id is None:
            raise CuewatchError("select a recording first")
        doc.add_annotation(self.recording_id, start, end, label)
        self.timeline.set_annotations(doc.annotations(self.recording_id))

    def recompute_flags(self, sensitivity: str) -> Optional[Task[Any]]:
        """New flags at another sensitivity from the stored features (no face pass), in the
        background through the core path ``cuewatch project flags`` takes: every verdict
        is kept, on a flag no longer raised as an orphaned verdict the flag list shows."""
        data = self.data
        if data is None or data.features_dir is None or self.document is None:
            return None
        from dataclasses import replace

        from cuewatch_ui.document import recompute_recording

        settings = replace(data.flag_settings, sensitivity=sensitivity)
        rid = int(data.recording.id)  # type: ignore[arg-type]
        path, actor = self.document.path, self.document.reviewer or None
        self.status_label.setText(f"Recomputing flags ({sensitivity})\u2026")

        def done(summary: Any) -> None:
            if self.document is None or self.data is None or self.data.recording.id != rid:
                return
            stored, orphaned, gaps = self.document.flags_recomputed(rid)
            self.data.flags, self.data.orphaned, self.data.gaps = stored, orphaned, gaps
            self.data.flag_settings = settings
            self.timeline.set_flags(stored, gaps)
            self.timeline.set_verdicts(self.document.verdicts(rid))
            self.review.set_flags(rid, self.data.review_flags())
            text = f"{len(stored)} flags at {sensitivity} sensitivity"
            if summary.orphaned_total:
                text += (f"; {summary.orphaned_total} verdict(s) kept on flags no longer raised "
                         "(listed, greyed)")
            self.status_label.setText(text)

        task: Task[Any] = Task(
            lambda progress: recompute_recording(path, rid, settings, actor)).success(done)
        self.recompute_task = task
        return task.run_in_background(self)

    # ------------------------------------------------------------------ adding and analysing
    def add_recording_dialog(self) -> None:
        self._need_project()
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Add recordings", "", "Videos (" + " ".join(f"*{e}" for e in VIDEO_EXTENSIONS) + ")")
        for p in paths:
            self.add_recording(Path(p))

    def add_recording(self, video: Path, values: Optional[dict[str, Any]] = None) -> Optional[Task[Any]]:
        """Consent form (unless ``values`` are given), then register and analyse in the background."""
        doc = self._need_project()
        if values is None:
            dialog = ImportDialog(video, recorded_by=self.settings.reviewer, parent=self)
            if dialog.exec() != ImportDialog.DialogCode.Accepted:
                return None
            values = dialog.values()
        path, actor = doc.path, doc.reviewer or None

        def op(progress: Progress) -> Any:
            progress.report(0.1, "checking the video")
            with Project.open(path, actor=actor) as project:
                return project.recordings.add(video, **values)

        def done(_rec: Any) -> None:
            self.refresh_recordings()
            if self.auto_analyse:
                self.start_analysis()

        task: Task[Any] = Task(op).with_progress(f"Adding {video.name}").success(done)
        return task.run_in_background(self)

    def selected_recording(self) -> Optional[int]:
        items = self.recordings_table.selectedItems()
        return None if not items else items[0].data(Qt.ItemDataRole.UserRole)

    def attach_transcript_dialog(self) -> None:
        self._need_project()
        rid = self.selected_recording()
        if rid is None:
            raise CuewatchError("select a recording first, then attach its transcript")
        path, _ = QFileDialog.getOpenFileName(
            self, "Attach a transcript or mood file", "",
            "Transcripts and mood files (*.vtt *.srt *.csv *.json)")
        if path:
            self.attach_transcript(rid, Path(path))

    def attach_transcript(self, rid: int, path: Path) -> Task[Any]:
        """Store the file with the recording (checked first), then re-analyse in the background."""
        doc = self._need_project()
        kind = "transcript" if path.suffix.lower() in (".vtt", ".srt") else "mood"
        project_path, actor = doc.path, doc.reviewer or None

        def op(progress: Progress) -> int:
            with Project.open(project_path, actor=actor) as project:
                return project.recordings.attach_transcript(rid, path, kind=kind)

        def done(_analysis_id: int) -> None:
            self.refresh_recordings()
            self.start_analysis()

        task: Task[Any] = Task(op).with_progress(f"Attaching {path.name}").success(done)
        return task.run_in_background(self)

    def start_analysis(self) -> Optional[Task[Any]]:
        """Run the project's queued analyses in the background, with progress and Cancel."""
        doc = self._need_project()
        if self.analysis_task is not None and not self.analysis_task.done:
            return self.analysis_task
        from cuewatch.project.queue import run_queued

        path, model, actor = doc.path, self.model, doc.reviewer or None
        task: Task[Any] = Task(lambda progress: run_queued(path, model=model, progress=progress, actor=actor))
        task.with_progress("Analysing recordings").success(self._analysis_done)
        task.cancelled(self._analysis_cancelled)
        task.failure(self._analysis_failed)
        task.on_progress(lambda f, m: self.status_label.setText(f"Analysing {f:.0%} {m}"))
        self.analysis_task = task
        self.refresh_timer.start()
        return task.run_in_background(self)

    def _analysis_cancelled(self) -> None:
        self.refresh_timer.stop()
        self.status_label.setText("Analysis cancelled; it resumes next time (File > Analyse)")
        if self.document is not None:
            self.refresh_recordings()

    def _analysis_failed(self, exc: BaseException) -> None:
        self.refresh_timer.stop()
        if self.document is not None:
            self.refresh_recordings()
        show_error(self, exc)

    def _analysis_done(self, summary: Any) -> None:
        self.refresh_timer.stop()
        if self.document is None:
            return
        self.refresh_recordings()
        if summary.failed:
            QMessageBox.warning(self, "Analysis", "\n".join(f"analysis {aid}: {msg}" for aid, msg in summary.failed))
        done_recordings = {self.document.project.analyses.get(aid).recording_id for aid in summary.done}
        self.status_label.setText(f"Analysed {len(summary.done)} recording(s)")
        for rid in sorted(done_recordings):
            if self._maybe_pick_face(rid):
                return
        if self.recording_id in done_recordings or self.data is None:
            target = self.recording_id if self.recording_id in done_recordings else min(done_recordings, default=None)
            if target is not None:
                self._select_recording(target)

    def _select_recording(self, rid: int) -> None:
        for i, row in enumerate(self.rows):
            if row.recording.id == rid:
                if self.recordings_table.currentRow() == i:
                    self.load(rid)
                else:
                    self.recordings_table.selectRow(i)
                return

    def _maybe_pick_face(self, rid: int) -> bool:
        """Several people in view and nobody chose: ask which face is the client's."""
        doc = self._need_project()
        meta = doc.project.recordings.metadata(rid)
        if (meta.get("client_face") or "auto") != "auto":
            return False
        tracks = [t for t in doc.project.analyses.tracks(rid) if t.coverage >= MIN_FACE_COVERAGE]
        if len(tracks) < 2:
            return False
        start = max(t.start for t in tracks)
        end = min(t.end for t in tracks)
        t_frame = (start + end) / 2 if end > start else tracks[0].start
        video = doc.project.recordings.locate(rid)
        boxes = {t.track_id: tuple(t.mean_bbox) for t in tracks}

        def op(progress: Progress) -> Any:
            from cuewatch.media.video import read_frame_at
            return read_frame_at(video, t_frame).image

        def chosen(image: Any) -> None:
            dialog = FacePickDialog(image, boxes, self)  # type: ignore[arg-type]
            if dialog.exec() != FacePickDialog.DialogCode.Accepted or dialog.chosen is None:
                return
            self.set_client_face(rid, dialog.chosen)

        Task(op).success(chosen).run_in_background(self)
        return True

    def set_client_face(self, rid: int, track_id: int) -> None:
        """Store the chosen face and re-run the analysis (the face pass comes from the cache)."""
        doc = self._need_project()
        doc.project.recordings.set_client(rid, face=str(track_id))
        latest = doc.project.analyses.latest(rid)
        if latest is not None:
            doc.project.analyses.queue(rid, settings=latest.settings, flag_settings=latest.flag_settings)
        self.refresh_recordings()
        self.start_analysis()

    # ------------------------------------------------------------------ export, about
    def export_dialog(self, fmt: str) -> None:
        self._need_project()
        dialog = ExportPurposeDialog(fmt, self)
        if dialog.exec() != ExportPurposeDialog.DialogCode.Accepted:
            return
        out = QFileDialog.getExistingDirectory(self, f"Export {fmt} into folder")
        if not out:
            return
        self.export(fmt, Path(out), dialog.purpose)

    def export(self, fmt: str, out: Path, purpose: Optional[str], anonymise: bool = False) -> Task[Any]:
        from cuewatch.project.export import export_project

        path = self._need_project().path

        def done(files: list[Path]) -> None:
            self.status_label.setText(f"Exported {len(files)} file(s) to {out}")

        task: Task[Any] = Task(lambda progress: export_project(
            path, fmt, out, purpose=purpose, anonymise=anonymise, progress=progress))
        return task.with_progress(f"Exporting {fmt}").success(done).run_in_background(self)

    def about(self) -> None:
        from cuewatch.faces.model import MODEL_SHA256

        QMessageBox.about(self, "About cuewatch",
                          f"<b>cuewatch {__version__}</b><br>"
                          "Marks where a client's face conflicts with the mood they state, "
                          "for supervisors and trainees to review.<br><br>"
                          f"<b>{DISCLAIMER}</b><br><br>"
                          f"Face model: MediaPipe Face Landmarker<br>SHA-256 <tt>{MODEL_SHA256}</tt><br>"
                          "Everything runs on this computer; recordings never leave it.")

    # ------------------------------------------------------------------ drag and drop, close
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(self._droppable(u.toLocalFile()) for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def _droppable(self, path: str) -> bool:
        return path.lower().endswith(VIDEO_EXTENSIONS + (PROJECT_SUFFIX,))

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if self._droppable(u.toLocalFile())]
        event.acceptProposedAction()

        def handle() -> None:
            for p in paths:
                if p.lower().endswith(PROJECT_SUFFIX):
                    self.open_project(p)
                else:
                    self.add_recording(Path(p))

        QTimer.singleShot(0, lambda: self._safely(handle))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.save_window(self, self.splitters)
        for task in (self.analysis_task, self.load_task, self.recompute_task):
            if task is not None and not task.done:
                task.cancel()
        from PySide6.QtCore import QThreadPool
        QThreadPool.globalInstance().waitForDone(15000)
        self.worker.stop()
        self.player.stop()
        if self.document is not None:
            self.document.close()
            self.document = None
        super().closeEvent(event)


def make_settings(path: Optional[Path] = None) -> AppSettings:
    """Settings in an INI file at ``path`` (tests, portable use) or the user's QSettings."""
    if path is None:
        return AppSettings()
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))
