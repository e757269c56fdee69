"""``--scheduler ADDR|local`` and ``--workers N``: the options of every command that can run
its recordings on a Dask cluster (``cuewatch analyze``, ``cuewatch project analyze``)."""

from __future__ import annotations

import argparse
import logging
from typing import Optional

from cuewatch.cluster import LOCAL_SCHEDULER, check_scheduler
from cuewatch.errors import CuewatchError
from cuewatch.options import JOBS_RANGE

#: worker processes of a local cluster when only ``--scheduler local`` is given.
DEFAULT_LOCAL_WORKERS = 2


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not JOBS_RANGE.contains(value):
        raise argparse.ArgumentTypeError(f"must be {JOBS_RANGE.describe()}, not {text!r}")
    return value


def _scheduler(text: str) -> str:
    try:
        return check_scheduler(text)
    except CuewatchError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_cluster_options(p: argparse.ArgumentParser, what: str) -> None:
    """``--scheduler`` and ``--workers``; ``what`` is the task ("recording", "video")."""
    p.add_argument("--scheduler", type=_scheduler, metavar="tcp://HOST:8786|local",
                   help=f"run on a Dask cluster (one task per {what}; videos, model and outputs on "
                   "a file system the workers share, at the same paths), or 'local': a cluster of "
                   "worker processes on this machine")
    p.add_argument("--workers", type=_workers, metavar="N",
                   help=f"worker processes of the local cluster (default {DEFAULT_LOCAL_WORKERS}; "
                   "implies --scheduler local)")


def scheduler_choice(args: argparse.Namespace) -> Optional[str]:
    """The scheduler to run on (None: this machine without Dask); one line for a clash with
    ``--jobs``. Quiets Dask's own log handlers when a cluster is used."""
    scheduler: Optional[str] = args.scheduler or (LOCAL_SCHEDULER if args.workers is not None else None)
    if scheduler is None:
        return None
    if getattr(args, "jobs", 1) > 1:
        raise CuewatchError("--jobs runs processes on this machine; with --scheduler or --workers "
                            "the cluster's workers do the work (give one or the other)")
    if args.workers is not None and scheduler != LOCAL_SCHEDULER:
        raise CuewatchError("--workers sizes a local cluster; a remote scheduler has its own workers")
    quiet_dask_logs(getattr(args, "verbose", False))
    return scheduler


def local_workers(args: argparse.Namespace) -> int:
    return int(args.workers or DEFAULT_LOCAL_WORKERS)


def quiet_dask_logs(verbose: bool) -> None:
    """Dask logs a lost scheduler with its tracebacks on stderr (its own handlers, on several
    of its loggers); the batch says it in one line, so they show only with ``--verbose``."""
    try:
        import distributed  # noqa: F401  (sets up its loggers and handlers)
    except ImportError:  # the batch says how to install it
        return
    level = logging.DEBUG if verbose else logging.CRITICAL
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]:
        for handler in logging.getLogger(name).handlers:
            handler.setLevel(level)
