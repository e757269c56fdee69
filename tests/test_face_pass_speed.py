"""The litert face pass's speed measures (issue 14) change nothing it computes: the inputs
written straight into the interpreters' tensors, and the landmark model's threads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cuewatch.errors import CuewatchError
from cuewatch.faces.bundle_models import (
    LANDMARKS_MEMBER,
    MAX_INTERPRETER_THREADS,
    BundleLandmarks,
    check_threads,
)
from cuewatch.faces.face_pass import (
    ALONE_LANDMARK_THREADS,
    SHARED_DECODE_THREADS,
    analyze_video,
    decode_threads,
    landmark_threads,
)
from cuewatch.faces.finding import read_bundle_member
from cuewatch.features.folder import TRACK_FIELDS, load_features
from cuewatch.options import AnalysisSettings


def test_a_chunk_alone_gets_the_spare_core_and_side_by_side_chunks_do_not():
    assert landmark_threads(1, 2) == ALONE_LANDMARK_THREADS == 2
    assert landmark_threads(1, 1) == 1  # one core allowed (workers=1): never more
    assert landmark_threads(1, 16) == ALONE_LANDMARK_THREADS
    assert landmark_threads(2, 2) == 1 and landmark_threads(4, 8) == 1


def test_side_by_side_chunks_decode_on_one_thread_each_and_a_chunk_alone_on_ffmpegs_choice():
    assert decode_threads(landmark_threads(2, 2)) == SHARED_DECODE_THREADS == 1
    assert decode_threads(landmark_threads(1, 2)) == 0


@pytest.mark.parametrize("bad", [0, -1, MAX_INTERPRETER_THREADS + 1, 1.5, "2", True, None])
def test_interpreter_threads_are_checked(bad):
    with pytest.raises(CuewatchError, match="interpreter threads"):
        check_threads(bad)


def test_interpreter_threads_in_range_pass():
    assert [check_threads(n) for n in (1, 2, MAX_INTERPRETER_THREADS)] == [1, 2, MAX_INTERPRETER_THREADS]


def _reference_run(model_path: Path, crop: np.ndarray) -> tuple[np.ndarray, float]:
    """The landmark model fed the plain way: a float32 copy, then ``set_tensor``."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=read_bundle_member(model_path, LANDMARKS_MEMBER), num_threads=1)
    interpreter.allocate_tensors()
    tensor = crop.astype(np.float32)
    tensor *= 1.0 / 255.0
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor[None])
    interpreter.invoke()
    outputs = interpreter.get_output_details()
    pts = interpreter.get_tensor(outputs[0]["index"]).reshape(-1, 3).copy()
    logit = float(interpreter.get_tensor(outputs[1]["index"]).reshape(-1)[0])
    return pts, 1.0 / (1.0 + math.exp(-logit))


def test_landmarks_are_the_same_whatever_the_threads_and_however_the_input_is_written(
        eval_dir: Path, model_path: Path):
    import cv2

    from cuewatch.faces.bundle_models import BundleDetector
    from cuewatch.media.video import FrameReader, probe_video

    frame = next(iter(FrameReader(probe_video(eval_dir / "crema_single.mp4"), AnalysisSettings(), 1.0, 2.0)))
    x0, y0, x1, y1 = BundleDetector(model_path).detect(frame.image)[0].bbox
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.9 * max(x1 - x0, y1 - y0)
    crop = cv2.resize(frame.image[max(0, int(cy - half)):int(cy + half), max(0, int(cx - half)):int(cx + half)],
                      (256, 256), interpolation=cv2.INTER_AREA)
    expected, presence = _reference_run(model_path, crop)
    assert presence > 0.5  # a face: the comparison is about real landmarks
    for threads in (1, 2):
        model = BundleLandmarks(model_path, threads)
        for _ in range(2):  # the tensor written in place is rewritten in full each time
            out = model.run(crop)
            np.testing.assert_array_equal(out.landmarks, expected)
            assert out.presence == presence
        model.close()


def test_one_piece_with_two_landmark_threads_writes_the_same_features_as_one_thread(
        media_dir: Path, model_path: Path, tmp_path: Path):
    """``workers=1`` keeps the landmark model on one thread; the default gives it two."""
    clip = media_dir / "crema_d" / "1001_DFA_HAP_XX.flv"
    settings = AnalysisSettings(engine="litert")
    one = load_features(analyze_video(clip, settings, model_path, tmp_path / "one", workers=1))
    two = load_features(analyze_video(clip, settings, model_path, tmp_path / "two"))
    assert sorted(one.tracks) == sorted(two.tracks) and one.tracks
    np.testing.assert_array_equal(one.frame_index, two.frame_index)
    for tid, track in one.tracks.items():
        other = two.tracks[tid]
        assert len(track) > 10
        for name in TRACK_FIELDS:
            if name != "landmarks":
                np.testing.assert_array_equal(getattr(track, name), getattr(other, name), err_msg=name)
        np.testing.assert_array_equal(track.landmarks(), other.landmarks())
