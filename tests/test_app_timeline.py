"""The timeline model and view: envelopes, zoom, scroll, click to seek, drag to annotate.

These use an hour of synthetic per-frame values (the envelope maths and the widget's
interaction do not depend on where the numbers came from); the app tests on the sample
project check the timeline against real analysis output.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QHelpEvent, QWheelEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolTip  # noqa: E402

from cuewatch.domain import Flag, Gap, MoodSegment  # noqa: E402
from cuewatch.formats import EXPRESSION_CATEGORIES  # noqa: E402
from cuewatch_ui.qt_timeline import LABEL_WIDTH, QtTimeline  # noqa: E402
from cuewatch_ui.timeline import CategoryRuns, Envelope, SpanIndex, Timeline, TimelineData  # noqa: E402

HOUR = 3600.0


def brute_buckets(t: np.ndarray, v: np.ndarray, start: float, end: float, n: int):
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    for ti, vi in zip(t, v):
        if start <= ti < end and not np.isnan(vi):
            b = min(n - 1, int((ti - start) / (end - start) * n))
            lo[b] = vi if np.isnan(lo[b]) else min(lo[b], vi)
            hi[b] = vi if np.isnan(hi[b]) else max(hi[b], vi)
    return lo, hi


def test_envelope_matches_brute_force_when_fine():
    rng = np.random.default_rng(1)
    t = np.sort(rng.uniform(0, 60, 900))
    v = rng.uniform(-1, 1, 900)
    v[100:150] = np.nan
    env = Envelope(t, v)
    lo, hi = env.buckets(10.0, 20.0, 400)   # < 4 samples per bucket: level 0, exact
    blo, bhi = brute_buckets(t, v, 10.0, 20.0, 400)
    np.testing.assert_allclose(lo, blo, equal_nan=True)
    np.testing.assert_allclose(hi, bhi, equal_nan=True)


def test_envelope_bounds_hold_when_coarse():
    t = np.arange(0, HOUR, 1 / 15)
    v = np.sin(t / 7.0)
    v[15000:16000] = np.nan
    env = Envelope(t, v)
    assert len(env.levels) > 8            # a real pyramid, not one level
    lo, hi = env.buckets(0.0, HOUR, 1000)
    blo, bhi = brute_buckets(t[::1], v, 0.0, HOUR, 1000)
    ok = ~np.isnan(blo)
    # coarse levels may merge a block across a bucket edge: never narrower than the truth
    assert np.all(lo[ok] <= blo[ok] + 1e-9) and np.all(hi[ok] >= bhi[ok] - 1e-9)
    assert np.nanmax(np.abs(lo[ok] - blo[ok])) < 0.05      # and hardly wider: one block
    assert np.nanmax(hi) == pytest.approx(1.0, abs=1e-3)
    assert np.isnan(lo[int(15100 / 15 / HOUR * 1000)])   # the face-not-seen hole stays a hole


def test_category_runs_and_span_index():
    t = np.arange(0, 10, 0.1)
    cat = (t >= 5).astype(int)       # neutral then happy
    runs = CategoryRuns.from_samples(t, cat, EXPRESSION_CATEGORIES, 0.25)
    assert len(runs.start) == 2
    assert runs.at(2.0) == 0 and runs.at(7.0) == 1 and runs.at(50.0) == -1
    assert list(runs.buckets(0, 10, 4)) == [0, 0, 1, 1]

    spans = [(float(i), i + 0.5) for i in range(3600)]
    index = SpanIndex(spans)
    few = index.visible(100.0, 110.0, 800)
    assert sorted(few.tolist()) == list(range(100, 111))   # 99 ends at 99.5; 110 touches the end
    many = index.visible(0.0, HOUR, 500)
    assert len(many) <= 500                     # at most one per pixel column


def hour_data() -> TimelineData:
    t = np.arange(0, HOUR, 1 / 15)
    segments = [MoodSegment(s, s + 2.5, "Client" if i % 2 else "Therapist", "I am fine",
                            valence=0.6 if i % 3 else -0.6, category="happy")
                for i, s in enumerate(np.arange(0, HOUR, 3.0))]
    flags = [Flag(s, s + 2, "incongruence" if i % 2 else "leak", 0, {"words": "fine"},
                  {"category": "sad"}, 0.7, (i % 4) / 3, id=i + 1)
             for i, s in enumerate(np.arange(5, HOUR, 30.0))]
    return TimelineData(duration=HOUR, segments=segments, client_speaker="Client",
                        valence=Envelope(t, np.sin(t / 5)),
                        expression=CategoryRuns.from_samples(t, (t // 4 % 8).astype(int),
                                                             EXPRESSION_CATEGORIES, 0.2),
                        flags=flags, gaps=[Gap(100, 130, 0)], verdicts={1: "agree"})


@pytest.fixture
def view(qtbot):
    timeline = Timeline()
    widget = QtTimeline(timeline)
    qtbot.addWidget(widget)
    widget.resize(1200, 260)
    widget.show()
    qtbot.waitExposed(widget)
    timeline.set_data(hour_data())
    return timeline, widget


def wheel(widget: QtTimeline, x: float, delta: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    canvas = widget.canvas
    pos = QPointF(x, 60)
    event = QWheelEvent(pos, canvas.mapToGlobal(pos), QPoint(), QPoint(0, delta),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas, event)


def test_wheel_zooms_around_the_pointer_and_shift_scrolls(view):
    timeline, widget = view
    assert timeline.span == pytest.approx(HOUR)
    x = LABEL_WIDTH + widget.plot_width * 0.25
    anchor = widget.t_of(x)
    for _ in range(10):
        wheel(widget, x, 120)
    assert timeline.span < HOUR * 0.2
    assert widget.t_of(x) == pytest.approx(anchor, abs=timeline.span * 0.01)
    start = timeline.start
    wheel(widget, x, -120, Qt.KeyboardModifier.ShiftModifier)
    assert timeline.start > start                      # scrolled right
    assert widget.scrollbar.value() > 0                # and the scroll bar follows
    widget.scrollbar.setValue(0)
    assert timeline.start == pytest.approx(0.0)
    for _ in range(40):
        wheel(widget, x, -120)
    assert timeline.span == pytest.approx(HOUR)        # never beyond the recording


def test_hour_repaints_from_envelopes(view, qtbot):
    timeline, widget = view
    image = widget.canvas.grab().toImage()
    lane = widget.lane("valence")
    # the valence band is drawn across the whole width (an hour of samples, one per column)
    coloured = 0
    for x in range(LABEL_WIDTH + 2, widget.canvas.width() - 2, 10):
        col = [image.pixelColor(x, int(lane.top + y)) for y in range(int(lane.height))]
        coloured += any(c.blue() > c.red() + 40 for c in col)
    assert coloured > 0.9 * ((widget.canvas.width() - LABEL_WIDTH - 4) / 10)


def test_click_seeks_flag_click_selects_and_drag_annotates(view, qtbot):
    timeline, widget = view
    timeline.set_view(0, 60)
    canvas = widget.canvas
    seeks = []
    widget.seekRequested.connect(seeks.append)
    ruler_y = 5
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(widget.x_of(20.0)), ruler_y))
    assert seeks and seeks[-1] == pytest.approx(20.0, abs=0.2)

    clicked = []
    widget.flagClicked.connect(clicked.append)
    flags_lane = widget.lane("flags")
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=QPoint(int(widget.x_of(36.0)), int(flags_lane.bottom - 3)))
    assert clicked == [1]          # the flag at 35-37 s is index 1

    labelled = []
    widget.ask_label = lambda a, b: "missed smile"
    widget.annotationRequested.connect(lambda a, b, label: labelled.append((a, b, label)))
    lane = widget.lane("annotations")
    y = int(lane.top + lane.height / 2)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(widget.x_of(10.0)), y))
    qtbot.mouseMove(canvas, QPoint(int(widget.x_of(12.0)), y))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(int(widget.x_of(14.0)), y))
    assert len(labelled) == 1
    a, b, label = labelled[0]
    assert a == pytest.approx(10.0, abs=0.2) and b == pytest.approx(14.0, abs=0.2)
    assert label == "missed smile"


def test_tooltips_explain_each_lane(view):
    timeline, widget = view
    timeline.set_view(0, 60)
    flags_lane = widget.lane("flags")
    text = widget.tooltip_at(widget.x_of(36.0), flags_lane.top + 5)
    assert "leak" in text or "incongruence" in text
    assert "confidence" in text
    seg_lane = widget.lane("speaker:Client")
    assert "I am fine" in widget.tooltip_at(widget.x_of(4.0), seg_lane.top + 5)
    gap_lane = widget.lane("gaps")
    timeline.set_view(90, 150)
    assert "face not visible" in widget.tooltip_at(widget.x_of(110.0), gap_lane.top + 3)


def test_hovering_shows_the_tooltip_and_the_widget_still_moves(view, qtbot):
    """A real tooltip event reaches the lane's text (QHelpEvent has pos(), not position()),
    and the timeline is still a QWidget that moves (its drag handler is not called move)."""
    timeline, widget = view
    timeline.set_view(0, 60)
    canvas = widget.canvas
    pos = QPoint(int(widget.x_of(36.0)), int(widget.lane("flags").top + 5))
    QApplication.sendEvent(canvas, QHelpEvent(QEvent.Type.ToolTip, pos, canvas.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: "confidence" in QToolTip.text(), timeout=3000)
    widget.move(5, 7)
    assert widget.pos() == QPoint(5, 7)
