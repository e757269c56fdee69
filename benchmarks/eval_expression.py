"""Expression accuracy on the labelled real faces in ../shared/media.

Runs the real MediaPipe Face Landmarker (VIDEO mode for clips, IMAGE mode for photos) on
every labelled clip and image, feeds the per-frame arrays to
``cuewatch.expression.series.estimate_expression`` and prints, per item, the top prototype match
and the valence sign against the label, then the accuracy of each. Labels:

- CREMA-D (actor 1001): the PERCEIVED label (crowd ratings of the face alone, see the media
  README): ANG angry, DIS angry, FEA disgusted, HAP happy, NEU neutral, SAD neutral.
- RAVDESS 01-01-07-...: disgust (emotion 07).
- pexels: the truth file's face segments (sad 0.5-5.5 s, happy 11.5-18.5 s).
- images: the file name (su/hao/anc/di codes for the lab photos).

Neutral baseline, per person: the six CREMA-D clips are one actor, so they run as one track
(clips separated by a gap) and are scored twice, with the NEU clip marked as the neutral
span and with the automatic neutral. RAVDESS and pexels use the automatic neutral within the
clip. The photos are single frames of different people: no per-person neutral exists, so
they run as one cohort track and the automatic neutral picks the least expressive photos.

A valence "sign" is pos / neg when |mean valence| >= the neutral threshold, else neu.
Usage: python benchmarks/eval_expression.py [--media DIR] [--model FILE] [--fps 15]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

from cuewatch.evaluation.landmarks import LandmarkedFace, landmark_images, landmark_video
from cuewatch.expression.series import ExpressionSettings, estimate_expression

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))

VALENCE_OF = {"happy": "pos", "surprised": "neu", "neutral": "neu", "sad": "neg", "angry": "neg",
              "fearful": "neg", "disgusted": "neg", "contempt": "neg"}
CREMA_PERCEIVED = {"ANG": "angry", "DIS": "angry", "FEA": "disgusted", "HAP": "happy",
                   "NEU": "neutral", "SAD": "neutral"}
PYFEAT_CODES = {"su": "surprised", "hao": "happy", "anc": "angry", "di": "disgusted"}


def sign(valence: float, threshold: float) -> str:
    return "pos" if valence >= threshold else "neg" if valence <= -threshold else "neu"


class Tally:
    def __init__(self, title: str, threshold: float) -> None:
        self.title, self.threshold, self.rows = title, threshold, []

    def add(self, name: str, label: str, summary: dict) -> None:
        got_sign = sign(summary["valence"], self.threshold)
        want_sign = VALENCE_OF[label]
        self.rows.append((name, label, summary["category"], want_sign, got_sign, summary))

    def print(self) -> tuple[int, int, int]:
        print(f"\n== {self.title}")
        print(f"{'item':34s} {'label':10s} {'top match':10s} {'val':>6s} {'sign':>4s}/{'want':4s} "
              f"{'conf':>4s}  AUs")
        top_ok = val_ok = 0
        for name, label, cat, want, got, s in self.rows:
            top_ok += cat == label
            val_ok += got == want
            print(f"{name:34s} {label:10s} {cat:10s} {s['valence']:+6.2f} {got:>4s}/{want:4s} "
                  f"{s['confidence']:4.2f}  {','.join(s['aus'])}"
                  f"{'' if got == want else '   <- valence sign wrong'}")
        n = len(self.rows)
        print(f"top match {top_ok}/{n} = {top_ok / n:.0%};  valence sign {val_ok}/{n} = {val_ok / n:.0%}")
        return top_ok, val_ok, n


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--eval", type=Path, default=SHARED / "eval")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    ap.add_argument("--fps", type=float, default=15.0, help="analysed frames per second (0 = all)")
    ap.add_argument("--pyfame", type=Path, default=None,
                    help="pyfame-1.0.10/src/pyfame/data/sample: two more people (see "
                         "build_cases.py), each over their two takes")
    args = ap.parse_args(argv)
    fps = args.fps or None
    settings = ExpressionSettings()
    thr = settings.neutral_valence
    t0 = time.perf_counter()

    crema_paths = sorted((args.media / "crema_d").glob("*.flv"))
    if not crema_paths:
        print(f"eval_expression: no CREMA-D clips in {args.media / 'crema_d'} "
              "(pass --media DIR or set CUEWATCH_SHARED)", file=sys.stderr)
        return 2
    crema = {p.stem.split("_")[2]: landmark_video(p, args.model, fps) for p in crema_paths}
    codes = list(crema)
    actor, spans = LandmarkedFace.concat([crema[c] for c in codes])
    neutral_span = spans[codes.index("NEU")]
    rav_paths = sorted((args.media / "ravdess").glob("*.mp4"))
    pexels_path = args.media / "pexels" / "WolfgangLanger_Pexels.mp4"
    truth = json.loads((args.eval / "pexels_distress_to_joy.truth.json").read_text())
    image_paths = sorted((args.media / "images").glob("*/*.jpg"))
    for path in [*rav_paths, pexels_path]:
        landmark_cached(path, args.model, fps)
    t_landmarks = time.perf_counter() - t0

    clips_auto = Tally(f"clips, automatic neutral (CREMA-D: over all 6 clips of actor 1001; "
                       f"others within the clip); neutral |valence| < {thr}", thr)
    clips_span = Tally("clips, CREMA-D neutral from the NEU clip marked as neutral span "
                       "(RAVDESS and pexels: automatic, no neutral span exists)", thr)
    t1 = time.perf_counter()
    for tally, kw in ((clips_auto, {}), (clips_span, {"neutral_span": neutral_span})):
        series = actor.expression(settings=settings, **kw)
        for code, (a, b) in zip(codes, spans):
            tally.add(f"crema_d 1001_DFA_{code}", CREMA_PERCEIVED[code], series.summary(a, b))
        for path in rav_paths:
            label = "disgusted" if path.stem.split("-")[2] == "07" else None
            if label:
                tally.add(f"ravdess {path.stem}", label,
                          landmark_cached(path, args.model, fps).expression(settings=settings).summary())
        pex = landmark_cached(pexels_path, args.model, fps).expression(settings=settings)
        for seg in truth["segments"]:
            tally.add(f"pexels {seg['start']:g}-{seg['end']:g} s", seg["face"],
                      pex.summary(seg["start"], seg["end"]))
    t_expr = time.perf_counter() - t1

    images = Tally("images, cohort neutral (automatic over all photos: single frames of "
                   "different people have no per-person neutral)", thr)
    img_track, found = landmark_images(image_paths, args.model)
    img_series = img_track.expression(settings=settings)
    for i, path in enumerate(found):
        stem = path.stem
        label = next((v for k, v in PYFEAT_CODES.items() if f"-{k}-" in stem), None)
        label = label or stem.split("_")[0]
        label = {"surprise": "surprised"}.get(label, label)
        t = img_track.timestamps[i]
        images.add(f"{path.parent.name}/{path.name}", label, img_series.summary(t, t))
    missed = [p.name for p in image_paths if p not in found]

    others = None
    if args.pyfame is not None:
        from build_cases import PYFAME  # the same clips and labels as the built cases

        others = Tally("other people: pyfame's RAVDESS takes (faces labelled by eye), automatic "
                       "neutral over each actor's two takes", thr)
        for first, second in (("m_calm", "m_disgust"), ("f_calm", "f_fear")):
            takes = [landmark_video(args.pyfame / PYFAME[k][0], args.model, fps) for k in (first, second)]
            both, take_spans = LandmarkedFace.concat(takes)
            series = both.expression(settings=settings)
            for key, (a, b) in zip((first, second), take_spans):
                others.add(f"pyfame {PYFAME[key][0]}", PYFAME[key][1], series.summary(a, b))

    _, val_auto, n_auto = clips_auto.print()
    _, val_span, n_span = clips_span.print()
    if others is not None:
        others.print()
    images.print()
    if missed:
        print(f"no face found in: {', '.join(missed)}")
    print(f"\nlandmarker {t_landmarks:.1f} s; expression stage {t_expr * 1000:.0f} ms for all clips")
    speed_benchmark(actor)
    print(f"TARGET valence sign >= 90% of labelled clips: automatic neutral {val_auto / n_auto:.0%}, "
          f"NEU-span neutral {val_span / n_span:.0%}")
    return 0


def speed_benchmark(real: LandmarkedFace, n: int = 54_000, fps: float = 15.0) -> None:
    """An hour at 15 fps built from real frames (tiled, with landmark noise), memmapped."""
    import tempfile
    rng = np.random.default_rng(0)
    idx = np.resize(np.arange(len(real)), n)
    with tempfile.TemporaryDirectory() as tmp:
        lm = np.lib.format.open_memmap(Path(tmp) / "lm.npy", mode="w+", dtype=np.float32,
                                       shape=(n, real.landmarks.shape[1], 3))
        for a in range(0, n, 10_000):
            rows = idx[a:a + 10_000]
            lm[a:a + rows.size] = real.landmarks[rows] + rng.normal(0, 0.3, (rows.size, 1, 3))
        lm.flush()
        del lm
        lm = np.load(Path(tmp) / "lm.npy", mmap_mode="r")
        t = np.arange(n) / fps + rng.uniform(0, 0.01, n)
        start = time.perf_counter()
        series = estimate_expression(t, lm, real.blendshapes[idx], real.pose[idx], real.bbox[idx],
                                     real.confidence[idx])
        took = time.perf_counter() - start
        del lm
    print(f"SPEED {n} frames (1 h at {fps:g} fps, landmarks memmapped): {took:.2f} s "
          f"({series.au.shape[1]} AUs, {series.scores.shape[1]} matches)")


_CACHE: dict[tuple, LandmarkedFace] = {}


def landmark_cached(path: Path, model: Path, fps: Optional[float]) -> LandmarkedFace:
    """landmark_video once per run (both tallies reuse it)."""
    key = (str(path), str(model), fps)
    if key not in _CACHE:
        _CACHE[key] = landmark_video(path, model, fps)
    return _CACHE[key]


if __name__ == "__main__":
    sys.exit(main())
