"""One recording under review: loads it off the main thread and wires the player, the
timeline, the flag list, the flag detail and the session summary to each other and to the
document's signals. Main thread only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QComboBox

from cuewatch.errors import CuewatchError
from cuewatch.expression.action_units import SOURCE_FOUND
from cuewatch_ui.document import ProjectDocument, RecordingData, SessionAttunement, load_recording
from cuewatch_ui.flag_review import FlagReview
from cuewatch_ui.latest_worker import LatestRequestWorker
from cuewatch_ui.player import Player
from cuewatch_ui.qt_flag_review import QtFlagDetail
from cuewatch_ui.qt_player import QtPlayer
from cuewatch_ui.qt_timeline import QtTimeline
from cuewatch_ui.session_summary import QtSessionSummary
from cuewatch_ui.tasks import Task
from cuewatch_ui.timeline import Timeline, TimelineData


def _rgb_to_qimage(image: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
    return QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                  QImage.Format.Format_RGB888).copy()


def _thumbnail(path: str, t: float) -> QImage:
    """Worker thread: the frame at ``t`` as a small QImage (QImage is thread-safe)."""
    from cuewatch.media.video import read_frame_at

    return _rgb_to_qimage(read_frame_at(path, t).image).scaledToWidth(
        320, Qt.TransformationMode.SmoothTransformation)


class ReviewController(QObject):
    """Shows one recording in the review views and keeps them in step. Main thread.

    ``loaded`` is emitted once a recording's data is shown; ``status`` carries the line
    for the status bar.
    """

    loaded = Signal(object)     # RecordingData
    status = Signal(str)

    def __init__(self, player: Player, qt_player: QtPlayer, timeline: Timeline,
                 qt_timeline: QtTimeline, review: FlagReview, flag_detail: QtFlagDetail,
                 sensitivity: QComboBox, worker: LatestRequestWorker,
                 summary: QtSessionSummary, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.player, self.qt_player = player, qt_player
        self.timeline, self.qt_timeline = timeline, qt_timeline
        self.review, self.flag_detail, self.summary = review, flag_detail, summary
        self.sensitivity, self.worker = sensitivity, worker
        self.document: Optional[ProjectDocument] = None
        self.data: Optional[RecordingData] = None
        self.recording_id: Optional[int] = None
        self.load_task: Optional[Task[RecordingData]] = None
        #: a UI action that turns an error into a dialog (the window's ``_safely``)
        self.safely: Callable[[Callable[[], Any]], Any] = lambda fn: fn()
        #: asks for the reviewer's name when none is set (the window's ``ask_reviewer``)
        self.ask_reviewer: Callable[[], str] = lambda: ""
        player.positionChanged.connect(self._position_changed)
        player.errorOccurred.connect(lambda text: self.status.emit(f"Video: {text}"))
        qt_player.overlayToggled.connect(lambda _on: self._position_changed(player.position))
        qt_timeline.seekRequested.connect(self._seek_from_timeline)
        qt_timeline.flagClicked.connect(review.set_current)
        qt_timeline.annotationRequested.connect(
            lambda a, b, label: self.safely(lambda: self.add_annotation(a, b, label)))
        review.currentChanged.connect(self._flag_selected)
        review.reviewsChanged.connect(self._show_verdicts)
        flag_detail.thumbnailWanted.connect(self._want_thumbnail)
        flag_detail.responseWanted.connect(self.jump_to_time)
        summary.momentPicked.connect(self.jump_to_flag)
        summary.timePicked.connect(self.jump_to_time)
        worker.ready.connect(self._worker_ready)

    # -- the document ------------------------------------------------------------------
    def set_document(self, document: Optional[ProjectDocument]) -> None:
        """Show nothing, and follow this document's signals from now on."""
        if self.document is not None:
            self.document.flagsChanged.disconnect(self._flags_changed)
            self.document.reviewsChanged.disconnect(self._show_verdicts)
            self.document.annotationsChanged.disconnect(self._annotations_changed)
        self.player.unload()
        self.review.document = document
        self.review.set_flags(None, [])
        self.summary.set_attunement(SessionAttunement(), [])
        self.flag_detail.set_face(None)
        self.timeline.set_data(TimelineData())
        self.qt_timeline.marked_neutral = None
        self.document, self.data, self.recording_id = document, None, None
        if document is not None:
            document.flagsChanged.connect(self._flags_changed)
            document.reviewsChanged.connect(self._show_verdicts)
            document.annotationsChanged.connect(self._annotations_changed)

    def _flags_changed(self, recording_id: int) -> None:
        """The recording's flags were recomputed: show them as stored, verdicts kept."""
        doc, data = self.document, self.data
        if doc is None or data is None or data.recording.id != recording_id:
            return
        data.flags, data.orphaned, data.gaps = doc.stored_flags(recording_id)
        latest = doc.project.analyses.latest(recording_id)
        if latest is not None:
            data.flag_settings = latest.flag_settings
        # the responses and the summary are recomputed with the flags (cheap reads)
        data.attunement = doc.attunement(recording_id)
        self.timeline.set_flags(data.flags, data.gaps)
        self.timeline.set_attunement(data.attunement.marks(data.flags),
                                     *data.attunement.synchrony_lane(bool(data.segments)))
        self.timeline.set_verdicts(doc.verdicts(recording_id))
        self.review.set_flags(recording_id, data.review_flags(), data.attunement.responses)
        self.summary.set_attunement(data.attunement, data.flags, bool(data.segments))

    def _show_verdicts(self, recording_id: Optional[int] = None) -> None:
        if self.document is not None and self.recording_id is not None \
                and recording_id in (None, self.recording_id):
            self.timeline.set_verdicts(self.document.verdicts(self.recording_id))

    def _annotations_changed(self, recording_id: int) -> None:
        if self.document is not None and recording_id == self.recording_id:
            self.timeline.set_annotations(self.document.annotations(recording_id))

    def add_annotation(self, start: float, end: float, label: str) -> None:
        if self.document is None:
            raise CuewatchError("open or create a project first (File menu)")
        if self.recording_id is None:
            raise CuewatchError("select a recording first")
        self.document.add_annotation(self.recording_id, start, end, label)

    def set_verdict(self, verdict: str) -> None:
        """My verdict on the current flag (asks my name first if it is not known)."""
        if self.review.current_flag is None:
            self.status.emit("Select a flag first (N / P)")
            return
        if self.document is not None and not self.document.reviewer:
            self.ask_reviewer()
        self.review.set_verdict(verdict)

    def undo_verdict(self) -> None:
        review = self.review.undo()
        self.status.emit(f"Undid {review.verdict} on flag {review.flag_id}" if review
                         else "No verdict to undo")

    # -- loading -----------------------------------------------------------------------
    def load(self, recording_id: int, parent: Any = None) -> Task[RecordingData]:
        """Read the recording's review data on a worker, then show it."""
        if self.document is None:
            raise CuewatchError("open or create a project first (File menu)")
        self.recording_id = recording_id
        self.status.emit("Loading\u2026")
        path = self.document.path
        task: Task[RecordingData] = Task(lambda progress: load_recording(path, recording_id, progress))
        task.success(self._loaded)
        self.load_task = task
        return task.run_in_background(parent)

    def _loaded(self, data: RecordingData) -> None:
        if self.document is None or data.recording.id != self.recording_id:
            return  # the user moved on meanwhile
        self.data = data
        data.timeline.verdicts = self.document.verdicts(data.recording.id)  # type: ignore[arg-type]
        self.timeline.set_data(data.timeline)
        self.qt_timeline.marked_neutral = data.neutral_span
        self.flag_detail.set_face(data.face)
        self.review.set_flags(data.recording.id, data.review_flags(), data.attunement.responses)
        self.summary.set_attunement(data.attunement, data.flags, bool(data.segments))
        self.sensitivity.blockSignals(True)
        self.sensitivity.setCurrentText(data.flag_settings.sensitivity)
        self.sensitivity.blockSignals(False)
        if data.video is not None and data.info is not None:
            self.player.load(data.video, data.info.fps, data.info.duration)
        else:
            self.player.unload()
        text = f"{data.recording.path.rsplit('/', 1)[-1]}: {len(data.flags)} flags"
        if data.features_dir is None:
            text += " (not analysed yet)"
        elif data.client_track is None:
            text += " (no client face found)"
        if data.neutral_span is not None:
            text += f"; client's neutral face marked at {data.neutral_span[0]:.2f}-{data.neutral_span[1]:.2f} s"
        elif data.neutral_source and data.neutral_source != SOURCE_FOUND:
            # no resting face found (in some region): say how the face is read instead
            text += (f"; client's neutral face {data.neutral_source} (mark a neutral span: "
                     "right-click an annotation)")
        for w in data.warnings:
            text += f"; {w}"
        self.status.emit(text)
        self.loaded.emit(data)

    # -- player, timeline, flags -------------------------------------------------------
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

    def jump_to_flag(self, flag_id: int) -> None:
        """Show this flag (a summary row's moment): the list, the timeline and the player's
        loop follow the review's current flag."""
        index = self.review.index_of(flag_id)
        if index < 0:
            return
        if self.review.current == index:
            self._flag_selected(index)   # picked again: start its loop from the top
        self.review.set_current(index)

    def jump_to_time(self, t: float) -> None:
        """Play from ``t`` (a therapist's response, the synchrony's peak), with it in view."""
        self.player.clear_loop()
        self.player.seek(t)
        self.timeline.ensure_visible(t)

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
