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
person-independent when none is found). Sequences with no neutral at all (``share`` 0: a
person's expressive items alone) measure the false rest: a rest found where the right
answer is none. The rest searches that read the fitted reading ("screened", "fitted") score
a dev person with weights fitted without their fold (:func:`fold_models`), so thresholds
chosen on the dev people are not chosen on faces the weights were fitted on.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.evaluation import fit
from cuewatch.evaluation.by_person import FOLDS, fold_of, held_out
from cuewatch.evaluation.items import SEVEN_CLASSES, LabelledItem
from cuewatch.evaluation.landmarks import FACE_ARRAYS, LandmarkedFace
from cuewatch.evaluation.metrics import label_sign, valence_sign
from cuewatch.expression import fitted
from cuewatch.expression.action_units import SOURCE_NONE, face_frame_points, geometry_measures
from cuewatch.expression.series import NO_NEUTRAL, ExpressionSettings
from cuewatch.formats import EXPRESSION_CATEGORIES

#: the share of a sequence's items that are neutral.
NEUTRAL_SHARE = 0.25
#: the fewest non-neutral items a sequence has.
MIN_EXPRESSIVE = 3
#: a photo is held this long, at this frame rate.
HOLD_S = 1.0
FPS = 15.0
#: per-frame jitter of a held photo: landmarks (inter-ocular distances), and blendshapes
#: relative to their value. Measured on CREMA-D 1001's neutral clip (frame-to-frame, robust):
#: landmarks 0.003 IOD; a blendshape's noise about a tenth of its value (browDown 0.023 at
#: 0.29, eyeSquint 0.016-0.019 at 0.32-0.48, mouthSmile 0.019 at 0.16), and none on those
#: reading ~0 (cheekSquint, noseSneer, mouthFrown: 0.0000). An additive 0.01 (the first
#: version) gave every dead blendshape a mean of 0.004, several times its spread over all
#: faces, which no recording shows.
JITTER_IOD = 0.004
JITTER_BLENDSHAPE = 0.1
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
    bs = np.repeat(face.blendshapes[:1].astype(np.float64), n, axis=0)
    bs = np.clip(bs * (1.0 + rng.normal(0.0, JITTER_BLENDSHAPE, bs.shape)), 0.0, 1.0)
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
    whose items are ``share`` neutral (as near as whole items allow), shuffled. With
    ``share`` 0: per person with at least ``MIN_EXPRESSIVE`` + 1 non-neutral items, all of
    them and no neutral (a recording with no resting face: the right answer is none)."""
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
        if ratio <= 0.0:
            n_other, n_neutral = len(others), 0
            if n_other < MIN_EXPRESSIVE + 1:
                continue
        else:
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
                  model: Optional[fitted.FittedModel] = None,
                  rest_model: Optional[fitted.FittedModel] = None) -> SequenceResult:
    """The sequence read with the automatic neutral, with its first neutral item marked
    (when it has one), and (with ``model``) by the fitted reading on the automatic neutral.
    ``rest_model`` scores the "fitted" rest search (the committed weights by default; for a
    dev person, weights fitted without their fold: :func:`fold_models`)."""
    s = settings or ExpressionSettings()
    track = seq.track
    mask = seq.neutral_rows
    auto = track.expression(settings=s, model=rest_model)
    ref = auto.neutral
    purity = float(mask[ref.frames].mean()) if ref.source != SOURCE_NONE and ref.frames.size else float("nan")
    res = SequenceResult(seq.person, held_out(seq.person), float(mask.mean()), ref.source, purity,
                         [it.label for it in seq.items])
    readings = [("automatic", auto)]
    first = next((i for i, it in enumerate(seq.items) if it.label == "neutral"), None)
    if first is not None:
        a, b = seq.spans[first]
        readings.append(("marked", track.expression(settings=s, neutral_span=(a - 0.01, b + 0.01))))
    for name, series in readings:
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
    absent = bool(results) and all(r.neutral_share == 0.0 for r in results)
    title = "no neutral" if absent else "neutral a quarter"
    if not results:
        return [f"== automatic neutral, {title} / {subset}: no sequences"]
    found = [r for r in results if r.source != SOURCE_NONE]
    full = [r for r in results if not r.source.startswith("none") and ";" not in r.source]
    pur = np.array([r.purity for r in found if r.purity == r.purity])
    items = sum(len(r.labels) for r in results)
    lines = [f"== automatic neutral, {title} / {subset}: {len(results)} people, {items} items, "
             f"neutral {np.mean([r.neutral_share for r in results]):.0%} of frames"]
    if absent:
        lines.append(f"   false rest (a rest found where there is none) for {len(found)} of {len(results)} "
                     f"({len(found) / len(results):.0%}; in every region {len(full)})")
    else:
        lines.append(f"   rest found in every region for {len(full)}, in some for {len(found) - len(full)}, "
                     f"none for {len(results) - len(found)}; purity (its frames from neutral items): "
                     f"median {np.median(pur) if pur.size else float('nan'):.0%} (mean {np.mean(pur) if pur.size else float('nan'):.0%}), "
                     f">= 50% for {int((pur >= 0.5).sum())} of {pur.size}")
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
        lines.append(f"   {name:10s} valence sign {ok_val.mean():5.1%} (per person {min(per):.0%}-{max(per):.0%}), "
                     f"7-class {np.mean([a == b for a, b in zip(said, labels)]):5.1%}")
    return lines


def fold_models(items: Sequence[LabelledItem], faces: dict) -> dict[int, fitted.FittedModel]:
    """Per dev fold (``by_person.fold_of``), the person-independent reading fitted on the
    other folds' dev items (the committed weights' C and temperature; item inputs the mean
    of its frames): what scores a dev person's rest search as if they were unseen, so that
    thresholds chosen on dev people are not chosen on faces the weights were fitted on.
    A fold whose other folds hold fewer than two labels gets none (its people are then
    scored by the committed weights). Needs the eval extra (scikit-learn)."""
    chosen = fitted.load_model().info.get("fit_on", {}).get("absolute", {}).get("chosen_by_leave_person_out_cv", {})
    xs, labels, folds = [], [], []
    parts: dict[str, list[tuple[LabelledItem, np.ndarray, np.ndarray]]] = {}
    for it in items:
        face = faces.get(it.path)
        part = _part(face, it) if face is not None and it.fit_ok and not held_out(it.person) else None
        if part is None or not len(part):
            continue
        geometry = geometry_measures(face_frame_points(part.landmarks)[0])
        parts.setdefault(it.person, []).append((it, geometry, part.blendshapes))
    for person, mine in parts.items():
        # centred on the person's own face over all their items, as their sequence is read
        centre = fitted.face_centre(np.vstack([g for _, g, _ in mine]), np.vstack([b for _, _, b in mine]))
        for it, geometry, blendshapes in mine:
            xs.append(fitted.features("absolute", geometry, blendshapes, np.zeros((len(geometry), 0)),
                                      NO_NEUTRAL, centre).mean(axis=0))
            labels.append(it.label)
            folds.append(fold_of(person))
    x, f = np.array(xs), np.array(folds)
    out = {}
    for k in range(FOLDS):
        train = np.flatnonzero(f != k)
        lab = [labels[i] for i in train]
        if len(set(lab)) < 2 or len(set(fit.sign_labels(lab))) < 2:
            continue
        cats = fit.fit_logistic(x[train], lab, "absolute", float(chosen.get("C", fit.C)),
                                float(chosen.get("temperature", 1.0)))
        val = fit.fit_logistic(x[train], fit.sign_labels(lab), "absolute", float(chosen.get("valence_C", fit.C)),
                               float(chosen.get("valence_temperature", 1.0)))
        out[k] = fitted.FittedModel({"absolute": cats}, {"absolute": val}, "", {"fold": k})
    return out
