"""Run a project's queued analyses, resumably: ``cuewatch project analyze`` and the app.

Each analysis is ``cuewatch.recording.analyse.run_pipeline`` (a function of the video and the
settings that touches no shared state); only this process writes to the project: it
claims an analysis (queued -> running), records progress, and stores the result (done)
or the error (failed) in one transaction each. A process killed mid-way leaves its
analysis "running"; the next run puts it back in the queue, and the features cache
(keyed by content hash + model + settings, under the project's data folder) means a
finished face pass is not redone.

Threads: call ``run_queued`` from a worker thread (it blocks for the whole run); it
opens its own ``Project``.
"""

from __future__ import annotations

import functools
import logging
import os
import queue as _queue
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional, Union

from cuewatch.errors import CuewatchError, ProjectError
from cuewatch.progress import BatchProgress, Cancelled, Progress
from cuewatch.project.analyses import Analysis
from cuewatch.project.store import Project

log = logging.getLogger(__name__)

#: write progress to the project at most this often per analysis (seconds).
PROGRESS_INTERVAL_S = 1.0


@dataclass
class RunSummary:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)  # interrupted earlier, resumed now
    retried: list[int] = field(default_factory=list)   # failed earlier, tried again
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Job:
    """Everything a worker process needs: plain, picklable data."""

    analysis_id: int
    recording_id: int
    name: str
    kwargs: dict[str, Any]


def _job(project: Project, a: Analysis, model_path: Path, model_sha256: str) -> _Job:
    rid = a.recording_id
    video = project.recordings.locate(rid)
    files = project.recordings.transcripts(rid)
    meta = project.recordings.metadata(rid)
    return _Job(a.id, rid, video.name, dict(
        video=video, settings=a.settings, model_path=model_path, model_sha256=model_sha256,
        transcript=files.get("transcript"), mood=files.get("mood"),
        client_speaker=meta.get("client_speaker"), client_face=meta.get("client_face") or "auto",
        therapist_speaker=meta.get("therapist_speaker"),
        therapist_face=meta.get("therapist_face") or "auto",
        flag_settings=a.flag_settings, consent=project.consents.get(rid),
        cache_dir=project.analyses.features_cache, video_sha256=project.recordings.get(rid).sha256,
        neutral_spans=project.recordings.neutral_spans(rid)))


def _run_job(job: _Job, progress_queue: Any = None, progress: Optional[Progress] = None) -> Any:
    """Run one pipeline; in a worker process, progress goes through ``progress_queue``."""
    from cuewatch.recording.analyse import run_pipeline

    if progress is None:
        def report(fraction: float, message: str) -> None:
            if progress_queue is not None:
                progress_queue.put((job.analysis_id, fraction, message))
        progress = Progress(report)
    return run_pipeline(progress=progress, **job.kwargs)


class _CancelVia:
    """A cancel token that is set when ``progress``'s own token is."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def is_set(self) -> bool:
        return self.progress.cancelled()


class _Throttle(BatchProgress):
    """Progress to the caller always; to the project file at most once a second."""

    def __init__(self, project: Project, outer: Progress, total: int) -> None:
        super().__init__(outer, total)
        self.project = project
        self.last_write: dict[int, float] = {}

    def update(self, analysis_id: int, fraction: float, message: str) -> None:
        super().update(analysis_id, fraction, message)
        now = time.monotonic()
        if now - self.last_write.get(analysis_id, 0.0) >= PROGRESS_INTERVAL_S:
            self.last_write[analysis_id] = now
            try:
                self.project.analyses.set_progress(analysis_id, fraction, message)
            except ProjectError:  # progress is best effort: a busy project must not fail the analysis
                log.debug("progress of analysis %s not stored", analysis_id, exc_info=True)


def _store(project: Project, summary: RunSummary, a_id: int, name: str, fn: Any) -> None:
    """Run ``fn`` (giving a PipelineResult) and store its outcome; errors fail the analysis."""
    try:
        result = fn()
    except (Cancelled, KeyboardInterrupt):
        raise
    except CuewatchError as exc:
        project.analyses.fail(a_id, str(exc))
        summary.failed.append((a_id, str(exc)))
        return
    except Exception as exc:  # a bug in one analysis must not stop the batch
        message = f"internal error in {name}: {type(exc).__name__}: {exc}"
        project.analyses.fail(a_id, message)
        summary.failed.append((a_id, message))
        return
    try:
        project.analyses.finish(a_id, result)
    except CuewatchError as exc:  # consent revoked meanwhile
        project.analyses.fail(a_id, str(exc))
        summary.failed.append((a_id, str(exc)))
        return
    summary.done.append(a_id)
    summary.warnings += list(getattr(result, "warnings", []))


@contextmanager
def queued_run(project_path: Union[str, os.PathLike], model: Optional[str], retry_failed: bool,
               progress: Progress, actor: Optional[str]) -> Iterator[tuple[Project, Any, RunSummary, int]]:
    """The start every queue runner shares: the model resolved, the project open, analyses
    an earlier run left unfinished queued again (and the failed ones when asked); yields
    (project, model location, summary, number queued)."""
    from cuewatch.faces.model import resolve_model

    location = resolve_model(model, progress=progress.scaled(0.0, 0.0))
    with Project.open(project_path, actor=actor) as project:
        summary = RunSummary(requeued=project.analyses.requeue_interrupted())
        if retry_failed:
            summary.retried = project.analyses.requeue_failed()
        yield project, location, summary, len(project.analyses.all(state="queued"))


def run_queued(project_path: Union[str, os.PathLike], *, model: Optional[str] = None,
               jobs: int = 1, retry_failed: bool = False, progress: Optional[Progress] = None,
               actor: Optional[str] = None) -> RunSummary:
    """Run every queued analysis (and the ones an earlier run left unfinished)."""
    progress = progress or Progress()
    with queued_run(project_path, model, retry_failed, progress, actor) as (project, location, summary, total):
        throttle = _Throttle(project, progress, total)
        if jobs <= 1:
            _run_here(project, location, throttle, progress, summary)
        else:
            _run_pool(project, location, throttle, progress, summary, jobs)
        return summary


def _claim(project: Project, location: Any, summary: RunSummary) -> Optional[tuple[Analysis, _Job]]:
    while True:
        a = project.analyses.claim(location.sha256)
        if a is None:
            return None
        try:
            return a, _job(project, a, location.path, location.sha256)
        except CuewatchError as exc:  # the video moved, its consent went, ...
            project.analyses.fail(a.id, str(exc))
            summary.failed.append((a.id, str(exc)))


def _give_back(project: Project, analysis_ids: list[int]) -> None:
    """Queue again what this run claimed but did not finish, so the next run resumes it
    (a live pid would otherwise keep it "running" until this process exits)."""
    if not analysis_ids:
        return
    try:
        project.analyses.requeue_running(analysis_ids)
    except CuewatchError:  # the project is unwritable now; the next run requeues them by their dead pid
        log.warning("analyses %s not requeued; the next run will", list(analysis_ids), exc_info=True)


def _run_here(project: Project, location: Any, throttle: _Throttle, progress: Progress,
              summary: RunSummary) -> None:
    while True:
        progress.check()
        claimed = _claim(project, location, summary)
        if claimed is None:
            return
        a, job = claimed
        throttle.names[a.id] = job.name
        inner = Progress(functools.partial(throttle.update, a.id), _CancelVia(progress))
        try:
            _store(project, summary, a.id, job.name, lambda job=job, inner=inner: _run_job(job, progress=inner))
        except BaseException:  # cancelled, or the project itself failed: not the analysis
            _give_back(project, [a.id])
            raise
        throttle.end(a.id)


def _run_pool(project: Project, location: Any, throttle: _Throttle, progress: Progress,
              summary: RunSummary, jobs: int) -> None:
    from cuewatch.worker_processes import process_manager, process_pool

    manager = process_manager()
    progress_queue = manager.Queue()
    running: dict[Future, tuple[int, str]] = {}
    pool = process_pool(jobs)
    try:
        more = True
        while True:
            while more and len(running) < jobs:
                claimed = _claim(project, location, summary)
                if claimed is None:
                    more = False
                    break
                a, job = claimed
                throttle.names[a.id] = job.name
                # one chunk thread per pooled recording: the pool already fills the cores
                pooled = replace(job, kwargs={**job.kwargs, "workers": 1})
                running[pool.submit(_run_job, pooled, progress_queue)] = (a.id, job.name)
            if not running:
                return
            done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
            while True:
                try:
                    aid, fraction, message = progress_queue.get_nowait()
                except _queue.Empty:
                    break
                throttle.update(aid, fraction, message)
            for fut in done:
                aid, name = running.pop(fut)
                if isinstance(fut.exception(), BrokenProcessPool):
                    running[fut] = (aid, name)  # put back: requeued below, not failed
                    raise CuewatchError("an analysis worker process died (out of memory?); "
                                        "run `cuewatch project analyze` again to resume")
                _store(project, summary, aid, name, fut.result)
                throttle.end(aid)
            progress.check()
    except BaseException:
        ids = [aid for aid, _ in running.values()]
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        _give_back(project, ids)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()
