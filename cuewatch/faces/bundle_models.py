"""The Face Landmarker bundle's three models, run directly with LiteRT (the ``litert`` engine).

The pinned ``.task`` file is a zip of ``face_detector.tflite`` (128x128 short-range SSD),
``face_landmarks_detector.tflite`` (256x256 crop -> 478 landmarks and a face-presence
logit) and ``face_blendshapes.tflite`` (146 landmarks -> 52 scores). Each model runs in
its own LiteRT interpreter with one thread (XNNPACK). The pre- and post-processing
follows MediaPipe's graphs (face_detector_graph, face_landmarks_detector_graph,
face_blendshapes_graph and the calculators they use); the facts below (anchor layout,
input ranges, the blendshapes' landmark subset) are theirs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cuewatch.faces.finding import DETECTOR_MEMBER, read_bundle_member

LANDMARKS_MEMBER = "face_landmarks_detector.tflite"
BLENDSHAPES_MEMBER = "face_blendshapes.tflite"

#: the detector's input side and anchor layout (MediaPipe's short-range SSD options:
#: strides 8, 16, 16, 16, two anchors per cell, fixed anchor size).
DETECTOR_SIDE = 128
_DETECTOR_STRIDES = (8, 16, 16, 16)
#: detector logits are clipped to this before the sigmoid (MediaPipe's score clipping).
_SCORE_CLIP = 100.0
#: detections overlapping more than this (IoU) are averaged into one, weighted by score.
DETECTOR_NMS_IOU = 0.3
#: the landmark model's input side.
LANDMARKS_SIDE = 256
#: the most XNNPACK threads one interpreter may use (more than the cores only contend).
MAX_INTERPRETER_THREADS = 8
#: uint8 pixels to the models' float32 input ranges: the detector's [-1, 1] (x * 2/255 - 1),
#: the landmark model's [0, 1] (x / 255); float32 scalars, so the arithmetic is float32.
_DETECTOR_INPUT_SCALE = np.float32(2.0 / 255.0)
_LANDMARKS_INPUT_SCALE = np.float32(1.0 / 255.0)
_ONE = np.float32(1.0)
#: the 146 landmarks the blendshapes model reads (MediaPipe's face_blendshapes_graph).
BLENDSHAPES_SUBSET = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39,
    40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80,
    81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133,
    136, 144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160,
    161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246,
    249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295,
    296, 297, 300, 308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334,
    336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382,
    384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477], dtype=np.intp)


def check_threads(threads: int) -> int:
    """An interpreter thread count: a whole number from 1 to ``MAX_INTERPRETER_THREADS``."""
    if isinstance(threads, bool) or not isinstance(threads, int) or \
            not 1 <= threads <= MAX_INTERPRETER_THREADS:
        from cuewatch.errors import CuewatchError

        raise CuewatchError(f"interpreter threads must be a whole number from 1 to "
                            f"{MAX_INTERPRETER_THREADS}, not {threads!r}")
    return threads


def _interpreter(model: bytes, threads: int = 1) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=check_threads(threads))
    interpreter.allocate_tensors()
    return interpreter


def _anchors() -> np.ndarray:
    """(896, 2) anchor centres, normalised to the detector input."""
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(_DETECTOR_STRIDES):
        stride = _DETECTOR_STRIDES[layer]
        same = 0
        while layer < len(_DETECTOR_STRIDES) and _DETECTOR_STRIDES[layer] == stride:
            same += 1
            layer += 1
        cells = int(math.ceil(DETECTOR_SIDE / stride))
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * (2 * same)
    return np.array(centres, dtype=np.float32)


@dataclass(frozen=True)
class Detection:
    """One face from the detector, in the pixels of the image it was given."""

    bbox: np.ndarray       # (4,) x0, y0, x1, y1
    score: float
    keypoints: np.ndarray  # (6, 2): eyes (the person's right, then left), nose, mouth, ears


class BundleDetector:
    """The bundle's short-range face detector (letterboxed 128x128 input, [-1, 1])."""

    def __init__(self, model_path: Path, min_score: float = 0.5) -> None:
        self._interpreter = _interpreter(read_bundle_member(model_path, DETECTOR_MEMBER))
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self._interpreter.get_output_details()}
        self._boxes, self._scores = outputs["regressors"], outputs["classificators"]
        self._anchors = _anchors()
        self.min_score = float(min_score)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in an RGB image, best first."""
        import cv2

        h, w = image.shape[:2]
        # MediaPipe's letterbox: the image's centred square of its long side, corners onto
        # the input's corners (a warp, so no half-pixel shift as cv2.resize has), black edges
        side = float(max(h, w))
        x0, y0 = w / 2 - side / 2, h / 2 - side / 2
        k = DETECTOR_SIDE / side
        warp = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]])
        small = cv2.warpAffine(image, warp, (DETECTOR_SIDE, DETECTOR_SIDE), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        # straight into the input tensor, [-1, 1] (no intermediate array, no set_tensor copy)
        canvas = self._interpreter.tensor(self._input)()[0]
        np.multiply(small, _DETECTOR_INPUT_SCALE, out=canvas)
        canvas -= _ONE
        del canvas  # LiteRT refuses to run while a view of its buffers is alive
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._boxes)[0]
        logits = np.clip(self._interpreter.get_tensor(self._scores)[0, :, 0].astype(np.float64),
                         -_SCORE_CLIP, _SCORE_CLIP)
        scores = 1.0 / (1.0 + np.exp(-logits))
        keep = np.nonzero(scores >= self.min_score)[0]
        if keep.size == 0:
            return []
        raw, scores, anchors = raw[keep] / DETECTOR_SIDE, scores[keep], self._anchors[keep]
        cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
        boxes = np.stack([cx - raw[:, 2] / 2, cy - raw[:, 3] / 2, cx + raw[:, 2] / 2, cy + raw[:, 3] / 2], 1)
        kps = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
        # from the letterboxed input back to image pixels
        boxes = boxes * side + np.array([x0, y0, x0, y0])
        kps = kps * side + np.array([x0, y0])
        return _weighted_nms(boxes, scores, kps)

    def close(self) -> None:
        self._interpreter = None


def _box_iou(a: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(a[2], boxes[:, 2]) - np.maximum(a[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], boxes[:, 3]) - np.maximum(a[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, kps: np.ndarray) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression: each group of overlapping boxes
    becomes their score-weighted mean, with the group's best score."""
    order = np.argsort(-scores)
    boxes, scores, kps = boxes[order], scores[order], kps[order]
    remaining = np.ones(len(scores), bool)
    out: list[Detection] = []
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        group = remaining & (_box_iou(boxes[i], boxes) > DETECTOR_NMS_IOU)
        group[i] = True
        remaining &= ~group
        wts = scores[group][:, None]
        box = (boxes[group] * wts).sum(0) / wts.sum()
        kp = (kps[group] * wts[:, :, None]).sum(0) / wts.sum()
        out.append(Detection(box.astype(np.float32), float(scores[i]), kp.astype(np.float32)))
    return out


@dataclass
class LandmarksOutput:
    """The landmark model's reading of one 256x256 crop."""

    landmarks: np.ndarray  # (478, 3) in input pixels (0..256); z on the x scale
    presence: float        # 0..1


class BundleLandmarks:
    """The bundle's face landmark model ([0, 1] RGB input, 256x256).

    ``threads``: XNNPACK threads for its invoke (the readings do not depend on it: the
    work is split by output tiles, each summed in the same order).
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        self.threads = check_threads(threads)
        self._interpreter = _interpreter(read_bundle_member(model_path, LANDMARKS_MEMBER), self.threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = self._interpreter.get_output_details()
        # MediaPipe reads the first output as landmarks and the second as the presence logit
        self._landmarks, self._presence = outputs[0]["index"], outputs[1]["index"]

    def run(self, crop: np.ndarray) -> LandmarksOutput:
        """``crop``: (256, 256, 3) uint8 RGB."""
        tensor = self._interpreter.tensor(self._input)()[0]
        np.multiply(crop, _LANDMARKS_INPUT_SCALE, out=tensor)
        del tensor  # LiteRT refuses to run while a view of its buffers is alive
        self._interpreter.invoke()
        pts = self._interpreter.get_tensor(self._landmarks).reshape(-1, 3).copy()
        logit = float(self._interpreter.get_tensor(self._presence).reshape(-1)[0])
        return LandmarksOutput(pts, 1.0 / (1.0 + math.exp(-max(-80.0, min(80.0, logit)))))

    def close(self) -> None:
        self._interpreter = None


class BundleBlendshapes:
    """The bundle's blendshapes model: 146 landmarks (x, y in image pixels) -> 52 scores."""

    def __init__(self, model_path: Path) -> None:
        self._interpreter = _interpreter(read_bundle_member(model_path, BLENDSHAPES_MEMBER))
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]

    def run(self, landmarks_px: np.ndarray) -> np.ndarray:
        """(52,) float32 scores from (478, >=2) landmarks in the pixels of the image."""
        subset = np.ascontiguousarray(landmarks_px[BLENDSHAPES_SUBSET, :2], dtype=np.float32)
        self._interpreter.set_tensor(self._input, subset[None])
        self._interpreter.invoke()
        return np.asarray(self._interpreter.get_tensor(self._output), dtype=np.float32).reshape(-1).copy()

    def close(self) -> None:
        self._interpreter = None
