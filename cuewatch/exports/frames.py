"""``cuewatch export --format frames``: the per-frame features, OpenFace-style columns.

One ``LABEL.frames.csv`` per recording, written by the analysis's own writer
(``cuewatch.outputs.frames_csv.write_analysis_frames_csv``: one row per analysed frame per face
track, ``success`` 0 where that face was not seen) so the export and ``cuewatch analyze``
have the same columns and values: ``cuewatch.formats.FRAMES_CSV_BASE_COLUMNS``, the 52
``BLENDSHAPE_NAMES``, the action units, prototype matches, valence and arousal. Bundles
holding plain track arrays (not an analysis's features) give their own expression
columns (``frame_columns`` or the tracks' ``columns``). The CSV is plain; its provenance,
the client's track id and the pose units are in ``LABEL.frames.csv.provenance.json``.
Tracks the export's consent leaves out (``ExportBundle.left_out_tracks``: the therapist's
face in a research export without the therapist's own research consent) have no rows;
the sidecar lists them and its provenance says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.exports import ExportBundle, per_recording
from cuewatch.exports.naming import path_in
from cuewatch.exports.tracks import TRACK_VALUE_COLUMNS, TrackArrays
from cuewatch.formats import FRAMES_CSV_VERSION
from cuewatch.outputs.frames_csv import frames_columns, write_analysis_frames_csv, write_frames_csv
from cuewatch.progress import Progress
from cuewatch.provenance import write_provenance_sidecar


def _features_for(bundle: ExportBundle) -> Any:
    """A Features(-like) object for the writer: the real one when the bundle has it."""
    source = bundle.track_source()
    if source is None:
        raise CuewatchError(f"no per-frame features for {bundle.recording_label(True)}: "
                            "analyse the recording first")
    if hasattr(source, "frame_index") and hasattr(source, "tracks"):
        return source
    tracks = bundle.track_arrays()
    for t in tracks.values():
        if t.confidence is None or t.pose is None or t.blendshapes is None:
            raise CuewatchError(f"face track {t.track_id} lacks confidence, pose or "
                                "blendshapes: cannot write per-frame features")
        if t.frame is None:
            fps = bundle.recording.fps
            if not fps > 0:
                raise CuewatchError(f"face track {t.track_id} has no frame numbers and the "
                                    "recording no frame rate")
            t.frame = np.rint(t.timestamp * fps).astype(np.int64)
    pairs = {(int(f), float(ts)) for t in tracks.values() for f, ts in zip(t.frame, t.timestamp)}
    by_frame = dict(sorted(pairs))
    return SimpleNamespace(frame_index=np.array(list(by_frame), dtype=np.int64),
                           frame_time=np.array(list(by_frame.values()), dtype=np.float64),
                           tracks=tracks)


def _without_tracks(features: Any, left_out: tuple[int, ...]) -> Any:
    """``features`` without the tracks in ``left_out`` (a consent decision, see
    ``ExportBundle.left_out_tracks``): a shallow copy, the loaded arrays shared."""
    if not left_out or not set(left_out) & set(features.tracks):
        return features
    tracks = {tid: t for tid, t in features.tracks.items() if tid not in left_out}
    if _is_analysis(features):
        return replace(features, tracks=tracks)
    return SimpleNamespace(**{**vars(features), "tracks": tracks})


def _is_analysis(features: Any) -> bool:
    """True for the analysis's own Features (the writer then computes the expression)."""
    from cuewatch.features.folder import Features

    return isinstance(features, Features)


def _expression_for(bundle: ExportBundle, features: Any) -> dict[int, dict[str, np.ndarray]]:
    """Per track, the expression columns every listed track has, in frames.csv order."""
    given: Mapping[int, Mapping[str, Any]]
    if bundle.frame_columns is not None:
        given = bundle.frame_columns
    else:
        given = {tid: t.columns for tid, t in features.tracks.items()
                 if isinstance(t, TrackArrays) and t.columns}
    if not given:
        return {}
    common = set.intersection(*(set(cols) for cols in given.values()))
    names = [c for c in TRACK_VALUE_COLUMNS if c in common]
    names += sorted(common - set(names))
    out = {}
    for tid, cols in given.items():
        track = features.tracks.get(tid)
        if track is None:
            continue
        arrays = {n: np.asarray(cols[n], dtype=np.float64) for n in names}
        for n, a in arrays.items():
            if a.shape != (len(track.frame),):
                raise CuewatchError(f"expression column {n} of track {tid} has {a.shape[0]} "
                                    f"rows for {len(track.frame)} frames")
        out[int(tid)] = arrays
    return out


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``LABEL.frames.csv`` per recording; refuses a recording without features."""

    def write_one(bundle: ExportBundle, label: str, out_dir: Path) -> list[Path]:
        features = _without_tracks(_features_for(bundle), bundle.left_out_tracks)
        target = path_in(out_dir, f"{label}.frames.csv")
        if bundle.frame_columns is None and _is_analysis(features):
            write_analysis_frames_csv(features, target, bundle.provenance.get("parameters") or {})
        else:
            write_frames_csv(features, target, _expression_for(bundle, features))
        sidecar = write_provenance_sidecar(
            target, bundle.provenance,
            description=f"cuewatch frames export (frames.csv v{FRAMES_CSV_VERSION}): {label}",
            about={"client_track": bundle.client_track,
                   "left_out_tracks": list(bundle.left_out_tracks),
                   "units": {"pose_Rx, pose_Ry, pose_Rz": "pitch, yaw, roll in degrees"}})
        return [target, sidecar]
    return per_recording("frames", bundles, out_dir, anonymise, progress, write_one)


__all__ = ["export", "frames_columns"]
