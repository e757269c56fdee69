"""Faults around a project: a killed parallel analysis, a read-only project file.

Real processes (``cuewatch`` subprocesses, kill -9), real media and the real model.
"""

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

from cuewatch.project_store import Project

from test_project_store import CONSENT, clips  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> dict[int, str]:
    """Live child processes of ``pid`` (from /proc): pid -> command line."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out[int(entry.name)] = cmdline
    return out


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (one nobody reaped is gone too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _running(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM analyses WHERE state = 'running'").fetchone()[0]
    finally:
        conn.close()


def test_killed_parallel_analysis_leaves_no_workers_and_shows_interrupted(
        tmp_path: Path, clips: dict[str, Path], model_path: Path) -> None:  # noqa: F811
    path = tmp_path / "study.cuewatch"
    with Project.create(path) as p:
        for code in ("HAP", "SAD", "NEU"):
            p.add_recording(clips[code], consent=CONSENT)
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    log = (tmp_path / "analyze.log").open("wb")  # not a pipe: orphaned workers would hold it
    proc = subprocess.Popen([sys.executable, "-m", "cuewatch", "project", "analyze", str(path),
                             "--jobs", "2", "--quiet"], cwd=ROOT, env=env, stdout=log, stderr=log)
    log.close()
    workers: dict[int, str] = {}
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            workers.update(_children(proc.pid))
            if len(workers) >= 3 and _running(path) == 2:  # the manager and two pool workers
                break
            assert proc.poll() is None, (tmp_path / "analyze.log").read_text()[-2000:]
            time.sleep(0.05)
        else:
            pytest.fail(f"the parallel analysis never got going: {workers}")
        time.sleep(0.5)  # mid-run: both workers busy with a recording
        workers.update(_children(proc.pid))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    gone_by = time.monotonic() + 5
    while time.monotonic() < gone_by and any(_alive(w) for w in workers):
        time.sleep(0.1)
    left = {w: cmd for w, cmd in workers.items() if _alive(w)}
    for w in left:  # do not leave them for the next test either
        os.kill(w, signal.SIGKILL)
    assert not left, f"worker processes outlived the killed analysis: {left}"

    status = subprocess.run([sys.executable, "-m", "cuewatch", "project", "status", str(path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    lines = [ln for ln in status.stdout.splitlines() if ln.strip()]
    assert sum("interrupted at" in ln for ln in lines) == 2, status.stdout
    assert not any("running" in ln for ln in lines), status.stdout
    assert "resume: cuewatch project analyze" in status.stdout
    from cuewatch_ui.document import ProjectDocument

    doc = ProjectDocument.open(path, "Supervisor")  # the app's recordings list says so too
    try:
        assert sorted(r.analysis_state.split()[0] for r in doc.rows()) == [
            "interrupted", "interrupted", "queued"]
    finally:
        doc.close()
    with Project.open(path) as p:  # the next run resumes exactly those
        interrupted = [a.id for a in p.analyses() if a.interrupted]
        assert p.requeue_interrupted() == interrupted
