"""The face stage on real media with the real model: finding, tracking, pose, linking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cuewatch.faces.bundle_models import BundleDetector
from cuewatch.faces.engines import ENGINES
from cuewatch.faces.finding import FaceCandidate, FaceFinder, search_part, search_windows, suppress
from cuewatch.faces.head_pose import matrix_from_pose, pose_from_matrix
from cuewatch.faces.tracking import (
    DESCRIPTOR_SIZE,
    FaceObservation,
    FacePipeline,
    TrackletSummary,
    link_tracklets,
)
from cuewatch.formats import BLENDSHAPE_NAMES, N_LANDMARKS
from cuewatch.media.video import FrameReader, probe_video, read_frame_at
from cuewatch.options import AnalysisSettings


def _run(path: Path, model_path: Path, settings: AnalysisSettings = AnalysisSettings()):
    frames: list[tuple[float, list[FaceObservation]]] = []
    with FacePipeline(model_path, settings) as faces:
        for frame in FrameReader(probe_video(path), settings):
            frames.append((frame.timestamp, faces.process(frame.image, frame.timestamp)))
        return frames, faces.summaries()


@pytest.fixture(scope="module", params=ENGINES)
def crema_runs(request, media_dir: Path, model_path: Path):
    """Each clip through each engine: both must give what these tests ask of a face pass."""
    clips = sorted((media_dir / "crema_d").glob("*.flv"))
    assert len(clips) == 6
    settings = AnalysisSettings(engine=request.param)
    return {clip.name.split("_")[2]: _run(clip, model_path, settings) for clip in clips}


def test_a_face_in_every_analysed_frame_of_each_crema_clip(crema_runs):
    for label, (frames, _summaries) in crema_runs.items():
        assert len(frames) >= 25, label
        missing = [t for t, obs in frames if len(obs) != 1]
        assert not missing, f"{label}: no single face at {missing}"
        assert len({o.track_id for _, obs in frames for o in obs}) == 1, label


def test_observation_fields(crema_runs):
    frames, _ = crema_runs["NEU"]
    obs = frames[5][1][0]
    assert obs.bbox.shape == (4,) and obs.bbox.dtype == np.float32
    assert obs.landmarks.shape == (N_LANDMARKS, 3) and obs.landmarks.dtype == np.float32
    assert obs.blendshapes.shape == (len(BLENDSHAPE_NAMES),)
    assert obs.pose.shape == (3,)
    assert 0.0 < obs.confidence <= 1.0
    # landmarks are in frame pixels (480x360 clip), inside the face box
    x0, y0, x1, y1 = obs.bbox
    assert 0 <= x0 < x1 <= 480 and 0 <= y0 < y1 <= 360
    assert x1 - x0 > 60  # a close-up face, not normalised coordinates
    assert np.all(obs.landmarks[:, 0] >= x0 - 1e-3) and np.all(obs.landmarks[:, 0] <= x1 + 1e-3)
    # an actor facing the camera: small angles
    assert np.all(np.abs(obs.pose) < 25), obs.pose


@pytest.mark.tuned
def test_happy_clip_smiles_more_than_neutral(crema_runs):
    idx = [BLENDSHAPE_NAMES.index("mouthSmileLeft"), BLENDSHAPE_NAMES.index("mouthSmileRight")]

    def smile(label: str) -> float:
        frames, _ = crema_runs[label]
        return float(np.mean([o.blendshapes[idx].mean() for _, obs in frames for o in obs]))

    assert smile("HAP") > smile("NEU") + 0.1, (smile("HAP"), smile("NEU"))


@pytest.mark.parametrize("engine", ENGINES)
def test_tiled_search_finds_small_faces_the_whole_frame_misses(eval_dir: Path, model_path: Path, engine: str):
    frame = read_frame_at(eval_dir / "crema_small.mp4", 5.0)
    h, w = frame.image.shape[:2]
    assert (w, h) == (1920, 1080)
    detector = BundleDetector(model_path) if engine == "litert" else None
    with FaceFinder(model_path, 1.0 / 8.0, detector=detector) as finder:
        whole = finder._detect(frame.image, 0, 0)
        found = finder.find(frame.image)
    assert whole == []  # the short-range detector alone misses them
    assert len(found) == 2
    left, right = sorted(found, key=lambda c: c.bbox[0])
    assert left.bbox[2] < w / 2 < right.bbox[0]
    for c in found:
        assert 40 < c.size < h / 8 * 1.2 and c.score > 0.5


def test_search_windows_cover_the_frame():
    windows = search_windows(1920, 1080, 1.0 / 8.0)
    tiles = [(x, y, s) for x, y, s in windows if s]
    assert windows[-1] == (0, 0, 0)  # the whole frame last
    smallest = min(s for _, _, s in tiles)
    assert smallest <= 1080 * 0.4
    covered = np.zeros((1080, 1920), bool)
    for x, y, s in tiles:
        if s == smallest:
            covered[y:y + s, x:x + s] = True
            assert x + s <= 1920 and y + s <= 1080
    assert covered.all()


def test_search_parts_cover_every_window_once_and_the_whole_frame_each_time():
    windows = search_windows(1920, 1080, 1.0 / 8.0)
    tiles = [w for w in windows if w[2]]
    parts = [search_part(windows, k, 3) for k in range(3)]
    assert all((0, 0, 0) in part for part in parts)
    seen = [w for part in parts for w in part if w[2]]
    assert sorted(seen) == sorted(tiles)
    assert all(len(part) - 1 <= len(tiles) // 3 + 1 for part in parts)
    assert search_part(windows, 0, 1) == tiles + [(0, 0, 0)]


def test_suppress_keeps_best_of_overlapping_boxes():
    a = FaceCandidate(np.array([0, 0, 10, 10], np.float32), 0.9)
    b = FaceCandidate(np.array([1, 1, 11, 11], np.float32), 0.6)
    c = FaceCandidate(np.array([50, 50, 60, 60], np.float32), 0.7)
    assert suppress([b, a, c]) == [a, c]


@pytest.mark.parametrize("angles", [(0, 0, 0), (10, -20, 5), (-15, 35, -10), (5, 60, 20)])
def test_pose_round_trip(angles):
    m = np.eye(4)
    m[:3, :3] = matrix_from_pose(*angles) * 1.7  # the bundle's matrices may carry a scale
    assert np.allclose(pose_from_matrix(m), angles, atol=1e-3)


def _summary(tid: int, start: float, end: float, x: float, colour: int) -> TrackletSummary:
    s = TrackletSummary(tid, start, start)
    desc = np.zeros(DESCRIPTOR_SIZE)
    desc[:13] = 1.0 + 0.1 * (colour % 3)
    for r in range(3):
        desc[13 + r * 72 + (colour * 7 + r * 3) % 72] = 1.0
    for i, t in enumerate(np.arange(start, end, 0.1)):
        s.add(float(t), np.array([x, 100, x + 50, 160], np.float32), desc if i % 3 == 0 else None)
    return s


def test_linker_joins_by_look_and_never_joins_people_seen_together():
    a1 = _summary(10, 0.0, 5.0, 100, colour=1)
    b1 = _summary(11, 0.0, 5.0, 600, colour=2)
    # they cross sides while out of sight, then come back
    a2 = _summary(12, 8.0, 12.0, 600, colour=1)
    b2 = _summary(13, 8.0, 12.0, 100, colour=2)
    # a chunk boundary: the same place, the next instant
    a3 = _summary(14, 12.05, 15.0, 600, colour=1)
    ids = link_tracklets([b2, a3, a1, b1, a2])
    assert ids[10] == ids[12] == ids[14]
    assert ids[11] == ids[13]
    assert ids[10] != ids[11]
    assert sorted(set(ids.values())) == [0, 1]
    assert ids[10] == 0  # first appearance, leftmost first
