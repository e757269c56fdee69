"""The project store: a real SQLite file, migrations, refusals, consent, verdicts, crashes."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import STORE_CONSENT

from cuewatch.domain import Flag, Gap, MoodSegment, TrackSummary
from cuewatch.errors import ConsentError, CuewatchError, ProjectError
from cuewatch.project.relocation import relocate
from cuewatch.project.revocation import revoke_consent
from cuewatch.project.schema import MIGRATIONS, SCHEMA_VERSION
from cuewatch.project.store import Project

CONSENT = STORE_CONSENT  # the sidecar of the ``clips`` fixture's HAP and SAD
RESEARCH = dict(CONSENT, scopes=["training", "supervision", "research"])


def _file_state(path: Path) -> tuple[bytes, int]:
    return hashlib.sha256(path.read_bytes()).digest(), path.stat().st_mtime_ns


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project.create(tmp_path / "study.cuewatch", actor="supervisor")
    yield p
    p.close()


def _flags(n: int, offset: float = 0.0) -> list[Flag]:
    return [Flag(start=offset + 10.0 * i, end=offset + 10.0 * i + 2.5, type="incongruence", track=0,
                 stated={"words": f"I'm fine {i}", "category": "happy", "valence": 0.6},
                 expressed={"category": "sad", "valence": -0.4}, severity=0.5 + 0.01 * i,
                 confidence=0.8, evidence={"aus": {"AU15": 1.2}, "peak_time": offset + 10.0 * i + 1})
            for i in range(n)]


def test_create_open_pragmas_and_schema(project: Project, tmp_path: Path) -> None:
    path = project.path
    project.close()
    with Project.open(path) as p:
        assert p.schema_version == SCHEMA_VERSION
        assert p._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert p._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert p.recordings.all() == []
        assert [a.action for a in p.audit.all()][:1] == ["create"]
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path)


def test_add_recording_with_sidecar_and_relative_path(project: Project, clips: dict[str, Path]) -> None:
    rec = project.recordings.add(clips["HAP"])
    assert rec.id == 1 and rec.duration > 1.5 and rec.width == 480
    assert Path(rec.path) == clips["HAP"]
    stored = project._conn.execute("SELECT path FROM recordings").fetchone()[0]
    assert stored == "hap.mp4"  # relative to the project folder
    assert project.consents.status(1).state == "active"
    assert [a.state for a in project.analyses.all(1)] == ["queued"]
    with pytest.raises(ProjectError, match="already in the project"):
        project.recordings.add(clips["HAP"])
    assert len(project.recordings.all()) == 1


def test_no_consent_no_recording(project: Project, clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConsentError, match="no consent"):
        project.recordings.add(clips["NEU"])
    research_only = tmp_path / "r.json"
    research_only.write_text(json.dumps(dict(CONSENT, scopes=["research"])))
    with pytest.raises(ConsentError, match="training or supervision"):
        project.recordings.add(clips["NEU"], consent=research_only)
    expired = dict(CONSENT, expires="2020-01-01")
    with pytest.raises(ConsentError, match="expired"):
        project.recordings.add(clips["NEU"], consent=expired)
    assert project.recordings.all() == []
    assert project.analyses.all() == []


def _old_project(path: Path, version: int) -> None:
    """A project file as an older cuewatch wrote it: schema ``version``, one recording."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    for step in MIGRATIONS[1:version]:
        step(conn) if callable(step) else conn.executescript(step)
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("application", "cuewatch-project")])
    conn.execute("INSERT INTO recordings(path, sha256, size_bytes, added) VALUES ('a.mp4', 'ab', 10, 'x')")
    conn.execute("INSERT INTO flags(recording_id, start, end, type, track, severity, confidence, "
                 "stated, expressed, evidence) VALUES (1, 1.0, 2.0, 'incongruence', 0, 0.5, 0.5, "
                 "'{}', '{}', '{}')")
    conn.execute("INSERT INTO reviews(flag_id, reviewer, verdict, time) VALUES (1, 'sup', 'agree', 'x')")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_migration_keeps_data_and_backs_up(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.cuewatch"
    _old_project(path, version)
    with Project.open(path, actor="tester") as p:
        assert p.schema_version == SCHEMA_VERSION == 6
        assert p.recordings.neutral_spans(1) == {}  # v5 table
        assert [r.sha256 for r in p.recordings.all()] == ["ab"]
        assert [(f.id, f.raised) for f in p.flags.all(1)] == [(1, True)]  # v4 column
        assert [r.verdict for r in p.reviews.all()] == ["agree"]
        assert p.recordings.client_speaker(1) is None  # v3 column
        assert p.exports.files() == []
        steps = [a.detail for a in p.audit.all(action="migrate")]
        assert steps == [{"from": v, "to": v + 1} for v in range(version, SCHEMA_VERSION)]
    backup = tmp_path / f"old.cuewatch.v{version}.bak"
    assert sqlite3.connect(backup).execute("PRAGMA user_version").fetchone()[0] == version


def test_a_failed_migration_leaves_the_old_version(tmp_path: Path, monkeypatch) -> None:
    import cuewatch.project.store as store

    path = tmp_path / "old.cuewatch"
    _old_project(path, 2)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE recordings ADD COLUMN chosen_speaker TEXT")
        raise sqlite3.OperationalError("disk I/O error")  # as if the disk failed mid-step

    monkeypatch.setattr(store, "MIGRATIONS", MIGRATIONS[:2] + (broken,))
    with pytest.raises(ProjectError):
        Project.open(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert "chosen_speaker" not in {r[1] for r in conn.execute("PRAGMA table_info(recordings)")}
    conn.close()


def test_refuses_newer_corrupt_and_foreign_files_untouched(project: Project, tmp_path: Path) -> None:
    good = project.path
    project.close()

    newer = tmp_path / "newer.cuewatch"
    shutil.copy(good, newer)
    c = sqlite3.connect(newer)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    c.commit()
    c.close()
    text = tmp_path / "notes.cuewatch"
    text.write_text("just some notes\n" * 100)
    other = tmp_path / "other.cuewatch"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE t(x)")
    c.commit()
    c.close()
    empty = tmp_path / "empty.cuewatch"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.cuewatch"
    data = bytearray(good.read_bytes())
    for page in range(1, len(data) // 4096):  # scribble over every page but the header
        data[page * 4096:page * 4096 + 200] = os.urandom(200)
    corrupt.write_bytes(bytes(data))

    cases = [(newer, "newer cuewatch"), (text, "not a cuewatch project"),
             (other, "not a cuewatch project"), (empty, "empty"), (corrupt, "corrupt")]
    for path, words in cases:
        before = _file_state(path)
        with pytest.raises(ProjectError, match=words):
            Project.open(path)
        assert _file_state(path) == before, path
        assert not Path(str(path) + "-wal").exists()
    with pytest.raises(ProjectError, match="no project at"):
        Project.open(tmp_path / "missing.cuewatch")


def test_audit_log_is_append_only(project: Project) -> None:
    project.audit.log("viewed", {"what": "timeline"})
    raw = sqlite3.connect(project.path)
    for sql in ("UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(sql)
    raw.close()
    assert [a.action for a in project.audit.all()][-1] == "viewed"


def _with_flags(project: Project, clips: dict[str, Path], n: int = 5) -> int:
    rid = int(project.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    project.flags.replace(rid, _flags(n), [Gap(100.0, 104.0, 0)])
    return rid


def test_one_current_verdict_history_and_undo(project: Project, clips: dict[str, Path]) -> None:
    rid = _with_flags(project, clips)
    f1, f2 = [f.id for f in project.flags.all(rid)][:2]
    project.reviews.set_verdict(f1, "supervisor", "agree")
    project.reviews.set_verdict(f1, "supervisor", "disagree", "the smile is social")
    project.reviews.set_verdict(f1, "trainee", "agree")
    project.reviews.set_verdict(f2, "supervisor", "unsure")
    current = {(r.flag_id, r.reviewer): r.verdict for r in project.reviews.all()}
    assert current == {(f1, "supervisor"): "disagree", (f1, "trainee"): "agree",
                       (f2, "supervisor"): "unsure"}
    hist = project.reviews.history(f1, "supervisor")
    assert [(h.review.verdict, h.status) for h in hist] == [("agree", "superseded"),
                                                            ("disagree", "current")]
    assert hist[1].review.note == "the smile is social"
    # a second current row for the same reviewer and flag is impossible
    raw = sqlite3.connect(project.path)
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute("INSERT INTO reviews(flag_id, reviewer, verdict, time, current) "
                    "VALUES (?, 'supervisor', 'agree', 'x', 1)", (f1,))
    raw.close()
    # Ctrl+Z: the supervisor's last verdict (on f2) goes, then the one before (f1 -> agree)
    assert project.reviews.undo_last("supervisor").flag_id == f2
    assert project.reviews.all(f2) == []
    assert project.reviews.undo_last("supervisor").verdict == "disagree"
    assert [r.verdict for r in project.reviews.all(f1, reviewer="supervisor")] == ["agree"]
    assert [h.status for h in project.reviews.history(f1, "supervisor")] == ["current", "undone"]
    assert project.reviews.undo_last("nobody") is None
    # filters by verdict
    assert [f.id for f in project.flags.all(rid, reviewer="trainee", verdict="agree")] == [f1]
    assert f1 not in [f.id for f in project.flags.all(rid, unreviewed_by="trainee")]
    with pytest.raises(ProjectError, match="unknown verdict"):
        project.reviews.set_verdict(f1, "supervisor", "maybe")
    with pytest.raises(ProjectError, match="no flag"):
        project.reviews.set_verdict(99999, "supervisor", "agree")
    with pytest.raises(ProjectError, match="reviewer"):
        project.reviews.set_verdict(f1, "  ", "agree")


def test_flag_filters_and_replace_keeps_matching_reviews(project: Project, clips: dict[str, Path]) -> None:
    rid = _with_flags(project, clips, n=6)
    flags = project.flags.all(rid)
    assert [f.start for f in flags] == sorted(f.start for f in flags)
    assert len(project.flags.all(rid, start=15.0, end=31.0)) == 2  # flags at 20 and 30 s
    assert len(project.flags.all(rid, min_severity=0.53)) == 3
    assert project.flags.gaps(rid) == [Gap(100.0, 104.0, 0)]
    project.reviews.set_verdict(flags[0].id, "sup", "agree")
    project.reviews.set_verdict(flags[5].id, "sup", "disagree")
    recomputed = _flags(3)  # same first three flags; the last three are gone
    recomputed[0].severity = 0.9
    stats = project.flags.replace(rid, recomputed, [])
    # the two unjudged flags go; the judged one stays, retired, with its verdict
    assert stats["flags_kept"] == 3 and stats["flags_removed"] == 2 and stats["reviews_removed"] == 0
    assert stats["flags_retired"] == 1 and stats["verdicts_orphaned"] == 1
    assert recomputed[0].id == flags[0].id
    assert project.flags.get(flags[0].id).severity == 0.9
    assert [r.flag_id for r in project.reviews.all()] == [flags[0].id, flags[5].id]
    assert [f.id for f in project.flags.all(rid)] == [f.id for f in recomputed]
    assert [f.id for f in project.flags.orphaned(rid)] == [flags[5].id]
    assert project.flags.gaps(rid) == []


def test_recompute_never_deletes_a_verdict_and_reattaches_by_moment(
        project: Project, clips: dict[str, Path]) -> None:
    """Issue 10.1: a verdict belongs to a moment; a recompute orphans it, never deletes it."""
    from cuewatch.flags.matching import REATTACH_MIN_IOU, Moment, StoredMoment, match_flags

    rid = _with_flags(project, clips, n=4)  # 0-2.5, 10-12.5, 20-22.5, 30-32.5 s
    f0, f1, f2, f3 = project.flags.all(rid)
    project.reviews.set_verdict(f1.id, "sup", "agree", "clear masking")
    project.reviews.set_verdict(f1.id, "trainee", "disagree")
    project.reviews.set_verdict(f2.id, "sup", "unsure", "look again")
    project.reviews.set_verdict(f2.id, "sup", "disagree", "not a smile")  # earlier one kept as history
    before = {(r.flag_id, r.reviewer): (r.verdict, r.note) for r in project.reviews.all()}

    # "low": only the first and last moments are flagged, with other spans
    low = [_flags(4)[i] for i in (0, 3)]
    low[0].start, low[0].end = 0.3, 2.2
    stats = project.flags.replace(rid, low, [])
    assert (stats["flags_kept"], stats["flags_retired"], stats["verdicts_orphaned"],
            stats["flags_removed"]) == (2, 2, 3, 0)
    assert [f.id for f in low] == [f0.id, f3.id]
    assert [f.id for f in project.flags.all(rid)] == [f0.id, f3.id]
    orphans = project.flags.orphaned(rid)
    assert [(f.id, f.start, f.end, f.type, f.track, f.raised) for f in orphans] == [
        (f1.id, 10.0, 12.5, "incongruence", 0, False), (f2.id, 20.0, 22.5, "incongruence", 0, False)]
    assert {(r.flag_id, r.reviewer): (r.verdict, r.note) for r in project.reviews.all()} == before
    assert [h.status for h in project.reviews.history(f2.id, "sup")] == ["superseded", "current"]
    assert [f.id for f in project.flags.all(rid, orphaned=True)] == [f0.id, f1.id, f2.id, f3.id]
    assert project.audit.all(action="replace_flags")[-1].detail["reviews_removed"] == 0

    # a verdict on an orphan can still be changed, and undone
    project.reviews.set_verdict(f1.id, "sup", "unsure", "clear masking")
    assert project.reviews.undo_last("sup").flag_id == f1.id

    # back to "medium", with the moments shifted a little: the verdicts re-attach
    medium = _flags(4)
    medium[1].start, medium[1].end = 10.4, 13.0   # IoU 2.1 / 3.0 = 0.7
    medium[2].start, medium[2].end = 19.0, 22.0   # IoU 2.0 / 3.5 = 0.57
    stats = project.flags.replace(rid, medium, [])
    assert (stats["flags_kept"], stats["flags_reattached"], stats["verdicts_reattached"],
            stats["flags_new"]) == (2, 2, 3, 0)
    assert [f.id for f in medium] == [f0.id, f1.id, f2.id, f3.id]
    assert project.flags.orphaned(rid) == []
    assert project.flags.get(f1.id).start == 10.4 and project.flags.get(f1.id).raised
    assert {(r.flag_id, r.reviewer): (r.verdict, r.note) for r in project.reviews.all()} == before

    # a moment that is barely covered does not take the verdict: a new flag instead
    far = _flags(4)
    far[1].start, far[1].end = 12.0, 16.0  # IoU 0.5 / 6.0 with 10.4-13 s
    stats = project.flags.replace(rid, far, [])
    assert stats["flags_new"] == 1 and stats["flags_retired"] == 1
    assert far[1].id != f1.id and [f.id for f in project.flags.orphaned(rid)] == [f1.id]
    assert project.flags.get(f1.id).start == 10.4

    # the rule itself: same type and track, best overlap first, verdicts win ties
    stored = [StoredMoment(10.0, 12.0, "incongruence", 0, id=1),
              StoredMoment(10.0, 12.0, "incongruence", 0, id=2, reviewed=True, raised=False),
              StoredMoment(10.0, 12.0, "leak", 0, id=3)]
    assert match_flags(stored, [Moment(10.0, 12.0, "incongruence", 0)]) == {0: 2}
    assert match_flags(stored, [Moment(10.0, 12.0, "incongruence", 1)]) == {}
    assert match_flags(stored, [Moment(10.0, 12.0, "incongruence", 0),
                                Moment(10.5, 12.0, "incongruence", 0)]) == {0: 2, 1: 1}
    edge = 2.0 * REATTACH_MIN_IOU
    assert match_flags(stored[:1], [Moment(10.0, 10.0 + edge, "incongruence", 0)]) == {0: 1}
    assert match_flags(stored[:1], [Moment(10.0, 10.0 + edge - 0.1, "incongruence", 0)]) == {}

    # consent revocation still deletes every verdict, orphaned or not
    project.consents.set(rid, CONSENT)
    report = revoke_consent(project, rid)
    assert report.reviews == len(before) + 2 and project.reviews.all() == []


def test_annotations(project: Project, clips: dict[str, Path]) -> None:
    rid = _with_flags(project, clips, n=1)
    a = project.annotations.add(rid, 3.0, 5.5, "masked sadness", "missed by the tool", reviewer="sup")
    project.annotations.add(rid, 1.0, 2.0, "gaze aversion", reviewer="trainee")
    assert [x.label for x in project.annotations.all(rid)] == ["gaze aversion", "masked sadness"]
    assert [x.label for x in project.annotations.all(rid, reviewer="sup")] == ["masked sadness"]
    with pytest.raises(ProjectError, match="start must be"):
        project.annotations.add(rid, 5.0, 4.0, "x")
    project.annotations.delete(a.id)
    assert [x.label for x in project.annotations.all()] == ["gaze aversion"]
    assert project.audit.all(action="delete_annotation")[0].detail["label"] == "masked sadness"


def _fake_run(project: Project, rid: int, tmp_path: Path, n_flags: int = 3):
    """Claim the queued analysis and store a result with real domain objects."""
    from cuewatch.media.video import probe_video
    from cuewatch.recording.analyse import PipelineResult

    a = project.analyses.claim("0" * 64)
    assert a is not None and a.state == "running" and a.recording_id == rid
    a.features_dir.mkdir(parents=True)
    (a.features_dir / "meta.json").write_text("{}")
    result = PipelineResult(
        video=Path(project.recordings.get(rid).path), info=probe_video(project.recordings.get(rid).path),
        features_dir=a.features_dir,
        tracks=[TrackSummary(0, 0.0, 1.8, 27, 0.98, (100.0, 50.0, 300.0, 280.0))],
        segments=[MoodSegment(0.0, 1.8, "Client", "I'm happy", 0.7, "happy")],
        client_speaker="Client", client_track=0, flags=_flags(n_flags), gaps=[Gap(1.0, 1.2, 0)],
        warnings=["short clip"])
    return project.analyses.finish(a.id, result)


def test_analysis_lifecycle_and_interrupted_requeue(project: Project, clips: dict[str, Path],
                                                   tmp_path: Path) -> None:
    rid = int(project.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    done = _fake_run(project, rid, tmp_path)
    assert done.state == "done" and done.progress == 1.0 and done.warnings == ["short clip"]
    assert project.analyses.features_dir(rid) == done.features_dir
    assert done.features_dir.parent == project.data_dir / "features"
    assert project.recordings.client_track(rid) == 0 and project.recordings.client_speaker(rid) == "Client"
    assert [s.text for s in project.analyses.mood_segments(rid)] == ["I'm happy"]
    assert project.analyses.tracks(rid)[0].coverage == 0.98
    assert len(project.flags.all(rid)) == 3
    project.recordings.set_client(rid, face="left", track=1)
    assert project.recordings.client_track(rid) == 1 and project.recordings.metadata(rid)["client_face"] == "left"
    # a run killed while running: its row says running with a dead pid -> queued again
    rid2 = int(project.recordings.add(clips["SAD"]).id)  # type: ignore[arg-type]
    a = project.analyses.claim("0" * 64)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    project._conn.execute("UPDATE analyses SET worker = ? WHERE id = ?",
                          (f"{os.uname().nodename}:{dead.pid}", a.id))
    assert project.analyses.requeue_interrupted() == [a.id]
    assert project.analyses.get(a.id).state == "queued"
    assert project.analyses.all(rid2)[0].attempts == 1


def test_consent_is_enforced_in_the_core(project: Project, clips: dict[str, Path], tmp_path: Path) -> None:
    rid = int(project.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    # research exports need the research scope; expired counts as none
    with pytest.raises(ConsentError, match="research"):
        project.consents.require_export(rid, "research")
    project.consents.require_export(rid, "training")
    project.consents.require_export(rid, None)
    project.consents.set(rid, RESEARCH)
    project.consents.require_export(rid, "research")
    assert project.consents.status(rid, today=dt.date(2026, 6, 1)).allowed["research"]
    project.consents.set(rid, dict(RESEARCH, expires="2026-02-01"))
    status = project.consents.status(rid, today=dt.date(2026, 6, 1))
    assert status.state == "expired" and not status.allows_analysis
    with pytest.raises(ConsentError, match="expired"):
        project.consents.require_export(rid, "research", today=dt.date(2026, 6, 1))
    # an analysis queued before the consent expired is refused when it would start
    assert project.analyses.claim("0" * 64) is None
    assert "expired" in project.analyses.all(rid)[0].error
    assert [h["status"] for h in project.consents.history(rid)] == ["superseded", "superseded", "active"]


def test_revoke_deletes_derived_data_and_says_what(project: Project, clips: dict[str, Path],
                                                   tmp_path: Path) -> None:
    rid = int(project.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    keep = int(project.recordings.add(clips["SAD"]).id)  # type: ignore[arg-type]
    done = _fake_run(project, rid, tmp_path, n_flags=4)
    project.flags.replace(keep, _flags(2), [])
    for f in project.flags.all(rid)[:3]:
        project.reviews.set_verdict(f.id, "sup", "agree")
    project.annotations.add(rid, 1.0, 2.0, "missed")
    clip = tmp_path / "out" / "hap_flag1.mp4"
    clip.parent.mkdir()
    clip.write_bytes(b"clip")
    gone = tmp_path / "out" / "moved_away.csv"
    project.exports.record([clip, gone], format="clips", purpose="training", recording_id=rid)
    project.exports.begin(tmp_path / "killed", format="clips", purpose="training", recording_ids=[rid])

    report = revoke_consent(project, rid, actor="admin")
    assert report.flags == 4 and report.reviews == 3 and report.annotations == 1
    assert report.features_dirs == [str(done.features_dir)] and not done.features_dir.exists()
    assert report.exported_files == [str(clip)] and not clip.exists()
    assert report.missing_files == [str(gone)]
    assert report.interrupted_exports == [str(tmp_path / "killed")]
    assert any("interrupted" in line for line in report.lines())
    assert any("4 flags, 3 reviews" in line for line in report.lines())
    assert project.flags.all(rid) == [] and project.reviews.all(recording_id=rid) == []
    assert project.analyses.mood_segments(rid) == [] and project.analyses.all(rid) == []
    assert project.analyses.features_dir(rid) is None
    assert project.consents.status(rid).state == "revoked"
    assert len(project.flags.all(keep)) == 2  # other recordings untouched
    entry = project.audit.all(action="revoke_consent")[0]
    assert entry.actor == "admin" and entry.detail["flags"] == 4
    with pytest.raises(ConsentError, match="no consent"):
        project.analyses.queue(rid)
    with pytest.raises(ConsentError):
        project.consents.require_export(rid, "training")


def test_relocate_by_content_hash(project: Project, synthetic_video, tmp_path: Path) -> None:
    video = tmp_path / "session.mp4"
    shutil.copy(synthetic_video(0), video)
    rid = int(project.recordings.add(video, consent=CONSENT).id)  # type: ignore[arg-type]
    moved = tmp_path / "archive" / "2026" / "renamed.mp4"
    moved.parent.mkdir(parents=True)
    video.rename(moved)
    with pytest.raises(ProjectError, match="relocate"):
        project.recordings.locate(rid)
    assert [r.id for r in project.recordings.missing()] == [rid]
    assert relocate(project, [tmp_path]) == {rid: moved}
    assert project.recordings.locate(rid) == moved
    assert project.recordings.missing() == []


def test_busy_project_gives_a_clear_error(project: Project, clips: dict[str, Path]) -> None:
    rid = _with_flags(project, clips, n=1)
    fid = project.flags.all(rid)[0].id
    holder = sqlite3.connect(project.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-write
    try:
        with Project.open(project.path, timeout=0.2) as other:
            t0 = time.monotonic()
            with pytest.raises(ProjectError, match="busy"):
                other.reviews.set_verdict(fid, "trainee", "agree")
            assert time.monotonic() - t0 < 2.0
            assert other.flags.all(rid)[0].id == fid  # reads still work (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    project.reviews.set_verdict(fid, "trainee", "agree")


_WRITER = textwrap.dedent("""
    import sys
    from cuewatch.project.store import Project
    path, reviewer, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with Project.open(path, actor=reviewer) as p:
        flags = [f.id for f in p.flags.all()]
        for i in range(n):
            r = p.reviews.set_verdict(flags[i % len(flags)], reviewer, ("agree", "disagree", "unsure")[i % 3], f"n{i}")
            print(r.id, flush=True)
""")


def test_two_processes_write_at_once(project: Project, clips: dict[str, Path], tmp_path: Path) -> None:
    _with_flags(project, clips, n=10)
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    procs = [subprocess.Popen([sys.executable, str(script), str(project.path), who, "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("supervisor", "trainee")]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    n = project._conn.execute("SELECT count(*) FROM reviews").fetchone()[0]
    assert n == 120
    assert len(project.reviews.all()) == 20  # one current per reviewer per flag
    assert project._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sigkill_during_review_writes_keeps_everything_committed(project: Project, clips: dict[str, Path],
                                                                 tmp_path: Path) -> None:
    _with_flags(project, clips, n=10)
    path = project.path
    project.close()
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(path), "trainee", "100000"],
                            stdout=subprocess.PIPE, text=True)
    committed = []
    for line in proc.stdout:  # type: ignore[union-attr]
        committed.append(int(line))
        if len(committed) >= 150:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed += [int(x) for x in proc.stdout.read().split()]  # type: ignore[union-attr]
    with Project.open(path) as p:
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ids = {r[0] for r in p._conn.execute("SELECT id FROM reviews")}
        assert set(committed) <= ids
        assert len(ids) - len(committed) <= 1  # at most the write in flight
        assert len(p.reviews.all()) == 10
        audit_verdicts = {a.detail["review_id"] for a in p.audit.all(action="verdict")}
        assert audit_verdicts == ids  # each verdict and its audit entry: one transaction
        p.reviews.set_verdict(p.flags.all()[0].id, "trainee", "agree")  # and it is writable again


def test_revoke_while_analysis_runs_discards_its_results(project: Project, clips: dict[str, Path],
                                                         tmp_path: Path) -> None:
    from cuewatch.media.video import probe_video
    from cuewatch.recording.analyse import PipelineResult

    rid = int(project.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    a = project.analyses.claim("0" * 64)
    revoke_consent(project, rid)  # from the app, while the analysis process still runs
    a.features_dir.mkdir(parents=True)  # the face pass goes on writing
    (a.features_dir / "meta.json").write_text("{}")
    result = PipelineResult(video=Path(project.recordings.get(rid).path),
                            info=probe_video(project.recordings.get(rid).path),
                            features_dir=a.features_dir, tracks=[], flags=_flags(2))
    with pytest.raises(ConsentError, match="withdrawn"):
        project.analyses.finish(a.id, result)
    assert not a.features_dir.exists()
    project.analyses.fail(a.id, "discarded")  # what the runner does next: no error
    assert project.flags.all(rid) == [] and project.analyses.all(rid) == []


def test_attach_transcript_later_is_checked_then_queued(project: Project, clips: dict[str, Path],
                                                        tmp_path: Path) -> None:
    rec = project.recordings.add(clips["HAP"], queue=False)
    bad = tmp_path / "bad.vtt"
    bad.write_text("WEBVTT\n\n00:00:01.000 --> 00:00:00.500\n<v Client>I'm fine\n")
    with pytest.raises(CuewatchError):
        project.recordings.attach_transcript(rec.id, bad)
    assert project.recordings.transcripts(rec.id) == {} and project.analyses.all(rec.id) == []
    good = tmp_path / "good.vtt"
    good.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Client>I feel awful today\n")
    aid = project.recordings.attach_transcript(rec.id, good)
    assert project.recordings.transcripts(rec.id) == {"transcript": good}
    assert project.analyses.get(aid).state == "queued"
    assert len(project.audit.all(rec.id, action="attach_transcript")) == 1
