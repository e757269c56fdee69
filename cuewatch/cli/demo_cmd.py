"""``cuewatch demo``: open the sample role-play in the desktop app, analysed first if needed.

The sample project is built from ``sample_media/`` (video, transcript, consent sidecar)
in the user's data folder, so the repository stays clean and a second run opens at once.
The app is started as its own process (``python -m cuewatch_ui.app``): the core never
imports Qt. Its output goes to a log file in the user's log folder (the path is printed),
and if it stops with an error the end of that log is shown.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from platformdirs import user_data_dir, user_log_dir

from cuewatch.cli.progress_bar import progress_bar
from cuewatch.errors import CuewatchError
from cuewatch.project.store import Project

SAMPLE_VIDEO = "demo_roleplay.mp4"
#: the app's output when started by ``cuewatch demo`` (the previous run's as ``.1``).
APP_LOG = "app.log"
#: lines of the log shown on the terminal when the app stops with an error.
LOG_TAIL_LINES = 10
SAMPLE_TRANSCRIPT = "demo_roleplay.vtt"
#: where a source checkout keeps the sample (the package's parent folder).
SAMPLE_MEDIA = Path(__file__).resolve().parents[2] / "sample_media"


def find_sample_media(given: Optional[Path] = None) -> Path:
    """``--media``, else ``./sample_media`` (a checkout installed with ``pip install .``),
    else the one beside the package (an editable install)."""
    if given is not None:
        return given
    for candidate in (Path.cwd() / "sample_media", SAMPLE_MEDIA):
        if (candidate / SAMPLE_VIDEO).is_file():
            return candidate
    return SAMPLE_MEDIA


def default_project() -> Path:
    return Path(user_data_dir("cuewatch", appauthor=False)) / "demo" / "demo.cuewatch"


def ensure_demo_project(project: Path, media: Path = SAMPLE_MEDIA, *, model: Optional[str] = None,
                        quiet: bool = False) -> Path:
    """Create the sample project if it is not there, and analyse what is not analysed yet."""
    video = media / SAMPLE_VIDEO
    if not video.is_file():
        raise CuewatchError(f"sample video not found at {video}; pass --media DIR "
                            "(the sample_media folder of a cuewatch checkout)")
    project.parent.mkdir(parents=True, exist_ok=True)
    if not project.exists():
        with Project.create(project) as p:
            transcript = media / SAMPLE_TRANSCRIPT
            p.recordings.add(video, transcript=transcript if transcript.is_file() else None,
                             client_speaker="Client")
        if not quiet:
            print(f"created the sample project {project}", file=sys.stderr)
    with Project.open(project) as p:
        todo = [a for a in p.analyses.all() if a.state in ("queued", "running", "failed")]
        latest = [p.analyses.latest(int(r.id)) for r in p.recordings.all()]  # type: ignore[arg-type]
    if todo or any(a is None or a.state != "done" for a in latest):
        from cuewatch.project.queue import run_queued

        with progress_bar("analysing the sample", quiet=quiet) as progress:
            summary = run_queued(project, model=model, retry_failed=True, progress=progress)
        if summary.failed:
            raise CuewatchError(f"the sample could not be analysed: {summary.failed[0][1]}")
    return project


def run(args: argparse.Namespace) -> int:
    project = ensure_demo_project(args.project, find_sample_media(args.media), model=args.model,
                                  quiet=args.quiet)
    if args.no_app:
        print(project)
        return 0
    command = [sys.executable, "-m", "cuewatch_ui.app", str(project)]
    if args.model:
        command += ["--model", args.model]
    if args.reviewer:
        command += ["--reviewer", args.reviewer]
    log = app_log_path()
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        # appended to: the app's own log records go to the same file, which the app
        # rolls over by size (cuewatch_ui.app_log)
        out = open(log, "a", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise CuewatchError(f"cannot write the app's log file {log}: {exc.strerror or exc}") from None
    print(f"app log: {log}", file=sys.stderr)
    try:
        with out:
            # the app's own output (and a crash's last words) goes to the log: this
            # process's descriptor 2 may be /dev/null (see quiet_native_logs)
            status = subprocess.call(command, env=dict(os.environ), stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise CuewatchError(f"cannot start the app: {exc}") from None
    if status != 0:
        tail = [line for line in _tail(log) if line.strip()]
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        raise CuewatchError(f"the app stopped with status {status}; its log is {log}",
                            exit_code=1)
    return 0


def app_log_path() -> Path:
    """Where ``cuewatch demo`` keeps the app's output: the user's log folder."""
    return Path(user_log_dir("cuewatch", appauthor=False)) / APP_LOG


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="open the sample role-play in the desktop app")
    p.add_argument("--project", type=Path, default=default_project(), metavar="P.cuewatch",
                   help="where the sample project lives (default: %(default)s)")
    p.add_argument("--media", type=Path, metavar="DIR",
                   help="the sample_media folder (default: ./sample_media, else the checkout's)")
    p.add_argument("--model", help="face model file (default: $CUEWATCH_MODEL or the cache)")
    p.add_argument("--reviewer", help="your name for verdicts (remembered by the app)")
    p.add_argument("--no-app", action="store_true",
                   help="only build and analyse the sample project; print its path")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
