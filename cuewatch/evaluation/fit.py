"""Fitting the fitted reading (training only: needs the ``eval`` extra's scikit-learn).

Multinomial logistic regression on standardised inputs, classes weighted by their
inverse frequency (the web photos are mostly happy and neutral), L2 strength ``C``.
The result is a :class:`cuewatch.expression.fitted.Logistic`, which runs in numpy.
"""

from __future__ import annotations

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.expression import fitted
from cuewatch.formats import CATEGORY_POLARITY, EXPRESSION_CATEGORIES

#: L2 strength of the fit (smaller = stronger); set once, never tuned on held-out people.
C = 0.5
#: a standardised input's scale is at least this (a dead blendshape is not divided by 0).
MIN_SCALE = 1e-3


def fit_logistic(x: np.ndarray, labels: list[str], reading: str, c: float = C) -> fitted.Logistic:
    """A fitted reading from item inputs ``x`` (N, F) and their labels."""
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise CuewatchError("fitting needs scikit-learn: pip install 'cuewatch[eval]'") from None
    x = np.nan_to_num(np.asarray(x, np.float64))
    order = fitted.VALENCE_CLASSES if set(labels) <= set(fitted.VALENCE_CLASSES) else EXPRESSION_CATEGORIES
    classes = tuple(c_ for c_ in order if c_ in set(labels))
    if len(classes) < 2:
        raise CuewatchError("fitting needs at least two labelled classes")
    mean = x.mean(axis=0)
    scale = np.maximum(x.std(axis=0), MIN_SCALE)
    y = np.array([classes.index(lab) for lab in labels])
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000)
    model.fit((x - mean) / scale, y)
    return fitted.Logistic(fitted.feature_names(reading), mean, scale, model.coef_.astype(np.float64),
                           model.intercept_.astype(np.float64), tuple(classes[i] for i in model.classes_))


def sign_labels(labels: list[str]) -> list[str]:
    """Category labels as the valence model's classes."""
    return [fitted.VALENCE_CLASSES[CATEGORY_POLARITY[lab] + 1] for lab in labels]


def fit_reading(x: np.ndarray, labels: list[str], reading: str) -> fitted.FittedModel:
    """Both models of one reading (categories and valence sign), as a one-reading model."""
    cats = fit_logistic(x, labels, reading)
    val = fit_logistic(x, sign_labels(labels), reading)
    return fitted.FittedModel({reading: cats}, {reading: val}, "", {})
