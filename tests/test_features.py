"""The features store: per-track arrays on disk, streamed, merged, memory-mapped."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cuewatch.features.folder import (
    TRACK_FIELDS,
    FeaturesWriter,
    concatenate_features,
    is_complete,
    load_features,
)


def _obs(rng, tid: int, x: float):
    bbox = np.array([x, 40, x + 120, 190], np.float32)
    lm = np.c_[rng.uniform(x, x + 120, 478), rng.uniform(40, 190, 478),
               rng.uniform(-30, 30, 478)].astype(np.float32)
    return SimpleNamespace(track_id=tid, bbox=bbox, confidence=0.9, landmarks=lm,
                           blendshapes=rng.random(52), pose=np.array([1.0, -2.0, 3.0]))


def test_roundtrip_and_id_map(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = FeaturesWriter(tmp_path / "f")
    kept = {}
    for i in range(60):
        obs = [_obs(rng, 7 if i < 30 else 9, 100 + i), _obs(rng, 8, 600)] if i % 10 else []
        for o in obs:
            kept[(i, o.track_id)] = o
        w.add(i * 2, i / 15, obs)
    assert not is_complete(tmp_path / "f")
    w.finish({"video": {"duration": 4.0}}, id_map={9: 7})
    f = load_features(tmp_path / "f")
    assert sorted(f.tracks) == [7, 8] and len(f.frame_index) == 60
    t7 = f.tracks[7]
    assert len(t7) == 54 and np.all(np.diff(t7.frame) > 0)
    o = kept[(41, 9)]
    row = int(np.where(t7.frame == 82)[0][0])
    assert np.abs(t7.landmarks(row) - o.landmarks).max() < 0.1  # sub-pixel after float16
    assert np.allclose(t7.blendshapes[row], o.blendshapes, atol=1e-3)
    pts = t7.landmark_points([1, 33, 263])
    assert pts.shape == (54, 3, 3)
    assert isinstance(np.load(tmp_path / "f" / "track_7.landmarks.npy", mmap_mode="r"), np.memmap)


def test_landmarks_take_under_3kb_per_face_frame() -> None:
    dtype, shape = TRACK_FIELDS["landmarks"]
    assert np.dtype(dtype).itemsize * np.prod(shape) <= 3000


def test_concatenate_chunks(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    parts = []
    for c in range(2):
        w = FeaturesWriter(tmp_path / f"p{c}")
        for i in range(c * 20, c * 20 + 20):
            w.add(i, i / 10, [_obs(rng, 1, 50), _obs(rng, 2, 500)])
        parts.append(w.finish({}))
    out = concatenate_features(parts, tmp_path / "all", [{1: 1, 2: 2}, {1: 2, 2: 1}], {"x": 1})
    f = load_features(out)
    assert len(f.frame_index) == 40
    assert len(f.tracks[1]) == 40 and np.all(np.diff(f.tracks[1].frame) == 1)
    # chunk 2's track 1 became person 2: its boxes sit where person 2 sat
    assert f.tracks[2].bbox[25, 0] == 50
