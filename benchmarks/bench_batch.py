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
started once and warm, costs per batch); ``--jobs`` and the running cluster are measured back to
back in each of ``--rounds`` rounds, so both see the same load (printed: the machine may be
shared), with the CPU seconds the workers spent per recording (a figure the load hardly moves).
The scheduler's overhead per task is the round trip of ``--tasks`` empty tasks, one at a time
(latency) and all at once (throughput).
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
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


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the --jobs pool, once shut down)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _workers_cpu(client: object) -> float:
    """CPU seconds the cluster's worker processes have used so far."""
    import psutil  # a dependency of distributed

    times = client.run(lambda: sum(psutil.Process().cpu_times()[:2]))  # type: ignore[attr-defined]
    return float(sum(times.values()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2, help="--jobs and cluster worker processes")
    ap.add_argument("--media", type=Path, default=Path(os.environ.get(
        "CUEWATCH_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "media")
    ap.add_argument("--tasks", type=int, default=200, help="empty tasks for the overhead")
    ap.add_argument("--rounds", type=int, default=2,
                    help="--jobs and the running cluster measured back to back this many times")
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
          f"{os.cpu_count()} cores; {_load()}")
    work = Path(tempfile.mkdtemp(prefix="cuewatch-bench-batch-"))

    from cuewatch.cluster import connect

    try:
        path = _project(work / "local", videos)
        t0 = time.perf_counter()
        summary = run_on_cluster(path, scheduler="local", workers=args.workers, model=model)
        local_s = time.perf_counter() - t0
        _line(f"--scheduler local --workers {args.workers}", local_s, n, video_s, summary)
        print(f"  (with the cluster's start and the workers' first imports; {_load()})")

        t0 = time.perf_counter()
        with connect("local", args.workers) as client:  # the local cluster cuewatch starts
            cluster = client.cluster
            # a cluster in use has imported the face pass (MediaPipe, OpenCV) already
            client.run(importlib.import_module, "cuewatch.faces.face_pass")
            print(f"local cluster start, workers ready to analyse: {time.perf_counter() - t0:.1f} s")
            ratios, cpu = [], {"jobs": 0.0, "cluster": 0.0}
            for r in range(args.rounds):
                # --jobs first and the cluster right after, each round: the same load for both
                path = _project(work / f"jobs{r}", videos)
                c0, t0 = _children_cpu(), time.perf_counter()
                summary = run_queued(path, model=model, jobs=args.workers)
                jobs_s = time.perf_counter() - t0
                cpu["jobs"] += _children_cpu() - c0
                _line(f"round {r + 1}: project analyze --jobs {args.workers}", jobs_s, n, video_s, summary)
                path = _project(work / f"running{r}", videos)
                c0, t0 = _workers_cpu(client), time.perf_counter()
                summary = run_on_cluster(path, scheduler=cluster.scheduler_address, model=model)
                running_s = time.perf_counter() - t0
                cpu["cluster"] += _workers_cpu(client) - c0
                _line(f"round {r + 1}: --scheduler tcp://... (running)", running_s, n, video_s, summary)
                ratios.append(running_s / jobs_s)
                print(f"  cluster / --jobs: {running_s / jobs_s:.3f}; {_load()}")
            serial, bulk = scheduler_overhead(client, args.tasks)
        print(f"cluster / --jobs wall time: {local_s / jobs_s:.3f} with the cluster's start (last "
              f"round's --jobs), on a running cluster {', '.join(f'{x:.3f}' for x in ratios)} "
              f"(target: <= 1.10)")
        per = {k: v / (n * args.rounds) for k, v in cpu.items()}
        print(f"CPU per recording in the workers: --jobs {per['jobs']:.2f} s (including each new "
              f"pool's imports), cluster {per['cluster']:.2f} s (the scheduler's own work not included)")
        print(f"scheduler overhead per task: {1000 * serial:.1f} ms one at a time, "
              f"{1000 * bulk:.2f} ms in bulk ({args.tasks} empty tasks)")
        print(f"a batch of B recordings like these on W worker processes takes about "
              f"B * {per['cluster']:.1f} / W s of an idle core's time while W <= B, plus "
              f"{1000 * bulk:.0f} ms of scheduling per task; {_load()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
