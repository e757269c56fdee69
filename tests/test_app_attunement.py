"""The app's attunement views (issue 13) on the real analysed sample project: the Response
column and the missed-moments filter, the response in the flag detail, the therapist and
synchrony lanes, and the session summary panel, whose rows jump to their moment and which
follows a sensitivity change. Offscreen Qt, the core's project store, no mocks.

The sample's therapist moves on from two moments and misses the third; ``named_project``
gives it a transcript (the sample's, with two therapist turns rewritten) where the trainee
names the first moment and explores the second, analysed again by the core (the face pass
comes from the cache), so the filter has moments to leave out. ``two_person_project`` puts
a second, real face beside the sample's client (ffmpeg, the Pexels clip as the therapist)
so the therapist lane and the synchrony lane have values (its analysis takes ~2 minutes).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from conftest import copy_project  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from test_app_main import open_sample, sample_project, window  # noqa: E402,F401

from cuewatch.cli.demo_cmd import SAMPLE_MEDIA, SAMPLE_TRANSCRIPT  # noqa: E402
from cuewatch.formats import MISSED_RESPONSE_KINDS, THERAPIST_NOT_ON_CAMERA  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402
from cuewatch_ui.flag_review import RESPONSE_FILTERS  # noqa: E402
from cuewatch_ui.qt_flag_review import MISSED_FILTER_TEXT, RESPONSE  # noqa: E402
from cuewatch_ui.qt_timeline import response_label  # noqa: E402
from cuewatch_ui.session_summary import (  # noqa: E402
    MEDIAN_LATENCY,
    MISSED,
    MOMENTS,
    NAMED_OR_EXPLORED,
    NOT_COMPUTED,
    SYNCHRONY_Z,
)

#: the sample's therapist turns after its first two flagged moments, and what the trainee
#: says instead in ``named_project``: naming the feeling, then an open question about it
REWRITES = {
    "What happened with your sister?":
        "You smiled as you said that, but it sounds like you have been feeling lonely.",
    "How did the interview go?": "What was that like for you, with your sister?",
}


@pytest.fixture
def named_project(sample_project: Path, tmp_path: Path, model_path: Path) -> Path:
    """The sample project with the rewritten transcript attached and analysed again."""
    from cuewatch.project.queue import run_queued

    text = (SAMPLE_MEDIA / SAMPLE_TRANSCRIPT).read_text(encoding="utf-8")
    for old, new in REWRITES.items():
        assert old in text
        text = text.replace(old, new)
    vtt = tmp_path / "named.vtt"
    vtt.write_text(text, encoding="utf-8")
    with Project.open(sample_project) as p:
        p.recordings.attach_transcript(1, vtt, kind="transcript")
    summary = run_queued(sample_project, model=str(model_path))
    assert summary.done and not summary.failed
    return sample_project


def stored(project: Path):
    with Project.open(project) as p:
        return p.flags.all(1), p.attunement.responses(1), p.attunement.summary(1)


def summary_value(window, label: str) -> str:
    model = window.summary.model
    index = model.find(label)
    assert index.isValid(), label
    return model.index(index.row(), 1).data()


def click_row(qtbot, tree, index) -> None:
    """A real click on the row's cell in the tree's viewport."""
    tree.scrollTo(index)
    rect = tree.visualRect(index)
    assert rect.isValid() and rect.height() > 0
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_response_column_and_missed_moments_filter(qtbot, window, named_project):
    flags, responses, summary = stored(named_project)
    kinds = {f.id: responses[f.id].kind for f in flags}
    assert sorted(kinds.values()) == ["explored", "named", "none"], kinds
    open_sample(qtbot, window, named_project)
    model = window.flag_list.model
    assert model.headerData(RESPONSE, Qt.Orientation.Horizontal) == "Response"
    shown = {window.review.flags[model.flag_index(r)].id: model.index(r, RESPONSE).data()
             for r in range(model.rowCount())}
    assert shown == {fid: response_label(k) for fid, k in kinds.items()}

    combo = window.flag_list.response_combo
    assert [combo.itemData(i) for i in range(combo.count())] == list(RESPONSE_FILTERS)
    combo.setCurrentIndex(combo.findText(MISSED_FILTER_TEXT))
    visible = [window.review.flags[i].id for i in window.review.visible]
    assert visible == list(summary.missed) and 0 < len(visible) < len(flags)
    assert all(responses[fid].kind in MISSED_RESPONSE_KINDS for fid in visible)
    assert model.rowCount() == len(visible)
    assert window.flag_list.count_label.text() == f"{len(visible)} of {len(flags)} flags"
    combo.setCurrentIndex(combo.findData("named"))
    assert [window.review.flags[i].id for i in window.review.visible] == \
        [fid for fid, k in kinds.items() if k == "named"]
    combo.setCurrentIndex(combo.findData("any"))
    assert model.rowCount() == len(flags)


def test_flag_detail_shows_the_response_and_plays_it(qtbot, window, named_project):
    flags, responses, _summary = stored(named_project)
    open_sample(qtbot, window, named_project)
    named = next(f for f in flags if responses[f.id].kind == "named")
    window.review.set_current(window.review.index_of(named.id))
    detail, response = window.flag_detail, responses[named.id]
    assert detail.response_kind.text() == "named"
    assert response.evidence and response.evidence in detail.response_words.text()
    assert detail.response_latency.text() == f"{response.latency_s:.1f} s after the moment"
    # the sample's therapist is not on camera: no mirroring verdict, the reason instead
    assert detail.mirroring.text() == THERAPIST_NOT_ON_CAMERA
    assert detail.play_response.isEnabled()
    qtbot.mouseClick(detail.play_response, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(window.player.position - response.turn_start) < 0.05, timeout=5000)
    assert window.player.loop_span is None
    missed = next(f for f in flags if responses[f.id].kind == "none")
    window.review.set_current(window.review.index_of(missed.id))
    assert detail.response_kind.text() == "none  \u00b7 missed moment"
    assert not detail.play_response.isEnabled()


def test_summary_panel_shows_the_store_and_its_rows_jump(qtbot, window, named_project):
    flags, responses, summary = stored(named_project)
    open_sample(qtbot, window, named_project)
    assert window.summary.isVisible() and window.summary.tree.isVisible()
    assert summary_value(window, MOMENTS) == str(summary.moments) == str(len(flags))
    assert summary_value(window, NAMED_OR_EXPLORED) == \
        f"{summary.share_named_or_explored:.0%} (2 of {len(flags)})"
    assert summary_value(window, MISSED) == str(len(summary.missed))
    assert summary_value(window, MEDIAN_LATENCY) == f"{summary.median_latency_s:.1f} s"
    assert summary.synchrony_z is None and summary_value(window, SYNCHRONY_Z) == "\u2013"
    model, tree = window.summary.model, window.summary.tree
    sync = model.itemFromIndex(model.find(SYNCHRONY_Z))
    assert sync.child(0).text() == summary.synchrony_reason == THERAPIST_NOT_ON_CAMERA
    assert "not on camera" in window.summary.people.text()

    # a missed moment's row (listed under Missed moments, open): the flag becomes current,
    # the player loops it and the timeline shows it
    window.timeline.set_view(0.0, 2.0)
    missed_row = model.itemFromIndex(model.find(MISSED))
    assert missed_row.rowCount() == len(summary.missed)
    target = next(f for f in flags if f.id == summary.missed[-1])
    click_row(qtbot, tree, missed_row.child(missed_row.rowCount() - 1).index())
    assert window.review.current_flag is not None and window.review.current_flag.id == target.id
    qtbot.waitUntil(lambda: abs(window.player.position - target.start) < 0.05, timeout=5000)
    assert window.player.loop_span == pytest.approx((target.start, target.end))
    assert window.timeline.start <= target.start and target.end <= window.timeline.end
    assert window.timeline.selected == window.flag_list.model.flag_index(
        window.flag_list.table.currentIndex().row())

    # a figure's row jumps to its moment: the first moment named or explored
    first = next(f for f in flags if responses[f.id].kind in ("named", "explored"))
    click_row(qtbot, tree, model.find(NAMED_OR_EXPLORED).siblingAtColumn(1))
    assert window.review.current_flag.id == first.id
    qtbot.waitUntil(lambda: abs(window.player.position - first.start) < 0.05, timeout=5000)


def test_summary_follows_a_sensitivity_change(qtbot, window, named_project, monkeypatch):
    """A recompute at another sensitivity stores new flags with their responses; the
    panel, the Response column and the responses lane show the new store."""
    from cuewatch.flags import incongruence

    # low must drop a flag on the sample (as in test_app_main): a stricter valence threshold
    monkeypatch.setitem(incongruence.PRESETS, "low",
                        dataclasses.replace(incongruence.PRESETS["low"], valence=0.3))
    open_sample(qtbot, window, named_project)
    before = stored(named_project)[2]
    assert summary_value(window, MOMENTS) == str(before.moments)
    window.sensitivity.setCurrentText("low")
    qtbot.waitUntil(lambda: window.recompute_task is not None and window.recompute_task.done,
                    timeout=10000)
    flags, responses, after = stored(named_project)
    assert after.moments < before.moments
    assert summary_value(window, MOMENTS) == str(after.moments)
    assert summary_value(window, MISSED) == str(len(after.missed))
    missed_row = window.summary.model.itemFromIndex(window.summary.model.find(MISSED))
    assert missed_row.rowCount() == len(after.missed)
    model = window.flag_list.model
    assert [model.index(r, RESPONSE).data() for r in range(model.rowCount())] == \
        [response_label(responses[f.id].kind) for f in flags]
    assert [m.flag_id for m in window.timeline.data.responses] == [f.id for f in flags]


def test_a_project_analysed_before_responses_gains_them_on_recompute(qtbot, window, sample_project):
    """A project from before the attunement tables (migrated: the tables empty) says so in
    the panel, and the next flag recompute fills it."""
    import sqlite3

    with sqlite3.connect(sample_project) as db:
        db.execute("DELETE FROM flag_responses")
        db.execute("DELETE FROM synchrony")
    open_sample(qtbot, window, sample_project)
    panel = window.summary
    assert not panel.tree.isVisible() and panel.empty.isVisible()
    assert panel.empty.text() == NOT_COMPUTED
    assert window.timeline.data.responses == []
    window.sensitivity.setCurrentText("high")
    qtbot.waitUntil(lambda: window.recompute_task is not None and window.recompute_task.done,
                    timeout=10000)
    _flags, responses, summary = stored(sample_project)
    assert responses and panel.tree.isVisible() and not panel.empty.isVisible()
    assert summary_value(window, MOMENTS) == str(summary.moments)
    assert len(window.timeline.data.responses) == len(responses)


def test_therapist_and_synchrony_lanes_say_why_they_have_no_values(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    with Project.open(sample_project) as p:
        speaker, track = p.attunement.therapist(1)
        sync = p.attunement.synchrony(1)
    assert speaker == "Therapist" and track is None       # the sample: one face on camera
    view, data = window.qt_timeline, window.timeline.data
    assert [lane.key for lane in view.lanes if lane.key in ("therapist", "synchrony", "responses")] \
        == ["therapist", "synchrony", "responses"]
    assert data.therapist_expression is None and data.therapist_note == THERAPIST_NOT_ON_CAMERA
    assert data.synchrony is None and data.synchrony_note == sync.reason == THERAPIST_NOT_ON_CAMERA
    for key in ("therapist", "synchrony"):
        lane = view.lane(key)
        assert view.tooltip_at(view.x_of(10.0), lane.top + 2) == THERAPIST_NOT_ON_CAMERA
    # the note is painted in the lane (grey text where the values would be)
    image = view.canvas.grab().toImage()
    lane = view.lane("therapist")
    row = int(lane.top + lane.height / 2)
    painted = [image.pixelColor(x, row) for x in range(int(view.x_of(0.0)) + 6,
                                                        int(view.x_of(0.0)) + 120)]
    assert any(c.red() < 200 and abs(c.red() - c.blue()) < 20 for c in painted)


def test_a_click_on_the_responses_lane_picks_its_flag(qtbot, window, sample_project):
    open_sample(qtbot, window, sample_project)
    view, data = window.qt_timeline, window.timeline.data
    with_turn = [m for m in data.responses if m.at > m.start or m.kind != "none"]
    assert with_turn
    mark = with_turn[-1]
    lane = view.lane("responses")
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton,
                     pos=view.canvas.rect().topLeft() + _point(view.x_of(mark.at) + 3, lane.top + 4))
    assert window.review.current_flag is not None and window.review.current_flag.id == mark.flag_id
    tip = view.tooltip_at(view.x_of(mark.at) + 3, lane.top + 4)
    assert f"response: {response_label(mark.kind)}" in tip


def _point(x: float, y: float):
    from PySide6.QtCore import QPoint

    return QPoint(int(x), int(y))


def test_every_mirroring_verdict_reads_as_words():
    from cuewatch.attunement.synchrony import MIRRORING_VERDICTS
    from cuewatch_ui.qt_flag_review import MIRRORING_TEXT

    assert set(MIRRORING_TEXT) == set(MIRRORING_VERDICTS)


@pytest.fixture(scope="module")
def two_person_project(tmp_path_factory, media_dir: Path, model_path: Path) -> Path:
    """A two-person recording analysed by the core: the sample's client on the left and,
    as the therapist, the Pexels face on the right (ffmpeg side by side), with the
    sample's transcript and consent. The therapist's face is found by the analysis."""
    import json
    import subprocess

    from cuewatch.exports.clips import ffmpeg_exe
    from cuewatch.project.queue import run_queued

    folder = tmp_path_factory.mktemp("two_person")
    video = folder / "two_person.mp4"
    therapist = media_dir / "pexels" / "WolfgangLanger_Pexels.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(SAMPLE_MEDIA / "demo_roleplay.mp4"),
                    "-i", str(therapist), "-filter_complex",
                    "[1:v]fps=30,scale=640:360,pad=640:480:0:60,tpad=stop_mode=clone:stop_duration=2[r];"
                    "[0:v]fps=30[l];[l][r]hstack=inputs=2,trim=duration=21[v]",
                    "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-threads", "1",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(video)], check=True)
    consent = json.loads((SAMPLE_MEDIA / "demo_roleplay.mp4.consent.json").read_text(encoding="utf-8"))
    consent["participants"][1] = {"name": "Pexels face standing in for the trainee", "role": "therapist"}
    consent["scopes"] = ["training", "supervision"]
    (folder / "two_person.mp4.consent.json").write_text(json.dumps(consent), encoding="utf-8")
    project = folder / "two.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(video, transcript=SAMPLE_MEDIA / SAMPLE_TRANSCRIPT, client_face="left")
    summary = run_queued(project, model=str(model_path))
    assert summary.done and not summary.failed
    return project


def test_two_people_the_therapist_lane_reads_their_own_face(qtbot, window, two_person_project,
                                                           tmp_path):
    """With the therapist on camera, their lane is their own track's expression (the core
    path the client's lanes use), the synchrony lane is the stored series, and the detail
    gives the mirroring verdict instead of a reason."""
    import numpy as np

    from cuewatch.features.folder import load_features
    from cuewatch.formats import EXPRESSION_CATEGORIES
    from cuewatch_ui.document import client_expression
    from cuewatch_ui.qt_flag_review import MIRRORING_TEXT


    project = copy_project(two_person_project, tmp_path)
    with Project.open(project) as p:
        speaker, track = p.attunement.therapist(1)
        client = p.recordings.client_track(1)
        sync = p.attunement.synchrony(1)
        responses = p.attunement.responses(1)
        features = load_features(p.analyses.features_dir(1))
    assert speaker == "Therapist" and track is not None and track != client
    open_sample(qtbot, window, project)
    data = window.timeline.data
    assert data.therapist_note == "" and data.therapist_expression is not None
    series = client_expression(features, track)
    t = np.asarray(series.timestamps)
    runs = data.therapist_expression
    inside = [i for i in range(0, len(t), 7) if runs.at(float(t[i])) >= 0]
    assert len(inside) > len(t) // 14        # the lane covers the therapist's frames
    assert all(runs.names[runs.at(float(t[i]))] == EXPRESSION_CATEGORIES[int(series.dominant[i])]
               for i in inside)
    view = window.qt_timeline
    tip = view.tooltip_at(view.x_of(float(t[inside[0]])), view.lane("therapist").top + 2)
    assert "therapist's expression" in tip
    assert sync is not None and sync.over_time
    assert data.synchrony is not None and len(data.synchrony) == len(sync.over_time)
    assert "face track" in window.summary.people.text()
    flag = window.review.flags[0]
    window.review.set_current(0)
    mirroring = responses[flag.id].mirroring
    assert mirroring is not None
    assert window.flag_detail.mirroring.text() == MIRRORING_TEXT[mirroring]
    # the synchrony row jumps to where the two faces moved together most (no loop)
    peak = max((r, t) for t, r in sync.over_time if math.isfinite(r))[1]
    click_row(qtbot, window.summary.tree, window.summary.model.find(SYNCHRONY_Z))
    qtbot.waitUntil(lambda: abs(window.player.position - peak) < 0.05, timeout=5000)
    assert window.player.loop_span is None
    assert window.timeline.start <= peak <= window.timeline.end


def test_a_recording_without_words_says_where_responses_come_from(qtbot, window, tmp_path,
                                                                 model_path):
    """No transcript: no flags, no responses; the panel and the synchrony lane say why
    (not "analyse again", which would not help)."""
    from cuewatch.cli.demo_cmd import SAMPLE_VIDEO
    from cuewatch.project.queue import run_queued
    from cuewatch_ui.document import SYNCHRONY_NO_WORDS
    from cuewatch_ui.session_summary import NO_WORDS

    project = tmp_path / "silent.cuewatch"
    with Project.create(project) as p:
        p.recordings.add(SAMPLE_MEDIA / SAMPLE_VIDEO)
    assert run_queued(project, model=str(model_path)).done
    open_sample(qtbot, window, project)
    panel = window.summary
    assert not panel.tree.isVisible() and panel.empty.text() == NO_WORDS
    assert window.timeline.data.synchrony_note == SYNCHRONY_NO_WORDS
    assert window.flag_list.model.rowCount() == 0
