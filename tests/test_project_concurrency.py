"""The app and the command line on one project: no committed write is ever lost.

Real processes throughout: the app (offscreen) as a subprocess with its worker threads
opening the project, and ``cuewatch review`` processes storing verdicts meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_project_store import CONSENT, _fake_run

from cuewatch.errors import ProjectError
from cuewatch.project.relocation import relocate
from cuewatch.project.store import Project, inspect_project_file

ROOT = Path(__file__).resolve().parents[1]
WRITERS = 3
VERDICTS_PER_WRITER = 6


def _review(path: Path, flag_id: int, reviewer: str, verdict: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuewatch", "review", str(path), "--flag",
                           str(flag_id), "--reviewer", reviewer, "--verdict", verdict],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_app_open_while_cli_writers_store_verdicts_loses_nothing(
        tmp_path: Path, clips: dict[str, Path]) -> None:  # noqa: F811
    path = tmp_path / "course.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
        done = _fake_run(p, rid, tmp_path, n_flags=24)
        (done.features_dir / "meta.json").unlink()  # no face lanes: the app loads flags only
        flag_ids = [int(f.id) for f in p.flags.all()]  # type: ignore[arg-type]
    stop = tmp_path / "stop"
    app = subprocess.Popen([sys.executable, str(ROOT / "tests" / "app_session.py"), str(path),
                            str(stop), str(tmp_path / "settings.ini")],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    try:
        assert app.stdout.readline().strip() == "ready", app.communicate(timeout=30)
        time.sleep(1.0)  # the app's worker has opened the project a few times by now
        stored: list[tuple[int, str, str]] = []
        failures: list[str] = []

        def writer(k: int) -> None:
            for i in range(VERDICTS_PER_WRITER):
                fid = flag_ids[(k * VERDICTS_PER_WRITER + i) % len(flag_ids)]
                verdict = ("agree", "disagree", "unsure")[(k + i) % 3]
                proc = _review(path, fid, f"Writer {k}", verdict)
                if proc.returncode == 0:
                    stored.append((fid, f"Writer {k}", verdict))
                else:
                    failures.append(proc.stderr)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.5)  # the app writes once more after the last CLI write
        stop.touch()
        out, err = app.communicate(timeout=60)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    assert app.returncode == 0, err[-2000:]
    assert not failures, failures
    assert len(stored) == WRITERS * VERDICTS_PER_WRITER
    app_given = int(out.split("app verdicts")[1].split()[0])
    assert app_given > 0, out

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        current = {(r[0], r[1]): r[2] for r in conn.execute(
            "SELECT flag_id, reviewer, verdict FROM reviews WHERE current = 1")}
        audited = {int(r[0]) for r in conn.execute(
            "SELECT json_extract(detail, '$.review_id') FROM audit WHERE action = 'verdict'")}
        review_ids = {(r[0], r[1], r[2]): r[3] for r in conn.execute(
            "SELECT flag_id, reviewer, verdict, id FROM reviews")}
        app_rows = conn.execute("SELECT count(*) FROM reviews WHERE reviewer = 'App'").fetchone()[0]
        all_ids = {r[0] for r in conn.execute("SELECT id FROM reviews")}
    finally:
        conn.close()
    lost = [s for s in stored if current.get((s[0], s[1])) != s[2]]
    assert not lost, f"{len(lost)} of {len(stored)} CLI verdicts lost: {lost}"
    assert all(review_ids[s] in audited for s in stored)  # each with its audit entry
    assert app_rows == app_given  # and the app's own verdicts too
    assert audited == all_ids  # every verdict stored has its audit entry, and no more


def _look_again(held: Project) -> None:
    inspect_project_file(held.path)


def _add_as_video(held: Project) -> None:
    with pytest.raises(ProjectError, match="is a cuewatch project file, not a video"):
        held.recordings.add(held.path, consent=CONSENT)


def _add_wal_as_transcript(held: Project) -> None:
    with pytest.raises(ProjectError, match="project file, not a transcript"):
        held.recordings.attach_transcript(1, Path(str(held.path) + "-wal"))


def _relocate_in_its_folder(held: Project) -> None:
    """Look for a moved recording in the project's own folder, where the project file has
    the very size the recording had."""
    rec = held.recordings.all()[0]
    Path(rec.path).unlink()
    held._conn.execute("UPDATE recordings SET size_bytes = ?", (held.path.stat().st_size,))
    assert relocate(held, [held.path.parent]) == {}


@pytest.mark.parametrize("touch", [_look_again, _add_as_video, _add_wal_as_transcript,
                                   _relocate_in_its_folder])
def test_the_project_file_is_read_only_through_sqlite(tmp_path: Path, touch: Any,
                                                       clips: dict[str, Path]) -> None:  # noqa: F811
    """While this process holds the project open, nothing may open the file otherwise:
    closing that descriptor drops the locks SQLite holds, and another process closing
    would then see itself as the last one and delete the WAL under the open connection."""
    path = tmp_path / "p.cuewatch"
    held = Project.create(path)
    try:
        held.recordings.add(clips["HAP"])
        touch(held)
        # another process opens, writes and closes: with our locks intact it cannot
        # checkpoint and delete the WAL we still use
        code = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                "c.execute(\"INSERT INTO meta(key, value) VALUES ('other', 'x')\"); "
                "c.commit(); c.close()")
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=30)
        assert Path(str(path) + "-wal").exists(), "the WAL was deleted under an open connection"
        held.audit.log("still here", {})
        assert held._conn.execute("SELECT value FROM meta WHERE key = 'other'").fetchone()[0] == "x"
    finally:
        held.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'other'").fetchone()[0] == "x"
        assert conn.execute("SELECT count(*) FROM audit WHERE action = 'still here'").fetchone()[0] == 1
    finally:
        conn.close()
