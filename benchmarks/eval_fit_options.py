"""Options of the fitted reading against its baseline, on the dev people's leave-person-out folds.

The benchmark's folds (``cuewatch.evaluation.by_person.fold_of``) over the dev people only
(fit allowed, not held out): nothing here reads a held-out person. Per option it prints
7-class accuracy with the fold spread, macro F1, the negative classes' recall and the
valence sign accuracy, for the condition the option is meant for:

- ``logistic``: the shipped fit (``cuewatch.evaluation.fit.fit_reading``, C and
  temperature re-chosen inside each fold) on the inputs before these experiments, the
  baseline (both readings without the centred inputs they ship with since;
  ``shipped``: the inputs as ``cuewatch.expression.fitted`` computes them now);
- ``unweighted``: logistic and gradient boosting with every class weighted 1 (accuracy
  bought with the negative classes' recall: what a higher accuracy alone may hide);
- ``hgb``: the same inputs into scikit-learn's HistGradientBoostingClassifier (categories
  weighted as the logistic's, the sign unweighted): a ceiling check of the inputs;
- ``centred`` (no neutral): the absolute inputs plus the same minus the person's own median
  over all their frames (at analysis time: the track's median over the recording), or
  minus the median of their item means; and against the baseline on people with at least
  2 or 4 items only (fitted and scored on them: a lone photo's centred inputs are 0);
  ``hgb-centred`` the same into gradient boosting. Shipped (``fitted.face_centre``);
  ``centred-known``: the same centred inputs added to the relative reading's (shipped in
  h12q, held out once after; the relative inputs as shipped, against the baseline);
- ``au-pairs`` (neutral known): products of key AU pairs, per frame, as extra inputs;
- ``appearance``: what the landmarks cannot carry (furrows, wrinkles, teeth): a HOG of the
  photo's face, grey, aligned on the eyes (``APPEARANCE_SIDE`` px, histogram-equalised),
  its principal components (fitted inside each fold) as extra inputs, alone and with its
  change from the person's neutral photo (known) or median (no neutral). Photos only (a
  clip's items get no appearance and are left out of this option's folds).

Usage: python benchmarks/eval_fit_options.py [--data DIR ...] [--media DIR]
       [--readings FILE] [--option NAME ...]   (needs the eval extra: scikit-learn)
``--readings`` keeps the per-item inputs (pickle) so a second run skips reading the faces
(only for the code that wrote it: one made before h12q lacks the relative reading's centred
columns, which ``base`` strips).
Landmarks come from the evaluation cache (``$CUEWATCH_EVAL_CACHE``), as in eval_by_person.py.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.evaluation import by_person
from cuewatch.evaluation import fit as fit_module
from cuewatch.evaluation.data import labelled_items
from cuewatch.evaluation.fit import _classes, fit_reading, sign_labels
from cuewatch.evaluation.items import SEVEN_CLASSES, LabelledItem
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.evaluation.metrics import score
from cuewatch.expression import fitted
from cuewatch.expression.series import NO_NEUTRAL, ExpressionSettings
from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))

#: AU pairs whose product may say what each alone does not (sad brows and mouth, fear's
#: brows, disgust's nose and lip, a Duchenne smile, fear's stretched open mouth, anger).
AU_PAIRS: tuple[tuple[str, str], ...] = (
    ("AU04", "AU15"), ("AU01", "AU04"), ("AU09", "AU10"), ("AU12", "AU06"), ("AU20", "AU26"),
    ("AU01", "AU15"), ("AU04", "AU07"), ("AU04", "AU23"), ("AU15", "AU17"), ("AU01", "AU02"),
    ("AU05", "AU26"), ("AU20", "AU25"),
)
NEGATIVE = ("sad", "angry", "fearful", "disgusted")
#: the ``appearance`` option's aligned face: side (px), the eyes' height and half distance.
APPEARANCE_SIDE, APPEARANCE_EYE_Y, APPEARANCE_EYE_DX = 96, 36.0, 18.0
#: principal components of each appearance block the option keeps.
APPEARANCE_COMPONENTS = (20, 60)


@dataclass
class Row:
    """One dev or held-out item under one condition: the baseline inputs and the extras."""

    item: LabelledItem
    condition: str
    x: np.ndarray          # the reading's inputs as by_person computes them (item mean)
    face: np.ndarray       # the face as it is (fitted.FACE_NAMES), item mean: the absolute
                           # reading's inputs before centring (the no-neutral baseline)
    centred: np.ndarray    # absolute inputs minus the person's median over all their frames
    centred_items: np.ndarray  # ... minus the median of the person's item means
    au_pairs: np.ndarray   # AU products per frame, item mean (zeros for the absolute reading)
    appearance: Optional[np.ndarray] = None        # photos only: HOG of the aligned face
    appearance_change: Optional[np.ndarray] = None  # ... minus the neutral photo's / the median


def appearance(path: Path, landmarks: np.ndarray) -> Optional[np.ndarray]:
    """HOG of a photo's face, grey, rotated and scaled so the eyes sit at fixed points."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        return None
    lm = np.asarray(landmarks, np.float64)
    right, left = 0.5 * (lm[33, :2] + lm[133, :2]), 0.5 * (lm[362, :2] + lm[263, :2])
    d = left - right
    k = 2 * APPEARANCE_EYE_DX / max(1e-6, float(np.hypot(*d)))
    a = -math.atan2(d[1], d[0])
    m = np.array([[k * math.cos(a), -k * math.sin(a), 0.0], [k * math.sin(a), k * math.cos(a), 0.0]])
    m[:, 2] = np.array([APPEARANCE_SIDE / 2, APPEARANCE_EYE_Y]) - m[:, :2] @ (0.5 * (right + left))
    face = cv2.warpAffine(img, m, (APPEARANCE_SIDE, APPEARANCE_SIDE),
                          flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    hog = cv2.HOGDescriptor((APPEARANCE_SIDE, APPEARANCE_SIDE), (16, 16), (16, 16), (8, 8), 9)
    return hog.compute(cv2.equalizeHist(face)).reshape(-1).astype(np.float32)


def _add_appearance(rows: list[Row], items: list[LabelledItem], faces: dict) -> None:
    """Each photo row's appearance and its change from the person's neutral photo or median."""
    own: dict[str, np.ndarray] = {}
    for it in items:
        face = faces.get(it.path)
        if it.span is None and face is not None and len(face) == 1:
            h = appearance(it.path, face.landmarks[0])
            if h is not None:
                own[it.item_id] = h
    if not own:
        return
    median = np.median(np.array(list(own.values())), axis=0)
    neutral = next((own[it.item_id] for it in items if it.label == "neutral" and it.item_id in own), None)
    for r in rows:
        h = own.get(r.item.item_id)
        if h is None or (r.condition == "known" and neutral is None):
            continue
        r.appearance = h
        r.appearance_change = h - (neutral if r.condition == "known" else median)


def _read_person(items: list[LabelledItem], faces: dict, settings: ExpressionSettings) -> list[Row]:
    """by_person.read_person's inputs, and the extras of each option (same rows, same weights)."""
    person = by_person.person_track(items, faces)
    if person is None:
        return []
    kept, track, spans, geometry = person
    absolute = fitted.features("absolute", geometry, track.blendshapes, np.zeros((len(track), len(AU_NAMES))),
                               NO_NEUTRAL)[:, :len(fitted.FACE_NAMES)]
    median = np.median(absolute, axis=0)
    out: list[Row] = []
    neutral = [i for i, it in enumerate(kept) if it.label == "neutral"]
    plans: list[tuple[str, Optional[int]]] = [("unknown", None)]
    if neutral and len(kept) > 1:
        plans.append(("known", neutral[0]))
    item_means = []
    for a, b in spans:
        rows = by_person._item_rows(track.timestamps, (a, b))
        item_means.append(absolute[rows].mean(axis=0))
    median_items = np.median(np.array(item_means), axis=0)
    for condition, ref in plans:
        span = None if ref is None else (spans[ref][0] - 0.01, spans[ref][1] + 0.01)
        series = track.expression(settings=settings, neutral_span=span)
        reading = by_person.READING_OF[condition]
        x_all = fitted.features(reading, geometry, track.blendshapes, series.au, series.neutral)
        au = np.asarray(series.au, np.float64) / 5.0
        pairs = np.stack([au[:, AU_NAMES.index(a)] * au[:, AU_NAMES.index(b)] for a, b in AU_PAIRS], axis=1)
        for i, (it, (a, b)) in enumerate(zip(kept, spans)):
            if i == ref:
                continue
            rows = by_person._item_rows(track.timestamps, (a, b))
            w = series.confidence[rows].astype(np.float64) + 1e-6
            out.append(Row(it, condition, np.average(x_all[rows], axis=0, weights=w),
                           np.average(absolute[rows], axis=0, weights=w),
                           np.average(absolute[rows] - median, axis=0, weights=w),
                           np.average(absolute[rows], axis=0, weights=w) - median_items,
                           np.average(pairs[rows], axis=0, weights=w)))
    return out


def read_rows(items: list[LabelledItem], faces: dict) -> list[Row]:
    by_p: dict[str, list[LabelledItem]] = defaultdict(list)
    for it in items:
        if it.fit_ok:                      # measure-only data never enters
            by_p[it.person].append(it)
    out: list[Row] = []
    for person in sorted(by_p):
        own = sorted(by_p[person], key=lambda i: i.item_id)
        rows = _read_person(own, faces, ExpressionSettings())
        if not by_person.held_out(person):  # the options read dev people only
            _add_appearance(rows, own, faces)
        out.extend(rows)
    return out


def logistic(x: np.ndarray, labels: list[str], people: list[str], reading: str) -> Callable:
    model = fit_reading(x, labels, reading, people)
    return lambda z: model.predict(reading, z)


def unweighted(fitter: Callable) -> Callable:
    """A fitter with every class weighted 1 (categories and sign): accuracy, not recall."""
    def fit(x: np.ndarray, labels: list[str], people: list[str], reading: str) -> Callable:
        saved = fit_module._class_weight
        fit_module._class_weight = lambda y, classes: {i: 1.0 for i in range(len(classes))}
        try:
            return fitter(x, labels, people, reading)
        finally:
            fit_module._class_weight = saved
    return fit


def hgb(params: dict) -> Callable:
    def fit(x: np.ndarray, labels: list[str], people: list[str], reading: str) -> Callable:
        from sklearn.ensemble import HistGradientBoostingClassifier

        def one(labs: list[str]) -> tuple[object, tuple[str, ...]]:
            classes = _classes(labs)
            y = np.array([classes.index(lab) for lab in labs])
            cw = fit_module._class_weight(y, classes)
            m = HistGradientBoostingClassifier(random_state=0, **params)
            m.fit(x, y, sample_weight=np.array([cw[k] for k in y]))
            return m, classes

        cats, cat_classes = one(labels)
        signs, sign_classes = one(sign_labels(labels))

        def predict(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            p = np.zeros((len(z), len(EXPRESSION_CATEGORIES)))
            p[:, [EXPRESSION_CATEGORIES.index(c) for c in cat_classes]] = cats.predict_proba(z)  # type: ignore[attr-defined]
            s = signs.predict_proba(z)  # type: ignore[attr-defined]
            v = s[:, sign_classes.index("positive")] - s[:, sign_classes.index("negative")]
            return p, v
        return predict
    return fit


def cv(rows: list[Row], condition: str, inputs: Callable[[Row], Optional[np.ndarray]], fitter: Callable,
       min_items: int = 0) -> dict:
    """Leave-person-out over the benchmark's folds on the dev people of one condition."""
    dev = [r for r in rows if r.condition == condition and not by_person.held_out(r.item.person)
           and inputs(r) is not None]   # an option's inputs are None for the rows it cannot read
    count: dict[str, int] = defaultdict(int)
    for r in dev:
        count[r.item.person] += 1
    dev = [r for r in dev if count[r.item.person] >= min_items]   # fit and score on these only
    x = np.array([inputs(r) for r in dev])
    labels = [r.item.label for r in dev]
    people = [r.item.person for r in dev]
    folds = np.array([by_person.fold_of(p) for p in people])
    reading = by_person.READING_OF[condition]
    p = np.zeros((len(dev), len(EXPRESSION_CATEGORIES)))
    v = np.zeros(len(dev))
    for f in range(by_person.FOLDS):
        test = folds == f
        if not test.any():
            continue
        tr = np.flatnonzero(~test)
        predict = fitter(x[tr], [labels[i] for i in tr], [people[i] for i in tr], reading)
        p[test], v[test] = predict(x[test])
    keep = np.ones(len(dev), bool)
    labs = [lab for lab, k in zip(labels, keep) if k]
    sc = score(labs, p[keep], v[keep], SEVEN_CLASSES)
    fold_acc = [score([lab for lab, k in zip(labels, (folds == f) & keep) if k], p[(folds == f) & keep],
                      v[(folds == f) & keep], SEVEN_CLASSES).accuracy for f in range(by_person.FOLDS)]
    return {"n": sc.n, "people": len({pp for pp, k in zip(people, keep) if k}), "acc": sc.accuracy,
            "folds": fold_acc, "f1": sc.macro_f1, "valence": sc.valence_accuracy,
            "recall": {c: sc.recall.get(c, float("nan")) for c in NEGATIVE}}


def with_components(k: int, blocks: int) -> Callable:
    """The logistic on inputs whose last ``blocks`` equal-sized blocks are replaced by their
    first ``k`` principal components (fitted on the fold's training items)."""
    def fit(x: np.ndarray, labels: list[str], people: list[str], reading: str) -> Callable:
        size = (x.shape[1] - len(fitted.feature_names(reading))) // blocks
        start = x.shape[1] - blocks * size
        bases = []
        for j in range(blocks):
            part = x[:, start + j * size:start + (j + 1) * size]
            mean = part.mean(axis=0)
            bases.append((mean, np.linalg.svd(part - mean, full_matrices=False)[2][:k].T))

        def reduce(z: np.ndarray) -> np.ndarray:
            return np.hstack([z[:, :start]] + [(z[:, start + j * size:start + (j + 1) * size] - mean) @ basis
                                               for j, (mean, basis) in enumerate(bases)])
        predict = logistic(reduce(x), labels, people, reading)
        return lambda z: predict(reduce(z))
    return fit


def _appearance_options() -> list[tuple[str, str, Callable[[Row], Optional[np.ndarray]], Callable, int]]:
    out: list[tuple[str, str, Callable[[Row], Optional[np.ndarray]], Callable, int]] = []
    for cond in ("known", "unknown"):
        out.append((cond, "shipped inputs, photos with appearance",
                    lambda r: None if r.appearance is None else r.x, logistic, 0))
        for k in APPEARANCE_COMPONENTS:
            out.append((cond, f"+ appearance ({k} components)",
                        lambda r: None if r.appearance is None else np.hstack([r.x, r.appearance]),
                        with_components(k, 1), 0))
            out.append((cond, f"+ appearance and its change ({k} each)",
                        lambda r: None if r.appearance is None else np.hstack([r.x, r.appearance, r.appearance_change]),
                        with_components(k, 2), 0))
    return out


def base(r: Row) -> np.ndarray:
    """The inputs the fitted reading had before these experiments: each reading's without
    the centred face (the relative reading's as shipped, less its last columns)."""
    return r.x[:-len(fitted.CENTRED_NAMES)] if r.condition == "known" else r.face


def line(name: str, r: dict) -> str:
    rec = " ".join(f"{c[:4]} {100 * r['recall'][c]:.0f}" for c in NEGATIVE)
    return (f"  {name:<28} {100 * r['acc']:5.1f}% (folds {100 * min(r['folds']):.0f}-{100 * max(r['folds']):.0f}%)"
            f"  F1 {r['f1']:.3f}  valence {100 * r['valence']:5.1f}%  recall {rec}  [{r['n']} items, {r['people']} people]")


HGB_SETTINGS = {
    "hgb (default)": {},
    "hgb (shallow, slow)": {"max_leaf_nodes": 7, "learning_rate": 0.05, "max_iter": 300,
                            "l2_regularization": 1.0, "min_samples_leaf": 20},
}

OPTIONS: dict[str, list[tuple[str, str, Callable[[Row], Optional[np.ndarray]], Callable, int]]] = {
    "logistic": [("known", "logistic (baseline)", base, logistic, 0),
                 ("unknown", "logistic (baseline)", base, logistic, 0)],
    "hgb": [(cond, name, base, hgb(params), 0)
            for cond in ("known", "unknown") for name, params in HGB_SETTINGS.items()],
    "unweighted": [(cond, name, base, unweighted(f), 0) for cond in ("unknown", "known")
                   for name, f in (("logistic, classes unweighted", logistic),
                                   ("hgb (default), classes unweighted", hgb({})))],
    "centred": [("unknown", "centred (frames) + raw", lambda r: np.hstack([r.face, r.centred]), logistic, 0),
                ("unknown", "centred (item medians) + raw", lambda r: np.hstack([r.face, r.centred_items]),
                 logistic, 0),
                ("unknown", "baseline, people with >= 2 items", base, logistic, 2),
                ("unknown", "centred (frames), >= 2 items", lambda r: np.hstack([r.face, r.centred]), logistic, 2),
                ("unknown", "baseline, people with >= 4 items", base, logistic, 4),
                ("unknown", "centred (frames), >= 4 items", lambda r: np.hstack([r.face, r.centred]), logistic, 4)],
    "hgb-centred": [("unknown", "hgb (default), centred + raw", lambda r: np.hstack([r.face, r.centred]),
                     hgb({}), 0)],
    "centred-known": [("known", "+ centred (frames, shipped)", lambda r: r.x, logistic, 0),
                      ("known", "baseline, people with >= 4 items", base, logistic, 4),
                      ("known", "+ centred (frames), >= 4 items", lambda r: r.x, logistic, 4)],
    "shipped": [(cond, "shipped inputs (by_person)", lambda r: r.x, logistic, 0) for cond in ("known", "unknown")],
    "au-pairs": [("known", "AU pairs + baseline inputs", lambda r: np.hstack([base(r), r.au_pairs]), logistic, 0)],
    "appearance": _appearance_options(),
}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=None)
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    ap.add_argument("--readings", type=Path, default=None, help="pickle of the per-item inputs (made if absent)")
    ap.add_argument("--option", action="append", choices=sorted(OPTIONS), default=None)
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        if args.readings is not None and args.readings.is_file():
            rows = pickle.loads(args.readings.read_bytes())
        else:
            items = labelled_items(args.media, args.data)
            faces = cached_faces(items, args.model)
            rows = read_rows(items, faces)
            if args.readings is not None:
                args.readings.write_bytes(pickle.dumps(rows))
        print(f"{len(rows)} readings of fit-allowed items ({time.perf_counter() - t0:.0f} s); dev people only below")
        for option in args.option or list(OPTIONS):
            for condition, name, inputs, fitter, min_items in OPTIONS[option]:
                t = time.perf_counter()
                r = cv(rows, condition, inputs, fitter, min_items)
                label = "neutral known" if condition == "known" else "no neutral"
                print(line(f"{label}: {name}", r) + f"  {time.perf_counter() - t:.0f} s", flush=True)
    except (CuewatchError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
