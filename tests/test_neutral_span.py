"""Issue 12.3: a neutral span marked per person and recording, stored in the project
(audited), and used by flags, the app's lanes, every export and a re-analysis. Real
SQLite, real features of the analysed sample (``analysed_demo``), no mocks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_project

from cuewatch.cli import main
from cuewatch.errors import ProjectError
from cuewatch.expression.cache import track_expression
from cuewatch.features.folder import load_features
from cuewatch.flags.incongruence import detect_flags
from cuewatch.project.export import export_project, gather_bundle
from cuewatch.project.store import Project
from cuewatch.recording.analyse import client_expression

#: the sample's first client turn ("It was an ordinary week..."): a calm face
SPAN = (1.5, 3.3)


def _cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _flag_keys(flags) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Each flag's moment and how strong it is (the expressed side moves with the neutral)."""
    return [(round(f.start, 3), round(f.end, 3), f.type, f.track, round(f.severity, 4),
             json.dumps(f.expressed, sort_keys=True)) for f in flags]


@pytest.fixture
def project(analysed_demo: Path, tmp_path: Path) -> Path:
    return copy_project(analysed_demo, tmp_path)


def test_marked_neutral_is_stored_per_track_audited_and_replaced(project: Path) -> None:
    with Project.open(project, actor="sup") as p:
        client = p.recordings.client_track(1)
        assert client is not None and p.recordings.neutral_span(1) is None
        assert p.recordings.set_neutral(1, *SPAN) == client
        assert p.recordings.set_neutral(1, 0.2, 0.9, track=client + 7) == client + 7
        assert p.recordings.neutral_span(1) == SPAN
        assert p.recordings.neutral_spans(1) == {client: SPAN, client + 7: (0.2, 0.9)}
        p.recordings.set_neutral(1, 2.0, 3.0)  # marking again replaces, per track
        assert p.recordings.neutral_span(1, client) == (2.0, 3.0)
        assert p.recordings.clear_neutral(1) and not p.recordings.clear_neutral(1)
        assert p.recordings.neutral_spans(1) == {client + 7: (0.2, 0.9)}
        for bad in ((3.0, 2.0), (-1.0, 2.0), (1e9, 1e9 + 1)):
            with pytest.raises(ProjectError):
                p.recordings.set_neutral(1, *bad)
        actions = [(e.action, e.actor, e.detail) for e in p.audit.all()
                   if e.action in ("set_neutral", "clear_neutral")]
    assert actions[0] == ("set_neutral", "sup", {"track": client, "start": SPAN[0], "end": SPAN[1]})
    assert [a[0] for a in actions] == ["set_neutral"] * 3 + ["clear_neutral"]


def test_marked_neutral_reaches_flags_exports_and_provenance(capsys, project: Path,
                                                             tmp_path: Path) -> None:
    with Project.open(project) as p:
        client = p.recordings.client_track(1)
        features = load_features(p.analyses.features_dir(1))
        segments = p.analyses.mood_segments(1)
        speaker = p.recordings.client_speaker(1)
        settings = p.analyses.latest(1).flag_settings
    auto = track_expression(features, client)
    marked = track_expression(features, client, SPAN)
    # where each neutral came from, kept in the expression cache too
    assert marked.neutral_source == "marked" and auto.neutral_source.startswith("found")
    assert track_expression(features, client, SPAN).neutral_source == "marked"
    # the span changes what the face reads as: otherwise this test could not fail
    assert np.max(np.abs(auto.valence - marked.valence)) > 0.02
    expected = detect_flags(features, marked, segments, speaker, client, settings)[0]

    code, out, err = _cli(capsys, "project", "neutral", project, "1", f"{SPAN[0]}:{SPAN[1]}")
    assert code == 0, err
    assert f"neutral face of track {client} marked at 1.5-3.3 s" in out and "flag(s) raised" in out
    with Project.open(project) as p:
        assert _flag_keys(p.flags.all(1)) == _flag_keys(expected)
        bundle = gather_bundle(p, 1)
        assert bundle.provenance["rules"]["neutral_span"] == list(SPAN)
        assert bundle.provenance["parameters"]["neutral_spans"] == {str(client): list(SPAN)}
        assert np.allclose(bundle.valence_curve[1], marked.valence)

    out_dir = tmp_path / "frames"
    files = export_project(project, "frames", out_dir, purpose="research")
    table = next(f for f in files if f.name.endswith(".frames.csv"))
    with open(table, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["face_id"] == str(client) and r["success"] == "1"]
    assert len(rows) == len(marked.valence)
    assert np.allclose([float(r["valence"]) for r in rows], marked.valence, atol=1e-4)
    sidecar = json.loads(next(f for f in files if f.suffix == ".json").read_text())
    assert sidecar["provenance"]["rules"]["neutral_span"] == list(SPAN)

    # cleared: the automatic neutral again, in the flags too
    code, out, err = _cli(capsys, "project", "neutral", project, "1", "--clear")
    assert code == 0, err and "found automatically again" in out
    with Project.open(project) as p:
        auto_flags = detect_flags(features, client_expression(features, client), segments, speaker,
                                  client, settings)[0]
        assert _flag_keys(p.flags.all(1)) == _flag_keys(auto_flags)
        assert gather_bundle(p, 1).provenance["rules"]["neutral_span"] is None


@pytest.mark.parametrize("argv, message", [
    (["1", "40:41"], "not seen in 40-41 s"),
    (["1", "1:2", "--track", "99"], "no face track 99"),
    (["1", "--clear"], "no neutral span marked"),
    (["1", "1:2", "--clear"], "not both"),
    (["1"], "not both"),
    (["9", "1:2"], "no recording"),
])
def test_project_neutral_bad_input_is_one_line_and_changes_nothing(capsys, project: Path,
                                                                   argv, message) -> None:
    with Project.open(project) as p:
        before = (_flag_keys(p.flags.all(1)), p.recordings.neutral_spans(1))
    code, out, err = _cli(capsys, "project", "neutral", project, *argv)
    assert code == 2 and message in err, (code, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with Project.open(project) as p:
        assert (_flag_keys(p.flags.all(1)), p.recordings.neutral_spans(1)) == before


def test_reanalysis_from_the_queue_uses_the_marked_neutral(project: Path, model_path: Path) -> None:
    from cuewatch.project.queue import run_queued

    with Project.open(project) as p:
        client = p.recordings.client_track(1)
        p.recordings.set_neutral(1, *SPAN)
        latest = p.analyses.latest(1)
        p.analyses.queue(1, settings=latest.settings, flag_settings=latest.flag_settings)
        features = load_features(latest.features_dir)
        segments, speaker = p.analyses.mood_segments(1), p.recordings.client_speaker(1)
        expected = detect_flags(features, client_expression(features, client, SPAN), segments,
                                speaker, client, latest.flag_settings)[0]
        unmarked = detect_flags(features, client_expression(features, client), segments,
                                speaker, client, latest.flag_settings)[0]
    assert _flag_keys(expected) != _flag_keys(unmarked)
    summary = run_queued(project, model=str(model_path))
    assert len(summary.done) == 1 and not summary.failed
    with Project.open(project) as p:
        assert _flag_keys(p.flags.all(1)) == _flag_keys(expected)


def test_revoking_consent_deletes_the_marked_neutral(project: Path) -> None:
    from cuewatch.project.revocation import revoke_consent

    with Project.open(project) as p:
        client = p.recordings.client_track(1)
        p.recordings.set_neutral(1, *SPAN)
        p.recordings.set_neutral(1, 0.2, 0.9, track=client + 1)
        report = revoke_consent(p, 1)
        assert report.neutral_spans == 2 and "2 neutral spans" in report.lines()[0]
        assert p.recordings.neutral_spans(1) == {}
