"""The attunement in the project store (issue 13): stored by the real analysis of the sample
role-play, kept in step with every flag recompute, gained by a project from schema 5, and
printed by ``cuewatch review --attunement``. Real SQLite, the real analysed sample."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import copy_project

from cuewatch.cli import main
from cuewatch.formats import ATTUNEMENT_NOT_COMPUTED, MISSED_RESPONSE_KINDS, THERAPIST_NOT_ON_CAMERA
from cuewatch.options import FlagSettings
from cuewatch.project.attunement import StoredResponse, summary_lines
from cuewatch.project.flag_recompute import mark_neutral, recompute_recording_flags
from cuewatch.project.store import Project
from cuewatch.words.response import RESPONSE_KINDS, respond_to_flag


def _cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _in_step(p: Project, rid: int) -> dict[int, StoredResponse]:
    """The stored responses, checked against the raised flags and against the transcript
    read again (the response rules on the stored words, not a copy of the stored answer)."""
    flags = p.flags.all(rid)
    responses = p.attunement.responses(rid)
    assert list(responses) == [f.id for f in flags]  # one per raised flag, in time order
    segments = p.analyses.mood_segments(rid)
    client = p.recordings.client_speaker(rid)
    speaker, _ = p.attunement.therapist(rid)
    for f in flags:
        r = responses[int(f.id)]  # type: ignore[arg-type]
        again = respond_to_flag(f.start, f.end, segments, client, therapist_speaker=speaker)
        assert (r.kind, r.evidence, r.latency_s, r.turn_start) == (
            again.kind, again.evidence, again.latency, again.turn_start)
        assert r.missed == (r.kind in MISSED_RESPONSE_KINDS)
    retired = {f.id for f in p.flags.orphaned(rid)}
    assert not retired & set(responses)  # a retired flag has no response
    return responses


def test_the_analysis_stores_responses_synchrony_and_therapist(analysed_demo: Path) -> None:
    with Project.open(analysed_demo) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        assert p.schema_version == 6 and p.attunement.computed(rid)
        # the sample: the client alone on camera, the therapist's words in the transcript
        assert p.attunement.therapist(rid) == ("Therapist", None)
        responses = _in_step(p, rid)
        assert responses and all(r.kind in RESPONSE_KINDS for r in responses.values())
        assert all(r.mirroring is None and r.mirroring_reason == THERAPIST_NOT_ON_CAMERA
                   for r in responses.values())
        sync = p.attunement.synchrony(rid)
        assert sync is not None and sync.z is None and sync.reason == THERAPIST_NOT_ON_CAMERA
        summary = p.attunement.summary(rid)
        flags = p.flags.all(rid)
        assert summary.moments == len(flags) == sum(summary.by_kind.values())
        assert tuple(summary.by_kind) == RESPONSE_KINDS
        assert summary.missed == tuple(fid for fid, r in responses.items() if r.missed)
        named = summary.by_kind["named"] + summary.by_kind["explored"]
        assert summary.share_named_or_explored == pytest.approx(named / len(flags))
        assert (summary.synchrony_z, summary.synchrony_reason) == (None, THERAPIST_NOT_ON_CAMERA)
        lines = summary_lines(summary, flags, responses)
        assert lines[0] == f"moments flagged: {len(flags)}"


def test_every_recompute_keeps_responses_in_step(analysed_demo: Path, tmp_path: Path) -> None:
    path = copy_project(analysed_demo, tmp_path)
    with Project.open(path, actor="sup") as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        synchrony_before = p._query("SELECT computed, document FROM synchrony")[0][:]
        first = p.flags.all(rid)[0]
        p.reviews.set_verdict(int(first.id), "sup", "agree")  # type: ignore[arg-type]
        for sensitivity in ("high", "low", "medium"):
            recompute_recording_flags(p, rid, FlagSettings(sensitivity=sensitivity))
            _in_step(p, rid)
        # no flag at all: the judged one is retired (orphaned verdict) and has no response
        summary = recompute_recording_flags(p, rid, FlagSettings(min_duration_s=600.0))
        assert summary.flags == 0 and summary.retired == 1
        assert p.attunement.responses(rid) == {}
        s = p.attunement.summary(rid)
        assert s.moments == 0 and s.share_named_or_explored is None and s.missed == ()
        # back: the moment is raised again and answered again
        recompute_recording_flags(p, rid, FlagSettings())
        assert int(first.id) in _in_step(p, rid)  # type: ignore[arg-type]
        # marking a neutral face recomputes the flags: the responses follow
        track = p.recordings.client_track(rid)
        t = p.analyses.tracks(rid)[0]
        change = mark_neutral(p, rid, (t.start, t.start + 1.0), track=track)
        assert change.recompute is not None
        _in_step(p, rid)
        # the session synchrony does not depend on the flags: computed once, at analysis
        assert p._query("SELECT computed, document FROM synchrony")[0][:] == synchrony_before


def _as_schema_5(path: Path) -> None:
    """The project file as cuewatch wrote it before attunement was stored (schema 5)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP TABLE flag_responses; DROP TABLE synchrony;
        ALTER TABLE recordings DROP COLUMN therapist_speaker;
        ALTER TABLE recordings DROP COLUMN therapist_face;
        ALTER TABLE recordings DROP COLUMN chosen_therapist_speaker;
        ALTER TABLE recordings DROP COLUMN therapist_track;
        PRAGMA user_version = 5;
    """)
    conn.commit()
    conn.close()


def test_a_schema_5_project_opens_and_gains_attunement_on_recompute(
        analysed_demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = copy_project(analysed_demo, tmp_path)
    with Project.open(path) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        fid = int(p.flags.all(rid)[0].id)  # type: ignore[arg-type]
        p.reviews.set_verdict(fid, "sup", "disagree", "not a smile")
    _as_schema_5(path)
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 5
    with Project.open(path) as p:
        assert p.schema_version == 6
        assert not p.attunement.computed(rid)
        assert p.attunement.responses(rid) == {} and p.attunement.synchrony(rid) is None
        assert p.attunement.therapist(rid) == (None, None)
        assert p.attunement.summary(rid).synchrony_reason == ATTUNEMENT_NOT_COMPUTED
        assert [(r.verdict, r.note) for r in p.reviews.all(rid)] == [("disagree", "not a smile")]
    assert (tmp_path / f"{path.name}.v5.bak").is_file()
    code, out, err = _cli(capsys, "review", path, "--attunement")
    assert code == 2 and out == "" and "Traceback" not in err
    assert "analysed before attunement was stored" in err
    assert f"cuewatch project flags {path} --recording {rid}" in err
    # the next flag recompute gains it: the therapist chosen, the synchrony computed once
    code, out, err = _cli(capsys, "project", "flags", path, "--recording", rid)
    assert code == 0, err
    with Project.open(path) as p:
        assert p.attunement.computed(rid) and p.attunement.therapist(rid) == ("Therapist", None)
        assert _in_step(p, rid)
        assert p.attunement.synchrony(rid).reason == THERAPIST_NOT_ON_CAMERA  # type: ignore[union-attr]
        assert [(r.verdict, r.note) for r in p.reviews.all(rid)] == [("disagree", "not a smile")]
    code, out, _ = _cli(capsys, "review", path, "--attunement")
    assert code == 0 and "moments flagged" in out


def test_review_attunement_prints_the_summary(analysed_demo: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    with Project.open(analysed_demo) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        summary = p.attunement.summary(rid)
        flags = {int(f.id): f for f in p.flags.all(rid)}  # type: ignore[arg-type]
        responses = p.attunement.responses(rid)
    code, out, err = _cli(capsys, "review", analysed_demo, "--attunement", "--recording", rid)
    assert code == 0 and err == ""
    assert out.startswith(f"recording {rid} (demo_roleplay.mp4)\n")
    assert f"  moments flagged: {summary.moments}\n" in out
    assert "  responses: named " in out and "moved on" in out
    assert "  synchrony z: none (therapist not on camera)\n" in out
    assert "  therapist: Therapist, not on camera\n" in out
    assert f"  missed moments: {len(summary.missed)}\n" in out
    for fid in summary.missed:  # each missed moment with its time and the words, if any
        m, s = divmod(flags[fid].start, 60)
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(f"flag {fid} at "))
        assert f"{int(m)}:{s:04.1f}" in line and (responses[fid].evidence in line)
    share = summary.share_named_or_explored
    assert f"named or explored: {100 * share:.0f}%" in out  # type: ignore[operator]
    code, out, _ = _cli(capsys, "review", analysed_demo, "--attunement", "--json")
    (doc,) = json.loads(out)
    assert doc["moments"] == summary.moments and doc["missed"] == list(summary.missed)
    assert doc["by_kind"] == summary.by_kind and doc["recording"] == "demo_roleplay.mp4"
    code, _, err = _cli(capsys, "review", analysed_demo, "--attunement", "--recording", "99")
    assert code == 2 and "no recording '99'" in err and "Traceback" not in err


def test_review_attunement_says_why_there_is_none(tmp_path: Path, clips: dict[str, Path],
                                                  capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "new.cuewatch"
    code, out, err = _cli(capsys, "project", "new", path)
    code, out, err = _cli(capsys, "review", path, "--attunement")
    assert code == 2 and "has no recordings" in err
    code, out, err = _cli(capsys, "project", "add", path, clips["HAP"], "--therapist-speaker",
                          "Dr Who", "--therapist-face", "left")
    assert code == 0, err
    with Project.open(path) as p:
        meta = p.recordings.metadata(1)
        assert (meta["therapist_speaker"], meta["therapist_face"]) == ("Dr Who", "left")
    code, out, err = _cli(capsys, "review", path, "--attunement")
    assert code == 2 and "has not been analysed yet" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_:  # argparse: one line, exit 2
        main(["project", "add", str(path), str(clips["SAD"]), "--therapist-face", "sideways"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--therapist-face takes auto" in err and "Traceback" not in err


def test_exports_carry_the_attunement(analysed_demo: Path, tmp_path: Path) -> None:
    import csv

    import pympi

    from cuewatch.formats import FLAGS_EXPORT_RESPONSE_COLUMNS
    from cuewatch.project.export import export_project

    with Project.open(analysed_demo) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        responses = p.attunement.responses(rid)
        summary = p.attunement.summary(rid)
    out = tmp_path / "out"
    files = {fmt: export_project(analysed_demo, fmt, out / fmt, purpose="training")
             for fmt in ("csv", "json", "eaf", "html")}
    flags_csv = next(f for f in files["csv"] if f.name.endswith(".flags.csv"))
    rows = list(csv.DictReader(flags_csv.open(encoding="utf-8")))
    assert tuple(rows[0])[-len(FLAGS_EXPORT_RESPONSE_COLUMNS):] == FLAGS_EXPORT_RESPONSE_COLUMNS
    for row in rows:
        r = responses[int(row["id"])]
        assert row["response_kind"] == r.kind and row["response_evidence"] == r.evidence
        assert row["missed"] == ("1" if r.missed else "0")
        assert row["mirroring_reason"] == THERAPIST_NOT_ON_CAMERA
    doc = json.loads(next(f for f in files["json"] if f.suffix == ".json").read_text(encoding="utf-8"))
    for flag in doc["flags"]:
        r = responses[int(flag["key"])]
        assert flag["response"]["kind"] == r.kind and flag["response"]["latency_s"] == r.latency_s
    assert doc["attunement"]["summary"]["missed"] == list(summary.missed)
    assert doc["attunement"]["synchrony"]["reason"] == THERAPIST_NOT_ON_CAMERA
    assert doc["attunement"]["therapist"] == {"speaker": "Therapist", "track": None}
    eaf = pympi.Elan.Eaf(str(next(f for f in files["eaf"] if f.suffix == ".eaf")))
    tier = sorted(eaf.get_annotation_data_for_tier("therapist responses"))
    assert len(tier) == len(responses)
    assert all(a[2].startswith("#") and "face: therapist not on camera" in a[2] for a in tier)
    html = next(f for f in files["html"] if f.suffix == ".html").read_text(encoding="utf-8")
    assert "<h3>Attunement</h3>" in html and f"<li>moments flagged: {summary.moments}</li>" in html
    assert "trainee&rsquo;s response" in html


def test_a_recording_without_transcript_has_no_attunement(analysed_demo: Path, tmp_path: Path) -> None:
    """Replacing the stored flags without an attunement (no stated mood) clears it: nothing
    stale stays keyed to flag ids."""
    path = copy_project(analysed_demo, tmp_path)
    with Project.open(path) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        p.flags.replace(rid, [], [])
        assert p.attunement.responses(rid) == {} and not p.attunement.computed(rid)
        assert p._query("SELECT count(*) FROM flag_responses")[0][0] == 0


def test_revoking_consent_deletes_the_attunement(analysed_demo: Path, tmp_path: Path) -> None:
    from cuewatch.project.revocation import revoke_consent

    path = copy_project(analysed_demo, tmp_path)
    with Project.open(path) as p:
        rid = int(p.recordings.all()[0].id)  # type: ignore[arg-type]
        n = len(p.attunement.responses(rid))
        report = revoke_consent(p, rid)
        assert (report.flag_responses, report.synchrony) == (n, 1) and n > 0
        assert f"{n} responses, 1 synchrony" in report.lines()[0]
        assert p._query("SELECT count(*) FROM flag_responses")[0][0] == 0
        assert not p.attunement.computed(rid) and p.attunement.therapist(rid) == (None, None)


def test_a_two_person_project_stores_what_analyze_writes(tmp_path: Path, eval_dir: Path,
                                                         model_path: Path, feature_cache: Path) -> None:
    """The real two-person role-play through ``project analyze``: the therapist on camera, a
    mirroring verdict per flag and the session synchrony stored, each as ``cuewatch analyze``
    writes them in attunement.json; a recompute keeps the synchrony and re-reads the rest."""
    import os
    import subprocess
    import sys

    from cuewatch.attunement.synchrony import MIRRORING_VERDICTS
    from cuewatch.project.queue import run_queued

    video = eval_dir / "crema_wide.mp4"
    consent = json.dumps({"participants": [{"name": "actor", "role": "client"},
                                           {"name": "trainee", "role": "therapist"}],
                          "scopes": ["training"], "obtained": "2014-01-01"})
    env = dict(os.environ, CUEWATCH_CACHE=str(feature_cache), CUEWATCH_MODEL=str(model_path))
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(video), "--transcript",
                           str(video.with_suffix(".vtt")), "--consent", consent, "--out",
                           str(tmp_path / "out"), "--quiet"], capture_output=True, text=True,
                          env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out" / "crema_wide" / "attunement.json").read_text())
    path = tmp_path / "two.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(video, consent=consent,  # type: ignore[arg-type]
                                   transcript=video.with_suffix(".vtt")).id)
    summary = run_queued(path, model=str(model_path))
    assert summary.done and not summary.failed
    with Project.open(path) as p:
        speaker, track = p.attunement.therapist(rid)
        assert (speaker, track) == (doc["therapist"]["speaker"], doc["therapist"]["track"])
        assert track is not None and track != p.recordings.client_track(rid)
        responses = _in_step(p, rid)
        assert [(r.kind, r.mirroring) for r in responses.values()] == [
            (f["response"]["kind"], f["mirroring"]["verdict"]) for f in doc["flags"]]
        assert all(r.mirroring in MIRRORING_VERDICTS for r in responses.values())
        sync = p.attunement.synchrony(rid)
        assert sync is not None and sync.over_time
        assert (sync.z, sync.lag_s, sync.reason) == (doc["synchrony"]["z"], doc["synchrony"]["lag_s"],
                                                     doc["synchrony"]["reason"])
        assert p.attunement.summary(rid).synchrony_z == sync.z
        before = p.attunement.synchrony_document(rid)
        # the recompute's per-flag measures are the analysis' own on the same flags
        recompute_recording_flags(p, rid, p.analyses.latest(rid).flag_settings)  # type: ignore[union-attr]
        assert [(r.kind, r.mirroring) for r in _in_step(p, rid).values()] == [
            (f["response"]["kind"], f["mirroring"]["verdict"]) for f in doc["flags"]]
        recompute_recording_flags(p, rid, FlagSettings(sensitivity="high"))
        after = _in_step(p, rid)
        assert all(r.mirroring in MIRRORING_VERDICTS for r in after.values())
        assert p.attunement.synchrony_document(rid) == before


def test_the_summary_rule_on_hand_made_records() -> None:
    """``summarise``: moments are the raised flags; a moment whose kind could not be read is
    counted but in no kind and not in the share; missed moments in time order."""
    from cuewatch.attunement.summary import StoredSynchrony, summarise
    from cuewatch.domain import Flag
    from cuewatch.formats import NO_SPEAKER_LABELS

    def flag(fid: int, start: float, raised: bool = True) -> Flag:
        return Flag(start, start + 1.0, "incongruence", 0, {}, {}, 0.5, 0.5, {}, id=fid, raised=raised)

    def resp(fid: int, kind: str, latency: float | None, reason: str = "") -> StoredResponse:
        return StoredResponse(fid, kind, reason, "", latency, None, None, THERAPIST_NOT_ON_CAMERA,
                              kind in MISSED_RESPONSE_KINDS)

    flags = [flag(5, 30.0), flag(2, 10.0), flag(9, 20.0), flag(4, 40.0), flag(7, 50.0, raised=False)]
    responses = {5: resp(5, "moved_on", 2.0), 2: resp(2, "none", None), 9: resp(9, "named", 1.0),
                 4: resp(4, "", None, NO_SPEAKER_LABELS)}
    sync = StoredSynchrony(1.5, 0.4, "therapist", 0.2, ((3.0, 0.1), (6.0, float("nan"))), "")
    s = summarise(1, flags, responses, sync, "Ann", 2)
    assert s.moments == 4 and s.by_kind == {"named": 1, "explored": 0, "validated": 0,
                                            "moved_on": 1, "none": 1}
    assert s.share_named_or_explored == pytest.approx(1 / 3)
    assert s.median_latency_s == 1.5 and s.missed == (2, 5) and s.synchrony_z == 1.5
    lines = summary_lines(s, flags, responses)
    assert f"no response kind for 1 moment(s): {NO_SPEAKER_LABELS}" in lines
    assert "named or explored: 33%" in lines and "synchrony z: +1.50" in lines
    assert lines[-2:] == ["  flag 2 at 0:10.0-0:11.0: none", "  flag 5 at 0:30.0-0:31.0: moved on"]
    none = summarise(1, [], {}, None, None, None)
    assert none.share_named_or_explored is None and none.median_latency_s is None
    assert none.synchrony_reason == ATTUNEMENT_NOT_COMPUTED


def test_research_export_keeps_the_trainees_words_but_not_the_mirroring(
        tmp_path: Path, eval_dir: Path, model_path: Path) -> None:
    """The real two-person role-play, its record covering research but the therapist's own
    scopes not: each response's kind, evidence and latency go out (read from the words the
    record's consent covers); the mirroring (read from the therapist's face) does not, and
    says why. With training, the same export carries the mirroring."""
    from cuewatch.attunement.synchrony import MIRRORING_VERDICTS
    from cuewatch.project.export import export_project
    from cuewatch.project.queue import run_queued

    video = eval_dir / "crema_wide.mp4"
    consent = {"participants": [{"name": "actor", "role": "client"},
                                {"name": "trainee", "role": "therapist", "scopes": ["training"]}],
               "scopes": ["training", "research"], "obtained": "2014-01-01"}
    path = tmp_path / "two.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(video, consent=consent,  # type: ignore[arg-type]
                                   transcript=video.with_suffix(".vtt")).id)
    assert run_queued(path, model=str(model_path)).done
    with Project.open(path) as p:
        stored = p.attunement.responses(rid)
    assert stored and all(r.mirroring in MIRRORING_VERDICTS for r in stored.values())

    def exported(purpose: str) -> dict:
        files = export_project(path, "json", tmp_path / purpose, purpose=purpose)
        return json.loads(next(f for f in files if f.name.endswith(".flags.json")).read_text())

    def words(doc: dict) -> list:
        return [(int(f["id"]), f["response"]["kind"], f["response"]["evidence"],
                 f["response"]["latency_s"]) for f in doc["flags"] if f.get("response")]

    expected = [(fid, r.kind, r.evidence, r.latency_s) for fid, r in stored.items()]
    training, research = exported("training"), exported("research")
    assert words(training) == words(research) == expected
    assert [f["response"]["mirroring"] for f in training["flags"] if f.get("response")] == [
        r.mirroring for r in stored.values()]
    left = [f["response"] for f in research["flags"] if f.get("response")]
    assert all(r["mirroring"] is None and r["mirroring_reason"].startswith("left out:")
               and "do not include research" in r["mirroring_reason"] for r in left)
