"""Project store speed: 50 recordings with an hour of review data each.

    /work/venv/bin/python benchmarks/bench_project.py [--recordings 50] [--keep DIR]

Targets (issue 4, section 7): open the project and list all flags < 1 s; store a verdict
< 50 ms; export the ELAN file of one recording < 2 s.

What "an hour" holds in the store: 720 utterances (both speakers, 5 s each), 240 flags
with full evidence JSON, 60 face gaps, 2 tracks, verdicts by two reviewers on every flag
plus a revised verdict on a quarter of them (history), 20 manual annotations, and their
audit entries. Per-frame features are not rows of the store (they stay in the features
folder); the ELAN export's expression spans come from the cached per-frame expression
series, so the span cutting is timed on a synthetic hour of frames (15 fps) as well.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuewatch.domain import Flag, Gap, MoodSegment  # noqa: E402
from cuewatch.formats import AU_NAMES, EXPRESSION_CATEGORIES  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402

HOUR = 3600.0
CONSENT = {"participants": [{"name": "Client", "role": "client"}, {"name": "Th", "role": "therapist"}],
           "scopes": ["training", "supervision", "research"], "obtained": "2026-01-01",
           "recorded_by": "bench"}


def _hour(rng: random.Random) -> tuple[list[MoodSegment], list[Flag], list[Gap]]:
    segments = [MoodSegment(start=5.0 * i, end=5.0 * i + 4.6,
                            speaker="Client" if i % 2 == 0 else "Therapist",
                            text="I'm fine really, it was a good week I think " * 2,
                            valence=rng.uniform(-1, 1), category=rng.choice(["happy", "sad", "calm"]),
                            certainty=rng.uniform(0.5, 1.0), line=i * 3 + 1)
                for i in range(int(HOUR / 5))]
    flags = []
    for i in range(240):
        t = 15.0 * i + rng.uniform(0, 5)
        flags.append(Flag(
            start=t, end=t + rng.uniform(1, 4), type=rng.choice(["incongruence", "leak"]), track=0,
            stated={"words": "I'm fine really", "category": "happy", "valence": 0.6},
            expressed={"category": "sad", "valence": -0.5, "scores": {c: round(rng.random(), 3)
                                                                      for c in EXPRESSION_CATEGORIES}},
            severity=rng.random(), confidence=rng.random(),
            evidence={"aus": {au: round(rng.uniform(0, 3), 3) for au in AU_NAMES[:6]},
                      "peak_time": t + 1.0, "utterance_start": t - 1, "utterance_end": t + 3,
                      "frames": 45, "drivers": ["AU15", "AU04", "AU01"]}))
    gaps = [Gap(60.0 * i + 30, 60.0 * i + 33, 0) for i in range(60)]
    return segments, flags, gaps


def build(path: Path, n_recordings: int, media_dir: Path) -> None:
    rng = random.Random(7)
    media_dir.mkdir(parents=True, exist_ok=True)
    with Project.create(path, actor="bench") as p:
        for r in range(n_recordings):
            video = media_dir / f"session_{r:02d}.mp4"
            video.write_bytes(f"placeholder video {r}".encode() * 64)  # distinct content hash
            info = SimpleNamespace(duration=HOUR, fps=30.0, width=1280, height=720, codec="h264",
                                   rotation=0, frame_count=int(HOUR * 30))
            rid = int(p.recordings.add(video, consent=CONSENT, info=info, queue=False).id)  # type: ignore[arg-type]
            segments, flags, gaps = _hour(rng)
            p.analyses.set_mood_segments(rid, segments)
            p.flags.replace(rid, flags, gaps)
            now = "2026-11-26T12:00:00.000+00:00"
            conn = p._conn
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO analyses(recording_id, state, parameters, model_sha256, "
                         "cuewatch_version, queued, started, finished, progress) VALUES "
                         "(?, 'done', ?, ?, '0.1.0', ?, ?, ?, 1)",
                         (rid, json.dumps({"analysis": {}, "flags": {}}), "0" * 64, now, now, now))
            conn.execute("UPDATE recordings SET client_speaker = 'Client', client_track = 0 WHERE id = ?",
                         (rid,))
            conn.executemany("INSERT INTO tracks VALUES (?,?,?,?,?,?,?)",
                             [(rid, t, 0.0, HOUR, 54000, 0.95, "[100,100,300,300]") for t in (0, 1)])
            review_rows, audit_rows = [], []
            for f in flags:
                for who in ("supervisor", "trainee"):
                    v = rng.choice(["agree", "disagree", "unsure"])
                    if rng.random() < 0.25:
                        review_rows.append((f.id, who, "unsure", "", now, 0))
                    review_rows.append((f.id, who, v, "a note" if rng.random() < 0.3 else "", now, 1))
            conn.executemany("INSERT INTO reviews(flag_id, reviewer, verdict, note, time, current) "
                             "VALUES (?,?,?,?,?,?)", review_rows)
            audit_rows = [(now, r[1], "verdict", rid, json.dumps({"flag_id": r[0], "verdict": r[2]}))
                          for r in review_rows]
            conn.executemany("INSERT INTO audit(time, actor, action, recording_id, detail) "
                             "VALUES (?,?,?,?,?)", audit_rows)
            conn.executemany("INSERT INTO annotations(recording_id, start, end, label, note, reviewer, "
                             "created) VALUES (?,?,?,?,?,?,?)",
                             [(rid, 180.0 * i, 180.0 * i + 4, "missed", "look here", "supervisor", now)
                              for i in range(20)])
            conn.execute("COMMIT")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--recordings", type=int, default=50)
    ap.add_argument("--keep", type=Path, help="build in this folder and keep it")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_project_"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "bench.cuewatch"
    try:
        if not path.exists():
            t0 = time.perf_counter()
            build(path, args.recordings, work / "media")
            print(f"built {args.recordings} recordings x 1 h in {time.perf_counter() - t0:.1f} s; "
                  f"file {path.stat().st_size / 1e6:.1f} MB")

        times, cpu = [], []
        for _ in range(5):
            t0, c0 = time.perf_counter(), time.process_time()
            with Project.open(path, actor="bench") as p:
                flags = p.flags.all()
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"open + list all flags ({len(flags)} flags): median {statistics.median(times) * 1000:.0f} ms "
              f"(CPU {statistics.median(cpu) * 1000:.0f} ms), worst {max(times) * 1000:.0f} ms  "
              f"(target < 1000 ms)")

        with Project.open(path, actor="bench") as p:
            ids = [f.id for f in p.flags.all(1)]
            vt = []
            for i in range(60):
                t0 = time.perf_counter()
                p.reviews.set_verdict(ids[i % len(ids)], "bench-reviewer", ("agree", "disagree", "unsure")[i % 3])
                vt.append(time.perf_counter() - t0)
            undo_t0 = time.perf_counter()
            p.reviews.undo_last("bench-reviewer")
            undo = time.perf_counter() - undo_t0
        vt.sort()
        print(f"machine load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"store a verdict: median {statistics.median(vt) * 1000:.1f} ms, "
              f"95th percentile {vt[int(0.95 * len(vt)) - 1] * 1000:.1f} ms  (target < 50 ms); "
              f"undo {undo * 1000:.1f} ms")

        from cuewatch.project.export import expression_spans

        n = int(HOUR * 15)
        rng = np.random.default_rng(3)
        ts = np.arange(n) / 15.0
        dominant = np.repeat(rng.integers(0, len(EXPRESSION_CATEGORIES), n // 30 + 1), 30)[:n]
        labels = [EXPRESSION_CATEGORIES[i] for i in dominant]
        conf = rng.uniform(0.2, 1.0, n)
        t0 = time.perf_counter()
        spans = expression_spans(ts, labels, conf)
        print(f"expression spans from an hour of frames ({n} frames -> {len(spans)} spans): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms")

        from cuewatch.project.export import export_project
        out = work / "eaf"
        t0 = time.perf_counter()
        files = export_project(path, "eaf", out, recordings=["1"], purpose="supervision")
        print(f"export ELAN of one recording ({files[0].stat().st_size / 1e6:.2f} MB): "
              f"{time.perf_counter() - t0:.2f} s  (target < 2 s)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
