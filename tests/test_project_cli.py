"""``cuewatch project|review|consent|export``: real files, real analysis, SIGKILL and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import copy_project
from test_project_store import CONSENT, _fake_run

from cuewatch.cli import main
from cuewatch.project.store import Project

ROOT = Path(__file__).resolve().parents[1]


def _cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_new_add_status_and_consent_show(capsys, tmp_path: Path, clips: dict[str, Path]) -> None:
    p = tmp_path / "study.cuewatch"
    assert _cli(capsys, "project", "new", p)[0] == 0
    code, out, _ = _cli(capsys, "project", "add", p, clips["HAP"], "--client-speaker", "Client")
    assert code == 0 and "added recording 1" in out and "queued" in out
    bare = tmp_path / "bare.flv"
    bare.symlink_to(clips["SAD"].resolve())
    code, _, err = _cli(capsys, "project", "add", p, bare)
    assert code == 2 and "no consent" in _one_line_error(err)
    research = tmp_path / "research.json"
    research.write_text(json.dumps(dict(CONSENT, scopes=["research"])))
    code, _, err = _cli(capsys, "project", "add", p, bare, "--consent", research)
    assert code == 2 and "training or supervision" in _one_line_error(err)
    code, out, _ = _cli(capsys, "project", "status", p)
    assert "hap.mp4" in out and "queued" in out and "bare" not in out
    code, out, _ = _cli(capsys, "consent", p, "show")
    assert code == 0 and "training, supervision" in out and "Ana (client)" in out
    code, _, err = _cli(capsys, "project", "new", p)
    assert code == 2 and "already exists" in _one_line_error(err)


def test_refused_files_exit_2_with_one_line(capsys, tmp_path: Path) -> None:
    text = tmp_path / "x.cuewatch"
    text.write_text("hello")
    code, _, err = _cli(capsys, "review", text)
    assert code == 2 and "not a cuewatch project" in _one_line_error(err)
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "consent", str(tmp_path / "none.cuewatch"),
                           "show"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "no project at" in _one_line_error(proc.stderr)


def _analysed_project(tmp_path: Path, clips: dict[str, Path]) -> Path:
    path = tmp_path / "study.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
        _fake_run(p, rid, tmp_path, n_flags=4)
    return path


def test_review_verdicts_undo_and_agreement(capsys, tmp_path: Path, clips: dict[str, Path]) -> None:
    path = _analysed_project(tmp_path, clips)
    with Project.open(path) as p:
        ids = [f.id for f in p.flags.all()]
    for fid, sup, tra in zip(ids, ["agree", "agree", "disagree", "unsure"],
                             ["agree", "disagree", "disagree", "unsure"]):
        assert _cli(capsys, "review", path, "--flag", fid, "--reviewer", "sup", "--verdict", sup)[0] == 0
        assert _cli(capsys, "review", path, "--flag", fid, "--reviewer", "tra", "--verdict", tra,
                    "--note", "looked again")[0] == 0
    code, out, _ = _cli(capsys, "review", path)
    assert code == 0 and "sup=agree" in out and "tra=disagree" in out
    code, out, _ = _cli(capsys, "review", path, "--agreement", "--json")
    report = json.loads(out)
    pair = next(x for x in report["pairs"] if (x["a"], x["b"]) == ("sup", "tra"))
    # sup: a a d u / tra: a d d u -> po 3/4, pe (1*2 + 1*2... ) = (2*1 + 1*2 + 1*1)/16 = 5/16
    assert pair["kappa"] == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
    code, out, _ = _cli(capsys, "review", path, "--agreement")
    assert "cuewatch / sup" in out and "sup / tra" in out
    code, out, _ = _cli(capsys, "review", path, "--undo", "--reviewer", "tra")
    assert code == 0 and "took back" in out
    with Project.open(path) as p:
        assert {r.reviewer for r in p.reviews.all(ids[-1])} == {"sup"}
    code, _, err = _cli(capsys, "review", path, "--flag", ids[0], "--reviewer", "sup")
    assert code == 2 and "--verdict" in _one_line_error(err)
    code, _, err = _cli(capsys, "review", path, "--flag", 9999, "--reviewer", "sup", "--verdict", "agree")
    assert code == 2 and "no flag 9999" in _one_line_error(err)


def test_export_consent_record_and_revoke(capsys, tmp_path: Path, clips: dict[str, Path]) -> None:
    path = _analysed_project(tmp_path, clips)
    out_dir = tmp_path / "export"
    code, _, err = _cli(capsys, "export", path, "--format", "csv", "--out", out_dir,
                        "--purpose", "research", "--quiet")
    assert code == 2 and "research" in _one_line_error(err)
    assert not out_dir.exists() or not any(out_dir.iterdir())
    code, out, _ = _cli(capsys, "export", path, "--format", "csv", "--out", out_dir,
                        "--purpose", "training", "--quiet")
    assert code == 0
    written = [Path(line) for line in out.split()]
    assert written and all(f.is_file() for f in written)
    with Project.open(path) as p:
        assert {f.path for f in p.exports.files(1)} == set(written)
    code, out, _ = _cli(capsys, "consent", path, "revoke", "hap.mp4")
    assert code == 0 and "deleted 4 flags" in out and "interrupted" not in out
    assert all(f"deleted exported file {f}" in out for f in written)
    assert not any(f.exists() for f in written)
    code, _, err = _cli(capsys, "export", path, "--format", "csv", "--out", out_dir, "--quiet",
                        "--recording", "1", "--purpose", "training")
    assert code == 2 and "consent" in _one_line_error(err)
    code, out, _ = _cli(capsys, "consent", path, "set", "1", "--consent",
                        json.dumps(dict(CONSENT, scopes=["research", "training"])))
    assert code == 0 and "consent: active" in out and "research, training" in out


def _states(path: Path) -> dict[int, tuple[str, int, str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0]: (r[1], r[2], r[3]) for r in
                conn.execute("SELECT id, state, attempts, coalesce(finished, '') FROM analyses")}
    finally:
        conn.close()


VTT = """WEBVTT

00:00:00.000 --> 00:00:01.800
<v Client>Honestly I feel really happy and relaxed today.
"""


def test_analyze_sigkill_then_resume(capsys, tmp_path: Path, crema_clips: dict[str, Path],
                                    model_path: Path, media_dir: Path) -> None:
    """Real analysis; killed mid-run; the next run finishes only what was left."""
    path = tmp_path / "study.cuewatch"
    role_play = tmp_path / "angry.flv"
    role_play.symlink_to(media_dir / "crema_d" / "1001_DFA_ANG_XX.flv")
    transcript = tmp_path / "angry.vtt"
    transcript.write_text(VTT)
    assert _cli(capsys, "project", "new", path)[0] == 0
    for v in (crema_clips["HAP"], crema_clips["SAD"]):  # consent from the sidecar
        assert _cli(capsys, "project", "add", path, v)[0] == 0
    assert _cli(capsys, "project", "add", path, crema_clips["NEU"], "--consent", json.dumps(CONSENT))[0] == 0
    assert _cli(capsys, "project", "add", path, role_play, "--consent", json.dumps(CONSENT),
                "--transcript", transcript)[0] == 0
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    proc = subprocess.Popen([sys.executable, "-m", "cuewatch", "project", "analyze", str(path), "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = _states(path)
        if any(s[0] == "done" for s in states.values()) and any(s[0] == "running" for s in states.values()):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    else:
        pytest.fail("analysis never got going")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _states(path)
    done_before = {k: v for k, v in before.items() if v[0] == "done"}
    assert done_before and any(v[0] == "running" for v in before.values())

    with Project.open(path) as p:  # readable, with everything committed before the kill
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(p.recordings.all()) == 4

    os.environ["CUEWATCH_MODEL"] = str(model_path)
    try:
        code, out, err = _cli(capsys, "project", "analyze", path, "--quiet", "--jobs", "2")
    finally:
        del os.environ["CUEWATCH_MODEL"]
    assert code == 0, err
    assert "resumed 1 unfinished analysis" in err
    after = _states(path)
    assert all(v[0] == "done" for v in after.values()), after
    for aid, state in done_before.items():
        assert after[aid] == state  # finished work was not redone
    with Project.open(path) as p:
        rp = p.recordings.find("angry.flv")
        rid = int(rp.id)  # type: ignore[arg-type]
        assert p.analyses.mood_segments(rid) and p.recordings.client_speaker(rid)
        assert p.analyses.tracks(rid) and p.recordings.client_track(rid) is not None
        features = p.analyses.features_dir(rid)
        assert features is not None and (features / "meta.json").is_file()
        meta_mtime = (features / "meta.json").stat().st_mtime_ns
        # new flag settings reuse the stored face pass (features cache)
        from cuewatch.options import FlagSettings
        p.analyses.queue(rid, flag_settings=FlagSettings(sensitivity="high"))
    os.environ["CUEWATCH_MODEL"] = str(model_path)
    try:
        t0 = time.monotonic()
        assert _cli(capsys, "project", "analyze", path, "--quiet")[0] == 0
        elapsed = time.monotonic() - t0
    finally:
        del os.environ["CUEWATCH_MODEL"]
    with Project.open(path) as p:
        assert p.analyses.features_dir(rid) == features
        assert (features / "meta.json").stat().st_mtime_ns == meta_mtime
        assert p.analyses.latest(rid).flag_settings.sensitivity == "high"
    assert elapsed < 30
    # the ELAN export of the analysed recording, opened as an ELAN user's script would
    import pympi

    code, out, err = _cli(capsys, "export", path, "--format", "eaf", "--out", tmp_path / "eaf",
                          "--recording", "angry.flv", "--purpose", "supervision", "--quiet")
    assert code == 0, err
    eaf = pympi.Elan.Eaf(out.split()[0])
    tiers = eaf.get_tier_names()
    assert any(eaf.get_annotation_data_for_tier(t) for t in tiers)
    assert any("expression" in t.lower() for t in tiers), tiers
    assert any(eaf.get_annotation_data_for_tier(t) for t in tiers if "expression" in t.lower())


def test_cancelled_analysis_goes_back_to_the_queue(tmp_path: Path, crema_clips: dict[str, Path],
                                                   model_path: Path) -> None:
    """The app's cancel: the running analysis is queued again, not failed, and runs later."""
    import threading

    from cuewatch.progress import Cancelled, Progress
    from cuewatch.project.queue import run_queued

    path = tmp_path / "p.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(crema_clips["HAP"]).id)  # type: ignore[arg-type]
    stop = threading.Event()

    def report(fraction: float, message: str) -> None:
        if fraction > 0.05:
            stop.set()

    with pytest.raises(Cancelled):
        run_queued(path, model=str(model_path), progress=Progress(report, stop))
    with Project.open(path) as p:
        a = p.analyses.all(rid)[0]
        assert a.state == "queued" and "cancelled" in a.message
    summary = run_queued(path, model=str(model_path))
    assert summary.done == [a.id] and summary.requeued == []


def test_two_analyze_processes_share_the_queue(tmp_path: Path, crema_clips: dict[str, Path],
                                               model_path: Path) -> None:
    """Two `project analyze` at once: each analysis runs exactly once, none is lost."""
    path = tmp_path / "p.cuewatch"
    with Project.create(path) as p:
        for code in ("HAP", "SAD", "NEU"):
            p.recordings.add(crema_clips[code], consent=CONSENT)
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    procs = [subprocess.Popen([sys.executable, "-m", "cuewatch", "project", "analyze", str(path),
                               "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    assert sum(int(o[0].split()[0]) for o in outs) == 3  # "N analysed, 0 failed"
    states = _states(path)
    assert len(states) == 3 and all(s[0] == "done" and s[1] == 1 for s in states.values()), states


def _flags_cli(path: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuewatch", "project", "flags", str(path), *options],
                          capture_output=True, text=True, cwd=ROOT)


def test_project_flags_recompute_keeps_every_verdict_and_note(capsys, tmp_path: Path,
                                                               analysed_demo: Path) -> None:
    """Issue 10.1: low then back to medium from the command line loses no verdict or note."""
    from cuewatch.exports.tables import read_table
    from cuewatch.flags.matching import ORPHANED_STATUS

    path = copy_project(analysed_demo, tmp_path)
    with Project.open(path) as p:
        medium = {f.id: (f.start, f.end, f.type, f.track) for f in p.flags.all(1)}
    assert len(medium) >= 2
    for fid in medium:
        assert _cli(capsys, "review", path, "--flag", fid, "--reviewer", "sup", "--verdict", "agree",
                    "--note", f"masking at flag {fid}")[0] == 0
        assert _cli(capsys, "review", path, "--flag", fid, "--reviewer", "tra", "--verdict",
                    "disagree")[0] == 0
    first = min(medium)
    assert _cli(capsys, "review", path, "--flag", first, "--reviewer", "sup", "--verdict", "unsure",
                "--note", "second look")[0] == 0

    def verdicts() -> dict[tuple[int, str], tuple[str, str, tuple]]:
        with Project.open(path) as p:
            return {(r.flag_id, r.reviewer): (r.verdict, r.note,
                                              (lambda f: (f.start, f.end, f.type, f.track))(p.flags.get(r.flag_id)))
                    for r in p.reviews.all()}

    def history() -> list[tuple[int, str, str, str]]:
        with Project.open(path) as p:
            return [(r.flag_id, r.reviewer, r.verdict, r.note) for r in p.reviews.all(superseded=True)]

    before, before_history = verdicts(), history()
    assert len(before) == 2 * len(medium) and len(before_history) == len(before) + 1

    # low is an operating point that may raise what medium raises on the sample: an
    # explicit valence threshold makes it drop flags
    low = _flags_cli(path, "--sensitivity", "low", "--valence-threshold", "0.3")
    assert low.returncode == 0, low.stderr
    with Project.open(path) as p:
        raised = {f.id for f in p.flags.all(1)}
        orphans = p.flags.orphaned(1)
        assert p.analyses.latest(1).flag_settings.sensitivity == "low"
        assert p.audit.all(action="replace_flags")[-1].detail["reviews_removed"] == 0
    assert raised < set(medium) and orphans  # the sample's low setting drops flags
    assert {f.id: (f.start, f.end, f.type, f.track) for f in orphans} == \
        {fid: m for fid, m in medium.items() if fid not in raised}
    assert f"{2 * len(orphans)} orphaned (flag no longer raised)" in low.stdout
    assert "none deleted" in low.stdout
    assert verdicts() == before and history() == before_history  # every verdict and note, same moment

    # listed and exported, marked as orphaned
    code, out, _ = _cli(capsys, "review", path)
    orphan_lines = [ln for ln in out.splitlines() if ORPHANED_STATUS in ln]
    assert code == 0 and len(orphan_lines) == len(orphans)
    assert all("sup=" in ln and "tra=disagree" in ln for ln in orphan_lines)
    out_dir = tmp_path / "export"
    for fmt in ("csv", "json"):
        assert _cli(capsys, "export", path, "--format", fmt, "--out", out_dir, "--purpose", "training",
                    "--quiet")[0] == 0
    doc = json.loads(next(out_dir.glob("*.flags.json")).read_text())
    assert {f["id"] for f in doc["flags"]} == raised
    orphan_ids = {f.id for f in orphans}
    assert {o["id"] for o in doc["orphaned_verdicts"]} == orphan_ids
    for o in doc["orphaned_verdicts"]:
        assert o["raised"] is False and o["status"] == ORPHANED_STATUS
        assert {(r["reviewer"], r["note"]) for r in o["reviews"]} >= {("tra", "")}
    _, rows, _ = read_table(next(out_dir.glob("*.flags.csv")).read_text())
    assert {int(r["id"]) for r in rows if r["raised"] == "0"} == orphan_ids
    assert all(f"masking at flag {r['id']}" in r["notes"] or int(r["id"]) == first
               for r in rows if r["raised"] == "0")
    _, rows, _ = read_table(next(out_dir.glob("*.reviews.csv")).read_text())
    assert len(rows) == len(before_history)
    assert {int(r["flag_id"]) for r in rows if r["flag_raised"] == "0"} == orphan_ids

    # back to medium: the flags come back with their ids, verdicts and notes
    back = _flags_cli(path, "--recording", "demo_roleplay.mp4", "--sensitivity", "medium")
    assert back.returncode == 0, back.stderr
    assert f"{len(orphans)} raised again" in back.stdout
    assert f"{2 * len(orphans)} re-attached, 0 orphaned in all" in back.stdout
    with Project.open(path) as p:
        assert {f.id: (f.start, f.end, f.type, f.track) for f in p.flags.all(1)} == medium
        assert p.flags.orphaned(1) == []
    assert verdicts() == before and history() == before_history

    # an explicit threshold no flag passes: everything orphaned, nothing lost
    none = _flags_cli(path, "--min-duration", "600")  # longer than the recording
    assert none.returncode == 0, none.stderr
    assert "0 flag(s) raised" in none.stdout and verdicts() == before
    again = _flags_cli(path)
    assert again.returncode == 0 and verdicts() == before

    bad = _flags_cli(path, "--recording", "nope.mp4")
    assert bad.returncode == 2 and "no recording 'nope.mp4'" in _one_line_error(bad.stderr)
    bad = _flags_cli(path, "--sensitivity", "extreme")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
