"""Finding faces anywhere in a frame, down to a small fraction of its height.

MediaPipe's bundled face detector is a short-range model with a 128x128 input: handed a
whole 1920x1080 frame whose faces are 1/8 of its height, it finds nothing (the faces
shrink to a few pixels). So the frame is searched in overlapping square tiles whose size
puts the smallest face we must find at a scale the detector handles (about a sixth of the
tile), plus coarser tiles and the whole frame for larger faces. Detections from all tiles
are merged by non-maximum suppression.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from cuewatch.errors import ModelError

#: the detector model inside the Face Landmarker bundle.
DETECTOR_MEMBER = "face_detector.tflite"
#: tile side as a multiple of the smallest head height to find; the detector's box for a
#: head of height h is about 0.6 h, and it is reliable for boxes of 15-60% of its input.
TILE_PER_MIN_FACE = 2.8
#: tiles overlap by this fraction of their side, so a face up to that size lies wholly
#: inside at least one tile of its scale (bigger faces are the next scale's job).
TILE_OVERLAP = 0.3
#: detections overlapping more than this (IoU) are one face.
NMS_IOU = 0.3


@dataclass(frozen=True)
class FaceCandidate:
    """A face box from the detector, in frame pixels."""

    bbox: np.ndarray  # (4,) float32 x0, y0, x1, y1
    score: float

    @property
    def size(self) -> float:
        return float(max(self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]))


def read_bundle_member(model_path: Path, member: str) -> bytes:
    """One model file out of the ``.task`` bundle (a zip), or a ModelError saying why not."""
    try:
        with zipfile.ZipFile(model_path) as bundle:
            return bundle.read(member)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ModelError(f"{model_path}: not a usable Face Landmarker bundle ({exc})") from exc


def search_windows(width: int, height: int, min_face_fraction: float) -> list[tuple[int, int, int]]:
    """Square windows (x0, y0, side) covering the frame at every scale a face may have.

    The smallest side follows ``min_face_fraction``; each next scale doubles it, and the
    last is the whole frame (the detector letterboxes non-square input).
    """
    short = min(width, height)
    side = int(round(max(128.0, TILE_PER_MIN_FACE * min_face_fraction * height)))
    windows: list[tuple[int, int, int]] = []
    while side < short * 0.9:
        stride = max(1, int(side * (1.0 - TILE_OVERLAP)))
        xs = _starts(width, side, stride)
        ys = _starts(height, side, stride)
        windows += [(x, y, side) for y in ys for x in xs]
        side *= 2
    windows.append((0, 0, 0))  # 0 = the whole frame
    return windows


def search_part(windows: list[tuple[int, int, int]], k: int, n: int) -> list[tuple[int, int, int]]:
    """The whole frame and every nth tile from the kth: n parts cover every window."""
    tiles = [w for w in windows if w[2] > 0]
    return tiles[k % n::n] + [w for w in windows if w[2] == 0]


def _starts(length: int, side: int, stride: int) -> list[int]:
    if side >= length:
        return [0]
    n = int(math.ceil((length - side) / stride)) + 1
    step = (length - side) / (n - 1) if n > 1 else 0
    return [int(round(i * step)) for i in range(n)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def suppress(candidates: list[FaceCandidate], threshold: float = NMS_IOU) -> list[FaceCandidate]:
    """Keep the best-scoring box of each group of overlapping boxes."""
    kept: list[FaceCandidate] = []
    for c in sorted(candidates, key=lambda c: -c.score):
        if all(iou(c.bbox, k.bbox) <= threshold and not centre_inside(c.bbox, k.bbox) for k in kept):
            kept.append(c)
    return kept


def centre_inside(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the centre of box ``a`` lies inside box ``b`` (a face box inside a bigger
    one); boxes are x0, y0, x1, y1. The one box-inside-box rule of the face stages."""
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return bool(b[0] <= cx <= b[2] and b[1] <= cy <= b[3])


class BoxDetector(Protocol):
    """The ``litert`` engine's detector (``cuewatch.faces.bundle_models.BundleDetector``)."""

    def detect(self, image: np.ndarray) -> Sequence[Any]: ...


class FaceFinder:
    """Tiled face search with the bundle's short-range detector. Use from one thread.

    ``detector`` (the ``litert`` engine's, shared with its landmarkers) runs the detector
    model directly; without it, MediaPipe's tasks-API FaceDetector runs it.
    """

    def __init__(self, model_path: Path, min_face_fraction: float = 1.0 / 8.0,
                 min_score: float = 0.5, detector: Optional[BoxDetector] = None) -> None:
        self.min_face_fraction = float(min_face_fraction)
        self._direct = detector
        self._detector: Any = None
        if detector is None:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision

            self._mp = mp
            buffer = read_bundle_member(Path(model_path), DETECTOR_MEMBER)
            options = vision.FaceDetectorOptions(base_options=BaseOptions(model_asset_buffer=buffer),
                                                 min_detection_confidence=float(min_score))
            self._detector = vision.FaceDetector.create_from_options(options)
        self._windows: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        self.calls = 0

    def find(self, image: np.ndarray, part: tuple[int, int] = (0, 1)) -> list[FaceCandidate]:
        """Faces in an RGB frame, as boxes in frame pixels, best first.

        ``part`` = (k, n) searches the whole frame and every nth tile from the kth, so n
        calls with k = 0..n-1 cover every tile; (0, 1), the default, is a full search.
        """
        h, w = image.shape[:2]
        windows = self._windows.get((w, h))
        if windows is None:
            windows = self._windows[(w, h)] = search_windows(w, h, self.min_face_fraction)
        found: list[FaceCandidate] = []
        for x0, y0, side in search_part(windows, *part):
            tile = image if side == 0 else image[y0:y0 + side, x0:x0 + side]
            found += self._detect(tile, x0, y0)
        return suppress(found)

    def _boxes(self, tile: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """(x0, y0, x1, y1, score) of each face in a tile, in tile pixels."""
        if self._direct is not None:
            return [(float(d.bbox[0]), float(d.bbox[1]), float(d.bbox[2]), float(d.bbox[3]), d.score)
                    for d in self._direct.detect(tile)]
        mp = self._mp
        result = self._detector.detect(mp.Image(mp.ImageFormat.SRGB, np.ascontiguousarray(tile)))
        out = []
        for d in result.detections:
            b = d.bounding_box
            score = float(d.categories[0].score) if d.categories else 0.0
            out.append((float(b.origin_x), float(b.origin_y), float(b.origin_x + b.width),
                        float(b.origin_y + b.height), score))
        return out

    def _detect(self, tile: np.ndarray, x0: int, y0: int) -> list[FaceCandidate]:
        self.calls += 1
        th, tw = tile.shape[:2]
        out = []
        for bx0, by0, bx1, by1, score in self._boxes(tile):
            bx0, by0 = max(0.0, bx0), max(0.0, by0)
            bx1, by1 = min(float(tw), bx1), min(float(th), by1)
            if bx1 - bx0 < 4 or by1 - by0 < 4:
                continue
            out.append(FaceCandidate(np.array([bx0 + x0, by0 + y0, bx1 + x0, by1 + y0],
                                              dtype=np.float32), score))
        return out

    def close(self) -> None:
        if self._detector is not None:
            self._detector.close()
            self._detector = None

    def __enter__(self) -> FaceFinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
