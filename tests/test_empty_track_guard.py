"""A features folder with a face track of no frames (seen with a broken shared cache): such a
track is never chosen as a person, and the loader refuses an inconsistent folder in one
clear line instead of a traceback. Real features of a real two-person clip, copied and
broken on disk."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from cuewatch.errors import CuewatchError, TranscriptError
from cuewatch.faces.client_face import choose_client_face, choose_therapist_face
from cuewatch.features.folder import TRACK_FIELDS, Features, load_features


@pytest.fixture
def two_faces(analysed_features, eval_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the real features of crema_small (two people on camera)."""
    copy = tmp_path / "features"
    shutil.copytree(analysed_features(eval_dir / "crema_small.mp4"), copy)
    return copy


def _emptied(features: Features, *tids: int) -> Features:
    """``features`` with the tracks ``tids`` cut to zero frames (every array, as on disk)."""
    tracks = dict(features.tracks)
    for tid in tids:
        tr = tracks[tid]
        tracks[tid] = replace(tr, frame=tr.frame[:0], timestamp=tr.timestamp[:0], bbox=tr.bbox[:0],
                              confidence=tr.confidence[:0], blendshapes=tr.blendshapes[:0],
                              pose=tr.pose[:0], _landmarks=tr._landmarks[:0])
    return replace(features, tracks=tracks)


def test_a_track_of_no_frames_is_never_chosen(two_faces: Path) -> None:
    features = load_features(two_faces)
    tids = sorted(features.tracks)
    assert len(tids) >= 2 and all(len(features.tracks[t]) for t in tids)
    empty = tids[0]
    one_left = _emptied(features, empty)
    for mode in ("auto", "left", "right", "largest"):
        chosen = choose_client_face(one_left, [], None, mode)
        assert chosen is not None and chosen != empty and len(one_left.tracks[chosen])
    with pytest.raises(TranscriptError, match=f"--client-face {empty}: that face track has no frames"):
        choose_client_face(one_left, [], None, str(empty))
    none_left = _emptied(features, *tids)
    for mode in ("auto", "left", "right", "largest"):  # was: ValueError from max() of nothing
        assert choose_client_face(none_left, [], None, mode) is None
    assert choose_therapist_face(none_left, None) is None


def test_the_loader_refuses_a_track_of_no_frames_in_one_line(two_faces: Path) -> None:
    tid = sorted(load_features(two_faces).tracks)[0]
    for name, (dtype, shape) in TRACK_FIELDS.items():
        np.save(two_faces / f"track_{tid}.{name}.npy", np.zeros((0, *shape), dtype=dtype))
    with pytest.raises(CuewatchError, match=f"inconsistent \\(face track {tid} has no frames\\)") as info:
        load_features(two_faces)
    assert "\n" not in str(info.value) and "delete the folder and analyse again" in str(info.value)


def test_the_loader_refuses_missing_or_mismatched_arrays(two_faces: Path) -> None:
    tid = sorted(load_features(two_faces).tracks)[-1]
    pose = np.load(two_faces / f"track_{tid}.pose.npy")
    np.save(two_faces / f"track_{tid}.pose.npy", pose[:-1])
    with pytest.raises(CuewatchError, match=f"face track {tid}'s arrays have different lengths"):
        load_features(two_faces)
    (two_faces / f"track_{tid}.pose.npy").unlink()
    with pytest.raises(CuewatchError, match=f"inconsistent \\(track_{tid}.pose.npy"):
        load_features(two_faces)
    np.save(two_faces / f"track_{tid}.pose.npy", pose)
    assert len(load_features(two_faces).tracks[tid]) == len(pose)  # whole again: it loads
    np.save(two_faces / "frames.time.npy", np.load(two_faces / "frames.time.npy")[:-1])
    with pytest.raises(CuewatchError, match="frame numbers for"):
        load_features(two_faces)
