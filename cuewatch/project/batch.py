"""Run a project's queued analyses on a Dask cluster: ``cuewatch project analyze --scheduler``.

One task per recording: the same ``_run_job`` (face pass + pipeline, a pure function of
video, settings and model) that ``cuewatch.project.queue`` runs in its own processes, through
``cuewatch.cluster.run_tasks`` (the one Dask code path, shared with ``cuewatch analyze
--scheduler``). The queue's rules hold unchanged: this process claims each analysis (consent
is checked by the claim, so a worker never receives a recording whose consent does not allow
it) when a worker thread is free for it, and stores the result (``finish``) or the error
(``fail``) when its task comes back; the face pass's per-frame progress comes back from the
worker while it runs. Workers never open the SQLite file; they write the face features into
the project's features cache (``<project>.cuewatch-data/features/``), which must be on a file
system the workers share with this machine, at the same path, as must the videos and the model.

Faults: a worker killed mid-task is retried on another by the scheduler; a recording that
fails for its own reason is marked failed and the batch goes on; the scheduler going away
stops the batch with one message and gives back what was claimed but not finished, so the
next run resumes it. A killed client leaves its claims "running" under its dead pid, and the
next run requeues them.

Threads: call ``run_on_cluster`` from a worker thread (it blocks for the whole run); it opens
its own ``Project``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, Optional, Union

from cuewatch.cluster import LOCAL_SCHEDULER, ClusterTask, SchedulerLost, connect, run_tasks
from cuewatch.progress import Progress
from cuewatch.project.queue import RunSummary, _claim, _give_back, _run_job, _store, _Throttle, queued_run
from cuewatch.project.store import Project

__all__ = ["LOCAL_SCHEDULER", "SchedulerLost", "run_on_cluster"]


def run_on_cluster(project_path: Union[str, os.PathLike], *, scheduler: str = LOCAL_SCHEDULER,
                   workers: int = 2, model: Optional[str] = None, retry_failed: bool = False,
                   progress: Optional[Progress] = None, actor: Optional[str] = None) -> RunSummary:
    """Run every queued analysis (and the ones an earlier run left unfinished) on a cluster."""
    progress = progress or Progress()
    with queued_run(project_path, model, retry_failed, progress, actor) as (project, location, summary, total):
        if total == 0:
            return summary
        with connect(scheduler, workers) as client:
            _run_batch(project, client, location, _Throttle(project, progress, total), progress,
                       summary, scheduler)
        return summary


def _run_batch(project: Project, client: Any, location: Any, throttle: _Throttle,
               progress: Progress, summary: RunSummary, scheduler: str) -> None:
    def next_task() -> Optional[ClusterTask]:
        claimed = _claim(project, location, summary)
        if claimed is None:
            return None
        a, job = claimed
        throttle.names[a.id] = job.name
        # one chunk thread per task: the cluster's worker threads fill the cores
        task = replace(job, kwargs={**job.kwargs, "workers": 1})
        return ClusterTask(a.id, job.name, _run_job, (task,), key_prefix="cuewatch-analysis")

    def done(task: ClusterTask, result: Any) -> None:
        _store(project, summary, task.task_id, task.name, result)
        throttle.end(task.task_id, "done")

    given_back: list[int] = []

    def give_back(ids: list[int]) -> None:
        given_back.extend(ids)
        _give_back(project, ids)

    try:
        run_tasks(client, next_task, done, throttle.update, progress, give_back, scheduler)
    except SchedulerLost as exc:
        unfinished = len(given_back)
        raise SchedulerLost(f"{exc}; {unfinished} unfinished analys{'is' if unfinished == 1 else 'es'} "
                            f"queued again (run `cuewatch project analyze` again to resume)") from None
