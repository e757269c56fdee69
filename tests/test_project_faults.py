"""Faults around a project: a killed parallel analysis, a read-only project file.

Real processes (``cuewatch`` subprocesses, kill -9), real media and the real model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_project_store import CONSENT, _fake_run

from cuewatch.project.store import Project

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
        tmp_path: Path, crema_clips: dict[str, Path], model_path: Path) -> None:
    path = tmp_path / "study.cuewatch"
    with Project.create(path) as p:
        for code in ("HAP", "SAD", "NEU"):
            p.recordings.add(crema_clips[code], consent=CONSENT)
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
        states = sorted(r.analysis_state.split()[0] for r in doc.rows())
        # the two running when killed; the third still queued, or done when a short clip
        # finished in the half second before the kill and the pool took the next one
        assert states in (["interrupted", "interrupted", "queued"],
                          ["done", "interrupted", "interrupted"]), states
    finally:
        doc.close()
    with Project.open(path) as p:  # the next run resumes exactly those
        interrupted = [a.id for a in p.analyses.all() if a.interrupted]
        assert p.analyses.requeue_interrupted() == interrupted


def _as_unprivileged(*argv: object) -> subprocess.CompletedProcess:
    """``cuewatch ARGV`` as a user whom file modes bind. The tests run as root, which
    ignores them; ``setpriv`` drops every capability, so the owner's mode bits apply."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is needed to test file permissions as root")
        prefix = [setpriv, "--bounding-set=-all", "--inh-caps=-all"]
    return subprocess.run(prefix + [sys.executable, "-m", "cuewatch", *map(str, argv)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def _lines(text: str) -> list[str]:
    assert "Traceback" not in text, text
    return [ln for ln in text.splitlines() if ln.strip()]


def _listing(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (hashlib.sha256(p.read_bytes()).digest(), p.stat().st_mtime_ns)
            for p in folder.iterdir() if p.is_file()}


@pytest.fixture
def archived(tmp_path: Path, clips: dict[str, Path]) -> Path:  # noqa: F811
    """An analysed project with a verdict, in its own folder."""
    folder = tmp_path / "archive"
    folder.mkdir()
    path = folder / "course.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
        done = _fake_run(p, rid, tmp_path, n_flags=3)
        (done.features_dir / "meta.json").unlink()  # no face lanes: flags and verdicts only
        p.reviews.set_verdict(int(p.flags.all()[0].id), "Dr S", "agree")  # type: ignore[arg-type]
    yield path
    folder.chmod(0o755)
    path.chmod(0o644)


def test_read_only_project_lists_and_exports_and_refuses_writes(
        archived: Path, tmp_path: Path, clips: dict[str, Path]) -> None:  # noqa: F811
    folder = archived.parent
    archived.chmod(0o444)
    folder.chmod(0o555)
    before = _listing(folder)

    for argv in (["review", archived], ["project", "status", archived],
                 ["consent", archived, "show"]):
        proc = _as_unprivileged(*argv)
        assert proc.returncode == 0, proc.stderr
        notes = _lines(proc.stderr)
        assert len(notes) == 1 and "is read-only (no write permission on the file)" in notes[0], notes
    assert "Dr S=agree" in _as_unprivileged("review", archived).stdout
    assert "analysis done" in _as_unprivileged("project", "status", archived).stdout

    out = tmp_path / "out"
    proc = _as_unprivileged("export", archived, "--format", "csv", "--out", out,
                            "--purpose", "supervision", "--quiet")
    assert proc.returncode == 0, proc.stderr
    written = [Path(f) for f in _lines(proc.stdout)]
    assert written and all(f.is_file() for f in written)
    assert "Dr S" in "".join(f.read_text() for f in written if f.suffix == ".csv")
    notes = _lines(proc.stderr)
    assert any("read-only" in n for n in notes) and any("not recorded" in n for n in notes), notes

    for argv in (["review", archived, "--flag", "1", "--reviewer", "Trainee", "--verdict", "agree"],
                 ["consent", archived, "revoke", "1"], ["project", "add", archived, clips["SAD"]]):
        proc = _as_unprivileged(*argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        line, = _lines(proc.stderr)
        assert "read-only" in line and "nothing was changed" in line, line
    assert _listing(folder) == before  # not a byte changed, no side files left

    folder.chmod(0o755)  # a writable folder: still nothing left beside the file
    assert _as_unprivileged("review", archived).returncode == 0
    assert _listing(folder) == before

    archived.chmod(0o644)  # the file writable but not its folder (no WAL can be made)
    folder.chmod(0o555)
    proc = _as_unprivileged("project", "status", archived)
    assert proc.returncode == 0 and "no write permission on its folder" in proc.stderr, proc.stderr
    assert _listing(folder) == before


@pytest.fixture
def immutable(archived: Path) -> Path:
    """The archived project made immutable (``chattr +i``): read-only even for root."""
    if subprocess.run(["chattr", "+i", str(archived)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here")
    yield archived
    subprocess.run(["chattr", "-i", str(archived)], check=True)


def test_the_app_opens_a_read_only_project_and_says_so(qtbot, tmp_path: Path,
                                                       immutable: Path) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from cuewatch.errors import ProjectError, ReadOnlyProjectWarning
    from cuewatch_ui.main_window import MainWindow, make_settings

    before = _listing(immutable.parent)
    settings = make_settings(tmp_path / "settings.ini")
    settings.reviewer = "Trainee"
    window = MainWindow(settings, auto_analyse=True)
    qtbot.addWidget(window)
    with pytest.warns(ReadOnlyProjectWarning, match="read-only"):
        window.open_project(immutable)
    try:
        assert "(read-only)" in window.windowTitle()
        qtbot.waitUntil(lambda: window.data is not None, timeout=15000)
        assert len(window.review.flags) == 3 and window.ops.analysis_task is None
        window.review.step(1)
        with pytest.raises(ProjectError, match="read-only .*nothing was changed"):
            window.review.set_verdict("agree")
    finally:
        window.close()
    assert _listing(immutable.parent) == before


def test_read_only_project_of_an_older_cuewatch_is_refused_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cuewatch.project.store as store

    folder = tmp_path / "old"
    folder.mkdir()
    path = folder / "old.cuewatch"
    monkeypatch.setattr(store, "SCHEMA_VERSION", 2)  # written by a cuewatch of schema 2
    Project.create(path).close()
    monkeypatch.undo()
    path.chmod(0o444)
    before = _listing(folder)
    try:
        proc = _as_unprivileged("review", path)
    finally:
        path.chmod(0o644)
    assert proc.returncode == 2
    line, = _lines(proc.stderr)
    assert "older cuewatch and read-only" in line, line
    assert _listing(folder) == before  # no backup, no migration, no side files
