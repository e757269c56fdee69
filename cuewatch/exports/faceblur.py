"""Blurring every face in exported images and video (``anonymise=True``).

Faces come from the analysis (the per-track boxes), never from a second, weaker
detector at export time: a face the export cannot place is a face it cannot hide, so
without tracks the export is refused. Each box is padded (hair, ears, jaw) and turned
into a coarse mosaic, then smoothed, which no deblurring brings back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.exports.tracks import TrackArrays, boxes_at

if TYPE_CHECKING:
    from cuewatch.exports import ExportBundle

#: Mosaic cells across a face box: few enough that no feature survives.
MOSAIC_CELLS = 6


def blur_boxes(image: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """Mosaic-and-blur each (x0, y0, x1, y1) box of ``image`` in place; returns it."""
    h, w = image.shape[:2]
    for x0, y0, x1, y1 in boxes:
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        roi = image[y0:y1, x0:x1]
        bw, bh = x1 - x0, y1 - y0
        cells_x = max(1, min(MOSAIC_CELLS, bw // 2))
        cells_y = max(1, int(round(cells_x * bh / bw)))
        small = cv2.resize(roi, (cells_x, cells_y), interpolation=cv2.INTER_AREA)
        big = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(bw, bh) // 4) | 1)
        roi[:] = cv2.GaussianBlur(big, (k, k), 0)
    return image


def blur_faces_at(image: np.ndarray, tracks: Mapping[int, TrackArrays], t: float) -> np.ndarray:
    """Blur every tracked face visible at time ``t`` in ``image`` (in place)."""
    h, w = image.shape[:2]
    return blur_boxes(image, boxes_at(tracks, t, width=w, height=h))


def require_tracks(bundle: ExportBundle, what: str) -> dict[int, TrackArrays]:
    """The bundle's face tracks, or one clear error saying why faces cannot be blurred."""
    tracks = bundle.track_arrays()
    if not tracks:
        raise CuewatchError(
            f"cannot anonymise {what} of {bundle.recording_label(True)}: no face tracks "
            "were given (analyse the recording first, then export with its features)")
    return tracks
