"""Expression measured by person: readings per labelled item, folds by person, the report.

Every person's items run as one track (clips and photos 10 s apart, nothing smoothed
across them), under two conditions:
- ``known``: the person has a neutral item; the first one is marked as the neutral span
  and the person's other items are scored (the reference itself never is);
- ``unknown``: no neutral is marked; every item is scored (hand-set reading: the automatic
  neutral over the person's items; fitted reading: the person-independent one).
Folds never split a person. A fixed share of the fit-allowed people (by a hash of the
person id) is held out: no fit and no tuning reads it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.evaluation.items import SEVEN_CLASSES, LabelledItem
from cuewatch.evaluation.landmarks import FACE_ARRAYS, LandmarkedFace
from cuewatch.evaluation.metrics import Scores, score
from cuewatch.evaluation.peers import peer_predictions
from cuewatch.expression import fitted
from cuewatch.expression.action_units import face_frame_points, geometry_measures
from cuewatch.expression.series import ExpressionSettings
from cuewatch.formats import EXPRESSION_CATEGORIES
from cuewatch.progress import Progress

CONDITIONS: tuple[str, ...] = ("known", "unknown")
#: the fitted reading each condition uses.
READING_OF: dict[str, str] = {"known": "relative", "unknown": "absolute"}
#: one person in this many (by hash) of the fit-allowed data is held out.
HELD_OUT_EVERY = 5
FOLDS = 5


@dataclass
class ItemReading:
    """One item read under one condition: the hand-set result and the fitted model's inputs."""

    item: LabelledItem
    condition: str
    handset_proba: np.ndarray     # (8,) prototype matches, normalised
    handset_valence: float
    x: np.ndarray                 # (F,) the condition's fitted-reading inputs, item mean


def held_out(person: str) -> bool:
    """Whether a person belongs to the held-out set (stable across runs and machines)."""
    return int(hashlib.sha256(person.encode()).hexdigest(), 16) % HELD_OUT_EVERY == 0


def fold_of(person: str, folds: int = FOLDS) -> int:
    return int(hashlib.sha256(f"fold:{person}".encode()).hexdigest(), 16) % folds


def _part(face: LandmarkedFace, item: LabelledItem) -> Optional[LandmarkedFace]:
    if item.span is None:
        return face
    rows = (face.timestamps >= item.span[0]) & (face.timestamps <= item.span[1])
    if not rows.any():
        return None
    return LandmarkedFace(*(getattr(face, f)[rows] for f in FACE_ARRAYS))


def _item_rows(t: np.ndarray, span: tuple[float, float]) -> np.ndarray:
    return np.flatnonzero((t >= span[0] - 1e-6) & (t <= span[1] + 1e-6))


def person_track(items: list[LabelledItem], faces: dict
                 ) -> Optional[tuple[list[LabelledItem], LandmarkedFace, list[tuple[float, float]], np.ndarray]]:
    """One person's items with a face read as one track: (the items kept, the track, each
    item's time span in it, its geometry measures per frame); None when no item has a face."""
    parts, kept = [], []
    for it in items:
        face = faces.get(it.path)
        part = _part(face, it) if face is not None else None
        if part is not None and len(part):
            parts.append(part)
            kept.append(it)
    if not kept:
        return None
    track, spans = LandmarkedFace.concat(parts)
    return kept, track, spans, geometry_measures(face_frame_points(track.landmarks)[0])


def read_person(items: list[LabelledItem], faces: dict, settings: ExpressionSettings) -> list[ItemReading]:
    """Both conditions' readings of one person's items (items without a face are left out)."""
    person = person_track(items, faces)
    if person is None:
        return []
    kept, track, spans, geometry = person
    out: list[ItemReading] = []
    neutral = [i for i, it in enumerate(kept) if it.label == "neutral"]
    plans: list[tuple[str, Optional[int]]] = [("unknown", None)]
    if neutral and len(kept) > 1:
        plans.append(("known", neutral[0]))
    for condition, ref in plans:
        span = None if ref is None else (spans[ref][0] - 0.01, spans[ref][1] + 0.01)
        series = track.expression(settings=settings, neutral_span=span)
        x_all = fitted.features(READING_OF[condition], geometry, track.blendshapes, series.au,
                                series.neutral)
        for i, (it, (a, b)) in enumerate(zip(kept, spans)):
            if i == ref:
                continue
            rows = _item_rows(track.timestamps, (a, b))
            s = series.summary(a - 1e-6, b + 1e-6)
            p = np.array([s["scores"][c] for c in EXPRESSION_CATEGORIES], np.float64)
            p = p / p.sum() if p.sum() > 0 else np.full(p.size, 1.0 / p.size)
            w = series.confidence[rows].astype(np.float64) + 1e-6
            out.append(ItemReading(it, condition, p, float(s["valence"]),
                                   np.average(x_all[rows], axis=0, weights=w)))
    return out


def read_items(items: Sequence[LabelledItem], faces: dict, settings: Optional[ExpressionSettings] = None,
               progress: Optional[Progress] = None) -> list[ItemReading]:
    """Every item's readings, person by person."""
    s = settings or ExpressionSettings()
    by_person: dict[str, list[LabelledItem]] = defaultdict(list)
    for it in items:
        by_person[it.person].append(it)
    out: list[ItemReading] = []
    for k, person in enumerate(sorted(by_person)):
        if progress is not None and k % 50 == 0:
            progress.check()
            progress.report(k / len(by_person), f"reading {person}")
        out.extend(read_person(sorted(by_person[person], key=lambda i: i.item_id), faces, s))
    return out


@dataclass
class Evaluated:
    """Predictions of every reading for one condition and one set of items."""

    condition: str
    subset: str
    readings: list[ItemReading]
    proba: dict[str, np.ndarray] = field(default_factory=dict)      # reading -> (N, 8)
    valence: dict[str, np.ndarray] = field(default_factory=dict)
    fold: Optional[np.ndarray] = None

    @property
    def labels(self) -> list[str]:
        return [r.item.label for r in self.readings]

    @property
    def people(self) -> set[str]:
        return {r.item.person for r in self.readings}

    def scores(self, reading: str, classes: tuple[str, ...] = SEVEN_CLASSES) -> Scores:
        sc = score(self.labels, self.proba[reading], self.valence[reading], classes, len(self.people))
        if self.fold is not None:
            for f in sorted(set(self.fold.tolist())):
                m = self.fold == f
                sub = score([lab for lab, k in zip(self.labels, m) if k], self.proba[reading][m],
                            self.valence[reading][m], classes)
                if sub.n:
                    sc.fold_accuracy.append(sub.accuracy)
        return sc


def _handset(ev: Evaluated) -> None:
    ev.proba["hand-set"] = np.array([r.handset_proba for r in ev.readings]).reshape(-1, len(EXPRESSION_CATEGORIES))
    ev.valence["hand-set"] = np.array([r.handset_valence for r in ev.readings])


def _predict(ev: Evaluated, name: str, model: fitted.FittedModel, reading: str) -> None:
    if ev.readings:
        p, v = model.predict(reading, np.array([r.x for r in ev.readings]))
    else:
        p, v = np.zeros((0, len(EXPRESSION_CATEGORIES))), np.zeros(0)
    ev.proba[name] = p
    ev.valence[name] = v


def split(readings: list[ItemReading]) -> dict[str, list[ItemReading]]:
    """dev (fit allowed, not held out), held-out (fit allowed, never read by a fit),
    measure-only (licence forbids fitting)."""
    out: dict[str, list[ItemReading]] = {"dev": [], "held-out": [], "measure-only": []}
    for r in readings:
        key = ("measure-only" if not r.item.fit_ok else "held-out" if held_out(r.item.person) else "dev")
        out[key].append(r)
    return out


def evaluate(readings: list[ItemReading], shipped: Optional[fitted.FittedModel] = None,
             fit: Optional[Callable[..., fitted.FittedModel]] = None,
             peers: Optional[dict[str, dict[str, Optional[np.ndarray]]]] = None) -> list[Evaluated]:
    """Per condition: leave-person-out folds on dev (when ``fit`` is given:
    :func:`cuewatch.evaluation.fit.fit_reading`), and the shipped (or dev-fitted) model on
    the held-out and measure-only people; ``peers`` (name -> item id -> probabilities, see
    :mod:`cuewatch.evaluation.peers`) read the same items (a set whose items a peer has not
    all read gets no peer figures)."""
    results = _evaluate(readings, shipped, fit)
    for ev in results:
        for name, answers in (peers or {}).items():
            if ev.readings and all(r.item.item_id in answers for r in ev.readings):
                ev.proba[name], ev.valence[name] = peer_predictions([r.item for r in ev.readings], answers)
    return results


def _evaluate(readings: list[ItemReading], shipped: Optional[fitted.FittedModel],
              fit: Optional[Callable[..., fitted.FittedModel]]) -> list[Evaluated]:
    results: list[Evaluated] = []
    for condition in CONDITIONS:
        reading = READING_OF[condition]
        parts = split([r for r in readings if r.condition == condition])
        final = shipped
        if fit is not None and parts["dev"]:
            dev = Evaluated(condition, "dev (leave-person-out folds)", parts["dev"])
            folds = np.array([fold_of(r.item.person) for r in dev.readings])
            dev.fold = folds
            p = np.zeros((len(dev.readings), len(EXPRESSION_CATEGORIES)))
            v = np.zeros(len(dev.readings))
            for f in range(FOLDS):
                train = [r for r, k in zip(dev.readings, folds) if k != f]
                if not (folds == f).any() or len({r.item.label for r in train}) < 2:
                    continue
                model = fit(np.array([r.x for r in train]), [r.item.label for r in train], reading,
                            [r.item.person for r in train])
                p[folds == f], v[folds == f] = model.predict(
                    reading, np.array([r.x for r, k in zip(dev.readings, folds) if k == f]))
            dev.proba["fitted"] = p
            dev.valence["fitted"] = v
            _handset(dev)
            results.append(dev)
            if final is None:
                final = fit(np.array([r.x for r in dev.readings]), dev.labels, reading,
                            [r.item.person for r in dev.readings])
        for subset in ("held-out", "measure-only"):
            ev = Evaluated(condition, subset, parts[subset])
            _handset(ev)
            if final is not None:
                _predict(ev, "fitted", final, reading)
            results.append(ev)
    return results
