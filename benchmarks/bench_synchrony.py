#!/usr/bin/env python3
"""Synchrony of two faces built from real faces with a known lag (issue 13 §6).

The clips of ../shared/media are landmarked with the real model (the reference face pass of
cuewatch.evaluation.landmarks), their expression series and head pose become face signals,
and two-person sessions are laid out from them (cuewatch.evaluation.synchrony_pairs): the
*copy* (the second person's own real face, damped to half, plus the first person's
expression changes 0.8 s later, plus noise) and the *unrelated* pairing (two different real
sequences). For each of several random layouts (seeds) it prints the lag found and the
z-scores against segment-shuffled surrogates.

Targets: the lag recovered within +-0.2 s with z >= 3 for the copy, |z| < 2 for the
unrelated pair (every seed); a 60-minute session's synchrony, surrogates included, in a
few seconds (here: < 5 s). Exit status 1 when a target is missed.

Usage: python benchmarks/bench_synchrony.py [--minutes 10] [--seeds 10] [--lag 0.8]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from cuewatch.attunement.synchrony import SynchronySettings, session_synchrony
from cuewatch.evaluation.synchrony_pairs import FIRST_POOL, SECOND_POOL, build_pairs, clip_signals
from cuewatch.faces.model import resolve_model

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))
#: a 60-minute session must compute within this many seconds (wall clock).
TIMING_TARGET_S = 5.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of each constructed session")
    ap.add_argument("--seeds", type=int, default=10, help="random layouts of the real pieces")
    ap.add_argument("--lag", type=float, default=0.8, help="the copy's lag, seconds")
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    args = ap.parse_args()
    model = resolve_model()
    settings = SynchronySettings()

    t0 = time.perf_counter()
    first = clip_signals(args.media, FIRST_POOL, model.path)
    second = clip_signals(args.media, SECOND_POOL, model.path)
    frames = sum(len(s.timestamps) for s in first + second)
    print(f"landmarked {len(first) + len(second)} real clips ({frames} frames) in "
          f"{time.perf_counter() - t0:.1f} s; first person from {len(first)}, second from {len(second)}")
    print(f"settings: window {settings.window_s:g} s, step {settings.step_s:g} s, max lag "
          f"+-{settings.max_lag_s:g} s, {settings.rate_hz:g} Hz, {settings.n_surrogates} surrogates "
          f"({settings.segment_s:g} s segments)")
    print(f"\n{args.minutes:g}-minute sessions, copy lag {args.lag:g} s")
    print(f"{'seed':>4} {'copy lag':>9} {'copy z':>7} {'leader':>9} {'unrelated z':>12} {'unrel lag':>10}  ok")
    ok_copy = ok_unrelated = 0
    lag_errors, copy_z, unrelated_z = [], [], []
    for seed in range(args.seeds):
        copy, unrelated = build_pairs(first, second, args.minutes * 60, lag_s=args.lag, seed=seed)
        found = session_synchrony(copy.first, copy.second, settings)
        none = session_synchrony(unrelated.first, unrelated.second, settings)
        if found.lag_s is None or found.z is None or none.z is None:
            print(f"{seed:>4} no estimate: {found.reason or none.reason}")
            continue
        good_copy = abs(found.lag_s - args.lag) <= 0.2 and found.z >= 3
        good_none = abs(none.z) < 2
        ok_copy += good_copy
        ok_unrelated += good_none
        lag_errors.append(found.lag_s - args.lag)
        copy_z.append(found.z)
        unrelated_z.append(none.z)
        unrel_lag = "-" if none.lag_s is None else f"{none.lag_s:+.2f}"
        print(f"{seed:>4} {found.lag_s:>+9.2f} {found.z:>7.2f} {found.leader:>9} {none.z:>12.2f} "
              f"{unrel_lag:>10}  {'yes' if good_copy and good_none else 'NO'}")
    n = args.seeds
    print(f"\ncopy: lag within +-0.2 s and z >= 3 in {ok_copy}/{n} "
          f"(lag error max {np.max(np.abs(lag_errors)):.2f} s, z min {np.min(copy_z):.2f}, "
          f"median {np.median(copy_z):.2f})")
    print(f"unrelated: |z| < 2 in {ok_unrelated}/{n} (z from {np.min(unrelated_z):.2f} to "
          f"{np.max(unrelated_z):.2f}, sd {np.std(unrelated_z):.2f})")

    copy, _ = build_pairs(first, second, 3600.0, lag_s=args.lag, seed=0)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        result = session_synchrony(copy.first, copy.second, settings)
        times.append(time.perf_counter() - t0)
    wall = float(np.median(times))
    print(f"\n60-minute session ({len(copy.first.timestamps)} + {len(copy.second.timestamps)} frames, "
          f"{result.window_times.shape[0]} windows, {settings.n_surrogates} surrogates): "
          f"{wall:.2f} s (median of 3; load average {os.getloadavg()[0]:.1f})   target < {TIMING_TARGET_S:g} s")
    print(f"  lag {result.lag_s:+.2f} s, z {result.z:.1f}")
    met = ok_copy == n and ok_unrelated == n and wall < TIMING_TARGET_S
    print("all targets met" if met else "TARGET MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
