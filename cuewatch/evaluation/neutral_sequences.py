"""The automatic neutral measured: sequences of one person's labelled items, neutral a quarter.

A recording of a person who rests a quarter of the time and shows expressions the rest,
built from that person's labelled items (issue 12.3): ``NEUTRAL_SHARE`` of the items are
neutral, in a shuffled order (seeded by the person, so the same on every machine). A photo
is held for ``HOLD_S`` seconds at ``FPS``, its landmarks and blendshapes jittered a little
per frame (``JITTER_IOD``, ``JITTER_BLENDSHAPE``: the frame-to-frame noise of a held face,
so that a photo is a small cloud of frames, not one point repeated); a clip keeps its frames.

Per sequence: whether a resting face was found (or none said so), how pure it is (the share
of the frames taken for the rest that belong to neutral items), and per item the valence
sign and the 7-class answer of the hand-set reading with the automatic neutral, with the
first neutral item marked instead, and of the fitted reading (relative to the found neutral,
person-independent when none is found).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.evaluation.by_person import held_out
from cuewatch.evaluation.items import SEVEN_CLASSES, LabelledItem
from cuewatch.evaluation.landmarks import FACE_ARRAYS, LandmarkedFace
from cuewatch.evaluation.metrics import label_sign, valence_sign
from cuewatch.expression import fitted
from cuewatch.expression.action_units import SOURCE_NONE, face_frame_points, geometry_measures
from cuewatch.expression.series import ExpressionSettings
from cuewatch.formats import EXPRESSION_CATEGORIES

#: the share of a sequence's items that are neutral.
NEUTRAL_SHARE = 0.25
#: the fewest non-neutral items a sequence has.
MIN_EXPRESSIVE = 3
#: a photo is held this long, at this frame rate.
HOLD_S = 1.0
FPS = 15.0
#: per-frame jitter of a held photo: landmarks (inter-ocular distances), blendshapes.
JITTER_IOD = 0.004
JITTER_BLENDSHAPE = 0.01
#: readings compared on every sequence.
READINGS: tuple[str, ...] = ("automatic", "marked", "fitted")


@dataclass
class NeutralSequence:
    """One person's items as one track, with each item's rows and whether it is neutral."""

    person: str
    items: list[LabelledItem]
    track: LandmarkedFace
    spans: list[tuple[float, float]]

    @property
    def neutral_rows(self) -> np.ndarray:
        t = self.track.timestamps
        mask = np.zeros(t.size, bool)
        for it, (a, b) in zip(self.items, self.spans):
            if it.label == "neutral":
                mask |= (t >= a - 1e-6) & (t <= b + 1e-6)
        return mask


def _rng(person: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(f"sequence:{person}".encode()).hexdigest()[:12], 16))


def _held(face: LandmarkedFace, rng: np.random.Generator) -> LandmarkedFace:
    """A photo (one frame) held for HOLD_S seconds, jittered per frame."""
    n = max(2, int(round(HOLD_S * FPS)))
    t = np.arange(n) / FPS
    lm = np.repeat(face.landmarks[:1].astype(np.float64), n, axis=0)
    iod = float(np.linalg.norm(lm[0, 33, :2] - lm[0, 263, :2])) or 1.0
    lm = lm + rng.normal(0.0, JITTER_IOD * iod, lm.shape)
    bs = np.clip(np.repeat(face.blendshapes[:1], n, axis=0) + rng.normal(0.0, JITTER_BLENDSHAPE, (n, face.blendshapes.shape[1])), 0.0, 1.0)
    rep = {f: np.repeat(getattr(face, f)[:1], n, axis=0) for f in ("pose", "bbox", "confidence")}
    return LandmarkedFace(t, lm.astype(np.float32), bs.astype(np.float32), rep["pose"], rep["bbox"],
                          rep["confidence"])


def _part(face: LandmarkedFace, item: LabelledItem) -> Optional[LandmarkedFace]:
    if item.span is None:
        return face
    rows = (face.timestamps >= item.span[0]) & (face.timestamps <= item.span[1])
    return LandmarkedFace(*(getattr(face, f)[rows] for f in FACE_ARRAYS)) if rows.any() else None


def build_sequences(items: Sequence[LabelledItem], faces: dict,
                    share: float = NEUTRAL_SHARE) -> list[NeutralSequence]:
    """Per person with a neutral item and at least ``MIN_EXPRESSIVE`` others: a sequence
    whose items are ``share`` neutral (as near as whole items allow), shuffled."""
    by_person: dict[str, list[LabelledItem]] = defaultdict(list)
    for it in items:
        if faces.get(it.path) is not None and it.label in SEVEN_CLASSES:
            by_person[it.person].append(it)
    out: list[NeutralSequence] = []
    ratio = share / (1.0 - share)
    for person in sorted(by_person):
        mine = sorted(by_person[person], key=lambda i: i.item_id)
        neutral = [i for i in mine if i.label == "neutral"]
        others = [i for i in mine if i.label != "neutral"]
        n_other = min(len(others), int(np.floor(len(neutral) / ratio + 1e-9)))
        if not neutral or n_other < MIN_EXPRESSIVE:
            continue
        n_neutral = max(1, int(round(n_other * ratio)))
        chosen = neutral[:n_neutral] + others[:n_other]
        rng = _rng(person)
        chosen = [chosen[k] for k in rng.permutation(len(chosen))]
        parts = []
        for it in chosen:
            face = _part(faces[it.path], it)
            if face is None or not len(face):
                break
            parts.append(_held(face, rng) if it.kind == "image" else face)
        else:
            track, spans = LandmarkedFace.concat(parts, gap_s=1.0 / FPS)
            out.append(NeutralSequence(person, chosen, track, spans))
    return out


@dataclass
class SequenceResult:
    """One sequence read: the found rest, and per item each reading's answer."""

    person: str
    held_out: bool
    neutral_share: float          # of the frames
    source: str                   # the automatic neutral's source
    purity: float                 # share of its rest frames from neutral items (nan: none)
    labels: list[str]
    valence: dict[str, np.ndarray] = field(default_factory=dict)   # reading -> (items,)
    proba: dict[str, np.ndarray] = field(default_factory=dict)     # reading -> (items, 8)


def read_sequence(seq: NeutralSequence, settings: Optional[ExpressionSettings] = None,
                  model: Optional[fitted.FittedModel] = None) -> SequenceResult:
    """The sequence read with the automatic neutral, with its first neutral item marked,
    and (with ``model``) by the fitted reading on the automatic neutral."""
    s = settings or ExpressionSettings()
    track = seq.track
    mask = seq.neutral_rows
    auto = track.expression(settings=s)
    ref = auto.neutral
    purity = float(mask[ref.frames].mean()) if ref.source != SOURCE_NONE and ref.frames.size else float("nan")
    first = next(i for i, it in enumerate(seq.items) if it.label == "neutral")
    a, b = seq.spans[first]
    marked = track.expression(settings=s, neutral_span=(a - 0.01, b + 0.01))
    res = SequenceResult(seq.person, held_out(seq.person), float(mask.mean()), ref.source, purity,
                         [it.label for it in seq.items])
    for name, series in (("automatic", auto), ("marked", marked)):
        v, p = [], []
        for a, b in seq.spans:
            summ = series.summary(a - 1e-6, b + 1e-6)
            v.append(float(summ["valence"]))
            p.append([summ["scores"][c] for c in EXPRESSION_CATEGORIES])
        res.valence[name], res.proba[name] = np.array(v), np.array(p, np.float64)
    if model is not None:
        reading = "absolute" if ref.source == SOURCE_NONE else "relative"
        geometry = geometry_measures(face_frame_points(track.landmarks)[0])
        x = fitted.features(reading, geometry, track.blendshapes, auto.au, ref)
        rows = [np.flatnonzero((track.timestamps >= a - 1e-6) & (track.timestamps <= b + 1e-6))
                for a, b in seq.spans]
        xs = np.array([x[r].mean(axis=0) for r in rows])
        res.proba["fitted"], res.valence["fitted"] = model.predict(reading, xs)
    return res


def summarise(results: list[SequenceResult], subset: str) -> list[str]:
    """Found / none, purity, and per reading valence-sign and 7-class accuracy over items."""
    if not results:
        return [f"== automatic neutral, neutral a quarter / {subset}: no sequences"]
    found = [r for r in results if r.source != SOURCE_NONE]
    full = [r for r in results if not r.source.startswith("none") and ";" not in r.source]
    pur = np.array([r.purity for r in found if r.purity == r.purity])
    items = sum(len(r.labels) for r in results)
    lines = [f"== automatic neutral, neutral a quarter / {subset}: {len(results)} people, {items} items, "
             f"neutral {np.mean([r.neutral_share for r in results]):.0%} of frames",
             f"   rest found in every region for {len(full)}, in some for {len(found) - len(full)}, "
             f"none for {len(results) - len(found)}; purity (its frames from neutral items): "
             f"median {np.median(pur) if pur.size else float('nan'):.0%}, "
             f">= 50% for {int((pur >= 0.5).sum())} of {pur.size}"]
    for name in READINGS:
        have = [r for r in results if name in r.valence]
        if not have:
            continue
        labels = [lab for r in have for lab in r.labels]
        val = np.concatenate([r.valence[name] for r in have])
        proba = np.concatenate([r.proba[name] for r in have])
        keep = [EXPRESSION_CATEGORIES.index(c) for c in SEVEN_CLASSES]
        said = [SEVEN_CLASSES[k] for k in proba[:, keep].argmax(axis=1)]
        ok_val = valence_sign(val) == label_sign(labels)
        per = [float(np.mean(valence_sign(r.valence[name]) == label_sign(r.labels))) for r in have]
        lines.append(f"   {name:10s} valence sign {ok_val.mean():4.0%} (per person {min(per):.0%}-{max(per):.0%}), "
                     f"7-class {np.mean([a == b for a, b in zip(said, labels)]):4.0%}")
    return lines
