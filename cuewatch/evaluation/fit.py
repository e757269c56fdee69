"""Fitting the fitted reading (training only: needs the ``eval`` extra's scikit-learn).

Multinomial logistic regression on standardised inputs, categories weighted by their
inverse frequency (the web photos are mostly happy and neutral) and the negative ones by
``NEGATIVE_WEIGHT`` more (missing a negative face costs a flag), the valence sign's classes
not (``BALANCE_SIGN_CLASSES``), L2 strength ``C`` chosen
from ``C_GRID`` by leave-person-out cross-validation on the fit set alone (best macro F1
over the folds' predictions), then a temperature fitted on those out-of-fold predictions
(least negative log-likelihood), so a confidence of 0.7 is right about 70% of the time.
The result is a :class:`cuewatch.expression.fitted.Logistic`, which runs in numpy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.expression import fitted
from cuewatch.formats import CATEGORY_POLARITY, EXPRESSION_CATEGORIES

#: L2 strength when none is chosen by cross-validation (smaller = stronger).
C = 0.5
#: the strengths cross-validation chooses from, on the fit set's people only.
C_GRID: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0)
#: leave-person-out folds of the choice.
CV_FOLDS = 5
#: extra class weight of the negative categories (sad, angry, fearful, disgusted, contempt):
#: on dev leave-person-out CV (neutral known) 1.5 against 1.0 raised sad recall 0.38 -> 0.41-0.47
#: and angry 0.43 -> 0.50-0.53 for 1-3 points of 7-class accuracy.
NEGATIVE_WEIGHT = 1.5
#: whether the valence sign model's classes are balanced like the categories'. They are not:
#: on dev leave-person-out CV (issue 12, h12feat) unweighted sign classes gave valence sign
#: 69.7% against 68.6% balanced with the neutral known, the categories unchanged (63.8%).
BALANCE_SIGN_CLASSES = False
#: temperatures tried for calibration (logits divided by it).
TEMPERATURES: np.ndarray = np.round(np.arange(0.5, 3.01, 0.05), 2)
#: a standardised input's scale is at least this (a dead blendshape is not divided by 0).
MIN_SCALE = 1e-3


def _classes(labels: Sequence[str]) -> tuple[str, ...]:
    order = fitted.VALENCE_CLASSES if set(labels) <= set(fitted.VALENCE_CLASSES) else EXPRESSION_CATEGORIES
    return tuple(c_ for c_ in order if c_ in set(labels))


def _class_weight(y: np.ndarray, classes: tuple[str, ...]) -> dict[int, float]:
    """Balanced weights, the negative categories ``NEGATIVE_WEIGHT`` more (not the
    valence sign's "negative": there it cost 4-5 points of dev CV sign accuracy); the
    sign's classes all 1 unless ``BALANCE_SIGN_CLASSES``."""
    if not BALANCE_SIGN_CLASSES and set(classes) <= set(fitted.VALENCE_CLASSES):
        return {i: 1.0 for i in range(len(classes))}
    out = {}
    for i, name in enumerate(classes):
        w = len(y) / (len(classes) * max(1, int((y == i).sum())))
        out[i] = w * (NEGATIVE_WEIGHT if CATEGORY_POLARITY.get(name, 0) < 0 else 1.0)
    return out


def fit_logistic(x: np.ndarray, labels: list[str], reading: str, c: float = C,
                 temperature: float = 1.0) -> fitted.Logistic:
    """A fitted reading from item inputs ``x`` (N, F) and their labels."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise CuewatchError("fitting needs scikit-learn: pip install 'cuewatch[eval]'") from None
    x = np.nan_to_num(np.asarray(x, np.float64))
    classes = _classes(labels)
    if len(classes) < 2:
        raise CuewatchError("fitting needs at least two labelled classes")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    y = np.array([classes.index(lab) for lab in labels])
    model = LogisticRegression(C=c, class_weight=_class_weight(y, classes), max_iter=3000)
    model.fit((x - mean) / scale, y)
    return fitted.Logistic(fitted.feature_names(reading), mean, scale, model.coef_.astype(np.float64),
                           model.intercept_.astype(np.float64), tuple(classes[i] for i in model.classes_),
                           temperature)


def sign_labels(labels: list[str]) -> list[str]:
    """Category labels as the valence model's classes."""
    return [fitted.VALENCE_CLASSES[CATEGORY_POLARITY[lab] + 1] for lab in labels]


def person_fold(person: str, folds: int = CV_FOLDS) -> int:
    """The cross-validation fold of a person (stable across runs; never splits a person)."""
    return int(hashlib.sha256(f"cv:{person}".encode()).hexdigest(), 16) % folds


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    f1s = []
    for c in np.unique(y):
        tp = float(((pred == c) & (y == c)).sum())
        denom = float((y == c).sum() + (pred == c).sum())
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


def choose(x: np.ndarray, labels: list[str], people: Sequence[str], reading: str,
           grid: Sequence[float] = C_GRID) -> tuple[float, float, dict[float, float]]:
    """(C, temperature, macro F1 per C): leave-person-out over ``people`` on these items only."""
    x = np.nan_to_num(np.asarray(x, np.float64))
    classes = _classes(labels)
    y = np.array([classes.index(lab) for lab in labels])
    folds = np.array([person_fold(p) for p in people])
    best: Optional[tuple[float, float, np.ndarray]] = None
    scores: dict[float, float] = {}
    for c in grid:
        logits = np.zeros((len(y), len(classes)))
        for f in np.unique(folds):
            train = folds != f
            if len(set(y[train].tolist())) < 2:
                continue
            m = fit_logistic(x[train], [labels[i] for i in np.flatnonzero(train)], reading, c)
            z = ((x[~train] - m.mean) / m.scale) @ m.coef.T + m.intercept
            if z.shape[1] == 1:
                z = np.hstack([np.zeros_like(z), z])
            cols = [classes.index(k) for k in m.classes]
            out = np.full((z.shape[0], len(classes)), -1e9)
            out[:, cols] = z
            logits[~train] = out
        scores[c] = _macro_f1(y, logits.argmax(axis=1))
        if best is None or scores[c] > best[0]:
            best = (scores[c], c, logits)
    assert best is not None
    _, c_best, logits = best
    nll = []
    for t in TEMPERATURES:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        nll.append(-float(logp[np.arange(len(y)), y].mean()))
    return c_best, float(TEMPERATURES[int(np.argmin(nll))]), scores


def fit_reading(x: np.ndarray, labels: list[str], reading: str,
                people: Optional[Sequence[str]] = None) -> fitted.FittedModel:
    """Both models of one reading (categories and valence sign), as a one-reading model.
    With ``people``, C and the temperature are chosen by leave-person-out CV on these items
    (:func:`choose`); without, ``C`` and no temperature."""
    signs = sign_labels(labels)
    if people is not None:
        c_cat, t_cat, _ = choose(x, labels, people, reading)
        c_val, t_val, _ = choose(x, signs, people, reading)
    else:
        c_cat, t_cat, c_val, t_val = C, 1.0, C, 1.0
    cats = fit_logistic(x, labels, reading, c_cat, t_cat)
    val = fit_logistic(x, signs, reading, c_val, t_val)
    return fitted.FittedModel({reading: cats}, {reading: val}, "", {"C": c_cat, "temperature": t_cat,
                                                                  "valence_C": c_val,
                                                                  "valence_temperature": t_val})
