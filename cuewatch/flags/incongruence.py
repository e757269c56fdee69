"""Incongruence flags: where what the client's face shows conflicts with what they say.

Per client utterance that states a mood, every reliably seen frame of the client's face is
compared with the stated valence: a frame *contradicts* when the face's valence sits on
the other side of zero by more than a threshold (or, for stated calm or happiness, when a
negative prototype match is strong; against stated distress a smile must clear a margin
more, see ``Thresholds.smile_margin``). Contradicting frames form runs; short holes merge;
a run long enough, or runs that keep coming back through the utterance and add up to as
long, make an ``incongruence`` flag; a brief strong flash (0.2 to 0.5 s) inside an
utterance whose face otherwise agrees is a ``leak``. Where the face was not reliably
seen there is no verdict: those spans are reported as gaps, so a reviewer knows the tool
was blind there.

The trainee's own congruence is the same check on the therapist's face track against the
therapist's own turns (``detect_therapist_flags``): ``therapist_incongruence`` flags.

Everything here works on stored features and cached expression series, so new settings
give new flags in well under a second, even for an hour of recording. Any thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.domain import Flag, Gap, MoodSegment, is_therapist_speaker
from cuewatch.errors import CuewatchError
from cuewatch.expression.series import ExpressionSeries
from cuewatch.features.folder import Features
from cuewatch.formats import (
    AU_NAMES,
    EXPRESSION_CATEGORIES,
    GAP_FACE_NOT_VISIBLE,
    GAP_NO_CLIENT_FACE,
    GAP_NO_FACE,
    GAP_NOT_DECODED,
    NEGATIVE_CATEGORIES,
    OPERATING_POINTS_FILE,
    OPERATING_POINTS_FORMAT,
    OPERATING_POINTS_VERSION,
    POSITIVE_CATEGORIES,
    THERAPIST_INCONGRUENCE,
)
from cuewatch.options import SENSITIVITIES, FlagSettings
from cuewatch.rule_numbers import RULES as _R

_CAT = {c: i for i, c in enumerate(EXPRESSION_CATEGORIES)}
_NEGATIVE_CATS = NEGATIVE_CATEGORIES


@dataclass(frozen=True)
class Thresholds:
    """The numbers a sensitivity preset stands for (explicit settings override them). No
    defaults: every preset names every one (``OPERATING_POINTS_PATH``)."""

    valence: float          # face valence beyond this, on the other side of zero
    min_duration: float     # shortest incongruence flag, s
    merge_gap: float        # holes shorter than this merge, s
    min_confidence: float   # a frame below this is not reliably seen
    min_coverage: float     # share of an utterance that must be reliably seen
    stated_min: float       # |stated valence| that counts as a stated mood
    category_score: float   # negative prototype match that contradicts stated calm/happy
    leak_valence: float     # a leak must be at least this strong
    #: against stated distress the face must smile this much more than ``valence``: a weak
    #: smile without the cheek raise is the commonest face of all in conversation, and
    #: while telling bad news it is usually Ekman's "miserable smile" (acknowledging the
    #: feeling, softening it for the listener) or the lips shaping words, not a
    #: contradiction. Frowns get no such allowance: people rarely frown politely.
    smile_margin: float
    #: when contradicting frames make up this share of the reliably seen utterance (over a
    #: third of what was said), the whole seen utterance is the flag: the statement as a
    #: whole conflicts with the face, not just its most visible moment.
    utterance_share: float
    leak_min: float         # a leak lasts at least this long, s
    leak_max: float         # ... and at most this long, s
    min_gap: float          # shortest reported face-not-visible gap, s


#: where the presets live: one data file beside this module, written by
#: ``python benchmarks/eval_operating_points.py --write`` (operating points chosen by
#: cross-validation on role-play cases for target false-alarm rates, see
#: ``cuewatch.evaluation.operating_points``), never edited by hand.
OPERATING_POINTS_PATH = Path(__file__).with_name(OPERATING_POINTS_FILE)


def load_operating_points(path: Path = OPERATING_POINTS_PATH) -> dict[str, Any]:
    """The operating-points document, checked: its format, and a complete ``Thresholds``
    per sensitivity."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CuewatchError(f"cannot read the operating points {path}: {exc}") from None
    if (not isinstance(doc, dict) or doc.get("format") != OPERATING_POINTS_FORMAT
            or doc.get("version") != OPERATING_POINTS_VERSION):
        raise CuewatchError(f"{path} is not a {OPERATING_POINTS_FORMAT} file, version "
                            f"{OPERATING_POINTS_VERSION}")
    names = {f.name for f in fields(Thresholds)}
    raw = doc.get("points")
    points: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for name in SENSITIVITIES:
        if not isinstance(points.get(name), dict) or set(points[name]) != names:
            raise CuewatchError(f"{path}: operating point {name!r} does not name every threshold")
    return doc


def presets_from(doc: dict[str, Any]) -> dict[str, Thresholds]:
    """The sensitivity presets of an operating-points document, in SENSITIVITIES order."""
    return {name: Thresholds(**{k: float(v) for k, v in doc["points"][name].items()})
            for name in SENSITIVITIES}


#: the sensitivity presets (low / medium / high), from ``OPERATING_POINTS_PATH``; their
#: numbers are hashed into the rules (``cuewatch.rules``), so provenance carries them.
PRESETS: dict[str, Thresholds] = presets_from(load_operating_points())


#: the names ``FlagSettings.extra`` may set.
THRESHOLD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Thresholds))


def thresholds(settings: FlagSettings) -> Thresholds:
    """The preset for ``settings.sensitivity``, with any explicit values put over it.

    An unknown sensitivity or threshold name is an error: ignoring it would give flags at
    settings nobody asked for."""
    if settings.sensitivity not in PRESETS:
        raise CuewatchError(f"unknown sensitivity {settings.sensitivity!r} "
                            f"(choose {', '.join(PRESETS)})")
    base = PRESETS[settings.sensitivity]
    unknown = sorted(k for k in settings.extra if k not in THRESHOLD_NAMES)
    if unknown:
        raise CuewatchError(f"unknown threshold {', '.join(map(repr, unknown))} "
                            f"(known: {', '.join(THRESHOLD_NAMES)})")
    over = {"valence": settings.valence_threshold, "min_duration": settings.min_duration_s,
            "merge_gap": settings.merge_gap_s, "min_confidence": settings.min_confidence}
    over.update(settings.extra)
    fields = base.__dict__ | {k: float(v) for k, v in over.items() if v is not None}
    return Thresholds(**fields)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index runs where ``mask`` is true."""
    if mask.size == 0:
        return []
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _span_runs(t: np.ndarray, mask: np.ndarray, merge_gap: float, frame_dt: float
               ) -> list[tuple[int, int, float, float]]:
    """Runs of ``mask`` as (first, last+1, start_s, end_s), holes under ``merge_gap`` merged."""
    out: list[tuple[int, int, float, float]] = []
    for a, b in _runs(mask):
        start, end = float(t[a]), float(t[b - 1]) + frame_dt
        if out and start - out[-1][3] < merge_gap:
            pa, _pb, ps, _pe = out[-1]
            out[-1] = (pa, b, ps, end)
        else:
            out.append((a, b, start, end))
    return out


def _no_face_frames(features: Features) -> np.ndarray:
    """Per analysed frame: no face of anyone was found in it."""
    frames = np.asarray(features.frame_index)
    seen = np.zeros(frames.size, dtype=bool)
    for track in features.tracks.values():
        if len(track) and frames.size:
            pos = np.clip(np.searchsorted(frames, np.asarray(track.frame)), 0, max(0, frames.size - 1))
            seen[pos] = True
    return ~seen


def _gap_spans(times: np.ndarray, missing: np.ndarray, min_gap: float
               ) -> tuple[list[tuple[int, int, float, float]], float]:
    """Runs of ``missing`` frames at least ``min_gap`` long as (first, last+1, start_s,
    end_s), and where the analysed frames end."""
    frame_dt = float(np.median(np.diff(times))) if times.size > 1 else 0.1
    spans = []
    for a, b in _runs(missing):
        start = float(times[a])
        end = float(times[b]) if b < times.size else float(times[-1]) + frame_dt
        if end - start >= min_gap:
            spans.append((a, b, round(start, 3), round(end, 3)))
    return spans, (float(times[-1]) + frame_dt if times.size else 0.0)


def _not_decoded_gap(features: Features, decoded_end: float) -> list[Gap]:
    """The tail of a truncated video that did not decode: no frames, so no verdict."""
    if not features.meta.get("truncated"):
        return []
    start = max(decoded_end, float(features.meta.get("decoded_until") or 0.0))
    if features.duration <= start:
        return []
    return [Gap(start=round(start, 3), end=round(features.duration, 3), track=None,
                reason=GAP_NOT_DECODED)]


def face_gaps(features: Features, track_id: Optional[int], series: Optional[ExpressionSeries],
              th: Thresholds) -> list[Gap]:
    """Spans of the recording with no verdict, each with its reason: the client's face not
    reliably seen (``track_id`` None: no client face chosen), no face at all, or a tail
    of the video that did not decode."""
    times = np.asarray(features.frame_time, dtype=np.float64)
    seen = np.zeros(times.size, dtype=bool)
    if track_id is not None and series is not None and times.size:
        track = features.tracks[track_id]
        pos = np.searchsorted(np.asarray(features.frame_index), np.asarray(track.frame))
        pos = np.clip(pos, 0, times.size - 1)
        seen[pos] = series.confidence >= th.min_confidence
    no_face = _no_face_frames(features)
    spans, decoded_end = _gap_spans(times, ~seen, th.min_gap)
    gaps = [Gap(start=start, end=end, track=track_id,
                reason=GAP_NO_FACE if no_face[a:b].all() else
                GAP_FACE_NOT_VISIBLE if track_id is not None else GAP_NO_CLIENT_FACE)
            for a, b, start, end in spans]
    return gaps + _not_decoded_gap(features, decoded_end)


def recording_gaps(features: Features, th: Thresholds = PRESETS["medium"]) -> list[Gap]:
    """Without a stated mood there is no client to follow: the spans where no face at all
    was seen, and a tail that did not decode."""
    times = np.asarray(features.frame_time, dtype=np.float64)
    spans, decoded_end = _gap_spans(times, _no_face_frames(features), th.min_gap)
    gaps = [Gap(start=start, end=end, track=None, reason=GAP_NO_FACE) for _a, _b, start, end in spans]
    return gaps + _not_decoded_gap(features, decoded_end)


def _stated_sign(seg: MoodSegment, th: Thresholds) -> int:
    if seg.valence is None or abs(seg.valence) < th.stated_min:
        return 0
    return 1 if seg.valence > 0 else -1


def _weighted_mean(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Confidence-weighted mean over rows (plain dot product: this runs per flag)."""
    return np.tensordot(w, values, axes=(0, 0)) / float(w.sum())


def _evidence_aus(series: ExpressionSeries, rows: np.ndarray, category: str) -> dict[str, float]:
    """The AUs behind the contradicting expression, with mean intensities (0..5)."""
    w = series.confidence[rows].astype(np.float64) + 1e-6
    mean_au = _weighted_mean(series.au[rows], w)
    proto = series.settings.prototypes.get(category, {}) if series.settings else {}
    names = [au for au in proto if au in AU_NAMES] or list(AU_NAMES)
    ranked = sorted(names, key=lambda au: -mean_au[AU_NAMES.index(au)] * proto.get(au, 1.0))
    return {au: round(float(mean_au[AU_NAMES.index(au)]), 2)
            for au in ranked[:_R.flags.evidence_aus]
            if mean_au[AU_NAMES.index(au)] > _R.flags.evidence_au_min}


def _expressed(series: ExpressionSeries, rows: np.ndarray, sign: int) -> tuple[str, float]:
    """The contradicting prototype and the mean valence over ``rows``."""
    w = series.confidence[rows].astype(np.float64) + 1e-6
    scores = _weighted_mean(series.scores[rows], w)
    if sign > 0:   # stated positive: which negative prototype shows
        cats = list(_NEGATIVE_CATS)
    else:          # stated negative: the face shows happiness
        cats = ["happy"]
    cat = max(cats, key=lambda c: scores[_CAT[c]])
    return cat, float(_weighted_mean(series.valence[rows], w))


def _flag(kind: str, seg: MoodSegment, series: ExpressionSeries, rows: np.ndarray,
          start: float, end: float, sign: int, strength: np.ndarray, coverage: float,
          track_id: int) -> Flag:
    """One flag over ``rows``; ``strength`` is the contradiction at those rows."""
    category, valence = _expressed(series, rows, sign)
    peak_row = rows[int(np.argmax(np.clip(strength, 0, None) * series.confidence[rows]))]
    stated_v = float(seg.valence or 0.0)
    gap = abs(stated_v - valence) / 2.0
    frac = (end - start) / max(1e-6, seg.end - seg.start)
    r = _R.flags
    severity = float(np.clip(r.severity_gap_weight * gap + r.severity_span_weight * min(1.0, frac)
                             if kind == "incongruence" else gap, 0.0, 1.0))
    face_conf = float(np.mean(series.confidence[rows]))
    confidence = float(np.clip(face_conf
                               * (r.confidence_certainty_base + r.confidence_certainty_weight * seg.certainty)
                               * (r.confidence_coverage_base + r.confidence_coverage_weight * coverage),
                               0.0, 1.0))
    return Flag(
        start=round(start, 3), end=round(end, 3), type=kind, track=track_id,
        stated={"words": seg.text, "category": seg.category, "valence": round(stated_v, 3),
                "speaker": seg.speaker},
        expressed={"category": category, "valence": round(valence, 3)},
        severity=round(severity, 3), confidence=round(confidence, 3),
        evidence={"aus": _evidence_aus(series, rows, category),
                  "peak_time": round(float(series.timestamps[peak_row]), 3),
                  "utterance_start": seg.start, "utterance_end": seg.end,
                  "face_seen": round(coverage, 3), "stated_certainty": round(seg.certainty, 3)})


def flags_for_series(series: ExpressionSeries, segments: Sequence[MoodSegment],
                     client_speaker: Optional[str], track_id: int, th: Thresholds
                     ) -> list[Flag]:
    """The flags of one client track against the client's stated moods."""
    return _series_flags(series, [s for s in segments if s.is_clients(client_speaker)],
                         track_id, th, leaks=True)


def _series_flags(series: ExpressionSeries, segments: Sequence[MoodSegment], track_id: int,
                  th: Thresholds, *, leaks: bool) -> list[Flag]:
    """The incongruence check of one face track against ``segments`` (that person's own
    words): sustained contradiction, and with ``leaks`` brief strong flashes."""
    t = series.timestamps
    if t.size == 0:
        return []
    frame_dt = float(np.median(np.diff(t))) if t.size > 1 else 0.1
    reliable = series.confidence >= th.min_confidence
    negative_match = series.scores[:, [_CAT[c] for c in _NEGATIVE_CATS]].max(axis=1)
    flags: list[Flag] = []
    for seg in segments:
        sign = _stated_sign(seg, th)
        if sign == 0:
            continue
        a, b = np.searchsorted(t, [seg.start, seg.end])
        if b <= a:
            continue
        rows = np.arange(a, b)
        expected = max(1, int(round((seg.end - seg.start) / frame_dt)))
        coverage = float(reliable[rows].sum()) / expected
        if coverage < th.min_coverage:
            continue  # the face was not seen well enough for a verdict: a gap says so
        v = series.valence[rows]
        need = th.valence if sign > 0 else th.valence + th.smile_margin
        if sign > 0:
            strength = -v
            if seg.category in POSITIVE_CATEGORIES + ("neutral", None):
                strength = np.maximum(strength, negative_match[rows] - th.category_score + th.valence)
        else:
            strength = v
        contra = (strength > need) & reliable[rows]
        runs = _span_runs(t[rows], contra, th.merge_gap, frame_dt)
        sustained = [r for r in runs if r[3] - r[2] >= th.min_duration]
        seen = reliable[rows]
        share = float(contra.sum()) / max(1, int(seen.sum()))
        whole = float(np.mean(strength[seen])) if seen.any() else 0.0
        # contradiction that keeps coming back through the utterance (several runs, each
        # shorter than min_duration, together longer) is as telling as one long run
        recurring = sum(r[3] - r[2] for r in runs) >= th.min_duration
        if ((sustained or recurring) and share >= th.utterance_share
                and whole > _R.flags.whole_strength_share * need):
            # the statement as a whole conflicts: flag the utterance where the face was seen
            first, last = np.flatnonzero(seen)[[0, -1]]
            start = max(seg.start, float(t[rows[first]]))
            end = min(seg.end, float(t[rows[last]]) + frame_dt)
            flags.append(_flag("incongruence", seg, series, rows[seen], start, end, sign,
                               strength[seen], coverage, track_id))
            continue
        for ra, rb, start, end in sustained:
            keep = reliable[rows[ra:rb]]
            # merging bridged short holes; the flagged span as a whole must still contradict
            if keep.any() and float(np.mean(strength[ra:rb][keep])) > need:
                flags.append(_flag("incongruence", seg, series, rows[ra:rb][keep], start, end, sign,
                                   strength[ra:rb][keep], coverage, track_id))
        if sustained or not leaks:
            continue
        # leaks: brief, strong contradicting flashes inside an otherwise agreeing utterance
        strong = (strength > th.leak_valence) & reliable[rows]
        for ra, rb, start, end in _span_runs(t[rows], strong, 0.0, frame_dt):
            if th.leak_min <= end - start <= th.leak_max:
                flags.append(_flag("leak", seg, series, rows[ra:rb], start, end, sign,
                                   strength[ra:rb], coverage, track_id))
    return flags


def detect_flags(features: Features, series: Optional[ExpressionSeries],
                 segments: Sequence[MoodSegment], client_speaker: Optional[str],
                 client_track: Optional[int], settings: FlagSettings) -> tuple[list[Flag], list[Gap]]:
    """Flags and face-not-visible gaps for one recording's client.

    ``series`` is the client track's expression, read by the expression stage
    (``cuewatch.expression.cache.track_expression``); None when there is no client face.
    This stage reads no cache and writes none: data flows one way into it.
    """
    th = thresholds(settings)
    if series is None or client_track is None or client_track not in features.tracks:
        return [], face_gaps(features, None, None, th)
    flags = flags_for_series(series, segments, client_speaker, client_track, th)
    flags.sort(key=lambda f: (f.start, f.end))
    for i, f in enumerate(flags, 1):
        f.id = i
    return flags, face_gaps(features, client_track, series, th)


def detect_therapist_flags(features: Features, series: Optional[ExpressionSeries],
                           segments: Sequence[MoodSegment], client_speaker: Optional[str],
                           therapist_speaker: Optional[str], therapist_track: Optional[int],
                           settings: FlagSettings, first_id: int = 1) -> list[Flag]:
    """The trainee's own congruence: ``THERAPIST_INCONGRUENCE`` flags where the therapist's
    face conflicts with what the therapist says (a broad smile over "that sounds really
    painful").

    The same check as the client's, at the same sensitivity, on the therapist's face track
    against the therapist's turns (``cuewatch.domain.is_therapist_speaker``), sustained
    contradiction only: a brief flash is the client's "leak" (what they hold back), not a
    trainee's manner. None without a therapist face on camera (``therapist_track`` None) or
    without knowing whose words are whose (no client speaker). Numbered from ``first_id``,
    after the client's flags, so the client's numbering never moves.
    """
    th = thresholds(settings)
    if (series is None or therapist_track is None or therapist_track not in features.tracks
            or client_speaker is None):
        return []
    said = [s for s in segments if is_therapist_speaker(s.speaker, client_speaker, therapist_speaker)]
    flags = [replace(f, type=THERAPIST_INCONGRUENCE)
             for f in _series_flags(series, said, therapist_track, th, leaks=False)]
    flags.sort(key=lambda f: (f.start, f.end))
    for i, f in enumerate(flags, first_id):
        f.id = i
    return flags
