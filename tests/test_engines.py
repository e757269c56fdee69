"""The two face engines: litert (the bundle's models run directly) against the mediapipe
reference, on real faces (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuewatch.evaluation.engine_agreement import engine_agreement
from cuewatch.faces.engines import ENGINES
from cuewatch.features.keys import features_key
from cuewatch.options import AnalysisSettings


@pytest.mark.parametrize("name", ["eval/crema_single.mp4", "eval/crema_small.mp4",
                                  "media/pexels/WolfgangLanger_Pexels.mp4"])
def test_litert_agrees_with_the_mediapipe_reference(shared_dir: Path, model_path: Path, name: str):
    """Same tracks, landmarks within 1% of the inter-ocular distance on average,
    blendshapes within 0.03 on average (none beyond 0.05) and each pose angle within 2
    degrees on average (limits in ``cuewatch.evaluation.engine_agreement``)."""
    found = engine_agreement(shared_dir / name, model_path, seconds=8.0)
    assert found.reference_faces >= 100, found.line()
    assert found.passes(), found.line()


def test_geometry_metadata_is_read_from_the_bundle(model_path: Path):
    from cuewatch.faces.face_geometry import FaceGeometry

    geometry = FaceGeometry(model_path)
    assert geometry.canonical.shape == (3, 468)
    # the canonical face is in centimetres, about 15 cm wide, facing the camera (+z)
    width = np.ptp(geometry.canonical[0])
    assert 10 < width < 20, width
    frontal = np.array([[0.5 + p[0] / 40, 0.5 - p[1] / 40, -p[2] / 40] for p in geometry.canonical.T])
    from cuewatch.faces.head_pose import pose_from_matrix

    pose = pose_from_matrix(geometry.pose_matrix(frontal, 400, 400))
    assert abs(pose[0]) < 2.0 and abs(pose[1]) < 1e-3 and abs(pose[2]) < 1e-3, pose  # pitch: perspective


def test_bundle_detector_finds_the_face_mediapipe_finds(eval_dir: Path, model_path: Path):
    from cuewatch.faces.bundle_models import BundleDetector
    from cuewatch.faces.finding import FaceFinder, iou
    from cuewatch.media.video import FrameReader, probe_video

    frame = next(iter(FrameReader(probe_video(eval_dir / "crema_single.mp4"), AnalysisSettings(), 1.0, 2.0)))
    ours = BundleDetector(model_path).detect(frame.image)
    with FaceFinder(model_path, 0.5) as reference:
        theirs = reference.find(frame.image)
    assert len(ours) == 1 and len(theirs) == 1
    assert iou(ours[0].bbox, theirs[0].bbox) > 0.9
    # eye keypoints: the person's right eye is on the image's left
    assert ours[0].keypoints[0, 0] < ours[0].keypoints[1, 0]


def test_the_engine_is_part_of_the_features_key():
    keys = {features_key("v" * 64, "m" * 64, AnalysisSettings(engine=e)) for e in ENGINES}
    assert len(keys) == len(ENGINES)


def test_the_litert_engine_needs_neither_mediapipe_nor_tensorflow(eval_dir: Path, model_path: Path):
    """The default face pass loads LiteRT only: no MediaPipe graphs, no TensorFlow."""
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from cuewatch.faces.tracking import FacePipeline\n"
        "from cuewatch.media.video import FrameReader, probe_video\n"
        "from cuewatch.options import AnalysisSettings\n"
        f"with FacePipeline(Path({str(model_path)!r}), AnalysisSettings(engine='litert')) as faces:\n"
        f"    for f in FrameReader(probe_video({str(eval_dir / 'crema_single.mp4')!r}), AnalysisSettings(), 0, 1):\n"
        "        n = len(faces.process(f.image, f.timestamp))\n"
        "print(json.dumps([n, sorted({m.split('.')[0] for m in sys.modules} & {'mediapipe', 'tensorflow'})]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    faces, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert faces == 1
    assert loaded == []


def test_an_unknown_engine_is_one_clear_error(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(tmp_path / "x.mp4"),
                           "--engine", "onnx"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "invalid choice: 'onnx'" in proc.stderr and "Traceback" not in proc.stderr


def _eval_cases(eval_dir: Path) -> list:
    from cuewatch.evaluation.operating_points import role_play_cases

    cases = role_play_cases(eval_dir)
    assert len(cases) >= 5, f"expected the 5 evaluation cases in {eval_dir}, found {len(cases)}"
    return cases


@pytest.mark.parametrize("case", ["crema_congruent", "crema_single", "crema_small", "crema_wide",
                                  "pexels_distress_to_joy"])
def test_both_engines_raise_the_same_flags_on_the_evaluation_set(eval_dir: Path, model_path: Path,
                                                                 case: str):
    """Identical flags on shared/eval, by the rule ``flag_differences`` defines (same count,
    type and direction, overlapping, boundaries within ``MAX_FLAG_BOUNDARY_S``). The
    face passes come from the feature cache after the first run."""
    from cuewatch.evaluation.engine_agreement import engine_flags, flag_differences

    found = {c.name: c for c in _eval_cases(eval_dir)}
    assert case in found, sorted(found)
    c = found[case]
    flags = {e: engine_flags(c.video, c.transcript, model_path, e) for e in ENGINES}
    assert flags["mediapipe"] or case == "crema_congruent"  # the cases do raise flags
    assert flag_differences(flags["mediapipe"], flags["litert"]) == []


def test_the_flag_rule_tells_apart_what_it_must():
    """The rule itself: a boundary past the tolerance, another direction, another count."""
    from cuewatch.domain import Flag
    from cuewatch.evaluation.engine_agreement import MAX_FLAG_BOUNDARY_S, flag_differences

    def flag(start: float, end: float, valence: float = 0.5, kind: str = "incongruence") -> Flag:
        return Flag(start, end, kind, 0, {"valence": valence}, {}, 0.5, 1.0)

    ref = [flag(1.0, 3.0), flag(10.0, 12.0)]
    assert flag_differences(ref, [flag(1.0, 3.0), flag(10.0 + MAX_FLAG_BOUNDARY_S, 12.0)]) == []
    assert flag_differences(ref, [flag(1.0, 3.0), flag(10.0, 12.0 + 2 * MAX_FLAG_BOUNDARY_S)])
    assert flag_differences(ref, [flag(1.0, 3.0), flag(10.0, 12.0, valence=-0.5)])
    assert flag_differences(ref, [flag(1.0, 3.0), flag(10.0, 12.0, kind="leak")])
    assert flag_differences(ref, [flag(1.0, 3.0)])


def test_litert_smoothing_restarts_on_a_new_crop_size_as_mediapipe_does(eval_dir: Path, model_path: Path):
    """The same crops into both landmarkers, one size until frame 6, 4 px larger after:
    MediaPipe's VIDEO mode starts its landmark smoothing afresh on the new size, so litert
    must too (without the restart the frames after the change differ by ~0.3% of the
    inter-ocular distance, with it by ~0.02%, as on frames of one size)."""
    from cuewatch.faces.engines import Crop, LiteRTLandmarker, LiteRTModels, MediaPipeLandmarker
    from cuewatch.media.video import FrameReader, probe_video

    frames = list(FrameReader(probe_video(eval_dir / "crema_single.mp4"), AnalysisSettings(), 0.0, 1.2))
    ref = MediaPipeLandmarker(model_path.read_bytes(), 0.5)
    ours = LiteRTLandmarker(LiteRTModels(model_path), 0.5)
    worst = 0.0
    try:
        for i, f in enumerate(frames):
            grow = 4 if i >= 6 else 0
            crop = Crop.of(f.image[60:360 + grow, 150:450 + grow])  # under MAX_CROP_SIDE: as it is
            a, b = ref.detect(crop, f.timestamp), ours.detect(crop, f.timestamp)
            assert a is not None and b is not None
            iod = float(np.linalg.norm(a.landmarks[33, :2] - a.landmarks[263, :2]))
            worst = max(worst, float(np.linalg.norm(a.landmarks[:, :2] - b.landmarks[:, :2], axis=1).mean()) / iod)
    finally:
        ref.close()
    assert worst < 0.001, f"{100 * worst:.3f}% of the inter-ocular distance"


@pytest.mark.parametrize("side", [300, 500, 700, 1000])
def test_litert_samples_the_crop_where_the_crop_image_has_it(side: int):
    """The model input is sampled from the frame window (halved while an input pixel spans
    ``MAX_SAMPLE_STEP`` window pixels or more), not from the crop's image: on a linear ramp,
    where area averaging and bilinear sampling are exact, each input pixel must get the
    value the crop's image has at that point (a half-pixel slip in either mapping shows)."""
    import cv2

    from cuewatch.faces.engines import MAX_SAMPLE_STEP, Crop, _sampling_source

    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    frame = np.zeros((side + 40, side + 60, 3), np.float32)
    frame[20:20 + side, 30:30 + side, 0] = xx  # a window inside a larger frame (a view)
    frame[20:20 + side, 30:30 + side, 1] = yy
    crop = Crop.of(frame[20:20 + side, 30:30 + side])
    ramp = crop.image()  # what the crop's image has: the window shrunk by area averaging
    # a rotated region well inside the crop, as the landmarker's warp takes it
    cx, cy, w = crop.width / 2, crop.height / 2, crop.width * 0.6
    corners = cv2.boxPoints(((cx, cy), (w, w), 20.0)).astype(np.float32)
    target = np.array([[0, 256], [0, 0], [256, 0], [256, 256]], dtype=np.float32)
    warp = cv2.getPerspectiveTransform(corners, target)
    source, to_source = _sampling_source(crop, w / 256)
    halved = source.shape[0] < crop.pixels.shape[0]
    assert halved == (w / 256 * side / crop.width >= MAX_SAMPLE_STEP)
    got = cv2.warpPerspective(source, warp @ np.linalg.inv(to_source), (256, 256), flags=cv2.INTER_LINEAR)
    want = cv2.warpPerspective(ramp, warp, (256, 256), flags=cv2.INTER_LINEAR)
    scale = side / crop.width  # one crop pixel in window pixels
    error = got[..., :2] - want[..., :2]
    # no slip (a half-pixel one would be 0.5 * scale), only OpenCV's 1/32-pixel sampling grid
    assert np.abs(error.mean(axis=(0, 1))).max() < 0.01 * scale
    assert np.abs(error).max() < 0.1 * scale
