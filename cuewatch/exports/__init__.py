"""Exports of a review project, each carrying its provenance (issue 4, section 5).

Every format is one module with the same entry point::

    export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Progress | None = None, **format_options) -> list[Path]

An ``ExportBundle`` is everything about one recording that any export needs, as plain
domain objects: the exporters never open the project store. The caller (the project
store and ``cuewatch export``) decides consent and purpose before calling; exporters
refuse only what they cannot do (no provenance, faces to blur but no face tracks).

Files are written atomically (a temporary file renamed into place), so a killed export
leaves either the previous file or the complete new one. File names made from
recording, speaker or reviewer names go through ``naming.safe_filename``.

``anonymise=True`` means: no faces and no names leave in the export. ``run_export``
passes the bundles through ``cuewatch.exports.anonymise.anonymise_bundles`` first:
speakers become "client", "speaker 2", ...; recordings "R<id>"; reviewers "A", "B", ...;
free-text notes are left out unless ``include_notes``; the project's file name leaves
the provenance. Exporters then blur faces in every exported image and video (which
needs the face tracks), and clips lose their sound unless ``keep_audio``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cuewatch.attunement.summary import AttunementSummary, StoredResponse, StoredSynchrony, summarise
from cuewatch.domain import (
    Annotation,
    Flag,
    Gap,
    MoodSegment,
    Recording,
    Review,
    is_client_speaker,
    speaker_key,
)
from cuewatch.errors import CuewatchError
from cuewatch.exports.naming import NameAllocator
from cuewatch.files import remove_stale_partials
from cuewatch.formats import THERAPIST_ROLE_LABEL
from cuewatch.progress import Progress
from cuewatch.provenance import check_provenance

#: ``cuewatch export --format`` names, in the order the help lists them.
EXPORT_FORMATS: tuple[str, ...] = ("csv", "json", "frames", "eaf", "boris", "clips", "html")

#: Formats that carry per-frame data or video of the client (research scope matters).
FORMATS_WITH_FACE_DATA: tuple[str, ...] = ("frames", "clips")


ExpressionSpan = tuple[float, float, str]


@dataclass(kw_only=True)
class ExportBundle:
    """One recording and everything reviewed about it, ready to export.

    ``segments`` hold every speaker's utterances (the client's are those whose speaker
    is ``client_speaker``). ``reviews`` may hold history: the latest verdict of each
    reviewer on each flag is the current one (``time``, then ``id``, then list order).
    ``tracks`` is a ``cuewatch.features.folder.Features``, or a mapping / sequence of
    TrackFeatures-like objects or dicts of arrays (see ``cuewatch.exports.tracks``);
    ``features_dir`` is loaded with ``cuewatch.features.folder.load_features`` when ``tracks``
    is not given. ``agreement`` is shown as given (the agreement module computes it).
    ``expression_spans`` are the client's (start, end, category) stretches and
    ``valence_curve`` the client's (times, values) expressed valence, for ELAN/BORIS
    tiers and the report's timeline.
    """

    recording: Recording
    media_path: Path
    provenance: dict[str, Any]
    segments: list[MoodSegment] = field(default_factory=list)
    client_speaker: Optional[str] = None
    flags: list[Flag] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)
    annotations: list[Annotation] = field(default_factory=list)
    expression_spans: Optional[list[ExpressionSpan]] = None
    valence_curve: Optional[tuple[Any, Any]] = None
    tracks: Any = None
    features_dir: Optional[Path] = None
    client_track: Optional[int] = None
    agreement: Optional[dict[str, Any]] = None
    #: per track id, per-row expression columns for the frames export (AU01_r..., happy...,
    #: valence, arousal), aligned with that track's rows: what cuewatch analyze writes.
    frame_columns: Optional[Mapping[int, Mapping[str, Any]]] = None
    #: flags a recompute no longer raises that still carry verdicts (orphaned verdicts,
    #: ``Flag.raised`` False): listed, marked, by the flags and reviews tables (csv, json)
    #: only; every other format shows the raised ``flags``.
    orphaned: list[Flag] = field(default_factory=list)
    #: the attunement (``project.attunement``): the trainee's response to each raised flag
    #: by flag id, the session synchrony (None: attunement never computed) and its full
    #: document (per-signal z and lag, settings), and who the therapist is (speaker: None
    #: for every speaker but the client; track: None when not on camera).
    responses: dict[int, StoredResponse] = field(default_factory=dict)
    synchrony: Optional[StoredSynchrony] = None
    synchrony_document: Optional[dict[str, Any]] = None
    therapist_speaker: Optional[str] = None
    therapist_track: Optional[int] = None
    #: face tracks whose per-frame data this export may not carry (the therapist's, when
    #: the consent policy leaves the therapist's own part out: ``project.export``); the
    #: frames export drops them. Blurring still sees every track.
    left_out_tracks: tuple[int, ...] = ()
    _loaded: Any = field(default=None, init=False, repr=False, compare=False)
    _arrays: Optional[dict] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.media_path = Path(self.media_path)
        self.provenance = check_provenance(self.provenance, self.recording.path)
        self.annotations = [Annotation.from_any(a) for a in self.annotations]
        if self.features_dir is not None:
            self.features_dir = Path(self.features_dir)

    # ---- people and names -------------------------------------------------------
    def is_client(self, segment: MoodSegment) -> bool:
        return segment.is_clients(self.client_speaker)

    def client_segments(self) -> list[MoodSegment]:
        return sorted((s for s in self.segments if self.is_client(s)), key=lambda s: s.start)

    def other_speakers(self) -> list[Optional[str]]:
        """Speakers other than the client, in order of first appearance."""
        seen: list[Optional[str]] = []
        for seg in sorted(self.segments, key=lambda s: s.start):
            if not self.is_client(seg) and seg.speaker not in seen:
                seen.append(seg.speaker)
        return seen

    def is_therapist(self, speaker: Optional[str]) -> bool:
        """Whether ``speaker`` is the therapist the analysis chose (never when it chose none)."""
        return (speaker is not None and self.therapist_speaker is not None
                and speaker_key(speaker) == speaker_key(self.therapist_speaker))

    def speaker_label(self, speaker: Optional[str], anonymise: bool) -> str:
        """The name to show for a speaker; with ``anonymise``, a role instead of a name
        (the client, the therapist, else "speaker N")."""
        if is_client_speaker(speaker, self.client_speaker):
            return "client" if anonymise else (speaker or "client")
        if anonymise and self.is_therapist(speaker):
            return THERAPIST_ROLE_LABEL
        if anonymise or not speaker:
            others = self.other_speakers()
            n = others.index(speaker) + 2 if speaker in others else len(others) + 2
            return f"speaker {n}"
        return speaker

    def recording_label(self, anonymise: bool) -> str:
        """A short name for the recording: its file stem, or "R<id>" when anonymised."""
        if anonymise or not self.recording.path:
            from cuewatch.exports.anonymise import recording_pseudonym

            return recording_pseudonym(self.recording.id, self.recording.sha256)
        return Path(self.recording.path.replace("\\", "/")).stem or "recording"

    def media_name(self, anonymise: bool) -> str:
        """The media file's name as exports show it: its pseudonym when anonymised."""
        if anonymise:
            return self.recording_label(True) + self.media_path.suffix
        return self.media_path.name

    # ---- flags and verdicts -----------------------------------------------------
    def flag_key(self, index: int) -> str:
        """A flag's label in exports: its project id, else its 1-based position."""
        flag = self.flags[index]
        return str(flag.id) if flag.id is not None else f"n{index + 1}"

    def _ordered_reviews(self, flag: Flag) -> list[tuple[int, Review]]:
        if flag.id is None:
            return []
        mine = [(i, r) for i, r in enumerate(self.reviews) if r.flag_id == flag.id]
        return sorted(mine, key=lambda ir: (ir[1].time or "", ir[1].id if ir[1].id is not None else -1, ir[0]))

    def current_reviews(self, flag: Flag) -> list[Review]:
        """The latest verdict of each reviewer on ``flag``, by reviewer name."""
        latest: dict[str, Review] = {}
        for _, review in self._ordered_reviews(flag):
            latest[review.reviewer] = review
        return [latest[name] for name in sorted(latest)]

    def review_history(self, flag: Flag) -> list[Review]:
        """Earlier verdicts on ``flag`` that a later one by the same reviewer replaced."""
        current = {id(r) for r in self.current_reviews(flag)}
        return [r for _, r in self._ordered_reviews(flag) if id(r) not in current]

    def reviewers(self) -> list[str]:
        flag_ids = {f.id for f in self.flags if f.id is not None}
        names = {r.reviewer for r in self.reviews if r.flag_id in flag_ids}
        return sorted(names)

    # ---- attunement -------------------------------------------------------------
    def has_attunement(self) -> bool:
        """Whether the attunement was computed (an analysis or recompute with stated mood)."""
        return self.synchrony is not None

    def response(self, flag: Flag) -> Optional[StoredResponse]:
        return self.responses.get(int(flag.id)) if flag.id is not None and flag.raised else None

    def attunement_summary(self) -> AttunementSummary:
        """The session summary (``cuewatch.attunement.summary.summarise``) of the raised flags."""
        return summarise(int(self.recording.id or 0), self.flags, self.responses, self.synchrony,
                         self.therapist_speaker, self.therapist_track)

    # ---- face tracks ------------------------------------------------------------
    def track_source(self) -> Any:
        """``tracks``, else the features loaded from ``features_dir`` (loaded once)."""
        if self.tracks is not None:
            return self.tracks
        if self.features_dir is None:
            return None
        if self._loaded is None:
            from cuewatch.exports.tracks import load_tracks

            self._loaded = load_tracks(self.features_dir)
        return self._loaded

    def track_arrays(self) -> dict:
        """Face tracks as ``TrackArrays`` by track id (computed once); empty when none."""
        from cuewatch.exports.tracks import as_track_arrays

        if self._arrays is None:
            self._arrays = as_track_arrays(self.track_source())
        return self._arrays

    def analysed_span(self) -> Optional[tuple[float, float]]:
        """First and last analysed time, when the features say (None if unknown)."""
        from cuewatch.exports.tracks import analysed_span

        source = self.track_source()
        return analysed_span(source) if source is not None else None


def unique_labels(bundles: Sequence[ExportBundle], anonymise: bool) -> list[str]:
    """A distinct, file-name-safe stem per bundle (two "session.mp4"s do not collide)."""
    names = NameAllocator()
    return [names.claim(b.recording_label(anonymise), default="recording") for b in bundles]


ExportFunction = Callable[..., list[Path]]


def exporter(fmt: str) -> ExportFunction:
    """The ``export`` function of one format; a clear error for an unknown one."""
    if fmt not in EXPORT_FORMATS:
        raise CuewatchError(
            f"unknown export format {fmt!r}; choose one of: {', '.join(EXPORT_FORMATS)}")
    module = importlib.import_module(f"cuewatch.exports.{fmt}")
    return module.export


def run_export(fmt: str, bundles: Sequence[ExportBundle], out_dir: Path, *,
               anonymise: bool = False, include_notes: bool = False,
               progress: Optional[Progress] = None, **options: Any) -> list[Path]:
    """Export ``bundles`` in format ``fmt`` into ``out_dir``; returns the files written.

    With ``anonymise`` every bundle is anonymised first (``include_notes`` keeps the
    free-text notes); without it, notes are always included.
    """
    export = exporter(fmt)
    bundles = list(bundles)
    if anonymise:
        from cuewatch.exports.anonymise import anonymise_bundles

        bundles = anonymise_bundles(bundles, include_notes=include_notes)
    return export(bundles, Path(out_dir), anonymise=anonymise, progress=progress, **options)


def prepare(bundles: Iterable[ExportBundle], out_dir: Path,
            progress: Optional[Progress]) -> tuple[list[ExportBundle], Path, Progress]:
    """Checks shared by every exporter: bundles given, folder usable, a Progress to call."""
    bundles = list(bundles)
    for b in bundles:
        if not isinstance(b, ExportBundle):
            raise CuewatchError(f"export needs ExportBundle objects, got {type(b).__name__}")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise CuewatchError(f"export folder is a file, not a folder: {out_dir}")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CuewatchError(f"cannot create export folder {out_dir}: {exc.strerror}") from None
    remove_stale_partials(out_dir)
    return bundles, out_dir, progress if progress is not None else Progress()


def per_recording(fmt: str, bundles: Iterable[ExportBundle], out_dir: Path, anonymise: bool,
                  progress: Optional[Progress],
                  write_one: Callable[[ExportBundle, str, Path], list[Path]]) -> list[Path]:
    """The loop every per-recording exporter shares: check, label, write, report progress.

    ``write_one(bundle, label, out_dir)`` writes one recording's files and returns them.
    """
    bundles, out_dir, progress = prepare(bundles, out_dir, progress)
    written: list[Path] = []
    for n, (bundle, label) in enumerate(zip(bundles, unique_labels(bundles, anonymise))):
        progress.check()
        written += write_one(bundle, label, out_dir)
        progress.report((n + 1) / len(bundles), f"{fmt}: {label}")
    return written


__all__ = [
    "Annotation", "ExportBundle", "EXPORT_FORMATS", "FORMATS_WITH_FACE_DATA", "exporter",
    "run_export", "per_recording", "prepare", "unique_labels",
]
