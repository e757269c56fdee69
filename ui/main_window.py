"""The main window: the layout, the menus and closing, around one project.

Layout: the recordings list (left dock), the video over the timeline (centre), the flag
list with the current flag's detail and the sensitivity control (right dock), and a
status bar that always says this is a training aid, not a diagnosis. The flows live in
``cuewatch_ui.operations``, the recordings list in ``cuewatch_ui.recordings_model``, the
player-timeline-flag wiring in ``cuewatch_ui.review_controller``; they follow the
``ProjectDocument``'s signals. Errors become dialogs. Main thread only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from cuewatch import __version__
from cuewatch.exports import EXPORT_FORMATS
from cuewatch.media.video import VIDEO_EXTENSIONS
from cuewatch.options import SENSITIVITIES
from cuewatch_ui.app_log import show_log_file
from cuewatch_ui.app_settings import AppSettings
from cuewatch_ui.document import ProjectDocument, RecordingData, RecordingRow
from cuewatch_ui.flag_review import FlagReview
from cuewatch_ui.latest_worker import LatestRequestWorker
from cuewatch_ui.operations import Operations
from cuewatch_ui.player import Player
from cuewatch_ui.qt_flag_review import QtFlagDetail, QtFlagList
from cuewatch_ui.qt_player import QtPlayer
from cuewatch_ui.qt_timeline import QtTimeline
from cuewatch_ui.recordings_model import RecordingsModel, RecordingsTable
from cuewatch_ui.review_controller import ReviewController
from cuewatch_ui.session_summary import QtSessionSummary
from cuewatch_ui.tasks import Task, show_error
from cuewatch_ui.timeline import Timeline

DISCLAIMER = "Training aid, not a diagnosis: flags are prompts for reflection, not findings."
PROJECT_SUFFIX = ".cuewatch"


class MainWindow(QMainWindow):
    """The cuewatch window. Main thread."""

    def __init__(self, settings: Optional[AppSettings] = None, model: Optional[str] = None,
                 auto_analyse: bool = True) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.model = model
        self.auto_analyse = auto_analyse
        self.document: Optional[ProjectDocument] = None
        self.setWindowTitle("cuewatch")
        self.setAcceptDrops(True)

        self.worker = LatestRequestWorker(self)
        self.player = Player(self)
        self.qt_player = QtPlayer(self.player)
        self.timeline = Timeline(self)
        self.qt_timeline = QtTimeline(self.timeline)
        self.review = FlagReview(None, self)
        self.flag_list = QtFlagList(self.review)
        self.flag_detail = QtFlagDetail(self.review)
        self.recordings = RecordingsModel(self)
        self.recordings_table = RecordingsTable(self.recordings)
        self.sensitivity = QComboBox()
        self.summary = QtSessionSummary()
        self.controller = ReviewController(self.player, self.qt_player, self.timeline,
                                           self.qt_timeline, self.review, self.flag_detail,
                                           self.sensitivity, self.worker, self.summary, self)
        self.controller.safely, self.controller.ask_reviewer = self._safely, self.ask_reviewer
        self.ops = Operations(self)
        self._build_layout()
        self._build_menus()
        self._build_shortcuts()
        self._connect()
        self.splitters = {"centre": self.centre_split, "review": self.review_split}
        if not self.settings.restore_window(self, self.splitters):
            self.resize(1400, 860)
            self.centre_split.setSizes([520, 300])
            self.review_split.setSizes([330, 420])
            # the recordings list needs a few rows; the session summary gets the rest
            self.resizeDocks([self.docks["recordings"], self.docks["summary"]], [170, 560],
                             Qt.Orientation.Vertical)

    # ------------------------------------------------------------------ building
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
        summary_dock = QDockWidget("Session summary", self)
        summary_dock.setObjectName("summary_dock")
        summary_dock.setWidget(self.summary)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, summary_dock)
        self.splitDockWidget(rec_dock, summary_dock, Qt.Orientation.Vertical)

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
        self.resizeDocks([rec_dock, flag_dock], [260, 480], Qt.Orientation.Horizontal)
        self.docks = {"recordings": rec_dock, "summary": summary_dock, "flags": flag_dock}

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
        self.add_action = self._action(file_menu, "&Add recording\u2026", self.ops.add_recording_dialog,
                                       QKeySequence("Ctrl+I"))
        self._action(file_menu, "Attach &transcript\u2026", self.ops.attach_transcript_dialog)
        self.analyse_action = self._action(file_menu, "Analyse &queued recordings", self.start_analysis,
                                           QKeySequence("Ctrl+R"))
        self._action(file_menu, "Analysis &cluster\u2026", self.ops.cluster_dialog)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        self.export_menu = bar.addMenu("&Export")
        for fmt in EXPORT_FORMATS:
            self._action(self.export_menu, f"{fmt}\u2026", functools.partial(self.ops.export_dialog, fmt))

        review_menu = bar.addMenu("&Review")
        self._action(review_menu, "Reviewer &name\u2026", self.ask_reviewer)
        self._action(review_menu, "&Undo last verdict", self.controller.undo_verdict, QKeySequence.StandardKey.Undo)

        view_menu = bar.addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        self._action(view_menu, "Show &whole recording", self.timeline.show_all, QKeySequence("Ctrl+0"))

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Show &log file\u2026", functools.partial(show_log_file, self))
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
            ("A", lambda: self.controller.set_verdict("agree")),
            ("D", lambda: self.controller.set_verdict("disagree")),
            ("U", lambda: self.controller.set_verdict("unsure")),
        ]
        self.shortcuts = {}
        for key, slot in keys:
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WindowShortcut)
            sc.activated.connect(functools.partial(self._safely, slot))
            self.shortcuts[key] = sc

    def _connect(self) -> None:
        self.controller.status.connect(self.show_status)
        self.recordings_table.recordingPicked.connect(self.ops.open_recording)
        self.recordings.refreshed.connect(
            lambda: self.recordings_table.show_selected(self.controller.recording_id))
        self.recordings.refreshed.connect(self.ops.open_pending)
        self.sensitivity.currentTextChanged.connect(self.ops.recompute_flags)
        self.qt_timeline.neutralRequested.connect(
            lambda a, b: self._safely(lambda: self.ops.mark_neutral((a, b))))
        self.qt_timeline.neutralClearRequested.connect(
            lambda: self._safely(lambda: self.ops.mark_neutral(None)))

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
        self.controller.set_document(document)
        self.recordings.set_document(document)
        self.settings.add_recent(document.path)
        read_only = document.project.read_only
        self.setWindowTitle(f"{document.path.name}{' (read-only)' if read_only else ''} \u2013 cuewatch")
        if read_only:
            self.status_label.setText(f"Read-only project ({read_only}): verdicts cannot be saved")
        if self.auto_analyse and not read_only and document.project.analyses.all(state="queued"):
            self.start_analysis()
        row = self.recordings.first_analysed()
        if row >= 0:
            self.recordings_table.selectRow(row)
        return document

    def close_project(self) -> None:
        if self.document is None:
            return
        self.controller.set_document(None)
        self.recordings.set_document(None)
        self.document.close()
        self.document = None

    # ------------------------------------------------------------------ the recordings list
    @property
    def rows(self) -> list[RecordingRow]:
        return self.recordings.rows

    @property
    def data(self) -> Optional[RecordingData]:
        return self.controller.data

    def selected_recording(self) -> Optional[int]:
        return self.recordings_table.selected_recording()

    # ------------------------------------------------------------------ the flows (operations)
    def show_status(self, text: str) -> None:
        self.status_label.setText(text)

    @property
    def recompute_task(self) -> Optional[Task[Any]]:
        return self.ops.recompute_task

    def add_recording(self, video: Path, values: Optional[dict[str, Any]] = None) -> Optional[Task[Any]]:
        return self.ops.add_recording(video, values)

    def attach_transcript(self, rid: int, path: Path) -> Task[Any]:
        return self.ops.attach_transcript(rid, path)

    def start_analysis(self) -> Optional[Task[Any]]:
        return self.ops.start_analysis()

    def export(self, fmt: str, out: Path, purpose: Optional[str], anonymise: bool = False) -> Task[Any]:
        return self.ops.export(fmt, out, purpose, anonymise)

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
        self.ops.cancel_all()
        load = self.controller.load_task
        if load is not None and not load.done:
            load.cancel()
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
