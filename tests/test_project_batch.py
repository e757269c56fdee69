"""``cuewatch project analyze --scheduler|--workers``: a real Dask ``LocalCluster`` of two
worker processes on real CREMA-D clips: a batch with a broken recording, a worker killed
mid-task, the scheduler going away, the client killed and rerun, and features identical to
a local run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import distributed  # the batch extra, in the test extra: missing fails, never skips
import numpy as np
import pytest
from test_project_store import CONSENT

from cuewatch.project.store import Project

ROOT = Path(__file__).resolve().parents[1]

#: meta.json fields that describe the run, not what was computed.
RUN_FIELDS = frozenset({"seconds", "workers", "chunks", "video", "model_path"})


def _states(path: Path) -> dict[int, tuple[str, int]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, state, attempts FROM analyses")}
    finally:
        conn.close()


def _audit(path: Path, action: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [json.loads(r[0]) for r in conn.execute(
            "SELECT detail FROM audit WHERE action = ? ORDER BY id", (action,))]
    finally:
        conn.close()


def _project(tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path,
             extra: tuple[str, ...] = ()) -> Path:
    """A project of the three clips (and ``extra`` CREMA-D emotions), every one consented."""
    path = tmp_path / "batch.cuewatch"
    with Project.create(path) as p:
        for code in ("HAP", "SAD", "NEU"):
            p.recordings.add(crema_clips[code], consent=CONSENT)
        for code in extra:  # a CREMA-D emotion, or a path under media_dir
            source = media_dir / (code if "/" in code else f"crema_d/1001_DFA_{code}_XX.flv")
            link = tmp_path / source.name.lower()
            link.symlink_to(source)
            p.recordings.add(link, consent=CONSENT)
    return path


def test_batch_on_a_local_cluster_fails_the_broken_recording_and_finishes_the_rest(
        tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path, model_path: Path,
        analysed_features: Any) -> None:
    """Every consented recording analysed once on the cluster; a garbage file fails with its
    own message while the others finish; the features are the local run's, bit for bit."""
    from cuewatch.faces.model import MODEL_SHA256
    from cuewatch.features.keys import features_key
    from cuewatch.project.batch import run_on_cluster

    path = _project(tmp_path, crema_clips, media_dir)
    broken = tmp_path / "broken.flv"
    broken.write_bytes((media_dir / "crema_d" / "1001_DFA_ANG_XX.flv").read_bytes())
    with Project.open(path) as p:
        bad = int(p.recordings.add(broken, consent=CONSENT).id)  # type: ignore[arg-type]
    broken.write_bytes(os.urandom(200_000))  # garbage where the video was: fails on the worker

    reports: list[tuple[float, str]] = []
    from cuewatch.progress import Progress
    summary = run_on_cluster(path, scheduler="local", workers=2, model=str(model_path),
                             progress=Progress(lambda f, m: reports.append((f, m))))

    states = _states(path)
    assert sorted(summary.done) == [1, 2, 3]
    failed = dict(summary.failed)
    assert bad in [a for a, _ in summary.failed] and "broken.flv" in failed[bad]
    assert all(states[a] == ("done", 1) for a in (1, 2, 3)), states
    assert states[bad][0] == "failed"
    assert [d["analysis_id"] for d in _audit(path, "finish_analysis")].count(1) == 1
    assert reports and reports[-1][0] == pytest.approx(1.0)  # the bar over recordings
    # and over frames: the face pass's progress, sent by the workers while their tasks ran
    assert any("finding and tracking faces" in m and f < 1.0 for f, m in reports), reports
    with Project.open(path) as p:
        assert "broken.flv" in (p.analyses.all(bad)[0].error or "")
        for rid, code in ((1, "HAP"), (2, "SAD"), (3, "NEU")):
            a = p.analyses.latest(rid)
            assert a is not None and a.features_dir is not None
            # written by a worker into the project's own features cache, under the same key
            assert a.features_dir.parent == p.analyses.features_cache
            assert a.features_dir.name == a.cache_key == features_key(
                p.recordings.get(rid).sha256, MODEL_SHA256, a.settings)
            local = analysed_features(crema_clips[code], a.settings)  # the local face pass
            assert local.name == a.cache_key
            _same_features(local, a.features_dir)
            assert p.analyses.tracks(rid)


def _same_features(local: Path, cluster: Path) -> None:
    arrays = sorted(f.name for f in local.glob("*.npy"))
    assert arrays and arrays == sorted(f.name for f in cluster.glob("*.npy"))
    for name in arrays:
        a, b = np.load(local / name), np.load(cluster / name)
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), name
    meta_local = json.loads((local / "meta.json").read_text())
    meta_cluster = json.loads((cluster / "meta.json").read_text())
    assert ({k: v for k, v in meta_local.items() if k not in RUN_FIELDS}
            == {k: v for k, v in meta_cluster.items() if k not in RUN_FIELDS})


def test_a_worker_killed_mid_task_is_retried_and_every_recording_is_done_once(
        tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path, model_path: Path,
        cluster: Any) -> None:
    from cuewatch.project.batch import run_on_cluster

    path = _project(tmp_path, crema_clips, media_dir)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["summary"] = run_on_cluster(path, scheduler=cluster.scheduler_address,
                                                model=str(model_path))
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    killed, killed_key = None, None
    with distributed.Client(cluster.scheduler_address, timeout=10) as watcher:
        deadline = time.monotonic() + 120
        while killed is None and time.monotonic() < deadline and runner.is_alive():
            busy = {w: keys for w, keys in watcher.processing().items()
                    if any(str(k).startswith("cuewatch-analysis-") for k in keys)}
            if busy:
                time.sleep(0.5)  # mid-task: past loading the model, into the face pass
                worker = sorted(busy)[0]
                killed_key = next(k for k in busy[worker] if str(k).startswith("cuewatch-analysis-"))
                killed = watcher.run(os.getpid, workers=[worker])[worker]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.05)
        runner.join(timeout=300)
        assert killed is not None, "no task ever ran"
        # the scheduler ran the killed task again, on the restarted or the other worker
        story = [t for t in watcher.story(killed_key) if len(t) > 2 and t[2] == "processing"]
        assert len(story) >= 2, watcher.story(killed_key)
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert sorted(summary.done) == [1, 2, 3] and not summary.failed
    # each analysis claimed once and stored once: the retry happened inside Dask
    assert _states(path) == {1: ("done", 1), 2: ("done", 1), 3: ("done", 1)}
    finished = [d["analysis_id"] for d in _audit(path, "finish_analysis")]
    assert sorted(finished) == [1, 2, 3]


def test_the_scheduler_going_away_stops_the_batch_and_queues_the_rest_again(
        tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path, model_path: Path) -> None:
    """The command line against a scheduler that dies mid-batch: one line, exit 2, nothing
    left "running", and the rerun finishes the rest."""
    from cuewatch.project.batch import run_on_cluster

    path = _project(tmp_path, crema_clips, media_dir, extra=("ANG", "DIS"))
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    try:
        proc = subprocess.Popen([sys.executable, "-m", "cuewatch", "project", "analyze", str(path),
                                 "--quiet", "--scheduler", cluster.scheduler_address],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if any(s == "running" for s, _ in _states(path).values()):
                break
            time.sleep(0.05)
        cluster.close()
        out, err = proc.communicate(timeout=120)
    finally:
        cluster.close()
    assert proc.returncode == 2, (out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "went away" in lines[0] and "queued again" in lines[0]
    states = _states(path)
    assert not any(s == "running" for s, _ in states.values()), states  # given back
    assert any(s == "queued" for s, _ in states.values()), states
    with Project.open(path) as p:
        assert p._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    done_before = {a: v for a, v in states.items() if v[0] == "done"}
    summary = run_on_cluster(path, scheduler="local", workers=2, model=str(model_path))
    assert not summary.failed and not summary.requeued  # nothing was left "running"
    after = _states(path)
    assert all(s == "done" for s, _ in after.values()), after
    assert all(after[a] == v for a, v in done_before.items())


def test_unreachable_scheduler_is_one_line_exit_2(tmp_path: Path, clips: dict[str, Path],
                                                  capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from cuewatch import cluster
    from cuewatch.cli import main

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)  # the real connect, waited for less long
    path = tmp_path / "p.cuewatch"
    with Project.create(path) as p:
        p.recordings.add(clips["HAP"])
    code = main(["project", "analyze", str(path), "--quiet", "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "Dask scheduler" in err, err
    assert _states(path) == {1: ("queued", 0)}
    code = main(["project", "analyze", str(path), "--quiet", "--workers", "2", "--jobs", "2"])
    assert code == 2


def test_client_killed_then_rerun_resumes_without_redoing_finished_work(
        tmp_path: Path, crema_clips: dict[str, Path], media_dir: Path, model_path: Path) -> None:
    # the 20-second Pexels clip last: the batch is still running when the first are done
    path = _project(tmp_path, crema_clips, media_dir, extra=("ANG", "pexels/WolfgangLanger_Pexels.mp4"))
    env = dict(os.environ, CUEWATCH_MODEL=str(model_path))
    argv = [sys.executable, "-m", "cuewatch", "project", "analyze", str(path), "--quiet", "--workers", "2"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600  # a loaded shared machine: the workers start and import slowly
    while time.monotonic() < deadline:
        states = _states(path)
        if any(s == "done" for s, _ in states.values()) and any(s == "running" for s, _ in states.values()):
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    else:
        pytest.fail("the batch never got going")
    import psutil  # a dependency of distributed

    helpers = psutil.Process(proc.pid).children(recursive=True)  # the local cluster's processes
    assert helpers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(helpers, timeout=60)
    assert not alive, alive  # the cluster died with its client: no orphaned workers
    before = _states(path)
    done_before = {a for a, (s, _) in before.items() if s == "done"}
    assert done_before and len(done_before) < 5
    rerun = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-800:]
    assert "resumed" in rerun.stderr
    assert int(rerun.stdout.split()[0]) == 5 - len(done_before)  # "N analysed, 0 failed"
    after = _states(path)
    assert all(s == "done" for s, _ in after.values()), after
    for aid in done_before:
        assert after[aid] == before[aid]  # not redone: same attempts
    finished = [d["analysis_id"] for d in _audit(path, "finish_analysis")]
    assert sorted(finished) == sorted(after)  # each stored exactly once
