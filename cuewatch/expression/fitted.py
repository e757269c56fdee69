"""The fitted reading: category probabilities from AUs and geometry, learned from labelled faces.

A multinomial logistic regression per reading, run in numpy (no training library at
analysis time). Its weights live in ``model_weights.json`` beside this module, written by
``scripts/fit_expression.py`` with the data manifests and the held-out people it kept; the
SHA-256 of the weights enters provenance and the expression cache key (``cuewatch.rules``).

Two readings, chosen by what is known about the person:
- ``relative``: AU intensities (relative to the person's neutral face), geometry and
  blendshape changes from that neutral, and the absolute and centred inputs too; for a
  marked neutral.
- ``absolute``: person-independent geometry and blendshapes, for when no neutral is known,
  so a recording without one is not read as "everything neutral"; and the same centred on
  the person's own face, the median over every frame of the track (:func:`face_centre`):
  without a marked neutral, the face as it usually is stands in for it.
Both readings read the centred face (:data:`CENTRED_NAMES`): a marked neutral is one
moment, the track's median is every frame of it.
The AUs, prototypes and AU evidence stay as they are: the model only weighs them.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.expression.action_units import GEOMETRY_NAMES, NeutralReference, paired_blendshapes
from cuewatch.formats import AU_NAMES, BLENDSHAPE_NAMES, EXPRESSION_CATEGORIES

WEIGHTS_PATH = Path(__file__).resolve().parent / "model_weights.json"
WEIGHTS_FORMAT = 1
READINGS: tuple[str, ...] = ("relative", "absolute")
#: the valence model's classes (a sign, fitted apart from the categories: five negative
#: categories against one positive would pull an uncertain face's valence down).
VALENCE_CLASSES: tuple[str, ...] = ("negative", "none", "positive")

#: blendshapes by L/R-paired stem (the model reads both sides as one).
BLENDSHAPE_STEMS: tuple[str, ...] = tuple(sorted(
    {n[:-4] if n.endswith("Left") else n[:-5] if n.endswith("Right") else n
     for n in BLENDSHAPE_NAMES if n != "_neutral"}))


#: the face as it is: geometry and blendshape stems (both readings read it).
FACE_NAMES: tuple[str, ...] = tuple(f"g:{g}" for g in GEOMETRY_NAMES) + tuple(f"b:{b}" for b in BLENDSHAPE_STEMS)
#: the same centred on the person's own face (:func:`face_centre`; both readings read it).
CENTRED_NAMES: tuple[str, ...] = tuple(f"c{name}" for name in FACE_NAMES)


def feature_names(reading: str) -> tuple[str, ...]:
    """The inputs of a reading, in column order."""
    if reading == "absolute":
        # the face as it is, and centred on the person's own (issue 12, h12p: on dev
        # leave-person-out CV with no neutral, 58.9% -> 63.1% 7-class, valence 66.6% -> 72.7%)
        return FACE_NAMES + CENTRED_NAMES
    if reading == "relative":
        # the change from neutral, the face as it is (a neutral photo from another day
        # differs in pose and light: the absolute face carries what the change misses), and
        # the face centred on the person's own (issue 12, h12q: on dev leave-person-out CV
        # with a neutral, 63.0% -> 67.2% 7-class, valence 68.8% -> 71.1%)
        return (tuple(f"au:{a}" for a in AU_NAMES) + tuple(f"dg:{g}" for g in GEOMETRY_NAMES)
                + tuple(f"db:{b}" for b in BLENDSHAPE_STEMS) + FACE_NAMES + CENTRED_NAMES)
    raise CuewatchError(f"unknown reading {reading!r}: use one of {', '.join(READINGS)}")


def _stems(blendshapes: np.ndarray) -> np.ndarray:
    paired = paired_blendshapes(np.atleast_2d(blendshapes))
    return np.stack([paired[s] for s in BLENDSHAPE_STEMS], axis=1)


def _face(geometry: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
    return np.hstack([np.asarray(geometry, np.float64), _stems(blendshapes)])


def face_centre(geometry: np.ndarray, blendshapes: np.ndarray) -> np.ndarray:
    """(len(FACE_NAMES),) the person's own face: the median of each input over the frames
    given (a whole track; in the evaluation every item of the person), frames without a
    value left out; 0 where no frame has one."""
    face = _face(np.atleast_2d(geometry), blendshapes)
    ok = np.isfinite(face)
    out = np.zeros(face.shape[1])
    for j in np.flatnonzero(ok.any(axis=0)):
        out[j] = float(np.median(face[ok[:, j], j]))
    return out


def features(reading: str, geometry: np.ndarray, blendshapes: np.ndarray, au: np.ndarray,
             reference: NeutralReference, centre: Optional[np.ndarray] = None) -> np.ndarray:
    """(N, F) model inputs per frame; AU intensities are /5 (0..1). The centred inputs
    (both readings) subtract ``centre`` (default: :func:`face_centre` of these frames, so
    pass the whole track, or its centre when scoring a part of it)."""
    if reading not in READINGS:
        raise CuewatchError(f"unknown reading {reading!r}: use one of {', '.join(READINGS)}")
    face = _face(geometry, blendshapes)
    c = face_centre(geometry, blendshapes) if centre is None else np.asarray(centre, np.float64)
    centred = face - c[None, :]
    if reading == "absolute":
        return np.hstack([face, centred])
    stems = face[:, len(GEOMETRY_NAMES):]
    return np.hstack([np.asarray(au, np.float64) / 5.0, geometry - reference.geometry[None, :],
                      stems - _stems(reference.blendshapes), face, centred])


@dataclass(frozen=True)
class Logistic:
    """One reading's multinomial logistic regression on standardised inputs."""

    features: tuple[str, ...]
    mean: np.ndarray       # (F,)
    scale: np.ndarray      # (F,)
    coef: np.ndarray       # (C, F)
    intercept: np.ndarray  # (C,)
    classes: tuple[str, ...]
    #: the logits are divided by this (fitted on out-of-fold predictions): calibrated confidence.
    temperature: float = 1.0

    def class_proba(self, x: np.ndarray) -> np.ndarray:
        """(N, len(classes)) probabilities in ``classes`` order."""
        z = ((np.nan_to_num(np.asarray(x, np.float64)) - self.mean) / self.scale) @ self.coef.T + self.intercept
        z = z / self.temperature
        if z.shape[1] == 1:       # a two-class fit has one row of weights
            z = np.hstack([np.zeros_like(z), z])
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """(N, len(EXPRESSION_CATEGORIES)) probabilities; classes the model lacks get 0."""
        p = self.class_proba(x)
        out = np.zeros((p.shape[0], len(EXPRESSION_CATEGORIES)))
        out[:, [EXPRESSION_CATEGORIES.index(c) for c in self.classes]] = p
        return out

    def to_dict(self) -> dict:
        return {"features": list(self.features), "classes": list(self.classes),
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept.tolist(),
                "temperature": self.temperature}

    @staticmethod
    def from_dict(d: dict) -> Logistic:
        return Logistic(tuple(d["features"]), np.asarray(d["mean"], np.float64),
                        np.asarray(d["scale"], np.float64), np.asarray(d["coef"], np.float64),
                        np.asarray(d["intercept"], np.float64), tuple(d["classes"]),
                        float(d.get("temperature", 1.0)))


def weights_digest(readings: dict) -> str:
    """SHA-256 of the readings' numbers (canonical JSON): the model's identity."""
    token = json.dumps(readings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class FittedModel:
    readings: dict[str, Logistic]
    valence: dict[str, Logistic]     # reading -> sign model (VALENCE_CLASSES)
    sha256: str
    info: dict

    def predict(self, reading: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 8) category probabilities and (N,) valence -1..1 of one reading."""
        return self.readings[reading].proba(x), valence_from_signs(self.valence[reading], x)


@functools.lru_cache(maxsize=4)
def load_model(path: Path = WEIGHTS_PATH) -> FittedModel:
    """The committed weights, checked against the SHA-256 recorded in the file."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CuewatchError(f"cannot read expression weights {path}: {exc}") from None
    if doc.get("format") != WEIGHTS_FORMAT:
        raise CuewatchError(f"{path}: weights format {doc.get('format')!r}, expected {WEIGHTS_FORMAT}")
    if weights_digest(doc["readings"]) != doc.get("sha256"):
        raise CuewatchError(f"{path}: weights do not match their recorded SHA-256")
    readings = {name: Logistic.from_dict(d["categories"]) for name, d in doc["readings"].items()}
    valence = {name: Logistic.from_dict(d["valence"]) for name, d in doc["readings"].items()}
    for name in READINGS:
        if name not in readings:
            raise CuewatchError(f"{path}: no {name} reading")
        if readings[name].features != feature_names(name) or valence[name].features != feature_names(name):
            raise CuewatchError(f"{path}: reading {name} has other inputs than this code computes")
    return FittedModel(readings, valence, doc["sha256"], doc.get("training", {}))


def model_sha256() -> str:
    """The committed weights' SHA-256 (provenance, cache keys); "" when there are none."""
    return load_model().sha256 if WEIGHTS_PATH.is_file() else ""


def valence_from_signs(model: Logistic, x: np.ndarray) -> np.ndarray:
    """-1..1: the sign model's probability of positive minus that of negative."""
    p = model.class_proba(x)
    return np.clip(p[:, model.classes.index("positive")] - p[:, model.classes.index("negative")], -1.0, 1.0)

