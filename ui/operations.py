"""The app's flows as operations, after Anki's ``aqt/operations`` and SLEAP's ask/do
commands: each has an *ask* part (dialogs, on the main thread, returning what the user
chose or None) and a *do* part that returns a ``Task`` running the core call off the main
thread and, on success, has the document emit its change signal; the views follow the
signals. ``Operations`` strings them together for the window. Main thread only (the
Tasks' operations run on workers and open their own ``Project``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox, QWidget

from cuewatch.errors import CuewatchError
from cuewatch.faces.client_face import MIN_FACE_COVERAGE
from cuewatch.formats import MOOD_EXTENSIONS, TRANSCRIPT_EXTENSIONS, file_dialog_filter
from cuewatch.media.video import VIDEO_EXTENSIONS
from cuewatch.options import FlagSettings
from cuewatch.progress import Progress
from cuewatch.project import relocation
from cuewatch.project.store import Project
from cuewatch_ui.document import ProjectDocument, RecordingRow
from cuewatch_ui.export_dialog import ExportPurposeDialog
from cuewatch_ui.import_dialogs import FacePickDialog, ImportDialog
from cuewatch_ui.tasks import Task, show_error

if TYPE_CHECKING:
    from cuewatch_ui.main_window import MainWindow

T = TypeVar("T")
#: how often the recordings list re-reads the analyses' stored progress while they run
ANALYSIS_POLL_MS = 1500
#: transcript files (the rest attached are mood files)
VIDEO_FILTER = "Videos (" + " ".join(f"*{e}" for e in VIDEO_EXTENSIONS) + ")"


def _then(notify: Callable[[], None], then: Optional[Callable[[T], object]]) -> Callable[[T], None]:
    """On success: first the document's signal, then the caller's follow-up."""
    def done(result: T) -> None:
        notify()
        if then is not None:
            then(result)
    return done


# -- ask: dialogs, main thread -------------------------------------------------------------
def ask_videos(parent: QWidget) -> list[Path]:
    paths, _ = QFileDialog.getOpenFileNames(parent, "Add recordings", "", VIDEO_FILTER)
    return [Path(p) for p in paths]


def ask_consent(parent: QWidget, video: Path, recorded_by: str) -> Optional[dict[str, Any]]:
    """The consent form for one video: its values, or None if the user cancelled."""
    dialog = ImportDialog(video, recorded_by=recorded_by, parent=parent)
    if dialog.exec() != ImportDialog.DialogCode.Accepted:
        return None
    return dialog.values()


def ask_transcript(parent: QWidget) -> Optional[Path]:
    path, _ = QFileDialog.getOpenFileName(parent, "Attach a transcript or mood file", "",
                                          file_dialog_filter("Transcripts and mood files",
                                                             TRANSCRIPT_EXTENSIONS + MOOD_EXTENSIONS))
    return Path(path) if path else None


def ask_export(parent: QWidget, fmt: str) -> Optional[tuple[Path, Optional[str]]]:
    """The export's purpose and folder, or None if the user cancelled."""
    dialog = ExportPurposeDialog(fmt, parent)
    if dialog.exec() != ExportPurposeDialog.DialogCode.Accepted:
        return None
    out = QFileDialog.getExistingDirectory(parent, f"Export {fmt} into folder")
    return (Path(out), dialog.purpose) if out else None


def ask_locate(parent: QWidget, row: RecordingRow) -> Optional[Path]:
    """A recording whose file moved: where is it now (matched by content, not name)?"""
    answer = QMessageBox.question(
        parent, "Recording moved",
        f"{row.name} is not where the project expects it:\n{row.recording.path}\n\nLocate it?")
    if answer != QMessageBox.StandardButton.Yes:
        return None
    path, _ = QFileDialog.getOpenFileName(parent, f"Locate {row.name}", "", VIDEO_FILTER)
    return Path(path) if path else None


def ask_client_face(parent: QWidget, doc: ProjectDocument, rid: int,
                    chosen: Callable[[int], object]) -> Optional[Task[Any]]:
    """Several people in view and nobody chose: show a frame (read on a worker) and ask
    which face is the client's; ``chosen(track_id)`` gets the answer. None: nothing to ask."""
    meta = doc.project.recordings.metadata(rid)
    if (meta.get("client_face") or "auto") != "auto":
        return None
    tracks = [t for t in doc.project.analyses.tracks(rid) if t.coverage >= MIN_FACE_COVERAGE]
    if len(tracks) < 2:
        return None
    start = max(t.start for t in tracks)
    end = min(t.end for t in tracks)
    t_frame = (start + end) / 2 if end > start else tracks[0].start
    boxes = {t.track_id: tuple(t.mean_bbox) for t in tracks}
    path = doc.path

    def op(progress: Progress) -> Any:
        from cuewatch.media.video import read_frame_at

        with Project.open(path) as project:
            video = project.recordings.locate(rid)     # may hash the video: not on the main thread
        return read_frame_at(video, t_frame).image

    def show(image: Any) -> None:
        dialog = FacePickDialog(image, boxes, parent)  # type: ignore[arg-type]
        if dialog.exec() == FacePickDialog.DialogCode.Accepted and dialog.chosen is not None:
            chosen(dialog.chosen)

    return Task(op).success(show)


# -- do: Tasks whose success makes the document emit ---------------------------------------
def add_recording(doc: ProjectDocument, video: Path, values: dict[str, Any],
                  then: Optional[Callable[[Any], object]] = None) -> Task[Any]:
    """Register the recording with its consent (checked by the core); recordingsChanged."""
    path, actor = doc.path, doc.reviewer or None

    def op(progress: Progress) -> Any:
        progress.report(0.1, "checking the video")
        with Project.open(path, actor=actor) as project:
            return project.recordings.add(video, **values)

    return Task(op).with_progress(f"Adding {video.name}").success(
        _then(doc.recordings_changed, then))


def attach_transcript(doc: ProjectDocument, rid: int, path: Path,
                      then: Optional[Callable[[int], object]] = None) -> Task[int]:
    """Store the file with the recording (checked first) and queue a re-analysis;
    analysesChanged."""
    kind = "transcript" if path.suffix.lower() in TRANSCRIPT_EXTENSIONS else "mood"
    project_path, actor = doc.path, doc.reviewer or None

    def op(progress: Progress) -> int:
        with Project.open(project_path, actor=actor) as project:
            return project.recordings.attach_transcript(rid, path, kind=kind)

    return Task(op).with_progress(f"Attaching {path.name}").success(
        _then(doc.analyses_changed, then))


def run_analyses(doc: ProjectDocument, model: Optional[str], scheduler: str = "") -> Task[Any]:
    """Run the project's queued analyses, here or (``scheduler``: an address or "local") on a
    Dask cluster; analysesChanged when they end (the caller adds what follows). While they
    run, poll ``doc.analyses_changed`` (cheap reads only)."""
    from cuewatch.project.queue import run_queued

    if scheduler:
        from cuewatch.project.batch import run_on_cluster

        path, actor = doc.path, doc.reviewer or None
        return Task(lambda progress: run_on_cluster(path, scheduler=scheduler, model=model,
                                                    progress=progress, actor=actor))
    path, actor = doc.path, doc.reviewer or None
    return Task(lambda progress: run_queued(path, model=model, progress=progress, actor=actor))


def recompute_flags(doc: ProjectDocument, rid: int, settings: FlagSettings,
                    then: Optional[Callable[[Any], object]] = None) -> Task[Any]:
    """New flags from the stored features, every verdict kept (the core path of
    ``cuewatch project flags``); flagsChanged(rid)."""
    from cuewatch_ui.document import recompute_recording

    path, actor = doc.path, doc.reviewer or None
    return Task(lambda progress: recompute_recording(path, rid, settings, actor)).success(
        _then(lambda: doc.flags_recomputed(rid), then))


def mark_neutral(doc: ProjectDocument, rid: int, span: Optional[tuple[float, float]],
                 then: Optional[Callable[[Any], None]] = None) -> Task[Any]:
    """Mark where the client's face is neutral (``span`` None: forget it) and recompute
    the flags with it (the core path of ``cuewatch project neutral``); flagsChanged(rid)."""
    from cuewatch.project.flag_recompute import mark_neutral as core_mark_neutral

    path, actor = doc.path, doc.reviewer or None

    def op(progress: Progress) -> Any:
        with Project.open(path, actor=actor) as project:
            return core_mark_neutral(project, rid, span, actor=actor)

    return Task(op).success(_then(lambda: doc.flags_recomputed(rid), then))


def set_client_face(doc: ProjectDocument, rid: int, track_id: int,
                    then: Optional[Callable[[Any], object]] = None) -> Task[Any]:
    """Store the chosen face and queue a re-analysis (the face pass comes from the cache);
    recordingsChanged."""
    path, actor = doc.path, doc.reviewer or None

    def op(progress: Progress) -> None:
        with Project.open(path, actor=actor) as project:
            project.recordings.set_client(rid, face=str(track_id))
            latest = project.analyses.latest(rid)
            if latest is not None:
                project.analyses.queue(rid, settings=latest.settings,
                                       flag_settings=latest.flag_settings)

    return Task(op).success(_then(doc.recordings_changed, then))


def relocate(doc: ProjectDocument, row: RecordingRow, video: Path,
             then: Optional[Callable[[Any], object]] = None) -> Task[dict[int, Path]]:
    """Find the moved recording again by content in the folder of ``video``;
    recordingsChanged. A file with other content is an error."""
    path, actor, rid = doc.path, doc.reviewer or None, row.recording.id

    def op(progress: Progress) -> dict[int, Path]:
        with Project.open(path, actor=actor) as project:
            found = relocation.relocate(project, [str(video.parent)])
        if rid not in found:
            raise CuewatchError(f"{video.name} is not {row.name}: its content differs")
        return found

    return Task(op).with_progress(f"Looking for {row.name}").success(
        _then(doc.recordings_changed, then))


def export(doc: ProjectDocument, fmt: str, out: Path, purpose: Optional[str],
           anonymise: bool = False) -> Task[list[Path]]:
    """Export the project (consent and purpose checked by the core). Nothing stored changes."""
    from cuewatch.project.export import export_project

    path = doc.path
    return Task(lambda progress: export_project(path, fmt, out, purpose=purpose,
                                                anonymise=anonymise, progress=progress)
                ).with_progress(f"Exporting {fmt}")


# -- the flows, for the window -------------------------------------------------------------
class Operations:
    """Each of the window's flows: ask, do, then what follows (start the analysis, open
    the recording). Main thread; holds the running analysis and recompute tasks."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.analysis_task: Optional[Task[Any]] = None
        #: a recording picked while its video's content is still being checked
        self.pending: Optional[int] = None
        self.recompute_task: Optional[Task[Any]] = None
        # while analyses run, the recordings list shows the progress they store
        self.poll_timer = QTimer(window)
        self.poll_timer.setInterval(ANALYSIS_POLL_MS)
        self.poll_timer.timeout.connect(self._poll)

    def _doc(self) -> ProjectDocument:
        if self.window.document is None:
            raise CuewatchError("open or create a project first (File menu)")
        return self.window.document

    def _poll(self) -> None:
        if self.window.document is not None:
            self.window.document.analyses_changed()

    # -- opening a recording ----------------------------------------------------
    def open_recording(self, rid: int) -> None:
        """The user picked a recording: load it, or offer to find its moved video."""
        row = next((r for r in self.window.rows if r.recording.id == rid), None)
        if row is None:
            return
        if row.present is None:     # its content is being checked: open it when known
            self.pending = rid
            self.window.show_status(f"Looking for {row.name}\u2026")
        elif not row.present:
            self.window._safely(lambda: self.locate_recording(row))
        else:
            self.window.controller.load(rid, self.window)

    def open_pending(self) -> None:
        """The recordings list was refreshed: open the recording that waited for its check."""
        pending, self.pending = self.pending, None
        if pending is not None and self.window.selected_recording() == pending:
            self.open_recording(pending)

    # -- adding ------------------------------------------------------------------------
    def add_recording_dialog(self) -> None:
        self._doc()
        for video in ask_videos(self.window):
            self.add_recording(video)

    def add_recording(self, video: Path, values: Optional[dict[str, Any]] = None) -> Optional[Task[Any]]:
        """Consent form (unless ``values`` are given), then register and analyse."""
        doc = self._doc()
        if values is None:
            values = ask_consent(self.window, video, self.window.settings.reviewer)
            if values is None:
                return None

        def analyse(_rec: Any) -> None:
            if self.window.auto_analyse:
                self.window.start_analysis()

        return add_recording(doc, video, values, analyse).run_in_background(self.window)

    def attach_transcript_dialog(self) -> None:
        self._doc()
        rid = self.window.selected_recording()
        if rid is None:
            raise CuewatchError("select a recording first, then attach its transcript")
        path = ask_transcript(self.window)
        if path is not None:
            self.attach_transcript(rid, path)

    def attach_transcript(self, rid: int, path: Path) -> Task[Any]:
        return attach_transcript(self._doc(), rid, path,
                                 lambda _aid: self.window.start_analysis()).run_in_background(self.window)

    # -- analysing ---------------------------------------------------------------------
    def start_analysis(self) -> Optional[Task[Any]]:
        """Run the project's queued analyses in the background, with progress and Cancel."""
        doc = self._doc()
        if self.analysis_task is not None and not self.analysis_task.done:
            return self.analysis_task
        task = run_analyses(doc, self.window.model, self.window.settings.scheduler)
        task.with_progress("Analysing recordings").success(self._analysis_done)
        task.cancelled(self._analysis_cancelled)
        task.failure(self._analysis_failed)
        task.on_progress(lambda f, m: self.window.show_status(f"Analysing {f:.0%} {m}"))
        self.analysis_task = task
        self.poll_timer.start()
        return task.run_in_background(self.window)

    def cluster_dialog(self) -> Optional[str]:
        """Ask where analyses run (a Dask scheduler's address, "local", or empty for this
        machine); a wrong form is a dialog and nothing is saved. Returns what was saved."""
        settings = self.window.settings
        text, ok = QInputDialog.getText(
            self.window, "Analysis cluster",
            "Dask scheduler for analyses (tcp://HOST:8786, 'local' for worker processes on this "
            "machine, or empty to analyse here):", text=settings.scheduler)
        if not ok:
            return None
        try:
            settings.scheduler = text
        except CuewatchError as exc:
            show_error(self.window, exc, "Analysis cluster")
            return None
        where = settings.scheduler or "this machine"
        self.window.show_status(f"Analyses run on {where}")
        return settings.scheduler

    def _analysis_ended(self) -> Optional[ProjectDocument]:
        self.poll_timer.stop()
        if self.window.document is not None:
            self.window.document.analyses_changed()
        return self.window.document

    def _analysis_cancelled(self) -> None:
        self._analysis_ended()
        self.window.show_status("Analysis cancelled; it resumes next time (File > Analyse)")

    def _analysis_failed(self, exc: BaseException) -> None:
        self._analysis_ended()
        show_error(self.window, exc, "Analysis")

    def _analysis_done(self, summary: Any) -> None:
        doc = self._analysis_ended()
        if doc is None:
            return
        if summary.failed:
            QMessageBox.warning(self.window, "Analysis",
                                "\n".join(f"analysis {aid}: {msg}" for aid, msg in summary.failed))
        done_recordings = {doc.project.analyses.get(aid).recording_id for aid in summary.done}
        self.window.show_status(f"Analysed {len(summary.done)} recording(s)")
        for rid in sorted(done_recordings):
            if self.pick_client_face(rid):
                return
        review = self.window.controller
        if review.recording_id in done_recordings or review.data is None:
            target = (review.recording_id if review.recording_id in done_recordings
                      else min(done_recordings, default=None))
            if target is not None:
                self.select_recording(target)

    def select_recording(self, rid: int) -> None:
        """Show this recording (load it again if it is the one selected)."""
        row = self.window.recordings.row_of(rid)
        if row < 0:
            return
        if self.window.selected_recording() == rid:
            self.window.controller.load(rid, self.window)
        else:
            self.window.recordings_table.selectRow(row)

    def pick_client_face(self, rid: int) -> bool:
        """Ask whose face is the client's if several people are in view; True if asked."""
        task = ask_client_face(self.window, self._doc(), rid,
                               lambda track_id: self.set_client_face(rid, track_id))
        if task is None:
            return False
        task.run_in_background(self.window)
        return True

    def set_client_face(self, rid: int, track_id: int) -> Task[Any]:
        return set_client_face(self._doc(), rid, track_id,
                               lambda _none: self.window.start_analysis()).run_in_background(self.window)

    # -- flags -------------------------------------------------------------------------
    def recompute_flags(self, sensitivity: str) -> Optional[Task[Any]]:
        """New flags at another sensitivity from the stored features (no face pass); every
        verdict is kept, on a flag no longer raised as an orphaned verdict."""
        data, doc = self.window.controller.data, self.window.document
        if data is None or data.features_dir is None or doc is None:
            return None
        settings = replace(data.flag_settings, sensitivity=sensitivity)
        rid = int(data.recording.id)  # type: ignore[arg-type]
        self.window.show_status(f"Recomputing flags ({sensitivity})\u2026")

        def done(summary: Any) -> None:
            shown = self.window.controller.data
            if shown is None or shown.recording.id != rid:
                return
            text = f"{len(shown.flags)} flags at {sensitivity} sensitivity"
            if summary.orphaned_total:
                text += (f"; {summary.orphaned_total} verdict(s) kept on flags no longer raised "
                         "(listed, greyed)")
            self.window.show_status(text)

        self.recompute_task = recompute_flags(doc, rid, settings, done)
        return self.recompute_task.run_in_background(self.window)

    def mark_neutral(self, span: Optional[tuple[float, float]]) -> Optional[Task[Any]]:
        """Mark ``span`` as the client's neutral face (None: forget the marked one); the
        flags are recomputed with it and the lanes read again (the expression changes)."""
        data, doc = self.window.controller.data, self._doc()
        if data is None:
            raise CuewatchError("select a recording first")
        rid = int(data.recording.id)  # type: ignore[arg-type]
        self.window.show_status("Marking the neutral face…" if span else
                                "Forgetting the marked neutral face…")

        def done(change: Any) -> None:
            self.window.show_status(change.line())
            if self.window.controller.recording_id == rid:
                self.window.controller.load(rid, self.window)

        self.recompute_task = mark_neutral(doc, rid, span, done)
        return self.recompute_task.run_in_background(self.window)

    # -- a moved recording, export -----------------------------------------------------
    def locate_recording(self, row: RecordingRow) -> Optional[Task[Any]]:
        video = ask_locate(self.window, row)
        if video is None:
            return None
        rid = int(row.recording.id)  # type: ignore[arg-type]
        return relocate(self._doc(), row, video,
                        lambda _found: self.window.controller.load(rid, self.window)
                        ).run_in_background(self.window)

    def export_dialog(self, fmt: str) -> None:
        self._doc()
        chosen = ask_export(self.window, fmt)
        if chosen is not None:
            self.export(fmt, chosen[0], chosen[1])

    def export(self, fmt: str, out: Path, purpose: Optional[str], anonymise: bool = False) -> Task[Any]:
        task = export(self._doc(), fmt, out, purpose, anonymise)
        task.success(lambda files: self.window.show_status(f"Exported {len(files)} file(s) to {out}"))
        return task.run_in_background(self.window)

    def cancel_all(self) -> None:
        """Ask the running tasks to stop (the window is closing)."""
        self.poll_timer.stop()
        for task in (self.analysis_task, self.recompute_task):
            if task is not None and not task.done:
                task.cancel()
