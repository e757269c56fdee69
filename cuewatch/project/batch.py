"""Run a project's queued analyses on a Dask cluster: ``cuewatch project analyze --scheduler``.

One task per recording: the same ``_run_job`` (face pass + pipeline, a pure function of
video, settings and model) that ``cuewatch.project.queue`` runs in its own processes. The
queue's rules hold unchanged: this process claims each analysis (consent is checked by the
claim, so a worker never receives a recording whose consent does not allow it), submits it,
and stores the result (``finish``) or the error (``fail``) when its task comes back. Workers
never open the SQLite file; they write the face features into the project's features cache
(``<project>.cuewatch-data/features/``), which must be on a file system the workers share
with this machine, at the same path, as must the videos and the model.

Faults: a worker killed mid-task is retried on another by the scheduler (up to
``ALLOWED_FAILURES`` deaths per task); a recording that fails for its own reason is marked
failed and the batch goes on; the scheduler going away stops the batch with one message and
gives back what was claimed but not finished, so the next run resumes it. A killed client
leaves its claims "running" under its dead pid, and the next run requeues them.

Threads: call ``run_on_cluster`` from a worker thread (it blocks for the whole run); it opens
its own ``Project``.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import replace
from typing import Any, Optional, Union

from cuewatch.errors import CuewatchError
from cuewatch.progress import Progress
from cuewatch.project.queue import RunSummary, _claim, _give_back, _run_job, _store, _Throttle
from cuewatch.project.store import Project

log = logging.getLogger(__name__)

#: ``--scheduler`` value that starts a ``LocalCluster`` on this machine.
LOCAL_SCHEDULER = "local"
#: times a task may lose its worker (killed, out of memory) before it is failed. A recording
#: that fails by itself (a broken file) is not retried: its error is deterministic.
ALLOWED_FAILURES = 3
#: environment variables Dask's nanny sets in the workers it starts that are left out here:
#: a fixed malloc trim threshold also fixes glibc's mmap threshold at 128 KiB, so every
#: decoded frame is mapped and unmapped again (batches ran slower with it here, in noisy
#: A/B runs of benchmarks/bench_batch.py on a loaded 2-core machine).
WORKER_ENV_DROPPED = ("MALLOC_TRIM_THRESHOLD_",)
#: tasks the scheduler hands a worker thread at once: one, so a long recording never waits
#: behind another on a busy worker while a second worker idles (Dask's default, 1.1, rounds up
#: to two; that suits many short tasks, not a few minutes-long ones).
WORKER_SATURATION = 1.0
#: seconds to wait for a remote scheduler to answer, and for its loss to be confirmed.
CONNECT_TIMEOUT_S = 10
#: tasks in flight per worker thread: enough to keep every worker busy, few enough that the
#: claims (and the consent checked by each) stay close to when the task runs.
IN_FLIGHT_PER_WORKER = 2
#: how often the wait loop wakes to check for cancel (seconds).
POLL_S = 0.2


class SchedulerLost(CuewatchError):
    """The Dask scheduler could not be reached, or went away during the batch."""


def _client(scheduler: str, workers: int) -> tuple[Any, Any]:
    """A connected ``distributed.Client`` and the ``LocalCluster`` it owns (or None)."""
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise CuewatchError("running on a Dask cluster needs the batch extra: "
                            "pip install 'cuewatch[batch]'") from None

    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                     "distributed.scheduler.worker-saturation": WORKER_SATURATION})
    if scheduler == LOCAL_SCHEDULER:
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        dask.config.set({"distributed.nanny.pre-spawn-environ": {
            k: v for k, v in environ.items() if k not in WORKER_ENV_DROPPED}})
        # one thread per worker process (as --jobs: a face pass fills a core); no dashboard,
        # nothing listening beyond this machine
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise SchedulerLost(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _worker_threads(client: Any) -> int:
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def run_on_cluster(project_path: Union[str, os.PathLike], *, scheduler: str = LOCAL_SCHEDULER,
                   workers: int = 2, model: Optional[str] = None, retry_failed: bool = False,
                   progress: Optional[Progress] = None, actor: Optional[str] = None) -> RunSummary:
    """Run every queued analysis (and the ones an earlier run left unfinished) on a cluster."""
    from cuewatch.faces.model import resolve_model

    progress = progress or Progress()
    location = resolve_model(model, progress=progress.scaled(0.0, 0.0))
    with Project.open(project_path, actor=actor) as project:
        summary = RunSummary(requeued=project.analyses.requeue_interrupted())
        if retry_failed:
            summary.retried = project.analyses.requeue_failed()
        total = len(project.analyses.all(state="queued"))
        if total == 0:
            return summary
        client, cluster = _client(scheduler, workers)
        try:
            _run_batch(project, client, location, _Throttle(project, progress, total), progress,
                       summary, scheduler)
        finally:
            _close(client, cluster)
        return summary


def _close(client: Any, cluster: Any) -> None:
    try:
        client.close(timeout=CONNECT_TIMEOUT_S)
        if cluster is not None:
            cluster.close(timeout=CONNECT_TIMEOUT_S)
    except Exception:  # a scheduler already gone cannot be closed politely
        log.debug("closing the Dask client", exc_info=True)


def _run_batch(project: Project, client: Any, location: Any, throttle: _Throttle,
               progress: Progress, summary: RunSummary, scheduler: str) -> None:
    running: dict[Any, tuple[int, str]] = {}  # future -> (analysis id, video name)
    try:
        limit = IN_FLIGHT_PER_WORKER * _worker_threads(client)
        more = True
        while True:
            while more and len(running) < limit:
                claimed = _claim(project, location, summary)
                if claimed is None:
                    more = False
                    break
                a, job = claimed
                throttle.names[a.id] = job.name
                # one chunk thread per task: the cluster's worker threads fill the cores
                task = replace(job, kwargs={**job.kwargs, "workers": 1})
                fut = client.submit(_run_job, task, key=f"cuewatch-analysis-{a.id}-{uuid.uuid4().hex}",
                                    pure=False, retries=0)
                running[fut] = (a.id, job.name)
            if not running:
                return
            for fut in _finished(client, list(running), progress):
                if fut.status == "cancelled":  # the scheduler forgot it: it went away
                    raise SchedulerLost("cancelled")
                aid, name = running.pop(fut)
                _store(project, summary, aid, name, fut.result)
                throttle.end(aid)
                throttle.outer.report(throttle.finished / throttle.total, f"{name}: done")
    except BaseException as exc:
        ids = [aid for aid, _ in running.values()]
        for fut in running:
            fut.release()
        _give_back(project, ids)
        if isinstance(exc, _lost_errors()):
            raise SchedulerLost(_lost(scheduler, len(ids))) from None
        raise


def _lost_errors() -> tuple[type[BaseException], ...]:
    """What the client raises when the scheduler is gone: its connection closed
    (``CommClosedError`` is an ``OSError``), or the futures it forgot (cancelled)."""
    import asyncio
    import concurrent.futures

    from distributed.client import ClosedClientError

    return (OSError, TimeoutError, SchedulerLost, concurrent.futures.CancelledError,
            asyncio.CancelledError, ClosedClientError)


def _finished(client: Any, futures: list[Any], progress: Progress) -> list[Any]:
    """The futures done so far; blocks until one is, waking to check for cancel and for a
    scheduler that went away."""
    from distributed import wait

    while True:
        progress.check()
        if client.status not in ("running", "connecting"):
            raise SchedulerLost("closed")  # reworded by _run_batch
        try:
            done, _ = wait(futures, timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        if done:
            return list(done)


def _lost(scheduler: str, unfinished: int) -> str:
    where = "the local Dask cluster" if scheduler == LOCAL_SCHEDULER else f"the Dask scheduler at {scheduler}"
    return (f"{where} went away; {unfinished} unfinished analys{'is' if unfinished == 1 else 'es'} "
            f"queued again (run `cuewatch project analyze` again to resume)")
