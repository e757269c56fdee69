"""The trainee's own congruence (issue 13, section 4): the incongruence check run on the
therapist's face against the therapist's own words, as ``therapist_incongruence`` flags.

A real two-person role-play is built from real faces the way benchmarks/build_cases.py
builds the evaluation's two-person shots: the client (CREMA-D 1001, neutral) on the left,
the Pexels woman on the right as the therapist, in her real continuous clip (crying until
about 6 s, smiling broadly from 10.5 s). The therapist says "That sounds really painful."
twice: while crying (congruent: no flag) and while smiling (a flag on her track, in that
turn). The same video with kind words over the smile raises none. Analysed with the real
model through ``cuewatch analyze`` and a real project (store, recompute, exports).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from cuewatch.consent.policy import therapist_flags_allowed
from cuewatch.consent.record import consent_from_dict
from cuewatch.errors import ConsentError
from cuewatch.exports.tables import read_table
from cuewatch.formats import (
    CLIENT_FLAG_TYPES,
    FLAG_TYPE_LABELS,
    FLAG_TYPES,
    THERAPIST_FLAGS_LEFT_OUT_KEY,
    THERAPIST_INCONGRUENCE,
    THERAPIST_NOT_ON_CAMERA,
)
from cuewatch.options import FlagSettings

ROOT = Path(__file__).resolve().parents[1]
DURATION_S = 19.4
#: the therapist's turns: (start, end) and the words of each transcript
CRYING_TURN = (0.5, 5.5)
SMILING_TURN = (11.5, 16.0)
PAINFUL = "That sounds really painful."
KIND = "I am so glad, that is wonderful news."


def _cues(smiling_words: str) -> list[tuple[float, float, str, str]]:
    return [(*CRYING_TURN, "Therapist", PAINFUL),
            (6.0, 10.0, "Client", "It has been a hard few weeks, honestly."),
            (*SMILING_TURN, "Therapist", smiling_words),
            (16.5, 19.3, "Client", "I suppose so.")]


def _build_cases(media_dir: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_cases", ROOT / "benchmarks" / "build_cases.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_cases"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.MEDIA = media_dir
    return module


def consent(therapist_scopes: list[str] | None = None) -> dict:
    """The recording's consent (every scope); the therapist's own scopes when given."""
    therapist = {"name": "trainee", "role": "therapist"}
    if therapist_scopes is not None:
        therapist["scopes"] = therapist_scopes
    return {"participants": [{"name": "actor", "role": "client"}, therapist],
            "scopes": ["training", "supervision", "research"], "obtained": "2014-01-01"}


@pytest.fixture(scope="module")
def role_play(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> dict[str, Path]:
    """The two-person video and its two transcripts (incongruent, congruent)."""
    bc = _build_cases(media_dir)
    out = tmp_path_factory.mktemp("therapist_role_play")
    client = bc.Panel(1.0, 80, 180, [bc.Span(0.0, DURATION_S, bc.crema("NEU"), loop=True,
                                             audible=False)])
    therapist = bc.Panel(0.9, 660, 198, [bc.Span(0.0, DURATION_S, bc.pexels())])
    case = bc.Case(name="therapist_smiles", width=1280, height=720, client_face="left",
                   panels=[client, therapist], cues=_cues(PAINFUL), segments=[], dont_care=[],
                   duration=DURATION_S)
    bc.write_case(case, out)
    kind = bc.Case(name="therapist_kind", width=1280, height=720, client_face="left",
                   panels=[], cues=_cues(KIND), segments=[], dont_care=[], duration=DURATION_S)
    lines = ["WEBVTT", ""]
    for i, (a, b, who, text) in enumerate(kind.cues, 1):
        lines += [str(i), f"{bc.ts(a)} --> {bc.ts(b)}", f"<v {who}>{text}", ""]
    (out / "therapist_kind.vtt").write_text("\n".join(lines))
    return {"video": out / "therapist_smiles.mp4", "painful": out / "therapist_smiles.vtt",
            "kind": out / "therapist_kind.vtt"}


def analyze(video: Path, transcript: Path, out: Path, cache: Path, model: Path,
            *extra: str) -> Path:
    env = dict(os.environ, CUEWATCH_CACHE=str(cache), CUEWATCH_MODEL=str(model))
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(video), "--transcript",
                           str(transcript), "--consent", json.dumps(consent()), "--out", str(out),
                           *extra], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return out / video.stem


@pytest.fixture(scope="module")
def painful_run(role_play: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                model_path: Path, feature_cache: Path) -> Path:
    return analyze(role_play["video"], role_play["painful"], tmp_path_factory.mktemp("painful"),
                   feature_cache, model_path, "--client-face", "left")


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def test_flag_types_have_readable_labels() -> None:
    assert THERAPIST_INCONGRUENCE == "therapist_incongruence"
    assert FLAG_TYPES == CLIENT_FLAG_TYPES + (THERAPIST_INCONGRUENCE,)
    assert set(FLAG_TYPE_LABELS) == set(FLAG_TYPES)
    assert FLAG_TYPE_LABELS[THERAPIST_INCONGRUENCE] == "therapist incongruence"


def test_a_smile_over_painful_words_flags_the_therapist_on_their_track(painful_run: Path) -> None:
    doc = json.loads((painful_run / "flags.json").read_text())
    summary = json.loads((painful_run / "summary.json").read_text())
    tracks = {t["track_id"]: t for t in summary["tracks"]}
    client, therapist = summary["client"]["track"], summary["therapist"]["track"]
    assert therapist is not None and therapist != client

    def centre_x(tid: int) -> float:
        box = tracks[tid]["mean_bbox"]
        return (box[0] + box[2]) / 2

    assert centre_x(therapist) > 640 > centre_x(client)  # the face on the right: the therapist's
    own = [f for f in doc["flags"] if f["type"] == THERAPIST_INCONGRUENCE]
    assert len(own) == 1, doc["flags"]
    flag = own[0]
    assert flag["track"] == therapist
    assert flag["stated"]["speaker"] == "Therapist" and flag["stated"]["words"] == PAINFUL
    assert flag["stated"]["valence"] < 0 and flag["expressed"]["category"] == "happy"
    assert flag["expressed"]["valence"] > 0.3
    span = (flag["start"], flag["end"])
    assert SMILING_TURN[0] <= span[0] < span[1] <= SMILING_TURN[1]
    assert _overlap(span, SMILING_TURN) >= 0.7 * (SMILING_TURN[1] - SMILING_TURN[0])
    assert SMILING_TURN[0] <= flag["evidence"]["peak_time"] <= SMILING_TURN[1]
    assert "AU12" in flag["evidence"]["aus"]  # the smile is what conflicts
    # the same words over her crying face agree: no flag there
    assert not any(_overlap((f["start"], f["end"]), CRYING_TURN) > 0 for f in own)
    # the client's flags are the client's: never on the therapist's face or words
    for f in doc["flags"]:
        if f["type"] in CLIENT_FLAG_TYPES:
            assert f["track"] == client and f["stated"]["speaker"] == "Client"
    # numbered after the client's flags, so the client's numbering never moves
    n_client = sum(f["type"] in CLIENT_FLAG_TYPES for f in doc["flags"])
    assert flag["id"] == n_client + 1
    assert summary["therapist_flags"] == 1 and summary["therapist_flags_reason"] == ""
    _cols, rows, _ = read_table((painful_run / "flags.csv").read_text(encoding="utf-8"))
    row = next(r for r in rows if r["type"] == THERAPIST_INCONGRUENCE)
    assert row["track"] == str(therapist) and row["speaker"] == "Therapist"
    assert row["stated_words"] == PAINFUL


def test_kind_words_over_the_same_smile_raise_no_therapist_flag(
        role_play: dict[str, Path], tmp_path: Path, model_path: Path, feature_cache: Path) -> None:
    run = analyze(role_play["video"], role_play["kind"], tmp_path, feature_cache, model_path,
                  "--client-face", "left")
    doc = json.loads((run / "flags.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    assert not [f for f in doc["flags"] if f["type"] == THERAPIST_INCONGRUENCE], doc["flags"]
    assert summary["therapist_flags"] == 0 and summary["therapist_flags_reason"] == ""


def test_single_person_recording_raises_none_and_says_why(
        eval_dir: Path, tmp_path: Path, model_path: Path, feature_cache: Path) -> None:
    env = dict(os.environ, CUEWATCH_CACHE=str(feature_cache), CUEWATCH_MODEL=str(model_path))
    video = eval_dir / "crema_single.mp4"
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(video), "--transcript",
                           str(video.with_suffix(".vtt")), "--consent", json.dumps(consent()),
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert f"therapist: {THERAPIST_NOT_ON_CAMERA}" in proc.stderr  # not "0 on the therapist"
    summary = json.loads((tmp_path / "crema_single" / "summary.json").read_text())
    doc = json.loads((tmp_path / "crema_single" / "flags.json").read_text())
    assert summary["therapist"]["track"] is None
    assert summary["therapist_flags"] is None
    assert summary["therapist_flags_reason"] == THERAPIST_NOT_ON_CAMERA
    assert doc["flags"] and all(f["type"] in CLIENT_FLAG_TYPES for f in doc["flags"])


# ---- the project: stored, judged, recomputed, exported ---------------------------------
@pytest.fixture(scope="module")
def project(role_play: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
            model_path: Path) -> Path:
    from cuewatch.project.queue import run_queued
    from cuewatch.project.store import Project

    path = tmp_path_factory.mktemp("project") / "trainee.cuewatch"
    with Project.create(path) as p:
        p.recordings.add(role_play["video"], consent=consent(), transcript=role_play["painful"],
                         client_face="left")
    summary = run_queued(path, model=str(model_path))
    assert len(summary.done) == 1, summary
    return path


def _own(flags: list) -> list:
    return [f for f in flags if f.type == THERAPIST_INCONGRUENCE]


def test_project_stores_therapist_flags_and_recomputes_them_keeping_verdicts(project: Path) -> None:
    from cuewatch.project.flag_recompute import recompute_recording_flags
    from cuewatch.project.store import Project

    with Project.open(project) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        own = _own(p.flags.all(rid))
        assert len(own) == 1
        flag = own[0]
        client_track = p.recordings.client_track(rid)
        assert flag.track is not None and flag.track != client_track
        assert SMILING_TURN[0] <= flag.start < flag.end <= SMILING_TURN[1]
        assert p.flags.all(rid, types=[THERAPIST_INCONGRUENCE])[0].id == flag.id
        p.reviews.set_verdict(int(flag.id), "supervisor", "agree",  # type: ignore[arg-type]
                              "the smile undoes the reflection")
        client_before = [(f.id, f.start, f.end) for f in p.flags.all(rid) if f.type in CLIENT_FLAG_TYPES]

        low = recompute_recording_flags(p, rid, FlagSettings(sensitivity="low"))
        assert [f.id for f in _own(p.flags.all(rid))] == [flag.id] and low.kept >= 1
        # a face that must sit beyond +1 to contradict: no flag can be raised, the verdict stays
        strict = recompute_recording_flags(p, rid, FlagSettings(valence_threshold=1.0))
        assert _own(p.flags.all(rid)) == [] and strict.verdicts_orphaned >= 1
        orphaned = _own(p.flags.orphaned(rid))
        assert [f.id for f in orphaned] == [flag.id]
        assert p.reviews.all(flag_id=flag.id)[0].verdict == "agree"  # type: ignore[arg-type]
        # back at medium: the same moment, the same id, its verdict re-attached
        again = recompute_recording_flags(p, rid, FlagSettings(sensitivity="medium"))
        assert [f.id for f in _own(p.flags.all(rid))] == [flag.id]
        assert again.verdicts_reattached >= 1
        assert [(f.id, f.start, f.end) for f in p.flags.all(rid)
                if f.type in CLIENT_FLAG_TYPES] == client_before


def _export(project: Path, out: Path, fmt: str, purpose: str) -> list[Path]:
    from cuewatch.project.export import export_project

    return export_project(project, fmt, out, purpose=purpose)


def _exported_types(files: list[Path]) -> tuple[list[str], dict]:
    table = next(f for f in files if f.name.endswith(".flags.csv"))
    _cols, rows, _ = read_table(table.read_text(encoding="utf-8"))
    side = json.loads(table.with_name(table.name + ".provenance.json").read_text())
    return [r["type"] for r in rows], side["provenance"]


def test_research_export_honours_the_therapists_consent_both_ways(project: Path, tmp_path: Path) -> None:
    from cuewatch.project.store import Project

    with Project.open(project) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        assert _own(p.flags.all(rid))
    # the record covers research, but the therapist gave no research consent of their own
    types, prov = _exported_types(_export(project, tmp_path / "research", "csv", "research"))
    assert THERAPIST_INCONGRUENCE not in types and set(types) <= set(CLIENT_FLAG_TYPES)
    assert "do not include research" in prov[THERAPIST_FLAGS_LEFT_OUT_KEY]
    html = _export(project, tmp_path / "html", "html", "research")[0].read_text()
    assert "therapist&#x27;s own congruence flags" in html or "therapist's own congruence flags" in html
    assert "therapist incongruence," not in html  # no flag of that type in the report
    # training shows them: that is what they are for
    types, prov = _exported_types(_export(project, tmp_path / "training", "csv", "training"))
    assert THERAPIST_INCONGRUENCE in types and THERAPIST_FLAGS_LEFT_OUT_KEY not in prov
    # the therapist consents to research for their own part: now research carries them too
    with Project.open(project) as p:
        p.consents.set(rid, consent(["training", "supervision", "research"]))
    types, prov = _exported_types(_export(project, tmp_path / "research2", "csv", "research"))
    assert THERAPIST_INCONGRUENCE in types and THERAPIST_FLAGS_LEFT_OUT_KEY not in prov
    html = _export(project, tmp_path / "html2", "html", "research")[0].read_text()
    assert "therapist incongruence," in html
    with Project.open(project) as p:  # leave the project as the other tests found it
        p.consents.set(rid, consent())


def _frames(files: list[Path]) -> tuple[set[int], dict]:
    table = next(f for f in files if f.name.endswith(".frames.csv"))
    _cols, rows, _ = read_table(table.read_text(encoding="utf-8"))
    side = json.loads(table.with_name(table.name + ".provenance.json").read_text())
    return {int(r["face_id"]) for r in rows}, side


def _flags_json(files: list[Path]) -> dict:
    return json.loads(next(f for f in files if f.name.endswith(".flags.json")).read_text())


def test_research_export_leaves_the_therapists_face_out_without_their_consent(
        project: Path, tmp_path: Path) -> None:
    """The therapist's face (per-frame data, synchrony) follows the same rule as their
    congruence flags (the responses and mirroring: tests/test_project_attunement.py)."""
    from cuewatch.project.store import Project

    with Project.open(project) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        client = p.recordings.client_track(rid)
        _speaker, therapist = p.attunement.therapist(rid)
    assert therapist is not None and client is not None and therapist != client
    # training: both faces, the synchrony and the mirroring (so the checks below can fail)
    faces, side = _frames(_export(project, tmp_path / "frames_training", "frames", "training"))
    assert {client, therapist} <= faces and THERAPIST_FLAGS_LEFT_OUT_KEY not in side["provenance"]
    doc = _flags_json(_export(project, tmp_path / "json_training", "json", "training"))
    assert doc["attunement"]["synchrony"]["over_time"] and doc["attunement"]["synchrony"]["lag_s"]
    html = _export(project, tmp_path / "html_training", "html", "training")[0].read_text()
    assert 'aria-label="synchrony over time"' in html

    # research, the therapist's own scopes silent: the client's face only, no synchrony
    faces, side = _frames(_export(project, tmp_path / "frames_research", "frames", "research"))
    assert client in faces and therapist not in faces
    why = side["provenance"][THERAPIST_FLAGS_LEFT_OUT_KEY]
    assert "face track in the per-frame data" in why and "do not include research" in why
    assert "trainee" not in why.split() and "actor" not in why.split()  # names no one
    assert side["left_out_tracks"] == [therapist]
    doc = _flags_json(_export(project, tmp_path / "json_research", "json", "research"))
    att = doc["attunement"]
    assert att["summary"]["synchrony_z"] is None
    assert att["summary"]["synchrony_reason"].startswith("left out:")
    assert set(att["synchrony"]) == {"left_out"}  # no lag, no leader, no over time
    html = _export(project, tmp_path / "html_research", "html", "research")[0].read_text()
    assert 'aria-label="synchrony over time"' not in html
    assert "synchrony of the two faces" in html and "synchrony z: none (left out:" in html

    # the therapist consents to research for their own part: their face goes out too
    with Project.open(project) as p:
        p.consents.set(rid, consent(["training", "supervision", "research"]))
    try:
        faces, side = _frames(_export(project, tmp_path / "frames_research2", "frames", "research"))
        assert {client, therapist} <= faces and THERAPIST_FLAGS_LEFT_OUT_KEY not in side["provenance"]
        doc = _flags_json(_export(project, tmp_path / "json_research2", "json", "research"))
        assert doc["attunement"]["synchrony"]["over_time"]
    finally:
        with Project.open(project) as p:  # leave the project as the other tests found it
            p.consents.set(rid, consent())


def test_review_lists_the_therapist_type_by_its_label_in_aligned_columns(
        project: Path, analysed_demo: Path, capsys: pytest.CaptureFixture) -> None:
    from cuewatch.cli import main
    from cuewatch.project.store import Project

    with Project.open(project) as p:
        flags = p.flags.all(int(p.recordings.all()[0].id))  # type: ignore[arg-type]
    assert main(["review", str(project)]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if " said " in ln]
    assert len(lines) == len(flags) and _own(flags)
    assert THERAPIST_INCONGRUENCE not in "\n".join(lines)
    assert sum(FLAG_TYPE_LABELS[THERAPIST_INCONGRUENCE] in ln for ln in lines) == len(_own(flags))
    # the sample project's client flags (several, of each type): columns line up across rows
    code = main(["review", str(analysed_demo)])
    demo = [ln for ln in capsys.readouterr().out.splitlines() if " said " in ln]
    assert code == 0 and len(demo) >= 2
    for rows in (lines, demo):  # in each listing, each column starts where the others do
        for column in (" said ", " / face ", "severity "):
            assert len({ln.index(column) for ln in rows}) == 1, rows
    # the type column holds the longest label, the therapist's, as wide as the others
    assert lines[0].index(" said ") - demo[0].index(" said ") == (
        len("therapist_smiles.mp4") - len(demo[0].split()[1]))


# ---- the rule, once --------------------------------------------------------------------
@pytest.mark.parametrize("participants,purpose,allowed,why", [
    ([{"name": "a", "role": "client"}, {"name": "b", "role": "therapist"}], "training", True, ""),
    ([{"name": "a", "role": "client"}, {"name": "b", "role": "therapist"}], "supervision", True, ""),
    ([{"name": "a", "role": "client"}, {"name": "b", "role": "therapist"}], "research", False,
     "do not include research"),
    ([{"name": "a", "role": "client"}, {"name": "b", "role": "Trainee", "scopes": ["research"]}],
     "research", True, ""),
    ([{"name": "a", "role": "client"}, {"name": "b", "role": "therapist", "scopes": ["research"]},
      {"name": "c", "role": "counsellor", "scopes": ["training"]}], "research", False,
     "do not include research"),
    ([{"name": "a", "role": "client", "scopes": ["research"]}], "research", False, "names no therapist"),
])
def test_therapist_flags_rule(participants: list, purpose: str, allowed: bool, why: str) -> None:
    record = consent_from_dict({"participants": participants, "obtained": "2014-01-01",
                                "scopes": ["training", "supervision", "research"]})
    ok, reason = therapist_flags_allowed(record, purpose)
    assert ok is allowed and why in reason
    assert consent_from_dict(record.to_dict()).participants == record.participants  # round trip
    assert "b" not in reason.split()  # no names: exports may be anonymised


def test_record_without_research_leaves_therapist_flags_out_whatever_the_therapist_said() -> None:
    record = consent_from_dict({"participants": [{"name": "b", "role": "therapist",
                                                  "scopes": ["research"]}],
                                "scopes": ["training"], "obtained": "2014-01-01"})
    ok, reason = therapist_flags_allowed(record, "research")
    assert not ok and "does not cover research" in reason


def test_a_participants_unknown_scope_is_refused_in_one_line() -> None:
    with pytest.raises(ConsentError, match="unknown scope 'marketing'"):
        consent_from_dict({"participants": [{"name": "b", "role": "therapist",
                                             "scopes": ["marketing"]}],
                           "scopes": ["training"], "obtained": "2014-01-01"})


# ---- the app's flag list: the type by its readable name, and a filter for it ------------
def test_flag_list_names_the_therapist_type_and_filters_by_it(qtbot) -> None:
    from cuewatch.domain import Flag
    from cuewatch_ui.flag_review import FlagReview
    from cuewatch_ui.qt_flag_review import QtFlagDetail, QtFlagList

    said = {"words": PAINFUL, "category": None, "valence": -0.43, "speaker": "Therapist"}
    flags = [Flag(2.0, 4.0, "incongruence", 0, {"words": "I'm fine", "valence": 0.5,
                                                  "speaker": "Client"},
                  {"category": "sad", "valence": -0.4}, 0.6, 0.8, id=1),
             Flag(11.6, 16.0, THERAPIST_INCONGRUENCE, 1, said,
                  {"category": "happy", "valence": 0.83}, 0.77, 0.84, id=2)]
    review = FlagReview()
    panel, detail = QtFlagList(review), QtFlagDetail(review)
    qtbot.addWidget(panel)
    qtbot.addWidget(detail)
    review.set_flags(None, flags)
    model = panel.model
    assert [model.data(model.index(r, 1)) for r in range(model.rowCount())] == [
        "incongr.", "therapist incongr."]
    combo = panel.type_combo
    labels = {combo.itemData(i): combo.itemText(i) for i in range(combo.count())}
    assert labels[THERAPIST_INCONGRUENCE] == "therapist incongruence"
    combo.setCurrentIndex(combo.findData(THERAPIST_INCONGRUENCE))
    assert [review.flags[i].id for i in review.visible] == [2]
    review.set_current(review.visible[0])
    assert detail.title.text().startswith("Therapist incongruence at")
