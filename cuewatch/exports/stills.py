"""Single frames from a recording, for thumbnails in reports."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import cv2
import numpy as np

from cuewatch.errors import VideoError


def frame_at(path: Path, t: float) -> Optional[np.ndarray]:
    """The decoded BGR frame showing at time ``t`` (seconds), or None past the end.

    Seeks a second early and decodes forward, because container seeks land on key
    frames and some formats (FLV) report imprecise positions.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"cannot open video {Path(path).name}")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        half = 0.5 / fps
        cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, t - 1.0) * 1000.0)
        best = None
        while True:
            ok, frame = cap.read()
            if not ok:
                return best
            ts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            best = frame
            if ts + half >= t:
                return frame
    finally:
        cap.release()
