"""The reference face pass for measuring expression: one large face per clip or photo.

The plain MediaPipe Face Landmarker (VIDEO mode for clips, IMAGE mode for photos), without
the tiled search and tracking of ``cuewatch.faces``, so that expression accuracy
(``benchmarks/eval_expression.py``, ``tests/test_expression.py``) is measured on the
expression stage alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.errors import CuewatchError, ModelError, VideoError
from cuewatch.expression.series import ExpressionSeries, estimate_expression
from cuewatch.faces.head_pose import pose_from_matrix
from cuewatch.formats import BLENDSHAPE_NAMES

#: the arrays of a LandmarkedFace, in ``estimate_expression``'s argument order.
FACE_ARRAYS = ("timestamps", "landmarks", "blendshapes", "pose", "bbox", "confidence")


@dataclass
class LandmarkedFace:
    """Per-frame landmarker output for one face, in the arrays ``estimate_expression`` takes."""

    timestamps: np.ndarray
    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray
    bbox: np.ndarray
    confidence: np.ndarray

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @staticmethod
    def concat(faces: list[LandmarkedFace], gap_s: float = 10.0) -> tuple[LandmarkedFace, list[tuple[float, float]]]:
        """One face from several (one person's clips), each shifted to start ``gap_s`` after
        the last ends, with each part's time span."""
        parts, spans, offset = [], [], 0.0
        for face in faces:
            t = face.timestamps - face.timestamps[0] + offset
            spans.append((float(t[0]), float(t[-1])))
            parts.append(LandmarkedFace(t, face.landmarks, face.blendshapes, face.pose, face.bbox,
                                        face.confidence))
            offset = float(t[-1]) + gap_s
        joined = LandmarkedFace(*(np.concatenate([getattr(p, f) for p in parts]) for f in FACE_ARRAYS))
        return joined, spans

    def expression(self, **kw: Any) -> ExpressionSeries:
        return estimate_expression(*(getattr(self, f) for f in FACE_ARRAYS), **kw)


def _landmarker(model: Path, mode: Any) -> Any:
    from mediapipe.tasks.python import BaseOptions, vision

    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(model)), running_mode=mode, num_faces=1,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True))


def _observation(result: Any, width: int, height: int) -> Optional[tuple]:
    if not result.face_landmarks:
        return None
    lm = np.array([[p.x * width, p.y * height, p.z * width] for p in result.face_landmarks[0]],
                  dtype=np.float32)
    bs = np.array([c.score for c in result.face_blendshapes[0]], dtype=np.float32)
    if bs.shape[0] != len(BLENDSHAPE_NAMES):
        raise ModelError(f"model gave {bs.shape[0]} blendshapes, expected {len(BLENDSHAPE_NAMES)}")
    pose = pose_from_matrix(result.facial_transformation_matrixes[0])
    box = np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()], np.float32)
    return lm, bs, pose, box


def _face(rows: list) -> LandmarkedFace:
    t, lm, bs, pose, box = zip(*rows)
    n = len(t)
    # The tasks API reports no per-face score: a returned face counts as detected (1.0).
    return LandmarkedFace(np.asarray(t, np.float64), np.stack(lm), np.stack(bs), np.stack(pose),
                          np.stack(box), np.ones(n, np.float32))


def landmark_video(path: Path, model: Path, fps: Optional[float] = 15.0) -> LandmarkedFace:
    """The one large face of a clip, per sampled frame (VIDEO mode, frame-count timestamps)."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import vision

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise VideoError(f"cannot open {path}")
    native = cap.get(cv2.CAP_PROP_FPS) or 30.0
    step = max(1, int(round(native / fps))) if fps else 1
    rows: list[tuple] = []
    index = 0
    with _landmarker(model, vision.RunningMode.VIDEO) as lmk:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            t = index / native
            index += 1
            if (index - 1) % step:
                continue
            h, w = frame.shape[:2]
            image = mp.Image(image_format=mp.ImageFormat.SRGB,
                             data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            obs = _observation(lmk.detect_for_video(image, int(round(t * 1000))), w, h)
            if obs is not None:
                rows.append((t, *obs))
    cap.release()
    if not rows:
        raise CuewatchError(f"no face found in {path}")
    return _face(rows)


def landmark_images(paths: list[Path], model: Path, spacing_s: float = 10.0) -> tuple[LandmarkedFace, list[Path]]:
    """Photos as one cohort face (IMAGE mode), ``spacing_s`` apart so nothing smooths across;
    with the photos a face was found in."""
    import cv2
    import mediapipe as mp
    from mediapipe.tasks.python import vision

    rows: list[tuple] = []
    found: list[Path] = []
    with _landmarker(model, vision.RunningMode.IMAGE) as lmk:
        for path in paths:
            frame = cv2.imread(str(path))
            if frame is None:
                continue
            h, w = frame.shape[:2]
            image = mp.Image(image_format=mp.ImageFormat.SRGB,
                             data=cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            obs = _observation(lmk.detect(image), w, h)
            if obs is not None:
                rows.append((len(rows) * spacing_s, *obs))
                found.append(path)
    if not rows:
        raise CuewatchError(f"no face found in any of {len(paths)} photos")
    return _face(rows), found
