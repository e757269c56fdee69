#!/usr/bin/env python3
"""Recomputing flags for a 60-minute recording from stored features (target: under 1 s).

Builds a 60-minute features directory by repeating the real per-frame features of an
evaluation role-play (analysed once with the real model), with its transcript repeated
alongside, then times: the first expression pass (landmarks read from disk), and
recomputing flags at each sensitivity (what the app's sensitivity control does), then the
same with the attunement of the new flags (responses and mirroring: what
``cuewatch.project.flag_recompute`` runs). For the mirroring the face is also written as a
second person (track 2, the same face a second later, beside the first), the therapist.

Usage: python benchmarks/bench_flags.py [--minutes 60] [--case ../shared/eval/crema_single]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cuewatch.faces.model import resolve_model
from cuewatch.features.folder import FeaturesWriter, load_features
from cuewatch.options import AnalysisSettings, FlagSettings
from cuewatch.recording.analyse import (
    TherapistChoice,
    compute_features,
    load_mood_input,
    recompute_flags,
    recompute_session,
)

#: the therapist's copy of the face follows the client's by this many frames.
THERAPIST_LAG_FRAMES = 15

ROOT = Path(__file__).resolve().parents[1]


def build_long(features_dir: Path, minutes: float, out: Path) -> tuple[Path, float]:
    src = load_features(features_dir)
    tid = max(src.tracks, key=lambda t: len(src.tracks[t]))
    tr = src.tracks[tid]
    period = float(src.frame_time[-1]) + 1.0 / 15
    reps = int(np.ceil(minutes * 60 / period))
    w = FeaturesWriter(out)
    frame_step = int(src.frame_index[-1]) + 1
    pos = {int(f): i for i, f in enumerate(tr.frame)}
    lm = tr.landmarks()
    shift = np.array([0.5, 0.0, 0.5, 0.0]) * (tr.bbox[:, 2] - tr.bbox[:, 0]).max() * 2.5
    for r in range(reps):
        for k in range(len(src.frame_index)):
            fr = int(src.frame_index[k])
            obs = []
            for track_id, j in ((1, pos.get(fr)), (2, pos.get(fr - THERAPIST_LAG_FRAMES))):
                if j is not None:
                    obs.append(SimpleNamespace(
                        track_id=track_id, bbox=tr.bbox[j] + (shift if track_id == 2 else 0),
                        confidence=float(tr.confidence[j]), landmarks=lm[j],
                        blendshapes=tr.blendshapes[j], pose=tr.pose[j]))
            w.add(r * frame_step + fr, r * period + float(src.frame_time[k]), obs)
    w.finish({"video": {"duration": reps * period}})
    return out, period


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--case", type=Path, default=Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared")) / "eval" / "crema_single")
    args = ap.parse_args()
    model = resolve_model()
    video = args.case.with_suffix(".mp4")
    tmp = Path(tempfile.mkdtemp(prefix="cuewatch-bench-flags-"))
    try:
        short = compute_features(video, AnalysisSettings(), model.path, model.sha256, cache_dir=tmp / "cache")
        t0 = time.perf_counter()
        long_dir, period = build_long(short, args.minutes, tmp / "long")
        print(f"built {args.minutes:g} min of features in {time.perf_counter() - t0:.1f} s "
              f"({sum(f.stat().st_size for f in long_dir.iterdir()) / 1e6:.0f} MB on disk)")
        segs, _ = load_mood_input(args.case.with_suffix(".vtt"), None, None)
        reps = int(np.ceil(args.minutes * 60 / period))
        segments = [type(s)(**{**s.to_dict(), "start": s.start + r * period, "end": s.end + r * period})
                    for r in range(reps) for s in segs]
        t0 = time.perf_counter()
        flags, gaps = recompute_flags(long_dir, segments, "Client", 1, FlagSettings())
        print(f"first flags (expression computed from landmarks, then cached): "
              f"{time.perf_counter() - t0:.2f} s, {len(flags)} flags, {len(gaps)} gaps")
        for sens in ("low", "medium", "high"):
            t0 = time.perf_counter()
            flags, gaps = recompute_flags(long_dir, segments, "Client", 1, FlagSettings(sensitivity=sens))
            print(f"recompute flags, sensitivity {sens}: {time.perf_counter() - t0:.3f} s "
                  f"({len(flags)} flags)   target < 1 s")
        known = TherapistChoice(speaker="Therapist", track=2, known=True)
        recompute_session(long_dir, segments, "Client", 1, FlagSettings(), therapist=known)  # therapist's expression cached
        for sens in ("low", "medium", "high"):
            t0 = time.perf_counter()
            flags, gaps, att = recompute_session(long_dir, segments, "Client", 1,
                                                 FlagSettings(sensitivity=sens), therapist=known)
            assert att is not None
            kinds = {k: sum(1 for f in att.flags if f.response and f.response.kind == k)
                     for k in ("named", "explored", "validated", "moved_on", "none")}
            mirrored = sum(1 for f in att.flags if f.mirroring is not None)
            print(f"recompute flags + responses and mirroring, sensitivity {sens}: "
                  f"{time.perf_counter() - t0:.3f} s ({len(flags)} flags; {kinds}; "
                  f"{mirrored} with a mirroring verdict)   target < 1 s")
        t0 = time.perf_counter()
        _, _, att = recompute_session(long_dir, segments, "Client", 1, FlagSettings(),
                                      therapist=TherapistChoice())
        assert att is not None and att.synchrony is not None
        print(f"first recompute of a project analysed before attunement (therapist chosen, "
              f"session synchrony computed once): {time.perf_counter() - t0:.2f} s "
              f"(synchrony z {att.synchrony.z}, lag {att.synchrony.lag_s} s)")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
