"""Face pass engines: what landmarks one face in a crop, frame after frame.

``mediapipe`` is the reference: MediaPipe's tasks-API Face Landmarker in VIDEO mode (one
instance per live track). ``litert`` runs the same bundle's models directly with LiteRT
(``cuewatch.faces.bundle_models``) and does MediaPipe's graph work in numpy: the rotated
region around the face (from the previous frame's landmarks, else from a detection's box
and eyes), the landmarks' projection back to the image, the landmark smoothing of VIDEO
mode (a one-euro filter), the blendshapes and the head pose (``face_geometry``). It
skips the graph machinery, which cost about a third of each frame.

Both take the square crop ``FacePipeline`` cuts around a tracked face (a ``Crop``: a
window of the frame, read as an image of at most ``MAX_CROP_SIDE`` pixels) and give the
face's landmarks normalised to that crop, its 52 blendshapes and its pose. ``mediapipe``
needs the crop as an image (the window shrunk by area averaging); ``litert`` samples its
256-pixel model input straight from the window (halved first where the face is large),
as MediaPipe's own image-to-tensor samples a whole frame, and makes the crop's image only
when its detector must search it.
``tests/test_engines.py`` pins how closely the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from cuewatch.formats import N_BLENDSHAPES, N_LANDMARKS

#: the default (first) is ``AnalysisSettings.engine``.
ENGINES: tuple[str, ...] = ("litert", "mediapipe")

#: the region around a face, as a multiple of its landmark box (or detection box), and
#: the eye landmarks whose line sets its rotation (MediaPipe's face landmarker graph).
ROI_SCALE = 1.5
_ROI_EYES = (33, 263)
#: VIDEO mode's landmark smoothing (MediaPipe's one-euro filter options).
SMOOTH_MIN_CUTOFF = 0.05
SMOOTH_BETA = 80.0
SMOOTH_DERIVATE_CUTOFF = 1.0
SMOOTH_FREQUENCY = 30.0
#: landmarks of the canonical face (the iris points are not part of it).
_N_CANONICAL = 468


#: crops bigger than this are read as an image of this side (the model's input is 256 px).
MAX_CROP_SIDE = 320
#: litert samples its model input bilinearly, as MediaPipe does, from the frame window
#: halved (area averaging, exact) while one input pixel would span this many window
#: pixels or more: bilinear sampling with wider steps aliases the face.
MAX_SAMPLE_STEP = 1.5


@dataclass
class Crop:
    """A window of a frame (``pixels``, a view, no copy) read as a ``width`` x ``height``
    image: the window itself, or shrunk so its long side is ``MAX_CROP_SIDE``.

    Coordinates on the crop are that image's pixels; ``to_window`` maps them onto the
    window's (pixel centres on pixel centres, as ``cv2.resize`` maps them)."""

    pixels: np.ndarray
    width: int
    height: int
    _image: Optional[np.ndarray] = None

    @staticmethod
    def of(window: np.ndarray) -> Crop:
        ch, cw = window.shape[:2]
        scale = min(1.0, MAX_CROP_SIDE / max(ch, cw))
        return Crop(window, max(1, round(cw * scale)), max(1, round(ch * scale)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def image(self) -> np.ndarray:
        """The crop as an image (made once): area averaging where the window is shrunk, not
        bilinear, which aliases a downscaled face."""
        if self._image is None:
            import cv2

            if self.pixels.shape[:2] == self.shape:
                self._image = np.ascontiguousarray(self.pixels)
            else:
                self._image = cv2.resize(self.pixels, (self.width, self.height),
                                         interpolation=cv2.INTER_AREA)
        return self._image

    def to_window(self) -> np.ndarray:
        """3x3: crop image pixel -> window pixel."""
        sx = self.pixels.shape[1] / self.width
        sy = self.pixels.shape[0] / self.height
        return np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])


@dataclass
class CropReading:
    """One face read from a crop: landmarks normalised to the crop (x, y in 0..1 of its
    width and height, z on the x scale), 52 blendshapes, pose (pitch, yaw, roll, degrees)."""

    landmarks: np.ndarray
    blendshapes: np.ndarray
    pose: np.ndarray


class CropLandmarker(Protocol):
    def detect(self, crop: Crop, timestamp: float) -> Optional[CropReading]: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        from cuewatch.errors import CuewatchError

        raise CuewatchError(f"unknown face engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return engine


def video_ms(timestamp: float, last_ms: int) -> int:
    """A frame's VIDEO-mode timestamp: whole milliseconds (the tasks API's unit), always
    after the last one. Both engines' landmark smoothing runs on this clock."""
    return max(last_ms + 1, int(round(timestamp * 1000.0)))


class MediaPipeLandmarker:
    """The tasks-API Face Landmarker in VIDEO mode (it tracks inside the crop between calls)."""

    def __init__(self, model_buffer: bytes, min_presence: float) -> None:
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=model_buffer),
            running_mode=vision.RunningMode.VIDEO, num_faces=1,
            min_face_detection_confidence=0.5, min_face_presence_confidence=min_presence,
            min_tracking_confidence=min_presence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        self.task = vision.FaceLandmarker.create_from_options(options)
        self.last_ms = -1

    def detect(self, crop: Crop, timestamp: float) -> Optional[CropReading]:
        import mediapipe as mp

        from cuewatch.faces.head_pose import pose_from_matrix

        ms = self.last_ms = video_ms(timestamp, self.last_ms)
        result = self.task.detect_for_video(mp.Image(mp.ImageFormat.SRGB, crop.image()), ms)
        if not result.face_landmarks:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in result.face_landmarks[0]], dtype=np.float32)
        blend = np.zeros(N_BLENDSHAPES, dtype=np.float32)
        if result.face_blendshapes:
            scores = [c.score for c in result.face_blendshapes[0]]
            blend[:len(scores)] = scores[:N_BLENDSHAPES]
        pose = np.zeros(3, dtype=np.float32)
        if result.facial_transformation_matrixes:
            pose = pose_from_matrix(np.asarray(result.facial_transformation_matrixes[0]))
        return CropReading(pts, blend, pose)

    def reset(self) -> None:
        """Nothing to do: the graph notices a lost face itself."""

    def close(self) -> None:
        self.task.close()


@dataclass
class _Roi:
    """A rotated rectangle in frame pixels."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float  # radians, clockwise on screen (y down)


class _OneEuro:
    """MediaPipe's one-euro landmark filter, vectorised over all coordinates."""

    def __init__(self) -> None:
        self.last_t: Optional[float] = None
        self.x: Optional[np.ndarray] = None      # filtered value
        self.raw: Optional[np.ndarray] = None    # last raw value
        self.dx: Optional[np.ndarray] = None     # filtered derivative

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, frequency: float) -> Any:
        te = 1.0 / frequency
        tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
        return 1.0 / (1.0 + tau / te)

    def apply(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        xy = value[:, :2]
        scale = float((np.ptp(xy[:, 0]) + np.ptp(xy[:, 1])) / 2.0)
        if scale < 1e-6:
            return value
        if self.last_t is not None and timestamp <= self.last_t:
            return value
        frequency = SMOOTH_FREQUENCY if self.last_t is None else 1.0 / (timestamp - self.last_t)
        self.last_t = timestamp
        if self.x is None or self.raw is None or self.dx is None:
            dvalue = np.zeros_like(value)
            self.dx = dvalue
            self.x = value.copy()
            self.raw = value.copy()
            return value.copy()
        dvalue = (value - self.raw) * (1.0 / scale) * frequency
        self.dx = self.dx + self._alpha(SMOOTH_DERIVATE_CUTOFF, frequency) * (dvalue - self.dx)
        cutoff = SMOOTH_MIN_CUTOFF + SMOOTH_BETA * np.abs(self.dx)
        self.x = self.x + self._alpha(cutoff, frequency) * (value - self.x)
        self.raw = value.copy()
        return self.x.copy()


def _roi_from_landmarks(pts: np.ndarray) -> _Roi:
    """Next frame's region: the landmark box squared on its long side, times 1.5, turned
    to the eye line (MediaPipe: LandmarksToDetection, DetectionsToRects, RectTransformation)."""
    x0, y0 = float(pts[:, 0].min()), float(pts[:, 1].min())
    x1, y1 = float(pts[:, 0].max()), float(pts[:, 1].max())
    a, b = pts[_ROI_EYES[0]], pts[_ROI_EYES[1]]
    rotation = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    side = max(x1 - x0, y1 - y0) * ROI_SCALE
    return _Roi((x0 + x1) / 2, (y0 + y1) / 2, side, side, rotation)


def _roi_from_detection(bbox: np.ndarray, keypoints: np.ndarray) -> _Roi:
    """A fresh face's region: the detection box times 1.5, turned to its eye keypoints."""
    a, b = keypoints[0], keypoints[1]
    rotation = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    return _Roi(float(bbox[0] + bbox[2]) / 2, float(bbox[1] + bbox[3]) / 2,
                float(bbox[2] - bbox[0]) * ROI_SCALE, float(bbox[3] - bbox[1]) * ROI_SCALE, rotation)


#: window pixel -> the pixel of the window halved by area averaging (pixel centres)
_HALVE = np.array([[0.5, 0.0, -0.25], [0.0, 0.5, -0.25], [0.0, 0.0, 1.0]])


def _sampling_source(crop: Crop, step: float) -> tuple[np.ndarray, np.ndarray]:
    """What the model input is sampled from, and the 3x3 crop pixel -> its pixel.

    The frame window itself (shrinking the whole window first cost more than warping the
    model's input out of it), halved while one input pixel (``step`` crop pixels) would
    span ``MAX_SAMPLE_STEP`` window pixels or more (an exact halving is cheap)."""
    import cv2

    source, to_source = crop.pixels, crop.to_window()
    step *= crop.pixels.shape[1] / crop.width
    while step >= MAX_SAMPLE_STEP and min(source.shape[:2]) >= 32:
        h, w = source.shape[0] // 2, source.shape[1] // 2
        source = cv2.resize(source[:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA)
        to_source = _HALVE @ to_source
        step /= 2.0
    return source, to_source


class LiteRTLandmarker:
    """The bundle's models with MediaPipe's VIDEO-mode tracking.

    As in MediaPipe, the region found from one frame's landmarks is kept relative to the
    image it was found in (the crop, which ``FacePipeline`` re-centres on the face every
    frame) and placed on the next crop at the same relative position; without one, the
    bundle's detector finds the face in the crop. Smoothing works on crop pixels too, and
    as in MediaPipe's VIDEO mode it starts afresh when the crop's size changes (the region
    carries over): measured against the tasks API on crops whose size changes once, it
    matches with the filter restarted there (0.02% of the inter-ocular distance) and not
    without (0.3%).
    """

    def __init__(self, models: LiteRTModels, min_presence: float) -> None:
        self.models = models
        self.min_presence = float(min_presence)
        self._roi: Optional[_Roi] = None  # normalised to the crop: x / width, y / height
        self._smooth = _OneEuro()
        self._shape: tuple[int, int] = (0, 0)  # the last crop's (height, width)
        self._last_ms = -1  # kept over resets, as the tasks API's clock is

    def reset(self) -> None:
        self._roi = None
        self._smooth = _OneEuro()

    def detect(self, crop: Crop, timestamp: float) -> Optional[CropReading]:
        import cv2

        from cuewatch.faces.bundle_models import LANDMARKS_SIDE
        from cuewatch.faces.head_pose import pose_from_matrix

        ms = self._last_ms = video_ms(timestamp, self._last_ms)
        ch, cw = crop.shape
        if (ch, cw) != self._shape:
            self._smooth = _OneEuro()  # MediaPipe's smoothing restarts on a new image size
            self._shape = (ch, cw)
        if self._roi is not None:
            r = self._roi
            roi = _Roi(r.cx * cw, r.cy * ch, r.width * cw, r.height * ch, r.rotation)
        else:
            found = self.models.detector.detect(crop.image())
            if not found:
                return None
            roi = _roi_from_detection(found[0].bbox, found[0].keypoints)
        side = float(LANDMARKS_SIDE)
        # MediaPipe's image-to-tensor: the rotated rectangle's corners (cv2.boxPoints order)
        # onto the input's, a perspective warp with bilinear sampling, edges replicated
        corners = cv2.boxPoints(((roi.cx, roi.cy), (roi.width, roi.height), math.degrees(roi.rotation)))
        target = np.array([[0, side], [0, 0], [side, 0], [side, side]], dtype=np.float32)
        warp = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
        source, to_source = _sampling_source(crop, roi.width / side)
        tensor = cv2.warpPerspective(source, warp @ np.linalg.inv(to_source), (LANDMARKS_SIDE, LANDMARKS_SIDE),
                                     flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        c, s = math.cos(roi.rotation), math.sin(roi.rotation)
        # and back: input point (j, i) is crop point centre + R @ ((j / side - 0.5) w, (i / side - 0.5) h)
        a = np.array([[c * roi.width / side, -s * roi.height / side, 0.0],
                      [s * roi.width / side, c * roi.height / side, 0.0]])
        a[:, 2] = np.array([roi.cx, roi.cy]) - a[:, :2] @ np.array([side / 2, side / 2])
        out = self.models.landmarks.run(tensor)
        if out.presence < self.min_presence or out.landmarks.shape[0] != N_LANDMARKS:
            self.reset()
            return None
        raw = out.landmarks.astype(np.float64)
        pts = np.empty_like(raw)
        pts[:, :2] = raw[:, :2] @ a[:, :2].T + a[:, 2]
        pts[:, 2] = raw[:, 2] * (roi.width / side)
        nxt = _roi_from_landmarks(pts)
        self._roi = _Roi(nxt.cx / cw, nxt.cy / ch, nxt.width / cw, nxt.height / ch, nxt.rotation)
        smooth = self._smooth.apply(pts, ms / 1000.0)
        blend = self.models.blendshapes.run(smooth)
        norm = smooth / np.array([cw, ch, cw])
        matrix = self.models.geometry.pose_matrix(norm[:_N_CANONICAL], cw, ch)
        return CropReading(norm.astype(np.float32), blend[:N_BLENDSHAPES],
                           pose_from_matrix(matrix))

    def close(self) -> None:
        self._roi = None


class LiteRTModels:
    """One set of interpreters, shared by the landmarkers of one ``FacePipeline`` (they
    run one after another on its thread, so sharing saves memory and load time).
    ``landmark_threads``: XNNPACK threads of the landmark model, the one big model."""

    def __init__(self, model_path: Path, landmark_threads: int = 1) -> None:
        from cuewatch.faces.bundle_models import BundleBlendshapes, BundleDetector, BundleLandmarks
        from cuewatch.faces.face_geometry import FaceGeometry

        self.detector = BundleDetector(model_path)
        self.landmarks = BundleLandmarks(model_path, landmark_threads)
        self.blendshapes = BundleBlendshapes(model_path)
        self.geometry = FaceGeometry(model_path)

    def close(self) -> None:
        self.detector.close()
        self.landmarks.close()
        self.blendshapes.close()
