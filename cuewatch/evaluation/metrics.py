"""Scores of a reading against labels: accuracy, macro F1, recall, confusion, valence sign, ECE.

Pure numpy over arrays of label indices and probability rows (EXPRESSION_CATEGORIES
order), so the same figures come out for any reading or peer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from cuewatch.formats import CATEGORY_POLARITY, EXPRESSION_CATEGORIES, NEUTRAL_BAND

#: bins of the expected calibration error.
ECE_BINS = 10


def valence_sign(valence: np.ndarray, band: float = NEUTRAL_BAND) -> np.ndarray:
    """+1 / 0 / -1 per value: inside the neutral band is 0."""
    v = np.asarray(valence, np.float64)
    return np.where(v >= band, 1, np.where(v <= -band, -1, 0))


def label_sign(labels: list[str]) -> np.ndarray:
    return np.array([CATEGORY_POLARITY[c] for c in labels])


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their size."""
    conf = np.asarray(confidence, np.float64)
    ok = np.asarray(correct, np.float64)
    if conf.size == 0:
        return float("nan")
    which = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() * abs(ok[m].mean() - conf[m].mean())
    return float(total / conf.size)


@dataclass
class Scores:
    """One reading's figures over a set of items."""

    n: int
    accuracy: float
    macro_f1: float
    recall: dict[str, float]
    confusion: np.ndarray          # (C, C) rows = truth, cols = prediction
    classes: tuple[str, ...]
    valence_accuracy: float
    ece: float
    people: int = 0
    fold_accuracy: list[float] = field(default_factory=list)

    @property
    def fold_spread(self) -> Optional[tuple[float, float]]:
        """(min, max) accuracy over folds, or None without folds."""
        return (min(self.fold_accuracy), max(self.fold_accuracy)) if self.fold_accuracy else None


def score(labels: list[str], proba: np.ndarray, valence: np.ndarray,
          classes: tuple[str, ...] = EXPRESSION_CATEGORIES, people: int = 0) -> Scores:
    """Figures for the items whose label is in ``classes``; the prediction is the most
    probable of ``classes`` (probabilities renormalised over them for the ECE)."""
    keep = np.array([lab in classes for lab in labels], bool)
    labs = [lab for lab, k in zip(labels, keep) if k]
    p = np.asarray(proba, np.float64)[keep][:, [EXPRESSION_CATEGORIES.index(c) for c in classes]]
    p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    truth = np.array([classes.index(lab) for lab in labs], int)
    pred = p.argmax(axis=1) if p.size else np.zeros(0, int)
    c = len(classes)
    confusion = np.zeros((c, c), int)
    np.add.at(confusion, (truth, pred), 1)
    recall, f1s = {}, []
    for i, name in enumerate(classes):
        tp, actual, said = confusion[i, i], confusion[i].sum(), confusion[:, i].sum()
        if actual:
            recall[name] = float(tp / actual)
            f1s.append(2 * tp / (actual + said) if actual + said else 0.0)
    correct = pred == truth
    n = int(truth.size)
    val_ok = valence_sign(np.asarray(valence)[keep]) == label_sign(labs)
    return Scores(n=n, accuracy=float(correct.mean()) if n else float("nan"),
                  macro_f1=float(np.mean(f1s)) if f1s else float("nan"), recall=recall,
                  confusion=confusion, classes=classes,
                  valence_accuracy=float(val_ok.mean()) if n else float("nan"),
                  ece=expected_calibration_error(p.max(axis=1) if n else np.zeros(0), correct),
                  people=people)
