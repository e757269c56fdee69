"""``frames.csv``: one row per analysed frame and track, OpenFace 2.x column names.

Every track gets a row for every analysed frame; ``success`` is 0 (and the values empty)
where that person's face was not seen, as OpenFace does for lost faces.

``write_analysis_frames_csv`` is the one writer of an analysis's frames.csv: ``cuewatch
analyze`` and ``cuewatch export --format frames`` both call it, so both files have the
same columns (base, blendshapes, action units, prototype matches, valence, arousal) and
the same values. The file is plain CSV: its provenance goes in a sidecar.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.features.folder import Features
from cuewatch.files import atomic_path
from cuewatch.formats import BLENDSHAPE_NAMES, FRAMES_CSV_BASE_COLUMNS

ExpressionColumns = Mapping[str, np.ndarray]
"""Per track: column name -> (N,) values aligned with the track's rows."""


def frames_columns(expression_names: tuple[str, ...] = ()) -> list[str]:
    return list(FRAMES_CSV_BASE_COLUMNS) + list(BLENDSHAPE_NAMES) + list(expression_names)


def write_frames_csv(features: Features, path: Path,
                     expression: Optional[Mapping[int, ExpressionColumns]] = None) -> Path:
    """Write the per-frame table; streams track by track in frame order."""
    expression = expression or {}
    names: tuple[str, ...] = ()
    for cols in expression.values():
        names = tuple(cols.keys())
        break
    header = frames_columns(names)
    frame_index = np.asarray(features.frame_index)
    frame_time = np.asarray(features.frame_time)
    blank = [""] * (len(header) - 5)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        order = np.argsort(frame_index, kind="stable")
        tracks = sorted(features.tracks.items())
        lookups = []
        for tid, tr in tracks:
            pos = {int(fr): i for i, fr in enumerate(tr.frame)}
            cols = expression.get(tid, {})
            lookups.append((tid, tr, pos, [np.asarray(cols[n]) for n in names] if cols else None))
        for k in order:
            fr = int(frame_index[k])
            t = f"{frame_time[k]:.3f}"
            for tid, tr, pos, values in lookups:
                i = pos.get(fr)
                if i is None:
                    w.writerow([fr, tid, t, "0.00", 0] + blank)
                    continue
                pose = tr.pose[i]
                row = [fr, tid, t, f"{tr.confidence[i]:.3f}", 1,
                       f"{pose[0]:.2f}", f"{pose[1]:.2f}", f"{pose[2]:.2f}"]
                row += [f"{v:.4f}" for v in tr.blendshapes[i]]
                if names:
                    row += [f"{c[i]:.4f}" for c in values] if values is not None else [""] * len(names)
                w.writerow(row)
    return path


def analysis_expression_columns(features: Features, parameters: Mapping[str, Any]
                                ) -> dict[int, dict[str, np.ndarray]]:
    """The expression columns of an analysis's frames.csv, computed with its own parameters
    (its neutral span, or a project's neutral spans by track), so analyze and export
    cannot disagree."""
    from cuewatch.expression.cache import expression_columns

    params = parameters or {}
    spans = params.get("neutral_spans")
    return expression_columns(features, params.get("neutral_span"),
                              {int(k): v for k, v in spans.items()} if spans is not None else None)


def write_analysis_frames_csv(features: Features, path: Path,
                              parameters: Mapping[str, Any]) -> Path:
    """frames.csv of one analysis, with every expression column (``frames_columns``)."""
    return write_frames_csv(features, path, analysis_expression_columns(features, parameters))
