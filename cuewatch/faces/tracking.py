"""Tracking faces through a recording: per-frame observations and one id per person.

``FacePipeline`` finds faces with the tiled search (``cuewatch.faces.finding``), follows
each face's region from frame to frame and runs the Face Landmarker (VIDEO mode, one
instance per live track) on a square crop around it, so a face 1/8 of a 1080p frame is
landmarked at the model's working scale. It searches again every
``settings.search_interval_s`` (more often while no face is tracked, and at once after a
track is lost).

Tracks break: a hand over the face, a head turned away, a face leaving the frame, two
faces crossing, or the edge of a time chunk analysed in another process. Each unbroken
piece is a *tracklet* with its own provisional id. ``link_tracklets`` then joins the
tracklets of one person under one id, for the whole recording, from an identity
descriptor (face-shape ratios from the 3D landmarks, and colour histograms of the face,
the hair above it and the clothing below it) and from continuity in time and place.
Tracklets that overlap in time are never joined: they are two people.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from cuewatch.faces.engines import (
    Crop,
    CropLandmarker,
    LiteRTLandmarker,
    LiteRTModels,
    MediaPipeLandmarker,
    check_engine,
)
from cuewatch.faces.finding import FaceCandidate, FaceFinder, centre_inside, iou
from cuewatch.formats import N_LANDMARKS
from cuewatch.options import AnalysisSettings


@dataclass
class FaceObservation:
    """One face in one analysed frame (see docs/interfaces.md)."""

    track_id: int
    bbox: np.ndarray         # (4,) float32 x0, y0, x1, y1 in frame pixels
    confidence: float        # 0..1
    landmarks: np.ndarray    # (478, 3) float32; x, y frame pixels, z same scale
    blendshapes: np.ndarray  # (52,) float32, BLENDSHAPE_NAMES order
    pose: np.ndarray         # (3,) float32 pitch, yaw, roll, degrees
    descriptor: Optional[np.ndarray] = None  # identity descriptor for linking tracklets


# --- tracking parameters (internal; the user-facing ones are in AnalysisSettings) -------
#: crop side as a multiple of the face's landmark box: room for the face to move and for
#: the landmarker's own detector to find it again inside the crop.
CROP_SCALE = 2.0
#: a track survives this long without landmarks (a hand passing, a blink of occlusion).
MAX_MISS_S = 0.3
#: search this often while no face is tracked, so a face that appears is found quickly.
IDLE_SEARCH_S = 0.2
#: while faces are tracked, each periodic search looks at the whole frame and 1/N of the
#: tiles in turn: a newcomer is found within N search intervals (the smallest ones; bigger
#: faces show in the whole-frame pass at once) for 1/N of the detector calls, which were
#: 15% of the face pass. Searching with no face tracked, or after a track was lost, is full.
SEARCH_ROUNDS = 3
#: two tracks whose boxes overlap this much (IoU) are ambiguous: both end, and the
#: linker decides who is who after they separate.
AMBIGUOUS_IOU = 0.4
#: an identity descriptor is computed for every Nth observation of a track.
DESCRIBE_EVERY = 3
#: a frame whose yaw or pitch exceeds this (degrees) counts as less reliably seen.
FRONTAL_DEG = 30.0

# --- identity descriptor layout -------------------------------------------------------
#: rigid landmark pairs whose 3D distances, over the outer eye-corner distance, describe
#: the shape of a face whatever its pose (3D distances do not change with rotation).
_GEO_PAIRS: tuple[tuple[int, int], ...] = (
    (133, 362),  # inner eye corners
    (33, 133), (362, 263),  # eye widths
    (168, 1),  # nose bridge to tip
    (1, 2),  # tip to base
    (98, 327),  # nose width
    (234, 454),  # face width at the cheeks
    (10, 168),  # forehead to bridge
    (168, 152),  # bridge to chin
    (1, 234), (1, 454),  # nose tip to cheek edges
    (127, 356),  # face width at the temples
    (58, 288),  # jaw width
)
_EYE_OUTER = (33, 263)
N_GEO = len(_GEO_PAIRS)
_HIST_BINS = (8, 3, 3)  # hue, saturation, value
N_HIST = int(np.prod(_HIST_BINS))
#: regions around the face: face, hair above it, clothing below it.
REGIONS: tuple[str, ...] = ("face", "hair", "clothing")
DESCRIPTOR_SIZE = N_GEO + len(REGIONS) * N_HIST


def _region_boxes(bbox: np.ndarray) -> list[tuple[float, float, float, float]]:
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w, h = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2
    return [
        (x0 + 0.2 * w, y0 + 0.25 * h, x1 - 0.2 * w, y1 - 0.2 * h),   # cheeks, eyes, nose
        (x0 + 0.1 * w, y0 - 0.35 * h, x1 - 0.1 * w, y0 + 0.02 * h),  # hair / forehead top
        (cx - 0.7 * w, y1 + 0.4 * h, cx + 0.7 * w, y1 + 1.2 * h),    # clothing
    ]


def identity_descriptor(image: np.ndarray, landmarks: np.ndarray, bbox: np.ndarray) -> np.ndarray:
    """Shape ratios and colour histograms for one face in one frame (float32 vector).

    A histogram of a region outside the frame is all zeros (and ignored when comparing).
    """
    import cv2

    out = np.zeros(DESCRIPTOR_SIZE, dtype=np.float32)
    p = landmarks.astype(np.float64)
    eyes = np.linalg.norm(p[_EYE_OUTER[0]] - p[_EYE_OUTER[1]])
    if eyes > 1e-3:
        for i, (a, b) in enumerate(_GEO_PAIRS):
            out[i] = np.linalg.norm(p[a] - p[b]) / eyes
    h, w = image.shape[:2]
    for r, (x0, y0, x1, y1) in enumerate(_region_boxes(bbox)):
        xa, ya = max(0, int(x0)), max(0, int(y0))
        xb, yb = min(w, int(math.ceil(x1))), min(h, int(math.ceil(y1)))
        if xb - xa < 4 or yb - ya < 4:
            continue
        patch = image[ya:yb, xa:xb]
        if max(patch.shape[:2]) > 48:  # colour statistics need few pixels
            f = 48.0 / max(patch.shape[:2])
            patch = cv2.resize(patch, (max(1, int(patch.shape[1] * f)), max(1, int(patch.shape[0] * f))),
                               interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(np.ascontiguousarray(patch), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_HIST_BINS), [0, 180, 0, 256, 0, 256])
        total = float(hist.sum())
        if total > 0:
            start = N_GEO + r * N_HIST
            out[start:start + N_HIST] = hist.reshape(-1) / total
    return out


@dataclass
class TrackletSummary:
    """What the linker needs to know about one unbroken piece of track (picklable)."""

    track_id: int
    start: float
    end: float
    n_frames: int = 0
    first_bbox: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    last_bbox: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    descriptor_sum: np.ndarray = field(default_factory=lambda: np.zeros(DESCRIPTOR_SIZE))
    descriptor_count: np.ndarray = field(default_factory=lambda: np.zeros(1 + len(REGIONS)))

    def add(self, timestamp: float, bbox: np.ndarray, descriptor: Optional[np.ndarray]) -> None:
        if self.n_frames == 0:
            self.first_bbox = bbox.copy()
        self.n_frames += 1
        self.end = timestamp
        self.last_bbox = bbox.copy()
        if descriptor is not None:
            self.descriptor_sum += descriptor
            self.descriptor_count += _parts_present(descriptor)

    def merged(self, other: TrackletSummary) -> TrackletSummary:
        first, last = (self, other) if self.start <= other.start else (other, self)
        return TrackletSummary(
            track_id=first.track_id, start=min(self.start, other.start),
            end=max(self.end, other.end), n_frames=self.n_frames + other.n_frames,
            first_bbox=first.first_bbox, last_bbox=last.last_bbox,
            descriptor_sum=self.descriptor_sum + other.descriptor_sum,
            descriptor_count=self.descriptor_count + other.descriptor_count)


def _parts_present(descriptor: np.ndarray) -> np.ndarray:
    present = np.zeros(1 + len(REGIONS))
    present[0] = float(descriptor[:N_GEO].any())
    for r in range(len(REGIONS)):
        start = N_GEO + r * N_HIST
        present[1 + r] = float(descriptor[start:start + N_HIST].any())
    return present


#: relative difference of face-shape ratios that counts as much as a full histogram mismatch.
GEO_SCALE = 0.25
#: appearance distance (0 same, 1 unrelated) below which two tracklets are one person.
LINK_THRESHOLD = 0.35
#: a tracklet starting this soon after another ended, where that one was, is likely the
#: same face (a lost frame, a chunk boundary): its distance is halved.
CONTINUITY_GAP_S = 1.0
#: tracklets may overlap by this much and still be one person (frame timing jitter).
OVERLAP_TOLERANCE_S = 0.02


def appearance_distance(a: TrackletSummary, b: TrackletSummary) -> float:
    """0 for the same look, about 1 for unrelated: face shape and three colour regions."""
    parts: list[float] = []
    weights: list[float] = []
    ca, cb = a.descriptor_count, b.descriptor_count
    if ca[0] > 0 and cb[0] > 0:
        ga = a.descriptor_sum[:N_GEO] / ca[0]
        gb = b.descriptor_sum[:N_GEO] / cb[0]
        rel = np.abs(ga - gb) / np.maximum(1e-6, (ga + gb) / 2)
        parts.append(min(1.0, float(np.mean(rel)) / GEO_SCALE))
        weights.append(1.0)
    for r in range(len(REGIONS)):
        if ca[1 + r] > 0 and cb[1 + r] > 0:
            start = N_GEO + r * N_HIST
            ha = a.descriptor_sum[start:start + N_HIST] / ca[1 + r]
            hb = b.descriptor_sum[start:start + N_HIST] / cb[1 + r]
            bc = float(np.sum(np.sqrt(np.clip(ha * hb, 0, None))))
            parts.append(math.sqrt(max(0.0, 1.0 - min(1.0, bc))))  # Hellinger distance
            weights.append(1.0)
    if not parts:
        return 1.0
    return float(np.average(parts, weights=weights))


def _continuity(a: TrackletSummary, b: TrackletSummary) -> bool:
    """Whether one tracklet picks up right where and when the other left off."""
    first, second = (a, b) if a.end <= b.start else (b, a)
    gap = second.start - first.end
    if gap < -OVERLAP_TOLERANCE_S or gap > CONTINUITY_GAP_S:
        return False
    fa, fb = first.last_bbox, second.first_bbox
    size = max(1.0, float(max(fa[2] - fa[0], fa[3] - fa[1])))
    size_b = max(1.0, float(max(fb[2] - fb[0], fb[3] - fb[1])))
    shift = math.hypot((fa[0] + fa[2] - fb[0] - fb[2]) / 2, (fa[1] + fa[3] - fb[1] - fb[3]) / 2)
    return shift < 0.5 * size and 0.7 < size_b / size < 1.4


def link_tracklets(summaries: Sequence[TrackletSummary],
                   threshold: float = LINK_THRESHOLD) -> dict[int, int]:
    """Join tracklets into persons: {tracklet id: person id}.

    Greedy agglomerative clustering: repeatedly join the two most alike groups that never
    appear at the same time, while their appearance distance (halved for a tracklet that
    continues another in time and place) is under ``threshold``. Person ids count from 0
    in order of first appearance (left to right for a tie). Used both to re-identify a
    face after a break and to join the tracklets of time chunks analysed in parallel.
    """
    items = [s for s in summaries if s.n_frames > 0]
    groups: list[Optional[tuple[TrackletSummary, list[TrackletSummary]]]] = [
        (s, [s]) for s in items]
    n = len(groups)
    dist = np.full((n, n), np.inf)

    def pair_distance(i: int, j: int) -> float:
        gi, gj = groups[i], groups[j]
        assert gi is not None and gj is not None
        for a in gi[1]:
            for b in gj[1]:
                if min(a.end, b.end) - max(a.start, b.start) > OVERLAP_TOLERANCE_S:
                    return math.inf
        d = appearance_distance(gi[0], gj[0])
        if any(_continuity(a, b) for a in gi[1] for b in gj[1]):
            d *= 0.5
        return d

    for i in range(n):
        for j in range(i + 1, n):
            dist[i, j] = dist[j, i] = pair_distance(i, j)
    while n > 1:
        flat = int(np.argmin(dist))
        i, j = divmod(flat, dist.shape[1])
        if not dist[i, j] < threshold:
            break
        gi, gj = groups[i], groups[j]
        assert gi is not None and gj is not None
        groups[i] = (gi[0].merged(gj[0]), gi[1] + gj[1])
        groups[j] = None
        dist[j, :] = dist[:, j] = np.inf
        for k in range(len(groups)):
            if k != i and groups[k] is not None:
                dist[i, k] = dist[k, i] = pair_distance(i, k)
    persons = [g for g in groups if g is not None]
    persons.sort(key=lambda g: (g[0].start, float(g[0].first_bbox[0])))
    return {member.track_id: pid for pid, g in enumerate(persons) for member in g[1]}


@dataclass
class _FollowedTrack:
    track_id: int
    center: np.ndarray       # (2,) frame pixels
    size: float              # side of the face box, pixels
    score: float             # detector score when last found
    landmarker: CropLandmarker
    summary: TrackletSummary
    last_seen: float
    bbox: Optional[np.ndarray] = None
    n_obs: int = 0


class FacePipeline:
    """Finds, tracks and landmarks every face, frame by frame. Use from one thread.

    Feed analysed frames in time order with ``process``; it returns that frame's
    observations, whose ``track_id`` is a provisional tracklet id (unique from
    ``id_base``). ``summaries()`` gives what ``link_tracklets`` needs to turn tracklet ids
    into person ids. Call ``close`` (or use ``with``) to free the MediaPipe graphs.
    ``landmark_threads``: the litert engine's landmark-model threads (the observations do
    not depend on it; the mediapipe engine schedules its own).
    """

    def __init__(self, model_path: Path, settings: AnalysisSettings = AnalysisSettings(),
                 id_base: int = 0, landmark_threads: int = 1) -> None:
        self.settings = settings
        self.engine = check_engine(settings.engine)
        self._litert: Optional[LiteRTModels] = None
        self._model_buffer = b""
        if self.engine == "litert":
            self._litert = LiteRTModels(Path(model_path), landmark_threads)
        else:
            self._model_buffer = Path(model_path).read_bytes()
        self.finder = FaceFinder(Path(model_path), settings.min_face_fraction,
                                 detector=self._litert.detector if self._litert else None)
        self._idle: list[CropLandmarker] = []
        self._all: list[CropLandmarker] = []
        self.tracks: list[_FollowedTrack] = []
        self._summaries: list[TrackletSummary] = []
        self._next_id = int(id_base)
        self._last_search = -math.inf
        self._search_now = True
        self._round = 0
        self.searches = 0

    # -- public -------------------------------------------------------------------------
    def process(self, image: np.ndarray, timestamp: float) -> list[FaceObservation]:
        """Observations for one RGB frame (upright, uint8) at ``timestamp`` seconds."""
        observations: list[FaceObservation] = []
        for track in list(self.tracks):
            obs = self._observe(track, image, timestamp)
            if obs is not None:
                observations.append(obs)
            elif timestamp - track.last_seen > MAX_MISS_S:
                self._end(track)
        observations = self._resolve_overlaps(observations)
        interval = self.settings.search_interval_s if self.tracks else min(
            IDLE_SEARCH_S, self.settings.search_interval_s)
        if len(self.tracks) < self.settings.max_faces and (
                self._search_now or timestamp - self._last_search >= interval - 1e-6):
            observations += self._search(image, timestamp)
        for obs in observations:
            self._record(obs, image, timestamp)
        return observations

    def summaries(self) -> list[TrackletSummary]:
        """Every tracklet so far (ended or live), for ``link_tracklets``."""
        return [s for s in self._summaries if s.n_frames > 0]

    def close(self) -> None:
        for lm in self._all:
            lm.close()
        self._all.clear()
        self._idle.clear()
        self.tracks.clear()
        self.finder.close()
        if self._litert is not None:
            self._litert.close()
            self._litert = None

    def __enter__(self) -> FacePipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tracking -----------------------------------------------------------------------
    def _observe(self, track: _FollowedTrack, image: np.ndarray, timestamp: float) -> Optional[FaceObservation]:
        h, w = image.shape[:2]
        side = int(round(max(48.0, CROP_SCALE * track.size)))
        x0 = _place(track.center[0] - side / 2, side, w)
        y0 = _place(track.center[1] - side / 2, side, h)
        window = image[y0:min(h, y0 + side), x0:min(w, x0 + side)]
        ch, cw = window.shape[:2]
        if ch < 16 or cw < 16:
            return None
        reading = track.landmarker.detect(Crop.of(window), timestamp)
        if reading is None or reading.landmarks.shape != (N_LANDMARKS, 3):
            return None
        pts = reading.landmarks.astype(np.float32, copy=True)
        pts[:, 0] = pts[:, 0] * cw + x0
        pts[:, 1] = pts[:, 1] * ch + y0
        pts[:, 2] *= cw
        bbox = np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()],
                        dtype=np.float32)
        if bbox[2] - bbox[0] < 4 or bbox[3] - bbox[1] < 4:
            return None
        blend, pose = reading.blendshapes, reading.pose
        track.center = np.array([(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2])
        new_size = float(max(bbox[2] - bbox[0], bbox[3] - bbox[1]))
        track.size = new_size if track.n_obs == 0 else 0.6 * track.size + 0.4 * new_size
        track.bbox = bbox
        track.last_seen = timestamp
        return FaceObservation(track_id=track.track_id, bbox=bbox,
                               confidence=_confidence(track.score, pose), landmarks=pts,
                               blendshapes=blend, pose=pose)

    def _resolve_overlaps(self, observations: list[FaceObservation]) -> list[FaceObservation]:
        """Two tracks on (nearly) one face: end both, so no identity is carried over wrongly."""
        ambiguous: set[int] = set()
        for i in range(len(observations)):
            for j in range(i + 1, len(observations)):
                if iou(observations[i].bbox, observations[j].bbox) > AMBIGUOUS_IOU:
                    ambiguous.update((observations[i].track_id, observations[j].track_id))
        if not ambiguous:
            return observations
        for track in [t for t in self.tracks if t.track_id in ambiguous]:
            self._end(track)
        return [o for o in observations if o.track_id not in ambiguous]

    def _search(self, image: np.ndarray, timestamp: float) -> list[FaceObservation]:
        full = self._search_now or not self.tracks
        self._last_search = timestamp
        self._search_now = False
        self.searches += 1
        if full:
            part = (0, 1)
        else:
            part = (self._round, SEARCH_ROUNDS)
            self._round = (self._round + 1) % SEARCH_ROUNDS
        found: list[FaceObservation] = []
        for cand in self.finder.find(image, part):
            known = self._matching_track(cand.bbox)
            if known is not None:
                known.score = cand.score
                continue
            if len(self.tracks) >= self.settings.max_faces:
                break
            obs = self._start(cand, image, timestamp)
            if obs is not None:
                found.append(obs)
        return found

    def _matching_track(self, bbox: np.ndarray) -> Optional[_FollowedTrack]:
        for track in self.tracks:
            if track.bbox is not None and (iou(bbox, track.bbox) > 0.2 or centre_inside(bbox, track.bbox)
                                           or centre_inside(track.bbox, bbox)):
                return track
        return None

    def _start(self, cand: FaceCandidate, image: np.ndarray, timestamp: float) -> Optional[FaceObservation]:
        """Landmark a new candidate; it becomes a track only if the landmarker sees a face."""
        landmarker = self._idle.pop() if self._idle else self._new_landmarker()
        center = np.array([(cand.bbox[0] + cand.bbox[2]) / 2, (cand.bbox[1] + cand.bbox[3]) / 2])
        # the detector's box is tighter than the landmark box (forehead to chin)
        track = _FollowedTrack(track_id=self._next_id, center=center, size=cand.size * 1.25,
                       score=cand.score, landmarker=landmarker,
                       summary=TrackletSummary(self._next_id, timestamp, timestamp),
                       last_seen=timestamp)
        obs = self._observe(track, image, timestamp)
        if obs is None or not centre_inside(obs.bbox, _grow(cand.bbox, 0.5)) or \
                self._matching_track(obs.bbox) is not None:
            landmarker.reset()
            self._idle.append(landmarker)
            return None
        self._next_id += 1
        self.tracks.append(track)
        self._summaries.append(track.summary)
        return obs

    def _new_landmarker(self) -> CropLandmarker:
        lm: CropLandmarker
        if self._litert is not None:
            lm = LiteRTLandmarker(self._litert, self.settings.min_presence)
        else:
            lm = MediaPipeLandmarker(self._model_buffer, self.settings.min_presence)
        self._all.append(lm)
        return lm

    def _end(self, track: _FollowedTrack) -> None:
        self.tracks.remove(track)
        track.landmarker.reset()
        self._idle.append(track.landmarker)
        self._search_now = True

    def _record(self, obs: FaceObservation, image: np.ndarray, timestamp: float) -> None:
        track = next(t for t in self.tracks if t.track_id == obs.track_id)
        if track.n_obs % DESCRIBE_EVERY == 0:
            obs.descriptor = identity_descriptor(image, obs.landmarks, obs.bbox)
        track.n_obs += 1
        track.summary.add(timestamp, obs.bbox, obs.descriptor)


def _place(start: float, side: int, length: int) -> int:
    """Crop origin: centred on the face, shifted to stay inside the frame."""
    if side >= length:
        return 0
    return int(min(max(0, round(start)), length - side))


def _grow(bbox: np.ndarray, fraction: float) -> np.ndarray:
    w, h = bbox[2] - bbox[0], bbox[3] - bbox[1]
    return np.array([bbox[0] - fraction * w, bbox[1] - fraction * h,
                     bbox[2] + fraction * w, bbox[3] + fraction * h], dtype=np.float32)


def _confidence(detector_score: float, pose: np.ndarray) -> float:
    """Detector score, lowered for a face turned well away (its landmarks are guessed more)."""
    off = max(abs(float(pose[0])), abs(float(pose[1]))) - FRONTAL_DEG
    frontal = 1.0 if off <= 0 else max(0.2, 1.0 - off / 60.0)
    return float(np.clip(detector_score * frontal, 0.0, 1.0))
