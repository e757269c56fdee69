"""Face tracks as the exporters read them, whatever shape the caller holds them in.

The lead's ``cuewatch.features.folder`` gives ``Features`` with ``TrackFeatures`` per track;
tests and other callers may hold plain dicts of arrays. ``as_track_arrays`` accepts:
a Features-like object (``.tracks``), a mapping ``{track_id: track}`` or a sequence of
tracks, where a track is an object or a mapping with ``timestamp`` and ``bbox`` and,
when known, ``frame``, ``confidence``, ``pose``, ``blendshapes``, and per-row
expression columns (``AU01_r``..., ``happy``..., ``valence``, ``arousal``) either as
keys/attributes or in a ``columns`` / ``expression`` mapping.

Boxes between analysed frames are interpolated (faces are analysed at 15 fps, videos
play at 25-60) so that blurring covers every frame of a clip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.formats import AU_COLUMNS, EXPRESSION_COLUMNS, N_BLENDSHAPES

#: Per-row columns taken from a track when present, in frames.csv order.
TRACK_VALUE_COLUMNS: tuple[str, ...] = AU_COLUMNS + EXPRESSION_COLUMNS


@dataclass
class TrackArrays:
    """One face track: rows are analysed frames where this face was seen."""

    track_id: int
    timestamp: np.ndarray               # (N,) float64 seconds, ascending
    bbox: np.ndarray                    # (N, 4) float32 x0, y0, x1, y1 frame pixels
    frame: Optional[np.ndarray] = None  # (N,) int
    confidence: Optional[np.ndarray] = None
    pose: Optional[np.ndarray] = None         # (N, 3) degrees
    blendshapes: Optional[np.ndarray] = None  # (N, 52)
    columns: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.timestamp.shape[0])

    def box_at(self, t: float, *, max_gap_s: float = 1.0, hold_s: float = 0.5) -> Optional[np.ndarray]:
        """The face box at time ``t``: interpolated between analysed frames no more than
        ``max_gap_s`` apart, else the nearest box within ``hold_s``; None if unseen."""
        ts = self.timestamp
        if ts.size == 0:
            return None
        i = int(np.searchsorted(ts, t))
        if 0 < i < ts.size:
            t0, t1 = ts[i - 1], ts[i]
            if t1 - t0 <= max_gap_s:
                w = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                return (1.0 - w) * self.bbox[i - 1] + w * self.bbox[i]
        candidates = [j for j in (i - 1, i) if 0 <= j < ts.size]
        j = min(candidates, key=lambda k: abs(ts[k] - t))
        if abs(ts[j] - t) <= hold_s:
            return self.bbox[j].astype(np.float64)
        return None


def _get(track: Any, name: str) -> Any:
    if isinstance(track, Mapping):
        return track.get(name)
    value = getattr(track, name, None)
    return value() if callable(value) and name in ("columns", "expression") else value


def _optional_array(value: Any, n: int, what: str, track_id: int,
                    shape_tail: tuple[int, ...] = ()) -> Optional[np.ndarray]:
    return None if value is None else _array(value, n, what, track_id, shape_tail)


def _array(value: Any, n: int, what: str, track_id: int, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    arr = np.asarray(value)
    if arr.shape[:1] != (n,) or arr.shape[1:] != shape_tail:
        raise CuewatchError(f"face track {track_id}: {what} has shape {arr.shape}, expected {(n,) + shape_tail}")
    return arr


def _one_track(track_id: Any, track: Any) -> TrackArrays:
    tid = _get(track, "track_id")
    tid = int(track_id if tid is None else tid)
    ts = _get(track, "timestamp")
    box = _get(track, "bbox")
    if ts is None or box is None:
        raise CuewatchError(f"face track {tid} has no timestamp or bbox arrays")
    ts = np.asarray(ts, dtype=np.float64).reshape(-1)
    n = ts.size
    box = _array(box, n, "bbox", tid, (4,)).astype(np.float32)
    order = np.argsort(ts, kind="stable")
    extra: dict[str, np.ndarray] = {}
    for holder in (_get(track, "columns"), _get(track, "expression")):
        if isinstance(holder, Mapping):
            for key, value in holder.items():
                if key in TRACK_VALUE_COLUMNS and value is not None:
                    extra[key] = _array(value, n, key, tid)
    for key in TRACK_VALUE_COLUMNS:
        value = _get(track, key) if isinstance(track, Mapping) else None
        if value is not None and key not in extra:
            extra[key] = _array(value, n, key, tid)

    def pick(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
        return None if a is None else a[order]

    return TrackArrays(
        track_id=tid,
        timestamp=ts[order],
        bbox=box[order],
        frame=pick(_optional_array(_get(track, "frame"), n, "frame", tid)),
        confidence=pick(_optional_array(_get(track, "confidence"), n, "confidence", tid)),
        pose=pick(_optional_array(_get(track, "pose"), n, "pose", tid, (3,))),
        blendshapes=pick(_optional_array(_get(track, "blendshapes"), n, "blendshapes", tid, (N_BLENDSHAPES,))),
        columns={k: v[order] for k, v in extra.items()},
    )


def as_track_arrays(source: Any) -> dict[int, TrackArrays]:
    """Face tracks by track id from a Features-like object, a mapping or a sequence."""
    if source is None:
        return {}
    if isinstance(source, Mapping) and "tracks" in source and not all(
            isinstance(k, (int, np.integer)) for k in source):
        source = source["tracks"]
    elif not isinstance(source, (Mapping, list, tuple)) and hasattr(source, "tracks"):
        source = source.tracks
    if isinstance(source, Mapping):
        items = list(source.items())
    else:
        items = [(i, t) for i, t in enumerate(source)]
    out: dict[int, TrackArrays] = {}
    for key, track in items:
        if isinstance(track, TrackArrays):
            out[track.track_id] = track
        else:
            arrays = _one_track(key, track)
            out[arrays.track_id] = arrays
    return out


def analysed_span(source: Any) -> Optional[tuple[float, float]]:
    """(first, last) analysed time from a Features-like ``frame_time``; None if unknown."""
    times = getattr(source, "frame_time", None)
    if times is None and isinstance(source, Mapping):
        times = source.get("frame_time")
    if times is None:
        return None
    times = np.asarray(times, dtype=np.float64)
    return (float(times.min()), float(times.max())) if times.size else None


def load_tracks(features_dir: Path) -> Any:
    """The lead's ``load_features`` on ``features_dir``, with one clear error if it fails."""
    try:
        from cuewatch.features.folder import load_features
    except ImportError:
        raise CuewatchError("this cuewatch cannot read features folders yet "
                            "(cuewatch.features.folder is missing)") from None
    if not Path(features_dir).is_dir():
        raise CuewatchError(f"features folder not found: {features_dir}")
    return load_features(features_dir)


def boxes_at(tracks: Mapping[int, TrackArrays], t: float, *, pad: float = 0.3,
             width: Optional[int] = None, height: Optional[int] = None) -> list[tuple[int, int, int, int]]:
    """Every face's box at time ``t``, padded by ``pad`` of its size on each side, in
    whole pixels clipped to the frame when its size is given."""
    out = []
    for track in tracks.values():
        box = track.box_at(t)
        if box is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in box)
        w, h = x1 - x0, y1 - y0
        if not (w > 0 and h > 0):
            continue
        x0, x1 = x0 - pad * w, x1 + pad * w
        y0, y1 = y0 - pad * h, y1 + pad * h
        if width is not None:
            x0, x1 = max(0.0, x0), min(float(width), x1)
        if height is not None:
            y0, y1 = max(0.0, y0), min(float(height), y1)
        bx = (int(np.floor(x0)), int(np.floor(y0)), int(np.ceil(x1)), int(np.ceil(y1)))
        if bx[2] > bx[0] and bx[3] > bx[1]:
            out.append(bx)
    return out
