"""One recording end to end: video -> features -> expression -> stated mood -> flags.

``run_pipeline`` is what ``cuewatch analyze``, ``cuewatch project analyze`` and the app
all call. The face pass (the slow part) is cached under a key made of the video's
content hash, the model's hash and the analysis settings, so a second run, or new flag
settings, never run the face model again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cuewatch.attunement.session import Attunement
from cuewatch.consent.record import Consent
from cuewatch.domain import Flag, Gap, MoodSegment, TrackSummary
from cuewatch.errors import CuewatchError
from cuewatch.expression.series import ExpressionSeries
from cuewatch.features.folder import META_FILE, Features, is_complete, load_features, write_meta
from cuewatch.features.keys import cache_root, content_sha256, features_key
from cuewatch.formats import GAP_NO_FACE, GAP_NOT_DECODED
from cuewatch.media.video import VideoInfo, probe_video
from cuewatch.options import AnalysisSettings, FlagSettings
from cuewatch.progress import Progress


def summarise_tracks(features: Features) -> list[TrackSummary]:
    """Per track: time coverage and mean position, for summaries and face choice."""
    n_frames = max(1, len(features.frame_index))
    tracks = []
    for tid, tr in sorted(features.tracks.items()):
        if len(tr) == 0:
            continue
        bbox = tr.bbox.mean(axis=0)
        tracks.append(TrackSummary(track_id=tid, start=float(tr.timestamp[0]), end=float(tr.timestamp[-1]),
                            n_frames=len(tr), coverage=len(tr) / n_frames,
                            mean_bbox=tuple(float(v) for v in bbox)))  # type: ignore[arg-type]
    return tracks


def compute_features(video: Path, settings: AnalysisSettings, model_path: Path, model_sha256: str,
                     progress: Optional[Progress] = None, workers: Optional[int] = None,
                     cache_dir: Optional[Path] = None,
                     video_sha256: Optional[str] = None) -> Path:
    """The features directory for (video, settings): from the cache, or by analysing.

    A pure function of its arguments (plus the cache, which only saves time): safe to run
    in another process or on another machine.
    """
    from cuewatch.faces.face_pass import analyze_video

    progress = progress or Progress()
    digest = video_sha256 or content_sha256(video, progress.scaled(0.0, 0.02))
    key = features_key(digest, model_sha256, settings)
    target = (cache_dir or cache_root()) / key
    if is_complete(target):
        progress.report(1.0, "features from cache")
        return target
    out = analyze_video(video, settings, model_path, target, progress=progress.scaled(0.02, 1.0),
                        workers=workers)
    meta = json.loads((Path(out) / META_FILE).read_text())
    meta.setdefault("video_sha256", digest)
    meta.setdefault("model_sha256", model_sha256)
    write_meta(Path(out), meta, meta.get("track_ids", []))
    return Path(out)


@dataclass
class PipelineResult:
    """Everything one analysed recording yields."""

    video: Path
    info: VideoInfo
    features_dir: Path
    tracks: list[TrackSummary]
    segments: list[MoodSegment] = field(default_factory=list)
    client_speaker: Optional[str] = None
    client_track: Optional[int] = None
    #: the therapist's transcript name (None: every speaker but the client) and face track
    #: (None: not on camera).
    therapist_speaker: Optional[str] = None
    therapist_track: Optional[int] = None
    flags: list[Flag] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False
    has_mood: bool = False
    parameters: dict[str, Any] = field(default_factory=dict)
    #: responses, mirroring and synchrony (``cuewatch.attunement.session``); None without
    #: stated mood (no transcript or mood file).
    attunement: Optional[Attunement] = None


def load_mood_input(transcript: Optional[Path], mood: Optional[Path],
                    duration: Optional[float]) -> tuple[list[MoodSegment], list[str]]:
    """Stated mood per segment, from a transcript and/or a mood file."""
    from cuewatch.words.stated_mood import annotate
    from cuewatch.words.transcript import load_mood_file, load_transcript

    segments: list[MoodSegment] = []
    warnings: list[str] = []
    if transcript is not None:
        segs, warns = load_transcript(transcript, duration=duration)
        segments += annotate(segs)
        warnings += warns
    if mood is not None:
        segs, warns = load_mood_file(mood, duration=duration)
        segments += segs
        warnings += warns
    segments.sort(key=lambda s: (s.start, s.end))
    return segments, warnings


def run_pipeline(video: Path, *, settings: AnalysisSettings, model_path: Path, model_sha256: str,
                 transcript: Optional[Path] = None, mood: Optional[Path] = None,
                 client_speaker: Optional[str] = None, client_face: str = "auto",
                 therapist_speaker: Optional[str] = None, therapist_face: str = "auto",
                 flag_settings: FlagSettings = FlagSettings(),
                 consent: Optional[Consent] = None, progress: Optional[Progress] = None,
                 workers: Optional[int] = None, cache_dir: Optional[Path] = None,
                 video_sha256: Optional[str] = None,
                 neutral_span: Optional[tuple[float, float]] = None,
                 neutral_spans: Optional[Mapping[int, tuple[float, float]]] = None) -> PipelineResult:
    """Analyse one consented recording. Consent must already have been checked.

    ``neutral_span`` is where the client's face is neutral; ``neutral_spans`` (a project's
    marked spans by face track) apply to whichever track turns out to be the client's.
    ``therapist_speaker`` / ``therapist_face`` pick the other person (see
    ``cuewatch.faces.client_face``); with stated mood the result carries the attunement.
    """
    from cuewatch.attunement.session import session_attunement
    from cuewatch.faces.client_face import (
        choose_client_face,
        choose_client_speaker,
        choose_therapist_face,
        choose_therapist_speaker,
        parse_face_choice,
    )
    from cuewatch.flags.incongruence import detect_flags, recording_gaps

    video = Path(video)
    progress = progress or Progress()
    info = probe_video(video)
    client_face = parse_face_choice(client_face or "auto", "--client-face")  # bad choices fail fast
    therapist_face = parse_face_choice(therapist_face or "auto", "--therapist-face")
    segments: list[MoodSegment] = []
    warnings: list[str] = []
    if transcript is not None or mood is not None:  # parse first: a bad transcript fails fast
        segments, warnings = load_mood_input(transcript, mood, info.duration)
    features_dir = compute_features(video, settings, model_path, model_sha256,
                                    progress.scaled(0.0, 0.95), workers, cache_dir, video_sha256)
    features = load_features(features_dir)
    tracks = summarise_tracks(features)
    result = PipelineResult(video=video, info=info, features_dir=features_dir, tracks=tracks,
                            segments=segments, warnings=warnings,
                            truncated=bool(features.meta.get("truncated", False)),
                            has_mood=bool(segments),
                            parameters={"analysis": settings.to_dict(),
                                        "flags": flag_settings.to_dict(),
                                        "client_face": client_face,
                                        "therapist_face": therapist_face,
                                        "neutral_span": list(neutral_span) if neutral_span else None})
    if result.truncated:
        result.warnings.append(
            f"{video.name}: the file is truncated; analysed the first "
            f"{features.meta.get('decoded_until', 0):.1f} s that decode (the rest is a "
            f"'{GAP_NOT_DECODED}' gap)")
    if not tracks:
        result.warnings.append(f"{video.name}: no face was found in the recording, so nothing can "
                               f"be flagged (recorded as a '{GAP_NO_FACE}' gap)")
    if not segments:
        result.gaps = recording_gaps(features)
    if segments:
        speakers = sorted({s.speaker for s in segments if s.speaker})
        result.client_speaker = choose_client_speaker(segments, client_speaker) if speakers else None
        result.client_track = choose_client_face(features, segments, result.client_speaker,
                                                 client_face)
        result.parameters["client_speaker"] = result.client_speaker
        result.parameters["client_track"] = result.client_track
        result.therapist_speaker = choose_therapist_speaker(segments, result.client_speaker,
                                                            therapist_speaker)
        result.therapist_track = choose_therapist_face(features, result.client_track, therapist_face)
        result.parameters["therapist_speaker"] = result.therapist_speaker
        result.parameters["therapist_track"] = result.therapist_track
        if neutral_span is None and neutral_spans and result.client_track is not None:
            neutral_span = neutral_spans.get(result.client_track)
            result.parameters["neutral_span"] = list(neutral_span) if neutral_span else None
        progress.report(0.97, "flags")
        series = client_expression(features, result.client_track, neutral_span)
        result.flags, result.gaps = detect_flags(features, series, segments, result.client_speaker,
                                                 result.client_track, flag_settings)
        result.attunement = session_attunement(
            features, result.flags, segments, result.client_speaker, result.therapist_speaker,
            series, result.client_track, result.therapist_track,
            progress=progress.scaled(0.98, 1.0))
    progress.report(1.0, "done")
    return result


def recompute_flags(features_dir: Path, segments: list[MoodSegment], client_speaker: Optional[str],
                    client_track: Optional[int], flag_settings: FlagSettings,
                    neutral_span: Optional[tuple[float, float]] = None
                    ) -> tuple[list[Flag], list[Gap]]:
    """New flags from stored features and new settings: no face pass, well under a second."""
    flags, gaps, _ = recompute_session(features_dir, segments, client_speaker, client_track,
                                       flag_settings, neutral_span)
    return flags, gaps


@dataclass(frozen=True)
class TherapistChoice:
    """Who the therapist is when flags are recomputed (``recompute_session``).

    ``known``: ``speaker`` and ``track`` are what the recording's analysis chose; the
    per-flag measures are recomputed with them and the session synchrony (which does not
    depend on the flags) is not. Otherwise ``speaker`` / ``face`` are the user's wishes
    (``--therapist-speaker`` / ``--therapist-face``, None / "auto": the other person), the
    therapist is chosen now and the synchrony computed too (a project analysed before
    attunement was stored).
    """

    speaker: Optional[str] = None
    face: str = "auto"
    track: Optional[int] = None
    known: bool = False


def recompute_session(features_dir: Path, segments: list[MoodSegment], client_speaker: Optional[str],
                      client_track: Optional[int], flag_settings: FlagSettings,
                      neutral_span: Optional[tuple[float, float]] = None,
                      therapist: Optional[TherapistChoice] = None
                      ) -> tuple[list[Flag], list[Gap], Optional[Attunement]]:
    """Flags from stored features and new settings, and with ``therapist`` the attunement
    of the new flag set (responses and mirroring; see ``TherapistChoice``). No face pass:
    well under a second for an hour (``benchmarks/bench_flags.py``). The attunement is
    None without stated mood or without ``therapist``."""
    from cuewatch.attunement.session import session_attunement
    from cuewatch.faces.client_face import (
        choose_therapist_face,
        choose_therapist_speaker,
        parse_face_choice,
    )
    from cuewatch.flags.incongruence import detect_flags

    if not is_complete(features_dir):
        raise CuewatchError(f"{features_dir}: features are missing; analyse the recording again")
    features = load_features(features_dir)
    series = client_expression(features, client_track, neutral_span)
    flags, gaps = detect_flags(features, series, segments, client_speaker, client_track, flag_settings)
    if therapist is None or not segments:
        return flags, gaps, None
    if therapist.known:
        speaker, track = therapist.speaker, therapist.track
    else:
        speaker = choose_therapist_speaker(segments, client_speaker, therapist.speaker)
        track = choose_therapist_face(features, client_track,
                                      parse_face_choice(therapist.face or "auto", "--therapist-face"))
    attunement = session_attunement(features, flags, segments, client_speaker, speaker, series,
                                    client_track, track, with_synchrony=not therapist.known)
    return flags, gaps, attunement


def client_expression(features: Features, client_track: Optional[int],
                      neutral_span: Optional[Sequence[float]] = None) -> Optional[ExpressionSeries]:
    """The client track's expression series (cached beside the features), or None when the
    recording has no client face: what the flags stage reads."""
    from cuewatch.expression.cache import track_expression

    if client_track is None or client_track not in features.tracks:
        return None
    return track_expression(features, client_track, neutral_span)
