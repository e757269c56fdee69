"""The open project as the app sees it: the core's project store, plus per-recording views.

``ProjectDocument`` owns the main thread's ``cuewatch.project.store.Project`` (reads are
fast enough there, writes take < 50 ms) and tells the views when something changed.
Anything slow (loading features and the two people's expression series, decoding frames,
analysing, recomputing flags) runs in a worker that opens its own ``Project``: the store
is used from the thread that opened it. No analysis happens here: every number comes
from the core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import numpy as np
from PySide6.QtCore import QObject, Signal

from cuewatch.consent.policy import ConsentStatus
from cuewatch.domain import Annotation, Flag, Gap, MoodSegment, Recording, Review
from cuewatch.errors import CuewatchError, ProjectError
from cuewatch.formats import EXPRESSION_CATEGORIES, THERAPIST_NOT_ON_CAMERA
from cuewatch.media.video import VideoInfo, probe_video
from cuewatch.options import FlagSettings
from cuewatch.progress import Progress
from cuewatch.project.analyses import Analysis
from cuewatch.project.flag_recompute import RecomputeSummary, recompute_recording_flags
from cuewatch.project.store import Project
from cuewatch_ui.timeline import CategoryRuns, Envelope, ResponseMark, TimelineData

if TYPE_CHECKING:
    from cuewatch.project.attunement import AttunementSummary, StoredResponse, StoredSynchrony

#: what the synchrony lane says for a recording analysed before attunement was stored
SYNCHRONY_NOT_COMPUTED = "not computed yet: analyse again or recompute the flags"
#: ... and for one with no words (the core reads attunement only with a transcript or mood file)
SYNCHRONY_NO_WORDS = "not computed: the recording has no transcript or mood file"


@dataclass
class RecordingRow:
    """One line of the recordings list."""

    recording: Recording
    consent: ConsentStatus
    analysis: Optional[Analysis]
    present: Optional[bool]     # None: being checked (by content) in the background

    @property
    def name(self) -> str:
        return Path(self.recording.path).name

    @property
    def analysis_state(self) -> str:
        if self.analysis is None:
            return "not analysed"
        a = self.analysis
        if a.state == "running":
            return f"interrupted at {a.progress:.0%}" if a.interrupted else f"running {a.progress:.0%}"
        if a.state == "failed":
            return "failed"
        return a.state


@dataclass
class ClientFace:
    """The client's face track and its per-frame expression: the one source the overlay
    and the flag detail read. ``overlay_at`` reads landmarks from disk: worker thread only."""

    timestamps: np.ndarray
    track: Any                      # cuewatch.features.folder.TrackFeatures (memory-mapped)
    dominant: Optional[np.ndarray]  # (N,) index into EXPRESSION_CATEGORIES, or None
    max_gap: float
    frame_size: tuple[int, int]

    def _row_at(self, t: float) -> Optional[int]:
        i = int(np.searchsorted(self.timestamps, t, side="right")) - 1
        return None if i < 0 or t - self.timestamps[i] > self.max_gap else i

    def _label(self, row: int) -> str:
        return EXPRESSION_CATEGORIES[int(self.dominant[row])] if self.dominant is not None else ""

    def overlay_at(self, t: float) -> tuple[Optional[np.ndarray], str]:
        """Landmarks (478, 2) and expression name at ``t``; (None, "") if the face isn't seen."""
        if len(self.timestamps) == 0:
            return None, ""
        i = self._row_at(t)
        if i is None:
            return None, "face not seen"
        return np.asarray(self.track.landmarks(i))[:, :2], self._label(i)

    def expression_at(self, t: float) -> str:
        """The expression name the overlay shows at ``t`` (no landmarks read: any thread)."""
        i = self._row_at(t) if len(self.timestamps) else None
        return "face not seen" if i is None else self._label(i)

    def expression_shares(self, start: float, end: float) -> list[tuple[str, float]]:
        """The overlay's expression names over [start, end) with their share of the frames
        seen there, most common first: what the overlay shows while a flag plays."""
        if self.dominant is None:
            return []
        a, b = np.searchsorted(self.timestamps, [start, end])
        if b <= a:
            return []
        counts = np.bincount(np.asarray(self.dominant[a:b], dtype=np.int64),
                             minlength=len(EXPRESSION_CATEGORIES))
        order = sorted(np.flatnonzero(counts), key=lambda k: (-counts[k], k))
        return [(EXPRESSION_CATEGORIES[k], float(counts[k]) / (b - a)) for k in order]


@dataclass
class SessionAttunement:
    """One recording's attunement as the project stores it (``project.attunement``): the
    trainee's response to each raised flag, the two faces' synchrony, and the summary the
    session panel shows. Plain reads; built on any thread from that thread's Project."""

    responses: dict[int, StoredResponse] = field(default_factory=dict)   # by flag id
    synchrony: Optional[StoredSynchrony] = None                         # None: never computed
    summary: Optional[AttunementSummary] = None

    def marks(self, flags: list[Flag]) -> list[ResponseMark]:
        """The responses lane's marks for these flags (those with a stored response)."""
        out = []
        for f in flags:
            r = self.responses.get(f.id) if f.id is not None else None
            if r is None:
                continue
            at = r.turn_start if r.turn_start is not None else f.end
            out.append(ResponseMark(int(f.id), f.end, max(at, f.end), r.kind,  # type: ignore[arg-type]
                                    r.evidence, r.latency_s, r.missed, r.reason))
        return out

    @property
    def computed(self) -> bool:
        """Whether the core ever computed this recording's attunement (the synchrony row is
        stored by every analysis and recompute that does; ``project.attunement.computed``)."""
        return self.synchrony is not None

    def synchrony_lane(self, has_words: bool = True) -> tuple[Optional[Envelope], str]:
        """The synchrony lane's series (r over time, NaN: no value), or None and why not
        (``has_words``: the recording has a transcript or mood file)."""
        s = self.synchrony
        if s is None:
            return None, SYNCHRONY_NOT_COMPUTED if has_words else SYNCHRONY_NO_WORDS
        if not s.over_time:
            return None, s.reason or "no synchrony: too little of both faces"
        arr = np.asarray(s.over_time, dtype=np.float64).reshape(-1, 2)
        return Envelope(arr[:, 0], arr[:, 1]), s.reason


def read_attunement(project: Project, recording_id: int) -> SessionAttunement:
    """The stored attunement of one recording (cheap SQLite reads: any thread, its own
    Project)."""
    store = project.attunement
    return SessionAttunement(store.responses(recording_id), store.synchrony(recording_id),
                             store.summary(recording_id))


@dataclass
class RecordingData:
    """Everything the review views show for one recording; built on a worker thread."""

    recording: Recording
    video: Optional[Path]
    info: Optional[VideoInfo]
    segments: list[MoodSegment]
    client_speaker: Optional[str]
    client_track: Optional[int]
    flags: list[Flag]
    gaps: list[Gap]
    features_dir: Optional[Path]
    flag_settings: FlagSettings
    timeline: TimelineData
    face: Optional[ClientFace] = None
    warnings: list[str] = field(default_factory=list)
    #: flags no longer raised that still carry verdicts (orphaned verdicts, Flag.raised
    #: False): the flag list shows them, the timeline does not.
    orphaned: list[Flag] = field(default_factory=list)
    #: where a reviewer marked the client's face neutral (None: found automatically)
    neutral_span: Optional[tuple[float, float]] = None
    #: where the client's neutral face came from (``NeutralReference.source``)
    neutral_source: str = ""
    #: the trainee's responses, the synchrony and the session summary, as stored
    attunement: SessionAttunement = field(default_factory=SessionAttunement)
    #: the therapist's transcript speaker and face track (None: not known / not on camera)
    therapist_speaker: Optional[str] = None
    therapist_track: Optional[int] = None

    def review_flags(self) -> list[Flag]:
        """What the flag list shows: the raised flags and the orphaned verdicts, by time."""
        return sorted(self.flags + self.orphaned, key=lambda f: (f.start, f.id or 0))


def client_expression(features: Any, track_id: int,
                      neutral_span: Optional[tuple[float, float]] = None) -> Any:
    """A person's ``ExpressionSeries``, the same one the core's flags were cut from (read
    against that face's marked neutral span, if any): the client's lanes and, with the
    therapist's track, the therapist's lane."""
    from cuewatch.expression.cache import track_expression

    return track_expression(features, track_id, neutral_span)


def load_recording(project_path: Path, recording_id: int,
                   progress: Optional[Progress] = None) -> RecordingData:
    """Read one recording's review data. Worker thread: opens its own Project."""
    progress = progress or Progress()
    with Project.open(project_path) as project:
        rec = project.recordings.get(recording_id)
        try:
            video: Optional[Path] = project.recordings.locate(recording_id)
        except ProjectError:
            video = None
        segments = project.analyses.mood_segments(recording_id)
        client_speaker = project.recordings.client_speaker(recording_id)
        client_track = project.recordings.client_track(recording_id)
        flags = project.flags.all(recording_id)
        orphaned = project.flags.orphaned(recording_id)
        gaps = project.flags.gaps(recording_id)
        features_dir = project.analyses.features_dir(recording_id)
        latest = project.analyses.latest(recording_id)
        flag_settings = latest.flag_settings if latest is not None else FlagSettings()
        annotations = project.annotations.all(recording_id)
        neutral = project.recordings.neutral_span(recording_id, client_track)
        attunement = read_attunement(project, recording_id)
        therapist_speaker, therapist_track = project.attunement.therapist(recording_id)
        therapist_neutral = (project.recordings.neutral_span(recording_id, therapist_track)
                             if therapist_track is not None else None)
    progress.report(0.2, "recording")
    info = probe_video(video) if video is not None else None
    duration = (info.duration if info else 0.0) or rec.duration
    synchrony, synchrony_note = attunement.synchrony_lane(bool(segments))
    data = TimelineData(duration=duration, segments=segments, client_speaker=client_speaker,
                        flags=flags, gaps=gaps,
                        annotations=annotations, synchrony=synchrony, synchrony_note=synchrony_note,
                        responses=attunement.marks(flags),
                        # not analysed yet: nobody is known to be on camera or not
                        therapist_note=THERAPIST_NOT_ON_CAMERA
                        if therapist_track is None and features_dir is not None else "")
    result = RecordingData(recording=rec, video=video, info=info, segments=segments,
                           client_speaker=client_speaker, client_track=client_track, flags=flags,
                           gaps=gaps, features_dir=features_dir, flag_settings=flag_settings,
                           timeline=data, orphaned=orphaned, neutral_span=neutral,
                           attunement=attunement, therapist_speaker=therapist_speaker,
                           therapist_track=therapist_track)
    if features_dir is not None and client_track is not None:
        progress.check()
        progress.report(0.4, "face features")
        from cuewatch.features.folder import is_complete, load_features

        if is_complete(features_dir):
            features = load_features(features_dir)
            track = features.tracks.get(client_track)
            if track is not None and len(track) > 0:
                progress.report(0.6, "expression")
                series = client_expression(features, client_track, neutral)
                result.neutral_source = series.neutral_source
                t = np.asarray(series.timestamps, dtype=np.float64)
                fps = float(features.meta.get("analysed_fps") or 0) or _median_rate(t)
                step = 1.0 / fps if fps > 0 else 0.1
                valence = np.asarray(series.valence, dtype=np.float64)
                # where the face was not seen, the curve has a hole rather than a line
                t_all, v_all = _with_holes(t, valence, 2.5 * step)
                data.valence = Envelope(t_all, v_all)
                data.expression = CategoryRuns.from_samples(t, series.dominant, EXPRESSION_CATEGORIES,
                                                            2.5 * step)
                size = (info.width, info.height) if info else (0, 0)
                result.face = ClientFace(t, track, np.asarray(series.dominant), 2.5 * step, size)
            if therapist_track is not None:
                progress.check()
                progress.report(0.8, "the therapist's expression")
                data.therapist_expression, data.therapist_note = _therapist_lane(
                    features, therapist_track, therapist_neutral)
        else:
            result.warnings.append("the stored face features are missing; analyse again")
    progress.report(1.0, "ready")
    return result


def _therapist_lane(features: Any, track_id: int, neutral: Optional[tuple[float, float]]
                    ) -> tuple[Optional[CategoryRuns], str]:
    """The therapist's dominant expression as runs (the client's lanes' path), or why not."""
    track = features.tracks.get(track_id)
    if track is None or len(track) == 0:
        return None, THERAPIST_NOT_ON_CAMERA
    series = client_expression(features, track_id, neutral)
    t = np.asarray(series.timestamps, dtype=np.float64)
    fps = float(features.meta.get("analysed_fps") or 0) or _median_rate(t)
    step = 1.0 / fps if fps > 0 else 0.1
    return CategoryRuns.from_samples(t, series.dominant, EXPRESSION_CATEGORIES, 2.5 * step), ""


def recompute_recording(project_path: Path, recording_id: int, flag_settings: FlagSettings,
                        actor: Optional[str] = None) -> RecomputeSummary:
    """New flags from the stored features, every verdict kept: the core path of
    ``cuewatch project flags``. Worker thread: opens its own Project."""
    with Project.open(project_path, actor=actor) as project:
        return recompute_recording_flags(project, recording_id, flag_settings, actor=actor)


def _median_rate(t: np.ndarray) -> float:
    if len(t) < 2:
        return 0.0
    d = float(np.median(np.diff(t)))
    return 1.0 / d if d > 0 else 0.0


def _with_holes(t: np.ndarray, v: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN after each sample followed by a gap longer than ``max_gap``."""
    if len(t) < 2:
        return t, v
    gaps = np.flatnonzero(np.diff(t) > max_gap)
    if len(gaps) == 0:
        return t, v
    return (np.insert(t, gaps + 1, t[gaps] + max_gap / 2),
            np.insert(v, gaps + 1, math.nan))


class ProjectDocument(QObject):
    """The open project on the main thread, and the one source of change notifications:
    operations (``cuewatch_ui.operations``) and edits through it emit these signals, and
    the views and models listen to them rather than being refreshed by hand."""

    recordingsChanged = Signal()        # added, moved, relocated, consent or client changed
    analysesChanged = Signal()          # queued, running (progress), done, failed
    reviewsChanged = Signal(int)        # recording id
    flagsChanged = Signal(int)          # recording id
    annotationsChanged = Signal(int)    # recording id

    def __init__(self, project: Project, reviewer: str, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.project = project
        self.reviewer = reviewer
        #: recording id -> is its video there (None: only its content hash can tell, which
        #: a background task checks). Cleared when the recordings change.
        self._present: dict[int, Optional[bool]] = {}
        self._presence_task: Optional[Any] = None

    @classmethod
    def open(cls, path: Path | str, reviewer: str) -> ProjectDocument:
        return cls(Project.open(path, actor=reviewer or None), reviewer)

    @classmethod
    def create(cls, path: Path | str, reviewer: str) -> ProjectDocument:
        return cls(Project.create(path, actor=reviewer or None), reviewer)

    @property
    def path(self) -> Path:
        return self.project.path

    def close(self) -> None:
        if self._presence_task is not None:
            self._presence_task.cancel()
        self.project.close()

    # -- recordings -------------------------------------------------------------------
    def rows(self) -> list[RecordingRow]:
        """The recordings list from cheap reads only (no video is hashed here: this runs
        on the main thread, every 1.5 s while analyses run)."""
        out = []
        for rec in self.project.recordings.all():
            assert rec.id is not None
            analyses = self.project.analyses.all(rec.id)
            latest = max(analyses, key=lambda a: a.id) if analyses else None
            out.append(RecordingRow(rec, self.project.consents.status(rec.id), latest,
                                    self.present(rec.id)))
        return out

    def present(self, recording_id: int) -> Optional[bool]:
        """Whether the recording's video is where the project finds it; None while a
        background task checks the content of a file at its old absolute path."""
        if recording_id not in self._present:
            try:
                _path, certain = self.project.recordings.locate_unverified(recording_id)
            except ProjectError:
                self._present[recording_id] = False
            else:
                self._present[recording_id] = True if certain else None
                if not certain:
                    self._check_presence()
        return self._present[recording_id]

    def _check_presence(self) -> None:
        """Hash the uncertain videos on a worker thread; tell the views when it is known."""
        from cuewatch_ui.tasks import Task

        if self._presence_task is not None and not self._presence_task.done:
            return
        path = self.path

        def op(progress: Progress) -> dict[int, bool]:
            found: dict[int, bool] = {}
            with Project.open(path) as project:
                for rec in project.recordings.all():
                    progress.check()
                    try:
                        project.recordings.locate(int(rec.id))  # type: ignore[arg-type]
                    except ProjectError:
                        found[int(rec.id)] = False  # type: ignore[arg-type]
                    else:
                        found[int(rec.id)] = True  # type: ignore[arg-type]
            return found

        def done(found: dict[int, bool]) -> None:
            self._presence_task = None
            known = [rid for rid, ok in self._present.items() if ok is None and rid in found]
            self._present.update((rid, found[rid]) for rid in known)
            if any(ok is None for ok in self._present.values()):
                self._check_presence()   # recordings added while this one ran
            if known:
                self.recordingsChanged.emit()

        self._presence_task = Task(op).success(done).run_in_background()

    def recordings_changed(self) -> None:
        """The recordings changed (added, relocated, consent, client): check again, tell."""
        self._present.clear()
        self.recordingsChanged.emit()

    def analyses_changed(self) -> None:
        """The analyses' states changed (queued, progress, done): cheap reads only."""
        self.analysesChanged.emit()

    # -- reviews ----------------------------------------------------------------------
    def verdicts(self, recording_id: int, reviewer: Optional[str] = None) -> dict[int, str]:
        """flag id -> current verdict of ``reviewer`` (default: me)."""
        who = reviewer or self.reviewer
        return {r.flag_id: r.verdict
                for r in self.project.reviews.all(recording_id=recording_id, reviewer=who)}

    def reviews(self, recording_id: int) -> list[Review]:
        """Every reviewer's current verdicts on this recording's flags."""
        return self.project.reviews.all(recording_id=recording_id)

    def set_verdict(self, recording_id: int, flag_id: int, verdict: str, note: str = "") -> Review:
        if not self.reviewer:
            raise CuewatchError("set your reviewer name first (Review > Reviewer name)")
        review = self.project.reviews.set_verdict(flag_id, self.reviewer, verdict, note)
        self.reviewsChanged.emit(recording_id)
        return review

    def undo_verdict(self, recording_id: int) -> Optional[Review]:
        review = self.project.reviews.undo_last(self.reviewer)
        self.reviewsChanged.emit(recording_id)
        return review

    def add_annotation(self, recording_id: int, start: float, end: float, label: str) -> Annotation:
        a = self.project.annotations.add(recording_id, start, end, label, reviewer=self.reviewer or None)
        self.annotationsChanged.emit(recording_id)
        return a

    def annotations(self, recording_id: int) -> list[Annotation]:
        return self.project.annotations.all(recording_id)

    def flags_recomputed(self, recording_id: int) -> None:
        """A worker recomputed the recording's flags (``recompute_recording``): tell the views."""
        self.flagsChanged.emit(recording_id)

    def attunement(self, recording_id: int) -> SessionAttunement:
        """The recording's stored attunement now (after a recompute): cheap reads."""
        return read_attunement(self.project, recording_id)

    def stored_flags(self, recording_id: int) -> tuple[list[Flag], list[Flag], list[Gap]]:
        """The raised flags, the orphaned verdicts' flags and the gaps, as stored now."""
        return (self.project.flags.all(recording_id), self.project.flags.orphaned(recording_id),
                self.project.flags.gaps(recording_id))
