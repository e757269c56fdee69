#!/usr/bin/env python3
"""Timeline repaint time for a 60-minute recording (issue 5: "repaints stay smooth").

Fills the app's timeline with an hour of per-frame values at 30 fps (108,000 samples of
valence and dominant expression), 1,200 utterances and 120 flags, then times full
repaints of the widget (offscreen) at several zoom levels. Smooth means well under one
frame of a 60 Hz display (16 ms).

Usage: python benchmarks/bench_app_timeline.py [--minutes 60] [--width 1400] [--repeats 30]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication  # noqa: E402

from cuewatch.domain import Flag, Gap, MoodSegment  # noqa: E402
from cuewatch.formats import EXPRESSION_CATEGORIES  # noqa: E402
from cuewatch_ui.qt_timeline import QtTimeline  # noqa: E402
from cuewatch_ui.timeline import CategoryRuns, Envelope, Timeline, TimelineData  # noqa: E402


def hour_of_data(seconds: float, fps: float = 30.0) -> TimelineData:
    rng = np.random.default_rng(0)
    t = np.arange(0, seconds, 1 / fps)
    valence = np.clip(np.sin(t / 9.0) * 0.7 + rng.normal(0, 0.1, len(t)), -1, 1)
    valence[(t % 300) < 4] = np.nan                           # face-not-seen holes
    dominant = (np.floor(t / 2.5) % len(EXPRESSION_CATEGORIES)).astype(int)
    segments = [MoodSegment(s, s + 2.6, "Client" if i % 2 else "Therapist", "I'm fine, really",
                            valence=float(rng.uniform(-1, 1)), category="happy")
                for i, s in enumerate(np.arange(0, seconds, 3.0))]
    flags = [Flag(s, s + 2.0, "incongruence" if i % 3 else "leak", 0, {"words": "fine"},
                  {"category": "sad"}, float(rng.uniform(0.3, 1)), float(rng.uniform(0, 1)), id=i + 1)
             for i, s in enumerate(np.arange(10, seconds, 30.0))]
    return TimelineData(duration=seconds, segments=segments, client_speaker="Client",
                        valence=Envelope(t, valence),
                        expression=CategoryRuns.from_samples(t, dominant, EXPRESSION_CATEGORIES, 2 / fps),
                        flags=flags, gaps=[Gap(s, s + 4, 0) for s in np.arange(0, seconds, 300.0)],
                        verdicts={f.id: "agree" for f in flags[::4]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    seconds = args.minutes * 60
    t0 = time.perf_counter()
    data = hour_of_data(seconds)
    build = time.perf_counter() - t0
    timeline = Timeline()
    view = QtTimeline(timeline)
    view.resize(args.width, 300)
    view.show()
    app.processEvents()
    timeline.set_data(data)
    print(f"{args.minutes:g} min, {len(data.valence or [])} samples, {len(data.segments)} utterances, "
          f"{len(data.flags)} flags; envelopes built in {build * 1000:.0f} ms")
    worst = 0.0
    for span in (seconds, 600.0, 60.0, 5.0):
        timeline.set_view(seconds / 3, seconds / 3 + span)
        view.canvas.repaint()  # warm the caches
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            view.canvas.repaint()
            times.append(time.perf_counter() - t0)
        ms = np.array(times) * 1000
        worst = max(worst, float(np.median(ms)))
        print(f"  view {span:>6g} s: repaint median {np.median(ms):5.1f} ms, max {ms.max():5.1f} ms")
    print(f"slowest median repaint: {worst:.1f} ms (target < 16 ms)")


if __name__ == "__main__":
    main()
