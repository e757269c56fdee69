"""Expression series computed from stored features, cached beside them.

The expression of a track is a pure function of its features, the expression settings
and the neutral span; it is cached in the features directory so that recomputing flags
(new sensitivity, new thresholds) reads a small file instead of the landmarks.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch import rule_numbers
from cuewatch.errors import CuewatchError
from cuewatch.expression.fitted import model_sha256
from cuewatch.expression.series import (
    EXPRESSION_REVISION,
    ExpressionSeries,
    ExpressionSettings,
    estimate_expression,
)
from cuewatch.features.folder import Features, TrackFeatures
from cuewatch.files import atomic_path
from cuewatch.formats import AU_COLUMNS, EXPRESSION_CATEGORIES, FACE_PASS_REVISION
from cuewatch.rule_numbers import EXPRESSION_SECTIONS, stage_hash

log = logging.getLogger(__name__)

CACHE_DIR = "expression"
_ARRAYS = ("timestamps", "au", "scores", "valence", "arousal", "confidence", "dominant",
           "drivers", "driver_weights", "au_raw")


class LandmarkView:
    """A (N, 478, 3) view of a track's landmarks that decodes only the columns asked for."""

    def __init__(self, track: TrackFeatures) -> None:
        self.track = track
        self.shape = (len(track), 478, 3)
        self.ndim = 3

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple) and len(key) >= 2 and key[0] == slice(None):
            points = key[1]
            if isinstance(points, (list, tuple, np.ndarray)):
                out = self.track.landmark_points(list(points))
                return out if len(key) < 3 else out[:, :, key[2]]
        return self.track.landmarks(slice(None))[key]


def _key(settings: ExpressionSettings, neutral_span: Optional[Sequence[float]]) -> str:
    """The cache key: both stage revisions, the expression settings, the rule numbers the
    stage reads (``cuewatch/rules.toml``), the fitted reading's weights and the neutral span."""
    token = json.dumps({"revision": EXPRESSION_REVISION, "face_pass": FACE_PASS_REVISION,
                        "model": model_sha256(),
                        "rules": stage_hash(rule_numbers.RULES, EXPRESSION_SECTIONS),
                        "settings": settings.to_dict(),
                        "neutral": list(neutral_span) if neutral_span else None},
                       sort_keys=True, default=str)
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def track_expression(features: Features, track_id: int,
                     neutral_span: Optional[Sequence[float]] = None,
                     settings: Optional[ExpressionSettings] = None) -> ExpressionSeries:
    """The expression series of one track, from the cache when it is there."""
    settings = settings or ExpressionSettings()
    track = features.tracks[track_id]
    span = (float(neutral_span[0]), float(neutral_span[1])) if neutral_span else None
    cache = Path(features.directory) / CACHE_DIR / f"track_{track_id}.{_key(settings, span)}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as data:
                arrays = {k: data[k] for k in _ARRAYS}
                source = str(data["neutral_source"])
            series = ExpressionSeries(**arrays, neutral=None, settings=settings,  # type: ignore[arg-type]
                                      neutral_source=source)
            if len(series.timestamps) == len(track):
                return series
        except (OSError, KeyError, ValueError):  # a damaged cache file is recomputed
            log.warning("expression cache %s is damaged; recomputing it", cache, exc_info=True)
    series = estimate_expression(track.timestamp, LandmarkView(track), track.blendshapes,
                                 track.pose, track.bbox, track.confidence,
                                 neutral_span=span, settings=settings)
    try:
        cache.parent.mkdir(exist_ok=True)
        with atomic_path(cache) as tmp:
            np.savez(tmp, neutral_source=np.str_(series.neutral_source),
                     **{k: getattr(series, k) for k in _ARRAYS})
    except (OSError, CuewatchError):  # a read-only features folder still works, just slower next time
        log.debug("cannot keep the expression cache %s", cache, exc_info=True)
    return series


def expression_columns(features: Features, neutral_span: Optional[Sequence[float]] = None,
                       neutral_spans: Optional[Mapping[int, Sequence[float]]] = None
                       ) -> dict[int, dict[str, np.ndarray]]:
    """Per track, the frames.csv expression columns: AUs, prototype matches, valence, arousal.

    ``neutral_spans`` (by track id) say where each person's face is neutral; without
    them ``neutral_span`` applies to every track (``cuewatch analyze --neutral``).
    """
    out: dict[int, dict[str, np.ndarray]] = {}
    for tid, track in features.tracks.items():
        if len(track) == 0:
            continue
        span = neutral_spans.get(tid) if neutral_spans is not None else neutral_span
        s = track_expression(features, tid, span)
        cols: dict[str, np.ndarray] = {name: s.au[:, i] for i, name in enumerate(AU_COLUMNS)}
        cols.update({name: s.scores[:, i] for i, name in enumerate(EXPRESSION_CATEGORIES)})
        cols["valence"] = s.valence
        cols["arousal"] = s.arousal
        out[tid] = cols
    return out
