"""What a face shows over time: prototype matches, valence, arousal and confidence.

Built on :mod:`cuewatch.expression.action_units` (AU intensities relative to the person's neutral
face). The eight categories are FACS/EMFACS prototypes (happy = AU6+AU12, sad =
AU1+AU4+AU15, ...); user-facing text calls them "prototype matches", not emotions: a face
matching the sad prototype is evidence, not a diagnosis. Valence is read from the prototype
matches (happy pulls up; sad, angry, fearful, disgusted, contempt pull down; surprise and
neutral sit at zero), so every valence has AUs a supervisor can check.

Everything is smoothed over time with a time-aware, confidence-weighted window (irregular
timestamps and gaps are fine; frames the model barely saw borrow from their neighbours),
short enough that a 0.2 s flash survives, and never across a cut in the face track. Pure
numpy, vectorised: an hour of 15 fps frames takes about a second. Any thread; no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.expression import fitted
from cuewatch.expression.action_units import (
    GEOMETRY_NAMES,
    SOURCE_NONE,
    STEADY_BLENDSHAPE_IDX,
    UPPER_FACE_COLS,
    AUSettings,
    Landmarks,
    NeutralReference,
    NeutralScorer,
    action_unit_intensities,
    face_frame_points,
    geometry_measures,
    neutral_reference,
)
from cuewatch.formats import AU_NAMES, BLENDSHAPE_NAMES, EXPRESSION_CATEGORIES, NEUTRAL_BAND
from cuewatch.rule_numbers import RULES as _R

#: bump when this stage's code changes what it computes: cached series are then recomputed.
EXPRESSION_REVISION = 9  # 8: the neutral found or none (issue 12.3) and the fitted reading (12.2), merged

#: the readings ExpressionSettings.reading names.
READINGS: tuple[str, ...] = ("prototypes", "fitted")

_AU = {name: i for i, name in enumerate(AU_NAMES)}
_CAT = {name: i for i, name in enumerate(EXPRESSION_CATEGORIES)}


@dataclass(frozen=True)
class ExpressionSettings:
    """Every tunable of the expression stage, with its default (plain data). The numbers'
    defaults are read from ``cuewatch/rules.toml`` (``cuewatch.rule_numbers``)."""

    au: AUSettings = field(default_factory=AUSettings)
    #: how the AUs become category matches and valence: "prototypes" (the hand-set
    #: prototypes below) or "fitted" (cuewatch.expression.fitted: weights learned from
    #: labelled faces, relative to a marked neutral or person-independent without one).
    #: "prototypes" stays the default: on people never used to fit (benchmarks/
    #: eval_by_person.py) the fitted reading is far better (7-class 61% against 44%
    #: without a neutral, 57% against 38% with one; weights 12a723e1), but switched into
    #: the pipeline it takes the role-play cases from F1 0.95 with no false alarm to F1
    #: 0.32 with 3.3 a minute, and the 11 built cases from 0.93, 0.24/min to 0.59,
    #: 2.4/min (benchmarks/eval_incongruence.py --reading fitted, with those weights):
    #: the flag rules are tuned to this reading.
    reading: str = "prototypes"
    #: prototype: AU -> weight (weights of a prototype sum to 1); AU intensities are /5.
    prototypes: dict[str, dict[str, float]] = field(default_factory=lambda: {
        cat: dict(p.match) for cat, p in _R.prototypes.items()})
    #: prototype: AU -> penalty weight (an AU that contradicts the prototype).
    contradictions: dict[str, dict[str, float]] = field(default_factory=lambda: {
        cat: dict(p.contradictions) for cat, p in _R.prototypes.items()})
    #: how each prototype pulls valence (happy up, the rest down, surprise not at all).
    valence_weights: dict[str, float] = field(default_factory=lambda: dict(_R.valence.weights))
    #: valence = gain * (positive pull - negative pull), clipped to [-1, 1].
    valence_gain: float = _R.valence.gain
    #: |valence| below this reads as neutral (the flags stage has its own thresholds).
    neutral_valence: float = NEUTRAL_BAND
    #: the strongest non-neutral match at which the neutral match reaches 0.
    neutral_level: float = _R.categories.neutral_level
    #: AU -> weight for arousal; arousal = 1 - exp(-sum(weight * AU/5)).
    arousal_weights: dict[str, float] = field(default_factory=lambda: dict(_R.arousal.weights))
    #: eye closure: AU45 at or above ``closure_level`` is a closed eye; a closure run
    #: (holes up to ``closure_hole_s`` bridged) longer than ``blink_max_s`` is no blink,
    #: and counts fully from ``closure_full_s``.
    closure_level: float = _R.context.closure_level
    closure_hole_s: float = _R.context.closure_hole_s
    blink_max_s: float = _R.context.blink_max_s
    closure_full_s: float = _R.context.closure_full_s
    #: the mouth counts as open from max(AU25, AU26) = ``mouth_open_lo``, fully at ``_hi``.
    mouth_open_lo: float = _R.context.mouth_open_lo
    mouth_open_hi: float = _R.context.mouth_open_hi
    #: widened eyes: AU05 from ``widen_lo`` (none) to ``widen_hi`` (full), cancelled by a
    #: cheek raise AU06 from ``cheek_lo`` to ``cheek_hi``.
    widen_lo: float = _R.context.widen_lo
    widen_hi: float = _R.context.widen_hi
    cheek_lo: float = _R.context.cheek_lo
    cheek_hi: float = _R.context.cheek_hi
    #: a felt smile, min(AU06, AU12), from ``felt_smile_lo`` (none) to ``_hi`` (full),
    #: explains AU09/AU10 readings away (see :func:`reread_smile_wrinkles`).
    felt_smile_lo: float = _R.context.felt_smile_lo
    felt_smile_hi: float = _R.context.felt_smile_hi
    #: half-width of each of the two box passes of the smoothing window, seconds.
    smooth_half_width_s: float = _R.smoothing.half_width_s
    #: shot cut: between two consecutive frames the face box moves more than
    #: ``cut_shift`` face heights (or ``cut_speed`` face heights per second, whichever is
    #: more), its height changes by more than ``cut_scale`` (log ratio), or the face's own
    #: shape (face-frame landmarks, IOD) jumps more than ``cut_shape`` (times the small-face
    #: noise factor). No head moves or deforms that fast; an edit does. Nothing is
    #: smoothed across a cut.
    cut_shift: float = _R.smoothing.cut_shift
    cut_speed: float = _R.smoothing.cut_speed
    cut_scale: float = _R.smoothing.cut_scale
    cut_shape: float = _R.smoothing.cut_shape
    #: head turn: full confidence up to ``*_free_deg``, falling with scale ``*_scale_deg``.
    yaw_free_deg: float = _R.confidence.yaw_free_deg
    yaw_scale_deg: float = _R.confidence.yaw_scale_deg
    pitch_free_deg: float = _R.confidence.pitch_free_deg
    pitch_scale_deg: float = _R.confidence.pitch_scale_deg
    #: face height (the landmarks' box, brow to chin, about half the head's height, in
    #: pixels): no confidence at ``min_face_px``, full at ``good_face_px``. A face 1/8 of a
    #: 1080p frame high has a landmark box of about 70 px, and its landmarks are usable.
    min_face_px: float = _R.confidence.min_face_px
    good_face_px: float = _R.confidence.good_face_px
    #: landmark noise is roughly constant in pixels, so in face units it grows as the face
    #: shrinks: the flicker and jitter tolerances scale by ``noise_ref_px / height`` (>= 1).
    noise_ref_px: float = _R.confidence.noise_ref_px
    #: detection confidence: none at ``min_detection``, full at ``good_detection``.
    min_detection: float = _R.confidence.min_detection
    good_detection: float = _R.confidence.good_detection
    #: optional per-frame sharpness (variance of the Laplacian on the face crop).
    min_sharpness: float = _R.confidence.min_sharpness
    good_sharpness: float = _R.confidence.good_sharpness
    #: covered face, cue 1: the landmarker flattens the face's depth when a hand covers
    #: it. Depth spread relative to the track's 75th percentile: none below ``flat_min``,
    #: full above ``flat_ok``.
    flat_min: float = _R.confidence.flat_min
    flat_ok: float = _R.confidence.flat_ok
    #: covered face, cue 2: frame-to-frame flicker of the blendshapes (mean |second
    #: difference|, averaged over the smoothing window): full below ``flicker_ok``.
    flicker_ok: float = _R.confidence.flicker_ok
    flicker_max: float = _R.confidence.flicker_max
    #: covered face, cue 3: non-rigid landmark flicker (IOD units), same idea.
    jitter_ok: float = _R.confidence.jitter_ok
    jitter_max: float = _R.confidence.jitter_max

    def __post_init__(self) -> None:
        if self.reading not in READINGS:
            raise CuewatchError(f"unknown expression reading {self.reading!r}: use one of {', '.join(READINGS)}")

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "au"}
        d["au"] = self.au.to_dict()
        return d


@dataclass
class ExpressionSeries:
    """Per-frame expression of one track (all arrays share the first axis N)."""

    timestamps: np.ndarray    # (N,) seconds
    au: np.ndarray            # (N, 17) intensities 0..5, AU_NAMES order, smoothed
    scores: np.ndarray        # (N, 8) prototype matches 0..1, EXPRESSION_CATEGORIES order
    valence: np.ndarray       # (N,) -1..1
    arousal: np.ndarray       # (N,) 0..1
    confidence: np.ndarray    # (N,) 0..1, how well the face was seen
    dominant: np.ndarray      # (N,) int index into EXPRESSION_CATEGORIES
    drivers: np.ndarray       # (N, 3) int index into AU_NAMES, -1 = none (dominant's AUs)
    driver_weights: np.ndarray  # (N, 3) each driver's share of the dominant match
    au_raw: np.ndarray        # (N, 17) unsmoothed intensities
    neutral: NeutralReference
    settings: ExpressionSettings
    #: where the neutral came from (``NeutralReference.source``); kept when the series is
    #: read back from the cache without its reference
    neutral_source: str = ""

    def dominant_names(self) -> list[str]:
        return [EXPRESSION_CATEGORIES[i] for i in self.dominant]

    def summary(self, start: float = -np.inf, end: float = np.inf) -> dict:
        """Confidence-weighted expression over a span: what a flag or a report quotes."""
        rows = np.flatnonzero((self.timestamps >= start) & (self.timestamps <= end))
        if rows.size == 0:
            return {"frames": 0, "confidence": 0.0, "category": None, "valence": None,
                    "arousal": None, "aus": []}
        w = self.confidence[rows] + 1e-6
        scores = np.average(self.scores[rows], axis=0, weights=w)
        valence = float(np.average(self.valence[rows], weights=w))
        cat = int(np.argmax(scores))
        return {
            "frames": int(rows.size),
            "confidence": float(np.mean(self.confidence[rows])),
            "category": EXPRESSION_CATEGORIES[cat],
            "scores": {c: round(float(s), 3) for c, s in zip(EXPRESSION_CATEGORIES, scores)},
            "valence": valence,
            "arousal": float(np.average(self.arousal[rows], weights=w)),
            "aus": top_aus(self, rows, EXPRESSION_CATEGORIES[cat]),
        }


def top_aus(series: ExpressionSeries, rows: np.ndarray, category: str, k: int = 3) -> list[str]:
    """The AUs that drove ``category`` over ``rows`` (the evidence a supervisor checks)."""
    proto = series.settings.prototypes.get(category)
    if not proto or rows.size == 0:
        return []
    w = series.confidence[rows] + 1e-6
    mean_au = np.average(series.au[rows], axis=0, weights=w)
    parts = [(weight * mean_au[_AU[au]], au) for au, weight in proto.items() if au in _AU]
    parts = [p for p in sorted(parts, reverse=True) if p[0] > _R.categories.evidence_min]
    return [au for _, au in parts[:k]]


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return _clip01((x - lo) / (hi - lo))


def smooth_over_time(timestamps: np.ndarray, values: np.ndarray, weights: np.ndarray,
                     half_width_s: float, shots: Optional[np.ndarray] = None) -> np.ndarray:
    """Weighted moving average over a time window, applied twice (a triangle kernel).

    Time-aware: the window is ``[t - h, t + h]`` in seconds, found with searchsorted, so
    irregular timestamps and gaps need no resampling; cumulative sums make it O(N).
    ``shots`` (N,) non-decreasing ids (see :func:`shot_ids`): the window never reaches
    into another shot, so an expression does not leak across an edit.
    """
    t = np.asarray(timestamps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    squeeze = v.ndim == 1
    if squeeze:
        v = v[:, None]
    if half_width_s <= 0 or t.size < 2:
        return v[:, 0] if squeeze else v
    w = np.asarray(weights, dtype=np.float64)[:, None]
    lo = np.searchsorted(t, t - half_width_s, side="left")
    hi = np.searchsorted(t, t + half_width_s, side="right")
    if shots is not None:
        ids = np.asarray(shots)
        lo = np.maximum(lo, np.searchsorted(ids, ids, side="left"))
        hi = np.minimum(hi, np.searchsorted(ids, ids, side="right"))
    for _ in range(2):
        cw = np.concatenate([np.zeros((1, 1)), np.cumsum(w, axis=0)])
        cv = np.concatenate([np.zeros((1, v.shape[1])), np.cumsum(w * v, axis=0)])
        den = cw[hi] - cw[lo]
        v = np.where(den > 1e-12, (cv[hi] - cv[lo]) / np.maximum(den, 1e-12), v)
    return v[:, 0] if squeeze else v


def shot_ids(timestamps: np.ndarray, points: np.ndarray, bbox: np.ndarray,
             settings: ExpressionSettings) -> np.ndarray:
    """(N,) shot number per frame: it goes up by one at every cut in the face track.

    A cut shows in the track as a discontinuity no face makes between two frames: the box
    jumps (a new framing), its size jumps (a new camera distance), or the face's own shape
    in the face-fixed frame jumps (another person, or the same person in another moment).
    Real head movement is continuous: even a fast turn moves the face a fraction of its
    height per frame. Lenient thresholds: a missed cut only costs a little smoothing
    across it, a false one only a little less smoothing.
    """
    s = settings
    n = timestamps.shape[0]
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    box = np.asarray(bbox, dtype=np.float64)
    height = np.maximum(box[:, 3] - box[:, 1], 1.0)
    centre = 0.5 * (box[:, :2] + box[:, 2:])
    dt = np.diff(np.asarray(timestamps, dtype=np.float64))
    h = np.minimum(height[1:], height[:-1])
    shift = np.linalg.norm(np.diff(centre, axis=0), axis=1) / h
    scale = np.abs(np.diff(np.log(height)))
    step = np.diff(np.asarray(points[:, :, :2], dtype=np.float64), axis=0)
    shape = np.sqrt(np.einsum("nkd,nkd->nk", step, step)).mean(axis=1)
    noise = np.clip(s.noise_ref_px / h, 1.0, _R.confidence.noise_factor_max)
    cut = ((shift > np.maximum(s.cut_shift, s.cut_speed * dt)) | (scale > s.cut_scale)
           | (shape > s.cut_shape * noise))
    return np.r_[0, np.cumsum(np.nan_to_num(cut, nan=0.0).astype(bool))].astype(np.int64)


def _neighbour_flicker(timestamps: np.ndarray, x: np.ndarray,
                       max_gap_s: float = _R.confidence.flicker_max_gap_s) -> np.ndarray:
    """Per frame, how far the values turn back on themselves, averaged over the last axes.

    Jitter reverses direction frame to frame (up, down, up); a real movement goes one way
    for several frames, even a fast one such as brows shooting up. So a frame counts the
    smaller of its two neighbouring steps, scaled by how squarely the second undoes the
    first (``-cos`` of the angle between them, for points), and nothing for a step that
    continues or starts a movement. For pure jitter this equals ``|x_t - (x_{t-1} +
    x_{t+1}) / 2|``. 0 across gaps in time.
    """
    n = x.shape[0]
    out = np.zeros(n)
    if n < 3:
        return out
    d = np.diff(np.asarray(x, dtype=np.float64), axis=0)
    before, after = d[:-1], d[1:]
    if d.ndim == 2:   # (N, channels): scalars per channel
        turn = np.where(before * after < 0, np.minimum(np.abs(before), np.abs(after)), 0.0)
        size = turn.mean(axis=1)
    else:             # (N, points, dims): vectors per point
        nb = np.sqrt(np.einsum("nkd,nkd->nk", before, before))
        na = np.sqrt(np.einsum("nkd,nkd->nk", after, after))
        back = -np.einsum("nkd,nkd->nk", before, after) / np.maximum(nb * na, 1e-12)
        size = (np.minimum(nb, na) * np.clip(back, 0.0, 1.0)).mean(axis=1)
    dt = np.maximum(timestamps[1:-1] - timestamps[:-2], timestamps[2:] - timestamps[1:-1])
    out[1:-1] = np.where(dt <= max_gap_s, size, 0.0)
    return out


def frame_confidence(timestamps: np.ndarray, points: np.ndarray, blendshapes: np.ndarray,
                     pose: np.ndarray, bbox: np.ndarray, detection_confidence: np.ndarray,
                     sharpness: Optional[np.ndarray], settings: ExpressionSettings) -> np.ndarray:
    """How well the face was seen per frame, 0..1: the product of independent factors.

    Turned away (|yaw|, |pitch|), small (bbox height), blurred (optional sharpness), weak
    detection, and covered. A hand over the face rarely makes the landmarker give up: it
    keeps drawing a plausible mesh, but a flatter one (its depth spread drops well below the
    same person's unoccluded frames) and a flickering one (brow and eye blendshapes and
    non-rigid upper-face landmarks jump frame to frame; the mouth is left out, because a
    talking mouth moves that fast by itself). Those three cues, each smoothed over the
    window, make the covered factor.
    """
    s = settings
    t = timestamps
    yaw = np.abs(pose[:, 1].astype(np.float64))
    pitch = np.abs(pose[:, 0].astype(np.float64))
    f_pose = (np.exp(-0.5 * (np.maximum(yaw - s.yaw_free_deg, 0) / s.yaw_scale_deg) ** 2)
              * np.exp(-0.5 * (np.maximum(pitch - s.pitch_free_deg, 0) / s.pitch_scale_deg) ** 2))
    height = (bbox[:, 3] - bbox[:, 1]).astype(np.float64)
    f_size = _ramp(height, s.min_face_px, s.good_face_px)
    f_det = _ramp(np.asarray(detection_confidence, dtype=np.float64), s.min_detection, s.good_detection)
    f_sharp = (np.ones_like(f_det) if sharpness is None
               else _ramp(np.asarray(sharpness, dtype=np.float64), s.min_sharpness, s.good_sharpness))

    depth = points[:, :, 2].std(axis=1)
    finite = np.isfinite(depth)
    ref = np.percentile(depth[finite], _R.confidence.flat_reference_percentile) if finite.any() else 1.0
    f_flat = _ramp(depth / max(ref, 1e-9), s.flat_min, s.flat_ok)
    steady = np.asarray(blendshapes, dtype=np.float32)[:, STEADY_BLENDSHAPE_IDX]
    flicker = _neighbour_flicker(t, steady)
    jitter = _neighbour_flicker(t, points[:, UPPER_FACE_COLS])
    ones = np.ones_like(flicker)
    cue_h = _R.confidence.cue_half_width_s
    flicker = smooth_over_time(t, flicker, ones, cue_h)
    jitter = smooth_over_time(t, jitter, ones, cue_h)
    f_flat = smooth_over_time(t, f_flat, ones, cue_h)
    noise = np.clip(s.noise_ref_px / np.maximum(height, 1.0), 1.0, _R.confidence.noise_factor_max)
    f_cover = (f_flat * (1.0 - _ramp(flicker / noise, s.flicker_ok, s.flicker_max))
               * (1.0 - _ramp(jitter / noise, s.jitter_ok, s.jitter_max)))
    conf = f_pose * f_size * f_det * f_sharp * f_cover
    return np.nan_to_num(_clip01(conf), nan=0.0)


def unilateral_corner(geometry: np.ndarray, blendshapes: np.ndarray,
                      reference: NeutralReference) -> np.ndarray:
    """0..1: one mouth corner raised or dimpled more than the other (contempt's mark)."""
    g = GEOMETRY_NAMES.index("corner_asymmetry")
    # no neutral mouth found: the corners' own asymmetry says nothing without it
    u = _R.unilateral
    geo = np.nan_to_num((np.abs(geometry[:, g] - reference.geometry[g]) - u.geometry_dead) / u.geometry_full,
                        nan=0.0)
    bs = np.asarray(blendshapes, dtype=np.float64)
    i = {n: BLENDSHAPE_NAMES.index(n) for n in ("mouthSmileLeft", "mouthSmileRight",
                                                 "mouthDimpleLeft", "mouthDimpleRight")}
    b = (np.abs(bs[:, i["mouthSmileLeft"]] - bs[:, i["mouthSmileRight"]])
         + np.abs(bs[:, i["mouthDimpleLeft"]] - bs[:, i["mouthDimpleRight"]]) - u.blendshape_dead
         ) / u.blendshape_full
    return _clip01(u.geometry_weight * np.clip(geo, 0, u.cue_max)
                   + u.blendshape_weight * np.clip(b, 0, u.cue_max))


def sustained_closure(timestamps: np.ndarray, au45: np.ndarray,
                      settings: ExpressionSettings) -> np.ndarray:
    """0..1 per frame: the eyes are shut for longer than a blink.

    A blink closes the eyes for 0.1 to 0.4 s; eyes squeezed shut for seconds (crying,
    pain, distress) are a different act. Time-aware: closed frames form runs in seconds
    (holes up to ``closure_hole_s`` bridged, so a flicker of the lids does not split a
    run, and a gap in the frames longer than that ends it); every frame of a run gets the
    ramp of the run's duration from ``blink_max_s`` (0) to ``closure_full_s`` (1). Works
    on the unsmoothed AU45, so smoothing cannot stretch a blink into a closure.
    """
    s = settings
    t = np.asarray(timestamps, dtype=np.float64)
    closed = np.asarray(au45, dtype=np.float64) >= s.closure_level
    out = np.zeros(t.shape[0])
    idx = np.flatnonzero(closed)
    if idx.size == 0:
        return out
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    breaks = np.flatnonzero(np.diff(t[idx]) > s.closure_hole_s + dt + 1e-9)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, idx.size - 1]
    for a, b in zip(starts, ends):
        first, last = idx[a], idx[b]
        duration = t[last] - t[first] + dt
        out[first:last + 1] = _ramp(np.array([duration]), s.blink_max_s, s.closure_full_s)[0]
    return out


def eye_context(au: np.ndarray, closure: np.ndarray,
                settings: ExpressionSettings) -> tuple[np.ndarray, np.ndarray]:
    """(eyes_shut, not_a_smile), each 0..1 per frame, from what the eyes do with the mouth.

    The lip corners pulled sideways read as a smile to the blendshapes (``mouthSmile``)
    and to the mouth-width geometry whether zygomaticus (AU12, a smile) or risorius (AU20,
    the lip stretch of fear and of crying) pulls them; the eyes tell the two apart. A
    smile raises the cheeks and narrows the eyes (AU06, the Duchenne marker); upper lids
    raised (AU05) without a cheek raise go with the fear grimace (AU1+2+4+5+20; in Du,
    Tao and Martinez's compound expressions AU5 marks fearful, not happily, surprised).
    Eyes held shut beyond a blink with the lips closed are crying: a laugh that shuts the
    eyes opens the mouth. ``eyes_shut`` is that closure with a closed mouth (sad
    evidence); ``not_a_smile`` is the larger of the two contexts.
    """
    s = settings
    mouth_open = _ramp(np.maximum(au[:, _AU["AU25"]], au[:, _AU["AU26"]]),
                       s.mouth_open_lo, s.mouth_open_hi)
    eyes_shut = closure * (1.0 - mouth_open)
    widened = (_ramp(au[:, _AU["AU05"]], s.widen_lo, s.widen_hi)
               * (1.0 - _ramp(au[:, _AU["AU06"]], s.cheek_lo, s.cheek_hi)))
    return eyes_shut, np.maximum(eyes_shut, widened)


def reread_lip_stretch(au: np.ndarray, not_a_smile: np.ndarray) -> np.ndarray:
    """AU12 re-read as AU20 where the eyes contradict a smile (see :func:`eye_context`)."""
    out = au.copy()
    smile = au[:, _AU["AU12"]]
    out[:, _AU["AU20"]] = np.maximum(au[:, _AU["AU20"]], smile * not_a_smile)
    out[:, _AU["AU12"]] = smile * (1.0 - not_a_smile)
    return out


def reread_smile_wrinkles(au: np.ndarray, settings: ExpressionSettings) -> np.ndarray:
    """AU09/AU10 discounted where a felt smile (AU06 with AU12, both strong) explains them.

    A broad Duchenne smile lifts the cheeks and the upper lip and deepens the furrows
    beside the nose: the geometry of AU09 (nose wrinkle) and AU10 (upper lip raise)
    without either muscle (FACS notes this appearance change under AU6+12 at high
    intensity). Read as disgust, it pulls a laughing face's valence down. Disgust itself
    rarely comes with both a strong cheek raise and a strong lip-corner pull.
    """
    s = settings
    out = au.copy()
    smile = _ramp(np.minimum(au[:, _AU["AU06"]], au[:, _AU["AU12"]]), s.felt_smile_lo, s.felt_smile_hi)
    for name in ("AU09", "AU10"):
        out[:, _AU[name]] = au[:, _AU[name]] * (1.0 - smile)
    return out


def prototype_scores(au: np.ndarray, unilateral: np.ndarray, settings: ExpressionSettings,
                     eyes_shut: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, 8) prototype matches 0..1 from AU intensities (0..5) and the two non-AU cues."""
    a = au / 5.0
    extra = {"unilateral": unilateral,
             "eyes_shut": np.zeros(au.shape[0]) if eyes_shut is None else eyes_shut}
    scores = np.zeros((au.shape[0], len(EXPRESSION_CATEGORIES)))
    for cat, proto in settings.prototypes.items():
        total = np.zeros(au.shape[0])
        for name, weight in proto.items():
            total += weight * (extra[name] if name in extra else a[:, _AU[name]])
        for name, weight in settings.contradictions.get(cat, {}).items():
            total -= weight * (extra[name] if name in extra else a[:, _AU[name]])
        scores[:, _CAT[cat]] = _clip01(total)
    strongest = scores[:, [i for c, i in _CAT.items() if c != "neutral"]].max(axis=1)
    scores[:, _CAT["neutral"]] = _clip01(1.0 - strongest / settings.neutral_level)
    return scores


def valence_from_scores(scores: np.ndarray, settings: ExpressionSettings) -> np.ndarray:
    """-1..1: the positive pull minus the negative pull (each a probabilistic OR).

    Fear shares AU1, AU2 and AU5 with surprise; where both match, only fear's excess over
    surprise pulls valence down, so a plain surprised face stays near zero.
    """
    keep_pos = np.ones(scores.shape[0])
    keep_neg = np.ones(scores.shape[0])
    for cat, w in settings.valence_weights.items():
        s = scores[:, _CAT[cat]]
        if cat == "fearful":
            s = np.clip(s - scores[:, _CAT["surprised"]], 0.0, 1.0)
        if w > 0:
            keep_pos *= 1.0 - w * s
        elif w < 0:
            keep_neg *= 1.0 + w * s
    return np.clip(settings.valence_gain * ((1.0 - keep_pos) - (1.0 - keep_neg)), -1.0, 1.0)


def fitted_scores(geometry: np.ndarray, blendshapes: np.ndarray, au: np.ndarray,
                  reference: NeutralReference, timestamps: np.ndarray, weights: np.ndarray,
                  shots: np.ndarray, settings: ExpressionSettings,
                  model: Optional[fitted.FittedModel] = None) -> tuple[np.ndarray, np.ndarray]:
    """(N, 8) category probabilities and (N,) valence from the fitted reading, smoothed like
    the AUs. A marked neutral gets the relative reading; without one the person-independent
    reading applies, so a recording with no neutral is not read as all neutral. Both read
    the face centred on the whole track's (:func:`cuewatch.expression.fitted.face_centre`)."""
    name = "relative" if reference.method == "span" else "absolute"
    centre = fitted.face_centre(geometry, blendshapes)
    x = fitted.features(name, geometry, blendshapes, au, reference, centre)
    proba, valence = (model or fitted.load_model()).predict(name, x)
    both = smooth_over_time(timestamps, np.hstack([proba, valence[:, None]]), weights,
                            settings.smooth_half_width_s, shots)
    return both[:, :-1], both[:, -1]


#: the absolute reading takes no neutral: the reference its inputs are read against is none.
NO_NEUTRAL = NeutralReference(geometry=np.full(len(GEOMETRY_NAMES), np.nan),
                               blendshapes=np.zeros(len(BLENDSHAPE_NAMES)), method="automatic",
                               n_frames=0, frames=np.empty(0, np.int64), source=SOURCE_NONE)


def neutral_scorer(model: fitted.FittedModel, centre: Optional[np.ndarray] = None) -> NeutralScorer:
    """The automatic neutral's scorer (``AUSettings.rest_search`` "fitted"): how likely a
    face reads neutral by the person-independent ("absolute") fitted reading, so the rest
    search carries over to refitted weights. ``centre``: the track's own face
    (:func:`cuewatch.expression.fitted.face_centre`), as the reading centres it; without,
    the median of the faces scored."""
    col = EXPRESSION_CATEGORIES.index("neutral")

    def score(geometry: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
        au = np.zeros((geometry.shape[0], len(AU_NAMES)))
        x = fitted.features("absolute", geometry, blendshapes, au, NO_NEUTRAL, centre)
        return model.predict("absolute", x)[0][:, col]

    return score


def arousal_from_aus(au: np.ndarray, settings: ExpressionSettings) -> np.ndarray:
    """0..1: how activated the face is, from the AUs that mark effortful expressions."""
    total = np.zeros(au.shape[0])
    for name, w in settings.arousal_weights.items():
        total += w * au[:, _AU[name]] / 5.0
    return 1.0 - np.exp(-total)


def _drivers(au: np.ndarray, dominant: np.ndarray, settings: ExpressionSettings,
             unilateral: np.ndarray, eyes_shut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = au.shape[0]
    contrib = np.zeros((n, len(AU_NAMES)))
    for cat, proto in settings.prototypes.items():
        rows = dominant == _CAT[cat]
        if not rows.any():
            continue
        for name, weight in proto.items():
            if name == "unilateral":
                name = "AU12"   # a one-sided lip corner is an AU12/AU14 movement
                contrib[rows, _AU[name]] += weight * unilateral[rows] * 5.0
            elif name == "eyes_shut":  # the eyes held shut: an AU45 movement
                contrib[rows, _AU["AU45"]] += weight * eyes_shut[rows] * 5.0
            else:
                contrib[rows, _AU[name]] += weight * au[rows, _AU[name]]
    order = np.argsort(-contrib, axis=1)[:, :3]
    top = np.take_along_axis(contrib, order, axis=1)
    total = contrib.sum(axis=1, keepdims=True)
    share = np.where(total > 0, top / np.maximum(total, 1e-12), 0.0)
    order = np.where(top > 0, order, -1)
    return order.astype(np.int16), share.astype(np.float32)


def _check(name: str, arr: np.ndarray, shape: tuple) -> None:
    if arr.shape[0] != shape[0] or arr.shape[1:] != shape[1:]:
        raise CuewatchError(f"{name} has shape {arr.shape}, expected {shape}")


def estimate_expression(timestamps: np.ndarray, landmarks: Landmarks, blendshapes: np.ndarray,
                        pose: np.ndarray, bbox: np.ndarray, detection_confidence: np.ndarray,
                        neutral_span: Optional[tuple[float, float]] = None,
                        settings: Optional[ExpressionSettings] = None,
                        sharpness: Optional[np.ndarray] = None,
                        model: Optional[fitted.FittedModel] = None) -> ExpressionSeries:
    """The expression series of one track, relative to that person's neutral face.

    ``landmarks`` (N, 478, 3) pixels may be a memmap (only the needed columns are read);
    ``blendshapes`` (N, 52) in BLENDSHAPE_NAMES order; ``pose`` (N, 3) pitch/yaw/roll
    degrees; ``bbox`` (N, 4) x0, y0, x1, y1; ``detection_confidence`` (N,) 0..1;
    ``timestamps`` (N,) increasing seconds. ``neutral_span`` (start_s, end_s) marks where the
    person's face is neutral; without it the neutral face is found automatically (see
    :func:`cuewatch.expression.action_units.neutral_reference`). ``sharpness`` (N,) is optional.
    ``model``: the fitted reading's weights (the committed ones by default), read by the
    fitted reading and by the "fitted" rest search.
    """
    s = settings or ExpressionSettings()
    t = np.asarray(timestamps, dtype=np.float64)
    n = t.shape[0]
    if n == 0:
        raise CuewatchError("no frames for this face: nothing to estimate")
    if np.any(np.diff(t) < 0):
        raise CuewatchError("timestamps must not go backwards")
    b = np.asarray(blendshapes, dtype=np.float32)
    _check("blendshapes", b, (n, len(BLENDSHAPE_NAMES)))
    p = np.asarray(pose, dtype=np.float64)
    _check("pose", p, (n, 3))
    box = np.asarray(bbox, dtype=np.float64)
    _check("bbox", box, (n, 4))
    det = np.asarray(detection_confidence, dtype=np.float64)
    _check("detection_confidence", det, (n,))
    if landmarks.shape[0] != n:
        raise CuewatchError(f"landmarks have {landmarks.shape[0]} frames, timestamps {n}")
    if sharpness is not None:
        sharpness = np.asarray(sharpness, dtype=np.float64)
        _check("sharpness", sharpness, (n,))

    points, _iod = face_frame_points(landmarks)
    geometry = geometry_measures(points)
    conf = frame_confidence(t, points, b, p, box, det, sharpness, s)
    scorer = None
    if neutral_span is None and s.au.rest_search in ("fitted", "screened") and (model is not None or fitted.WEIGHTS_PATH.is_file()):
        scorer = neutral_scorer(model or fitted.load_model(), fitted.face_centre(geometry, b))
    reference = neutral_reference(t, geometry, b, conf, neutral_span, s.au, scorer)
    au_raw = action_unit_intensities(geometry, b, reference, s.au)
    one_sided = unilateral_corner(geometry, b, reference)
    weights = conf + 1e-3
    shots = shot_ids(t, points, box, s)
    au = smooth_over_time(t, au_raw, weights, s.smooth_half_width_s, shots)
    one_sided = smooth_over_time(t, one_sided, weights, s.smooth_half_width_s, shots)
    closure = smooth_over_time(t, sustained_closure(t, au_raw[:, _AU["AU45"]], s), weights,
                               s.smooth_half_width_s, shots)
    eyes_shut, not_a_smile = eye_context(au, closure, s)
    au = reread_lip_stretch(au, not_a_smile)
    au = reread_smile_wrinkles(au, s)
    if s.reading == "fitted":
        scores, valence = fitted_scores(geometry, b, au, reference, t, weights, shots, s, model)
    else:
        scores = prototype_scores(au, one_sided, s, eyes_shut)
        valence = valence_from_scores(scores, s)
    arousal = arousal_from_aus(au, s)
    dominant = np.argmax(scores, axis=1).astype(np.int8)
    drivers, shares = _drivers(au, dominant, s, one_sided, eyes_shut)
    return ExpressionSeries(
        timestamps=t, au=au.astype(np.float32), scores=scores.astype(np.float32),
        valence=valence.astype(np.float32), arousal=arousal.astype(np.float32),
        confidence=conf.astype(np.float32), dominant=dominant, drivers=drivers,
        driver_weights=shares, au_raw=au_raw.astype(np.float32), neutral=reference, settings=s,
        neutral_source=reference.source)
