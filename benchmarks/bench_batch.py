"""A batch on a Dask LocalCluster against today's ``project analyze --jobs N``, on this machine.

    CUEWATCH_MODEL=../shared/models/face_landmarker.task python benchmarks/bench_batch.py \\
        [--workers 2] [--media ../shared/media] [--tasks 200]

Target (issue 15): the cluster's throughput within 10% of ``--jobs 2`` on the same batch
(the engine's overhead is small), and the scheduler's overhead per task.

The batch: the 6 CREMA-D clips (2 s), the RAVDESS clip (4 s) and the Pexels woman (19.7 s),
8 recordings, each consented, in a fresh project per run (so each run does every face pass:
the features cache is the project's). Printed per run: wall time, recordings per minute,
seconds of video per second. The cluster is timed twice: with its start (what a user of
``--scheduler local`` waits for) and on an already running cluster (what a real cluster,
started once and warm, costs per batch). The scheduler's overhead per task is the round trip of
``--tasks`` empty tasks, one at a time (latency) and all at once (throughput), and the
cluster's extra wall time over ``--jobs`` divided by the number of recordings.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cuewatch.media.video import probe_video  # noqa: E402
from cuewatch.project.batch import run_on_cluster  # noqa: E402
from cuewatch.project.queue import RunSummary, run_queued  # noqa: E402
from cuewatch.project.store import Project  # noqa: E402

CONSENT = {"participants": [{"name": "Client", "role": "client"}],
           "scopes": ["training", "supervision"], "obtained": "2026-01-01", "recorded_by": "bench"}
CLIPS = [f"crema_d/1001_DFA_{c}_XX.flv" for c in ("ANG", "DIS", "FEA", "HAP", "NEU", "SAD")] + [
    "ravdess/01-01-07-02-02-01-01.mp4", "pexels/WolfgangLanger_Pexels.mp4"]


def _project(folder: Path, videos: list[Path]) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    path = folder / "batch.cuewatch"
    with Project.create(path, actor="bench") as p:
        for v in videos:
            p.recordings.add(v, consent=CONSENT)
    return path


def _line(label: str, seconds: float, n: int, video_s: float, summary: RunSummary) -> None:
    assert len(summary.done) == n and not summary.failed, summary
    print(f"{label:<38} {seconds:7.1f} s  {60 * n / seconds:5.1f} recordings/min  "
          f"{video_s / seconds:4.2f} s of video/s")


def _noop(x: int) -> int:
    return x


def scheduler_overhead(client: object, n_tasks: int) -> tuple[float, float]:
    """(seconds per empty task one at a time, per empty task all submitted at once)."""
    c = client
    t0 = time.perf_counter()
    for i in range(n_tasks):
        c.submit(_noop, i, pure=False).result()  # type: ignore[attr-defined]
    serial = (time.perf_counter() - t0) / n_tasks
    t0 = time.perf_counter()
    futures = [c.submit(_noop, i, pure=False) for i in range(n_tasks)]  # type: ignore[attr-defined]
    c.gather(futures)  # type: ignore[attr-defined]
    bulk = (time.perf_counter() - t0) / n_tasks
    return serial, bulk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="--jobs and cluster worker processes")
    ap.add_argument("--media", type=Path, default=Path(os.environ.get(
        "CUEWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "media")
    ap.add_argument("--tasks", type=int, default=200, help="empty tasks for the overhead")
    args = ap.parse_args()
    model = os.environ.get("CUEWATCH_MODEL")
    videos = [args.media / c for c in CLIPS]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        print(f"missing media: {', '.join(missing)}", file=sys.stderr)
        return 2
    n = len(videos)
    video_s = sum(probe_video(v).duration for v in videos)
    print(f"batch: {n} recordings, {video_s:.1f} s of video; {args.workers} workers on "
          f"{os.cpu_count()} cores")
    work = Path(tempfile.mkdtemp(prefix="cuewatch-bench-batch-"))
    try:
        path = _project(work / "jobs", videos)
        t0 = time.perf_counter()
        summary = run_queued(path, model=model, jobs=args.workers)
        jobs_s = time.perf_counter() - t0
        _line(f"project analyze --jobs {args.workers}", jobs_s, n, video_s, summary)

        path = _project(work / "local", videos)
        t0 = time.perf_counter()
        summary = run_on_cluster(path, scheduler="local", workers=args.workers, model=model)
        local_s = time.perf_counter() - t0
        _line(f"--scheduler local --workers {args.workers}", local_s, n, video_s, summary)

        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, host="127.0.0.1") as cluster:
            with Client(cluster.scheduler_address) as client:
                # a cluster in use has imported the face pass (MediaPipe, OpenCV) already
                client.run(importlib.import_module, "cuewatch.faces.face_pass")
            start_s = time.perf_counter() - t0
            print(f"local cluster start, workers ready to analyse: {start_s:.1f} s")
            path = _project(work / "running", videos)
            t0 = time.perf_counter()
            summary = run_on_cluster(path, scheduler=cluster.scheduler_address, model=model)
            running_s = time.perf_counter() - t0
            _line("--scheduler tcp://... (running cluster)", running_s, n, video_s, summary)
            with Client(cluster.scheduler_address) as client:
                serial, bulk = scheduler_overhead(client, args.tasks)
        print(f"cluster / --jobs wall time: {local_s / jobs_s:.3f} with the cluster's start, "
              f"{running_s / jobs_s:.3f} on a running cluster (target: <= 1.10)")
        print(f"scheduler overhead per task: {1000 * serial:.1f} ms one at a time, "
              f"{1000 * bulk:.2f} ms in bulk ({args.tasks} empty tasks); extra wall time per "
              f"recording over --jobs: {(running_s - jobs_s) / n:+.2f} s (running cluster)")
        per_task = running_s * args.workers / n
        print(f"measured cost per recording: {per_task:.1f} worker-s; a batch of B recordings on W "
              f"workers takes about B * {per_task:.1f} / W s while W <= B")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
