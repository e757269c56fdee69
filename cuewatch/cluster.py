"""Tasks on a Dask cluster: connect, submit, collect, and progress from the workers.

The one place cuewatch talks to ``dask.distributed``. ``cuewatch project analyze --scheduler``
(``cuewatch.project.batch``) and ``cuewatch analyze --scheduler`` (``cuewatch.cli.analyze_cmd``)
both run their recordings through ``run_tasks``: it asks its caller for the next task only
when a worker thread is free for it (so what the caller checks before handing a task over,
consent above all, is checked close to when it runs), hands each result back as its task
finishes, and forwards the progress a running task reports on its worker (per frame of the
face pass) to the caller's progress, on the calling thread.

Progress travels as Dask events: the task calls ``Worker.log_event(topic, msg)`` (thread-safe,
sent on the worker's batched stream to the scheduler, at most every ``PROGRESS_EVENT_S``) and
this process subscribes to the topic with ``Client.subscribe_topic``; the handler, on the
client's event-loop thread, only puts the message on a queue that ``run_tasks`` drains.

Faults: a worker killed mid-task is retried on another by the scheduler (up to
``ALLOWED_FAILURES`` deaths per task); a task that fails by itself comes back as its
exception, for the caller to record; the scheduler going away raises ``SchedulerLost`` after
the caller got back the ids it handed over but did not see finish.

Threads: call ``connect`` and ``run_tasks`` from one thread (a worker thread in the app); both
block.
"""

from __future__ import annotations

import logging
import queue
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Optional

from cuewatch.errors import CuewatchError
from cuewatch.progress import Progress

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
#: Dask's statistical profiler samples every thread's stack (default every 10 ms, holding the
#: GIL) for its dashboard; a face pass gains nothing from it, so the local cluster's workers
#: run without it (see the README's cluster section for a real cluster).
WORKER_PROFILE = False
#: seconds to wait for a remote scheduler to answer, and for its loss to be confirmed.
CONNECT_TIMEOUT_S = 10
#: tasks in flight per worker thread: enough to keep every worker busy, few enough that the
#: claims (and the consent checked by each) stay close to when the task runs.
IN_FLIGHT_PER_WORKER = 2
#: how often the wait loop wakes to check for cancel and pass on progress (seconds).
POLL_S = 0.2
#: a running task sends its progress to the client at most this often (seconds), and when
#: its message (the stage) changes.
PROGRESS_EVENT_S = 0.5


#: address schemes a Dask scheduler listens on that cuewatch accepts (``HOST:PORT`` means tcp).
SCHEDULER_SCHEMES = ("tcp", "tls")


def check_scheduler(text: str) -> str:
    """A scheduler address as Dask takes it (``tcp://HOST:PORT``), or ``LOCAL_SCHEDULER``;
    one line naming what is wrong otherwise. Checks the form only; ``connect`` reaches it."""
    value = text.strip()
    if value.lower() == LOCAL_SCHEDULER:
        return LOCAL_SCHEDULER
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = SCHEDULER_SCHEMES[0], value
    host, colon, port = rest.rpartition(":")
    if (scheme.lower() not in SCHEDULER_SCHEMES or not colon or not host or "/" in rest
            or not port.isdigit() or not 0 < int(port) < 65536):
        raise CuewatchError(f"a Dask scheduler is '{LOCAL_SCHEDULER}' or an address such as "
                            f"tcp://HOST:8786, not {text!r}")
    return f"{scheme.lower()}://{host}:{int(port)}"


class SchedulerLost(CuewatchError):
    """The Dask scheduler could not be reached, or went away during the batch."""


@dataclass
class ClusterTask:
    """One task: ``fn(*args, progress=...)`` on a worker, known to the caller by ``task_id``.

    ``fn`` and ``args`` must pickle (module-level functions, plain data, paths the workers
    can see); ``fn`` must take a ``progress`` keyword (a ``cuewatch.progress.Progress``)."""

    task_id: int
    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    key_prefix: str = "cuewatch-task"


def describe(scheduler: str) -> str:
    """How messages name the cluster."""
    return "the local Dask cluster" if scheduler == LOCAL_SCHEDULER else f"the Dask scheduler at {scheduler}"


def _configure() -> Any:
    try:
        import dask
        import distributed  # noqa: F401
    except ImportError:
        raise CuewatchError("running on a Dask cluster needs the batch extra: "
                            "pip install 'cuewatch[batch]'") from None
    dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                     "distributed.scheduler.worker-saturation": WORKER_SATURATION})
    return dask


@contextmanager
def connect(scheduler: str, workers: int = 2) -> Iterator[Any]:
    """A connected ``distributed.Client``: to the scheduler at ``scheduler``, or (for
    ``LOCAL_SCHEDULER``) to a ``LocalCluster`` of ``workers`` processes it starts and stops.
    Raises ``SchedulerLost`` with one line when the scheduler cannot be reached."""
    dask = _configure()
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler == LOCAL_SCHEDULER:
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        dask.config.set({"distributed.nanny.pre-spawn-environ": {
            k: v for k, v in environ.items() if k not in WORKER_ENV_DROPPED},
            "distributed.worker.profile.enabled": WORKER_PROFILE})
        # one thread per worker process (as --jobs: a face pass fills a core); no dashboard,
        # nothing listening beyond this machine
        with warnings.catch_warnings():  # its HTTP port taken by another cluster: one is picked
            warnings.filterwarnings("ignore", message=".*already in use", category=UserWarning)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1")
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerLost(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    try:
        yield client
    finally:
        try:
            client.close(timeout=CONNECT_TIMEOUT_S)
            if cluster is not None:
                cluster.close(timeout=CONNECT_TIMEOUT_S)
        except Exception:  # a scheduler already gone cannot be closed politely
            log.debug("closing the Dask client", exc_info=True)


def worker_threads(client: Any) -> int:
    """Worker threads on the cluster now (at least 1)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))


def run_on_worker(fn: Callable[..., Any], topic: str, task_id: int, args: tuple[Any, ...]) -> Any:
    """What a worker runs for a ``ClusterTask``: ``fn`` with a progress that sends
    ``[task_id, fraction, message]`` to ``topic`` at most every ``PROGRESS_EVENT_S``."""
    from distributed import get_worker

    worker = get_worker()
    last: list[Any] = [0.0, None]  # when the last event went, and its message

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVENT_S or message != last[1]:  # a new stage always goes
            last[:] = [now, message]
            worker.log_event(topic, [task_id, float(fraction), str(message)])

    return fn(*args, progress=Progress(report))


def run_tasks(client: Any, next_task: Callable[[], Optional[ClusterTask]],
              on_done: Callable[[ClusterTask, Callable[[], Any]], None],
              on_progress: Callable[[int, float, str], None], progress: Progress,
              give_back: Callable[[list[int]], None], scheduler: str) -> None:
    """Run tasks until ``next_task`` returns None and every task has come back.

    ``on_done(task, result)`` is called as each task finishes; ``result()`` returns the
    task's value or raises its error. ``on_progress(task_id, fraction, message)`` passes on
    what a running task reports. On cancel, an error of the caller's, or the scheduler going
    away, ``give_back`` receives the ids handed over but not finished, then the error is
    raised (``SchedulerLost`` for the scheduler). Every callback runs on this thread.
    """
    topic = f"cuewatch-progress-{uuid.uuid4().hex}"
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()
    running: dict[Any, ClusterTask] = {}
    client.subscribe_topic(topic, lambda event: events.put(event[1]))

    def pass_on_progress() -> None:
        while True:
            try:
                task_id, fraction, message = events.get_nowait()
            except queue.Empty:
                return
            if any(t.task_id == task_id for t in running.values()):  # late news of a finished task is dropped
                on_progress(int(task_id), float(fraction), str(message))

    try:
        limit = IN_FLIGHT_PER_WORKER * worker_threads(client)
        more = True
        while True:
            while more and len(running) < limit:
                task = next_task()
                if task is None:
                    more = False
                    break
                fut = client.submit(run_on_worker, task.fn, topic, task.task_id, task.args,
                                    key=f"{task.key_prefix}-{task.task_id}-{uuid.uuid4().hex}",
                                    pure=False, retries=0)
                running[fut] = task
            if not running:
                return
            done = _finished(client, list(running), progress, pass_on_progress)
            pass_on_progress()
            for fut in done:
                if fut.status == "cancelled":  # the scheduler forgot it: it went away
                    raise SchedulerLost("cancelled")
                task = running.pop(fut)
                on_done(task, fut.result)
    except BaseException as exc:
        ids = [t.task_id for t in running.values()]
        for fut in running:
            fut.release()
        give_back(ids)
        if isinstance(exc, _lost_errors()):
            raise SchedulerLost(f"{describe(scheduler)} went away") from None
        raise
    finally:
        try:
            client.unsubscribe_topic(topic)
        except Exception:  # the scheduler is gone: nothing to unsubscribe from
            log.debug("unsubscribing from %s", topic, exc_info=True)


def _lost_errors() -> tuple[type[BaseException], ...]:
    """What the client raises when the scheduler is gone: its connection closed
    (``CommClosedError`` is an ``OSError``), or the futures it forgot (cancelled)."""
    import asyncio
    import concurrent.futures

    from distributed.client import ClosedClientError

    return (OSError, TimeoutError, SchedulerLost, concurrent.futures.CancelledError,
            asyncio.CancelledError, ClosedClientError)


def _finished(client: Any, futures: list[Any], progress: Progress,
              tick: Callable[[], None]) -> list[Any]:
    """The futures done so far; blocks until one is, waking every ``POLL_S`` to pass on
    progress and check for cancel and for a scheduler that went away."""
    from distributed import wait

    while True:
        tick()
        progress.check()
        if client.status not in ("running", "connecting"):
            raise SchedulerLost("closed")  # reworded by run_tasks
        try:
            done, _ = wait(futures, timeout=POLL_S, return_when="FIRST_COMPLETED")
        except TimeoutError:
            continue
        if done:
            return list(done)
