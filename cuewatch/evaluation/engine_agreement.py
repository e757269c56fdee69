"""How closely the ``litert`` face engine agrees with the ``mediapipe`` reference.

Both engines run the same ``FacePipeline`` (same finding, tracking and crops) over the same
decoded frames; each reference observation is paired with the other engine's observation
of the same face in that frame. The figures, and the limits issue 14 sets on them
(``tests/test_engines.py`` pins them; ``benchmarks/bench_analyze.py`` prints them):
- landmarks: mean distance over the 478 points, over the inter-ocular distance (outer eye
  corners), averaged over frames: at most ``MAX_LANDMARK_IOD`` (1%);
- blendshapes: mean absolute difference over the 52 scores and the frames: at most
  ``MAX_BLENDSHAPE_DIFF`` (0.03); and each blendshape's own mean absolute difference, the
  worst one: at most ``MAX_BLENDSHAPE_WORST`` (a guard against one score read wrongly;
  MediaPipe against itself on frames one grey level brighter reaches 0.010 there);
- pose: mean absolute difference of each angle (pitch, yaw, roll) over frames, the worst
  angle: at most ``MAX_POSE_DEG`` degrees;
- faces: the share of reference observations the other engine also has;
- flags (``flag_differences``): on a role-play recording both engines must raise the same
  flags, which this module defines, in one place: the same number of flags and, paired
  in time order, each pair of the same type and the same direction (the sign of the
  stated mood the face contradicts), overlapping, with each boundary within
  ``MAX_FLAG_BOUNDARY_S`` seconds. The boundaries get a tolerance because a flag's edge
  is where a smoothed valence crosses a threshold, or where an utterance-level rule tips
  between flagging the whole utterance and its contradicting run: at such a knife edge
  differences far below the limits above move the edge, as an imperceptible re-encoding
  moves it under MediaPipe itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.options import AnalysisSettings

MAX_LANDMARK_IOD = 0.01
MAX_BLENDSHAPE_DIFF = 0.03
MAX_BLENDSHAPE_WORST = 0.05
MAX_POSE_DEG = 2.0
#: the largest shift of a flag's start or end between the engines that still counts as the
#: same flag (``flag_differences``): what the reference moves by itself for an imperceptible
#: change of its input (MediaPipe on crema_single re-encoded at CRF 8 moved a flag from
#: 11.16-11.96 s to 10.76-12.96 s: its start 0.4 s, its end 1.0 s).
MAX_FLAG_BOUNDARY_S = 1.0
#: outer eye corners: the inter-ocular distance the landmark differences are measured in.
_EYES = (33, 263)


@dataclass
class Agreement:
    """One video's agreement figures (see the module docstring)."""

    video: str
    frames: int
    reference_faces: int
    paired: int
    landmark_iod: float           # mean landmark distance / inter-ocular distance
    blendshape_worst: float       # the worst blendshape's mean absolute difference
    blendshape_mean: float        # mean absolute difference over all blendshapes
    pose_worst_deg: float         # the worst angle's mean absolute difference, degrees
    ms_per_frame: dict[str, float]

    def passes(self) -> bool:
        return (self.paired >= 0.98 * self.reference_faces and self.landmark_iod <= MAX_LANDMARK_IOD
                and self.blendshape_mean <= MAX_BLENDSHAPE_DIFF and self.blendshape_worst <= MAX_BLENDSHAPE_WORST
                and self.pose_worst_deg <= MAX_POSE_DEG)

    def line(self) -> str:
        return (f"{Path(self.video).name}: {self.paired}/{self.reference_faces} faces paired; landmarks "
                f"{100 * self.landmark_iod:.2f}% IOD (max {100 * MAX_LANDMARK_IOD:g}%), blendshapes "
                f"mean {self.blendshape_mean:.4f} (max {MAX_BLENDSHAPE_DIFF:g}), worst "
                f"{self.blendshape_worst:.3f} (max {MAX_BLENDSHAPE_WORST:g}), pose worst {self.pose_worst_deg:.2f} deg (max "
                f"{MAX_POSE_DEG:g}); ms/frame " + ", ".join(f"{k} {v:.1f}" for k, v in self.ms_per_frame.items()))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run(frames: Sequence[Any], model_path: Path, settings: AnalysisSettings) -> tuple[list[list[Any]], float]:
    from cuewatch.faces.tracking import FacePipeline

    out = []
    with FacePipeline(model_path, settings) as faces:
        start = time.perf_counter()
        for frame in frames:
            out.append(faces.process(frame.image, frame.timestamp))
        elapsed = time.perf_counter() - start
    return out, elapsed / max(1, len(frames))


def engine_agreement(video: Path, model_path: Path, seconds: float = 10.0,
                     settings: Optional[AnalysisSettings] = None, other: str = "litert") -> Agreement:
    """Agreement of engine ``other`` with ``mediapipe`` over the first ``seconds`` of ``video``."""
    from cuewatch.media.video import FrameReader, probe_video

    settings = settings or AnalysisSettings()
    frames = list(FrameReader(probe_video(video), settings, 0.0, seconds))
    ref, ref_ms = _run(frames, model_path, _with_engine(settings, "mediapipe"))
    alt, alt_ms = _run(frames, model_path, _with_engine(settings, other))
    lm: list[float] = []
    bs: list[np.ndarray] = []
    pose: list[np.ndarray] = []
    n_ref = 0
    for ref_obs, alt_obs in zip(ref, alt):
        for a in ref_obs:
            n_ref += 1
            b = _same_face(a, alt_obs)
            if b is None:
                continue
            iod = float(np.linalg.norm(a.landmarks[_EYES[0], :2] - a.landmarks[_EYES[1], :2]))
            lm.append(float(np.linalg.norm(a.landmarks[:, :2] - b.landmarks[:, :2], axis=1).mean())
                      / max(iod, 1e-6))
            bs.append(np.abs(a.blendshapes - b.blendshapes))
            pose.append(np.abs(_angle_diff(a.pose, b.pose)))
    if not lm:
        return Agreement(str(video), len(frames), n_ref, 0, float("inf"), float("inf"), float("inf"),
                         float("inf"), {"mediapipe": 1000 * ref_ms, other: 1000 * alt_ms})
    bsa = np.array(bs)
    return Agreement(str(video), len(frames), n_ref, len(lm), float(np.mean(lm)),
                     float(bsa.mean(0).max()), float(bsa.mean()), float(np.array(pose).mean(0).max()),
                     {"mediapipe": round(1000 * ref_ms, 2), other: round(1000 * alt_ms, 2)})


def _with_engine(settings: AnalysisSettings, engine: str) -> AnalysisSettings:
    import dataclasses

    return dataclasses.replace(settings, engine=engine)


def _angle_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.asarray(a, np.float64) - np.asarray(b, np.float64) + 180.0) % 360.0 - 180.0


def _same_face(a: Any, candidates: Sequence[Any]) -> Optional[Any]:
    """The candidate whose box centre is nearest ``a``'s, if within half its size."""
    centre = (a.bbox[:2] + a.bbox[2:]) / 2
    size = float(max(a.bbox[2] - a.bbox[0], a.bbox[3] - a.bbox[1]))
    best, best_d = None, 0.5 * size
    for b in candidates:
        d = float(np.linalg.norm((b.bbox[:2] + b.bbox[2:]) / 2 - centre))
        if d <= best_d:
            best, best_d = b, d
    return best


def _flag_sign(flag: Any) -> int:
    """The direction of a flag: the sign of the stated mood's valence it contradicts."""
    return int(np.sign(float((flag.stated or {}).get("valence") or 0.0)))


def flag_differences(reference: Sequence[Any], other: Sequence[Any],
                     max_boundary_s: float = MAX_FLAG_BOUNDARY_S) -> list[str]:
    """How ``other``'s flags (``cuewatch.domain.Flag``) differ from the ``reference``
    engine's on one recording, one line per difference; empty when they are the same
    flags by the rule in the module docstring."""
    ref = sorted(reference, key=lambda f: (f.start, f.end))
    alt = sorted(other, key=lambda f: (f.start, f.end))
    if len(ref) != len(alt):
        return [f"{len(alt)} flags against {len(ref)}: "
                + "; ".join(f"{f.type} {f.start:.2f}-{f.end:.2f}" for f in alt) + " against "
                + "; ".join(f"{f.type} {f.start:.2f}-{f.end:.2f}" for f in ref)]
    out = []
    for a, b in zip(ref, alt):
        what = f"{b.type} {b.start:.2f}-{b.end:.2f} s against {a.type} {a.start:.2f}-{a.end:.2f} s"
        if a.type != b.type or _flag_sign(a) != _flag_sign(b):
            out.append(f"{what}: another type or direction")
        elif min(a.end, b.end) <= max(a.start, b.start):
            out.append(f"{what}: no overlap")
        elif max(abs(a.start - b.start), abs(a.end - b.end)) > max_boundary_s + 1e-9:
            out.append(f"{what}: a boundary moved more than {max_boundary_s:g} s")
    return out


def engine_flags(video: Path, transcript: Path, model_path: Path, engine: str,
                 settings: Optional[AnalysisSettings] = None) -> list[Any]:
    """The flags ``cuewatch analyze`` raises on a role-play recording with ``engine``
    (default settings otherwise; the face pass from the feature cache when it is there)."""
    import dataclasses

    from cuewatch.faces.model import check_model
    from cuewatch.recording.analyse import run_pipeline

    model = check_model(Path(model_path), "model_path")
    settings = dataclasses.replace(settings or AnalysisSettings(), engine=engine)
    return run_pipeline(Path(video), settings=settings, model_path=model.path,
                        model_sha256=model.sha256, transcript=Path(transcript)).flags
