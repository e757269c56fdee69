"""Issue 12.3 in the app: the timeline's context menu marks the current annotation's span
as the client's neutral face; the project stores it, the flags are recomputed with it and
the lanes read the expression against it. Offscreen Qt, the real analysed sample, no mocks."""

from __future__ import annotations

import os

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from test_app_main import REVIEWER, open_sample, sample_media, sample_project, window  # noqa: E402,F401

from cuewatch.expression.cache import track_expression  # noqa: E402
from cuewatch.features.folder import load_features  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402

SPAN = (1.5, 3.3)  # the sample's first client turn


def _lane_valence(window) -> np.ndarray:  # type: ignore[no-untyped-def]
    v = window.timeline.data.valence.levels[0][2]
    return v[np.isfinite(v)]


def _action(menu, text: str):  # type: ignore[no-untyped-def]
    hits = [a for a in menu.actions() if a.text().startswith(text)]
    return hits[0] if hits else None


def test_context_menu_marks_the_annotation_as_neutral_and_the_lanes_follow(
        qtbot, window, sample_project):  # noqa: F811
    open_sample(qtbot, window, sample_project)
    view = window.qt_timeline
    before = _lane_valence(window)
    lane = view.lane("annotations")
    y = lane.top + lane.height / 2
    assert _action(view.context_menu(view.x_of(2.0), y), view.MARK_NEUTRAL) is None  # no span yet
    window.document.add_annotation(1, *SPAN, "calm")
    menu = view.context_menu(view.x_of(2.0), y)
    mark = _action(menu, view.MARK_NEUTRAL)
    assert mark is not None and "1.50 - 3.30 s" in mark.text()
    assert _action(menu, view.CLEAR_NEUTRAL) is None
    old_data = window.data
    with qtbot.waitSignal(window.document.flagsChanged, timeout=20000):
        mark.trigger()
    qtbot.waitUntil(lambda: window.data is not old_data and window.data.neutral_span == SPAN,
                    timeout=20000)

    with Project.open(sample_project) as p:
        client = p.recordings.client_track(1)
        assert p.recordings.neutral_span(1) == SPAN
        assert p.audit.all(action="set_neutral")[-1].actor == REVIEWER
        features = load_features(p.analyses.features_dir(1))
        stored = [(f.start, f.end, f.severity) for f in p.flags.all(1)]
    marked = track_expression(features, client, SPAN).valence
    after = _lane_valence(window)
    assert np.allclose(after, marked, atol=1e-6) and not np.allclose(after, before, atol=0.02)
    assert [(f.start, f.end, f.severity) for f in window.data.flags] == stored
    qtbot.waitUntil(lambda: "neutral face marked at 1.50-3.30 s" in window.status_label.text(),
                    timeout=5000)

    # the menu now offers to forget it (at the playhead, away from the annotation, too)
    old_data = window.data
    clear = _action(view.context_menu(view.x_of(20.0), view.lane("annotations").top - 5),
                    view.CLEAR_NEUTRAL)
    assert clear is not None
    with qtbot.waitSignal(window.document.flagsChanged, timeout=20000):
        clear.trigger()
    qtbot.waitUntil(lambda: window.data is not old_data, timeout=20000)
    assert window.data.neutral_span is None
    assert np.allclose(_lane_valence(window), before, atol=1e-6)
    with Project.open(sample_project) as p:
        assert p.recordings.neutral_span(1) is None
