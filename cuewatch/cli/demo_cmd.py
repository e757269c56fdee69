"""``cuewatch demo``: open the sample role-play in the desktop app, analysed first if needed.

The sample project is built from ``sample_media/`` (video, transcript, consent sidecar)
in the user's data folder, so the repository stays clean and a second run opens at once.
The app is started as its own process (``python -m cuewatch_ui.app``): the core never
imports Qt.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

from platformdirs import user_data_dir

from cuewatch.cli.progress_bar import progress_bar
from cuewatch.errors import CuewatchError
from cuewatch.project.store import Project

SAMPLE_VIDEO = "demo_roleplay.mp4"
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
            p.add_recording(video, transcript=transcript if transcript.is_file() else None,
                            client_speaker="Client")
        if not quiet:
            print(f"created the sample project {project}", file=sys.stderr)
    with Project.open(project) as p:
        todo = [a for a in p.analyses() if a.state in ("queued", "running", "failed")]
        latest = [p.latest_analysis(int(r.id)) for r in p.recordings()]  # type: ignore[arg-type]
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
    try:
        return subprocess.call(command, env=dict(os.environ))
    except OSError as exc:
        raise CuewatchError(f"cannot start the app: {exc}") from None


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
