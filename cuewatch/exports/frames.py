"""``cuewatch export --format frames``: the per-frame features, OpenFace-style columns.

One ``LABEL.frames.csv`` per recording with every face track: one row per analysed
frame per face seen in it, sorted by frame then face. Columns: ``frames_columns()``:
``cuewatch.formats.FRAMES_CSV_BASE_COLUMNS``, then the 52 blendshapes
(``BLENDSHAPE_NAMES``) and the action-unit and expression columns (``AU_COLUMNS``,
``EXPRESSION_COLUMNS``) when the tracks carry them; a value a face lacks is empty.
``#`` lines before the header carry the provenance and the client's track id.

The lead's analysis writes the same columns for its own frames.csv; when it moves into
a shared ``cuewatch.frames_csv`` writer, ``write_frames_csv`` here should call it.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Mapping, Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.exports import ExportBundle, prepare, unique_labels
from cuewatch.exports.files import atomic_path
from cuewatch.exports.naming import path_in
from cuewatch.exports.stamp import provenance_comment_lines
from cuewatch.exports.tracks import TRACK_VALUE_COLUMNS, TrackArrays
from cuewatch.formats import BLENDSHAPE_NAMES, FRAMES_CSV_BASE_COLUMNS, FRAMES_CSV_VERSION
from cuewatch.progress import Progress

#: Rows formatted per chunk: bounds memory for hour-long recordings.
CHUNK_ROWS = 20000
_NAN = re.compile(r"(?<![^,\n])nan(?![^,\n])")


def frames_columns(tracks: Mapping[int, TrackArrays]) -> tuple[str, ...]:
    """The header for these tracks: base columns, blendshapes and value columns if any."""
    cols = list(FRAMES_CSV_BASE_COLUMNS)
    if any(t.blendshapes is not None for t in tracks.values()):
        cols += BLENDSHAPE_NAMES
    present = {k for t in tracks.values() for k in t.columns}
    cols += [c for c in TRACK_VALUE_COLUMNS if c in present]
    return tuple(cols)


def _track_matrix(track: TrackArrays, columns: tuple[str, ...], fps: float) -> np.ndarray:
    n = len(track)
    m = np.full((n, len(columns)), np.nan, dtype=np.float64)
    idx = {c: i for i, c in enumerate(columns)}
    if track.frame is not None:
        m[:, idx["frame"]] = track.frame
    elif fps > 0:
        m[:, idx["frame"]] = np.rint(track.timestamp * fps)
    m[:, idx["face_id"]] = track.track_id
    m[:, idx["timestamp"]] = track.timestamp
    m[:, idx["confidence"]] = track.confidence if track.confidence is not None else np.nan
    m[:, idx["success"]] = 1
    if track.pose is not None:
        for j, c in enumerate(("pose_Rx", "pose_Ry", "pose_Rz")):
            m[:, idx[c]] = track.pose[:, j]
    if track.blendshapes is not None and BLENDSHAPE_NAMES[0] in idx:
        start = idx[BLENDSHAPE_NAMES[0]]
        m[:, start:start + len(BLENDSHAPE_NAMES)] = track.blendshapes
    for name, values in track.columns.items():
        if name in idx:
            m[:, idx[name]] = values
    return m


def write_frames_csv(target: Path, tracks: Mapping[int, TrackArrays], *, fps: float,
                     header_lines: list[str], progress: Progress) -> Path:
    """Stream the per-frame table to ``target`` atomically, a chunk at a time."""
    columns = frames_columns(tracks)
    fmt = ["%d", "%d", "%.3f", "%.3f", "%d", "%.2f", "%.2f", "%.2f"]
    fmt += ["%.4f"] * (len(columns) - len(fmt))
    matrix = (np.concatenate([_track_matrix(t, columns, fps) for t in tracks.values()])
              if tracks else np.zeros((0, len(columns))))
    order = np.lexsort((matrix[:, 1], matrix[:, 2]))  # by timestamp, then face
    total = max(1, matrix.shape[0])
    with atomic_path(target) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for line in header_lines:
                fh.write(line + "\n")
            fh.write(",".join(columns) + "\n")
            for start in range(0, matrix.shape[0], CHUNK_ROWS):
                progress.check()
                chunk = matrix[order[start:start + CHUNK_ROWS]]
                buf = io.StringIO()
                # integer columns hold NaN only when unknown: write them as floats then
                np.savetxt(buf, chunk, fmt=fmt if not np.isnan(chunk[:, :2]).any() else "%.4f",
                           delimiter=",")
                fh.write(_NAN.sub("", buf.getvalue()))
                progress.report(min(start + CHUNK_ROWS, total) / total, "frames")
            fh.flush()
            os.fsync(fh.fileno())
    return Path(target)


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None) -> list[Path]:
    """Write ``LABEL.frames.csv`` per recording; refuses a recording without face tracks."""
    bundles, out_dir, progress = prepare(bundles, out_dir, progress)
    written: list[Path] = []
    for n, (bundle, label) in enumerate(zip(bundles, unique_labels(bundles, anonymise))):
        progress.check()
        tracks = bundle.track_arrays()
        if not tracks:
            raise CuewatchError(f"no per-frame features for {label}: analyse the recording first")
        header = [f"# cuewatch frames export (frames.csv v{FRAMES_CSV_VERSION}): {label}"]
        header += provenance_comment_lines(bundle.provenance)
        header.append(f"# client_track: {'' if bundle.client_track is None else bundle.client_track}")
        header.append("# pose_Rx, pose_Ry, pose_Rz: pitch, yaw, roll in degrees")
        child = progress.scaled(n / len(bundles), (n + 1) / len(bundles))
        target = path_in(out_dir, f"{label}.frames.csv")
        written.append(write_frames_csv(target, tracks, fps=bundle.recording.fps,
                                        header_lines=header, progress=child))
    return written
