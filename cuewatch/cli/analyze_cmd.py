"""``cuewatch analyze``: consented videos in, frames.csv / summary.json / flags out."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from cuewatch.cli.cluster_options import add_cluster_options, local_workers, scheduler_choice
from cuewatch.cli.progress_bar import progress_bar
from cuewatch.consent.record import Consent, consent_for_video
from cuewatch.errors import CuewatchError
from cuewatch.faces.client_face import parse_face_choice
from cuewatch.faces.engines import ENGINES
from cuewatch.faces.model import resolve_model
from cuewatch.formats import THERAPIST_INCONGRUENCE
from cuewatch.media.video import probe_video
from cuewatch.options import (
    JOBS_RANGE,
    SENSITIVITIES,
    SPAN_SECONDS_RANGE,
    AnalysisSettings,
    FlagSettings,
    ValidRange,
    valid_range,
)
from cuewatch.outputs.recording import write_recording_outputs
from cuewatch.progress import BatchProgress, Progress
from cuewatch.worker_processes import process_pool


def _number(valid: ValidRange, text: str) -> float:
    """Parse ``text`` and check it against the option's declared range (argparse names the
    option in its one line when it is not)."""
    try:
        value = int(text) if valid.integer else float(text)
    except ValueError:
        value = math.nan
    if not valid.contains(value):
        raise argparse.ArgumentTypeError(f"must be {valid.describe()}, not {text!r}")
    return value


def ranged(settings_class: type, name: str) -> Callable[[str], float]:
    """An argparse ``type=`` for the settings field ``name``, checked against its range."""
    valid = valid_range(settings_class, name)
    return lambda text: _number(valid, text)


def _fps(text: str) -> Optional[float]:
    if text.strip().lower() == "all":
        return None
    valid = valid_range(AnalysisSettings, "fps")
    try:
        return _number(valid, text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be {valid.describe()} or 'all', not {text!r}") from None


def _every(text: str) -> int:
    return int(_number(valid_range(AnalysisSettings, "every"), text))


def _jobs(text: str) -> int:
    return int(_number(JOBS_RANGE, text))


def _span(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.replace("-", ":", 1).split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a span is START:END in seconds, not {text!r}") from None
    if not (SPAN_SECONDS_RANGE.contains(a) and SPAN_SECONDS_RANGE.contains(b)):
        raise argparse.ArgumentTypeError(f"a span's ends must be {SPAN_SECONDS_RANGE.describe()} "
                                         f"seconds, not {text!r}")
    if b <= a:
        raise argparse.ArgumentTypeError("the span's end must come after its start")
    return a, b


def face_choice(option: str) -> Callable[[str], str]:
    """An argparse ``type=`` for ``--client-face`` / ``--therapist-face``: a bad value is one
    line and exit 2 before any analysis."""
    def parse(text: str) -> str:
        try:
            return parse_face_choice(text, option)
        except CuewatchError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    """``--fps F|all`` or ``--every N``: which frames the face pass analyses."""
    sampling = p.add_mutually_exclusive_group()
    sampling.add_argument("--fps", type=_fps, default=AnalysisSettings.fps, metavar="F",
                          help="analysed frames per second of video, or 'all' (default %(default)s)")
    sampling.add_argument("--every", type=_every, metavar="N",
                          help="analyse every Nth frame instead")


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that analyses recordings."""
    add_sampling_options(p)
    p.add_argument("--model", metavar="PATH", help="the face model file (default: $CUEWATCH_MODEL, "
                   "then the user cache, then a one-time download)")
    p.add_argument("--engine", choices=ENGINES, default=AnalysisSettings.engine,
                   help="what runs the face models: litert (the model file's networks run "
                   "directly, faster) or mediapipe (the tasks API, the reference); both give "
                   "the same flags (default %(default)s)")


def add_flag_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sensitivity", choices=SENSITIVITIES, default=FlagSettings.sensitivity)
    p.add_argument("--min-duration", type=ranged(FlagSettings, "min_duration_s"),
                   metavar="S", help="shortest incongruence flag, seconds")
    p.add_argument("--merge-gap", type=ranged(FlagSettings, "merge_gap_s"),
                   metavar="S", help="merge flags closer than this, seconds")
    p.add_argument("--valence-threshold",
                   type=ranged(FlagSettings, "valence_threshold"),
                   metavar="V", help="how far the face's valence (-1..1) must sit on the other side")
    p.add_argument("--min-confidence", type=ranged(FlagSettings, "min_confidence"),
                   metavar="C", help="below this (0..1) the face counts as not reliably seen")


def analysis_settings(args: argparse.Namespace) -> AnalysisSettings:
    engine = getattr(args, "engine", AnalysisSettings.engine)
    if getattr(args, "every", None):
        return AnalysisSettings(fps=None, every=args.every, engine=engine)
    return AnalysisSettings(fps=args.fps, engine=engine)


def flag_settings(args: argparse.Namespace) -> FlagSettings:
    return FlagSettings(sensitivity=args.sensitivity, min_duration_s=args.min_duration,
                        merge_gap_s=args.merge_gap, valence_threshold=args.valence_threshold,
                        min_confidence=args.min_confidence)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze", help="analyse consented videos: per-frame features, expression and flags",
        description="Analyse consented role-play videos. Writes DIR/<video stem>/frames.csv and "
                    "summary.json, and with a transcript or mood file flags.json, flags.csv and "
                    "attunement.json.")
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--out", required=True, metavar="DIR", type=Path)
    p.add_argument("--consent", metavar="TEXT|FILE",
                   help="consent JSON (text or a file); default: VIDEO.consent.json beside the video")
    add_analysis_options(p)
    p.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                   help="videos analysed in parallel processes")
    add_cluster_options(p, "video")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--transcript", type=Path, metavar="FILE", help="WebVTT or SRT transcript")
    p.add_argument("--mood", type=Path, metavar="FILE", help="mood segments (CSV or JSON)")
    p.add_argument("--client-speaker", metavar="NAME", help="the client's speaker name "
                   "(default: a speaker named Client or Patient, else the one speaker "
                   "not named as a clinician, such as Therapist)")
    p.add_argument("--client-face", default="auto", metavar="auto|left|right|largest|ID",
                   type=face_choice("--client-face"),
                   help="whose face is the client's (default: auto)")
    p.add_argument("--therapist-speaker", metavar="NAME", help="the therapist's speaker name "
                   "(default: the speaker who is not the client)")
    p.add_argument("--therapist-face", default="auto", metavar="auto|left|right|largest|ID",
                   type=face_choice("--therapist-face"),
                   help="whose face is the therapist's (default: auto, the person in view who "
                        "is not the client and is seen longest; none when the client is alone)")
    p.add_argument("--neutral", type=_span, metavar="START:END",
                   help="a span (seconds) where the client's face is neutral")
    add_flag_options(p)
    p.set_defaults(func=run)


@dataclass
class Job:
    video: Path
    out: Path
    consent: Consent
    settings: AnalysisSettings
    flags: FlagSettings
    model_path: Path
    model_sha256: str
    transcript: Optional[Path]
    mood: Optional[Path]
    client_speaker: Optional[str]
    client_face: str
    therapist_speaker: Optional[str]
    therapist_face: str
    neutral: Optional[tuple[float, float]]
    workers: Optional[int]


def run_job(job: Job, progress: Optional[Progress] = None) -> dict[str, Any]:
    """Analyse one video and write its files; runs in this or a worker process."""
    from cuewatch.recording.analyse import run_pipeline

    result = run_pipeline(job.video, settings=job.settings, model_path=job.model_path,
                          model_sha256=job.model_sha256, transcript=job.transcript, mood=job.mood,
                          client_speaker=job.client_speaker, client_face=job.client_face,
                          therapist_speaker=job.therapist_speaker,
                          therapist_face=job.therapist_face,
                          flag_settings=job.flags, consent=job.consent, progress=progress,
                          workers=job.workers, neutral_span=job.neutral)
    written = write_recording_outputs(result, job.out, job.consent, job.model_sha256)
    return {"video": str(job.video), "out": str(job.out), "written": [str(p) for p in written],
            "warnings": result.warnings, "flags": len(result.flags), "has_mood": result.has_mood,
            "therapist_flags": sum(f.type == THERAPIST_INCONGRUENCE for f in result.flags),
            "therapist_flags_reason": result.therapist_flags_reason,
            "tracks": len(result.tracks)}


def _run_job_quiet(job: Job) -> dict[str, Any]:
    try:
        return run_job(job)
    except CuewatchError as exc:
        return {"video": str(job.video), "error": str(exc)}


def _outcome(job: Job, result: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A finished job's outcome; its error as one message (the batch goes on)."""
    try:
        return result()
    except CuewatchError as exc:
        return {"video": str(job.video), "error": str(exc)}
    except Exception as exc:  # a bug in one video must not stop the others
        return {"video": str(job.video),
                "error": f"internal error in {job.video.name}: {type(exc).__name__}: {exc}"}


def _run_on_cluster(jobs: list[Job], scheduler: str, workers: int, quiet: bool) -> int:
    """Every job as a task on the cluster (``cuewatch.cluster``, as ``project analyze``); one
    bar over the videos and their frames. Returns the number that failed."""
    from cuewatch.cluster import ClusterTask, connect, run_tasks

    pending = iter(enumerate(jobs))
    failures = 0
    with progress_bar(f"{len(jobs)} videos", quiet=quiet) as progress:
        bar = BatchProgress(progress, len(jobs))
        bar.names = {i: job.video.name for i, job in enumerate(jobs)}

        def next_task() -> Optional[ClusterTask]:
            i, job = next(pending, (-1, None))
            if job is None:
                return None
            return ClusterTask(i, job.video.name, run_job, (job,), key_prefix="cuewatch-video")

        def done(task: ClusterTask, result: Callable[[], Any]) -> None:
            nonlocal failures
            failures += not _report(_outcome(jobs[task.task_id], result), quiet)
            bar.end(task.task_id, "done")

        with connect(scheduler, workers) as client:
            run_tasks(client, next_task, done, bar.update, progress, lambda _ids: None, scheduler)
    return failures


def _report(outcome: dict[str, Any], quiet: bool) -> bool:
    if "error" in outcome:
        print(f"cuewatch: {outcome['error']}", file=sys.stderr)
        return False
    for w in outcome["warnings"]:
        print(f"cuewatch: warning: {w}", file=sys.stderr)
    if not outcome["has_mood"]:
        print(f"cuewatch: {Path(outcome['video']).name}: no transcript or mood file given, so no "
              "flags were written (pass --transcript FILE or --mood FILE)", file=sys.stderr)
    if not quiet:
        own = (f"therapist: {outcome['therapist_flags_reason']}" if outcome["therapist_flags_reason"]
               else f"{outcome['therapist_flags']} on the therapist")
        extra = f", {outcome['flags']} flag(s) ({own})" if outcome["has_mood"] else ""
        print(f"{outcome['video']}: {outcome['tracks']} face track(s){extra} -> {outcome['out']}",
              file=sys.stderr)
    return True


def _out_dirs(videos: list[Path], out: Path) -> list[Path]:
    seen: dict[str, int] = {}
    dirs = []
    for v in videos:
        stem = v.stem
        n = seen.get(stem, 0)
        seen[stem] = n + 1
        dirs.append(out / (stem if n == 0 else f"{stem}-{n + 1}"))
    return dirs


def run(args: argparse.Namespace) -> int:
    videos = [Path(v) for v in args.videos]
    scheduler = scheduler_choice(args)
    if (args.transcript or args.mood or args.neutral) and len(videos) > 1:
        raise CuewatchError("--transcript, --mood and --neutral belong to one video; "
                            "analyse videos with transcripts one at a time or use a project")
    for f, what in ((args.transcript, "transcript"), (args.mood, "mood file")):
        if f is not None and not f.is_file():
            raise CuewatchError(f"{what} not found: {f}")
    # Check every input before any slow work: bad input fails in a second, not an hour in.
    failures = 0
    ready: list[tuple[Path, Path, Consent]] = []
    for video, out in zip(videos, _out_dirs(videos, args.out)):
        try:
            probe_video(video)
            ready.append((video, out, consent_for_video(video, args.consent)))
        except CuewatchError as exc:
            print(f"cuewatch: {exc}", file=sys.stderr)
            failures += 1
    if not ready:
        return 2
    with progress_bar("face model", quiet=args.quiet) as progress:
        model = resolve_model(args.model, progress)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CuewatchError(f"cannot create the output folder {args.out}: {exc.strerror}") from None
    settings, fsettings = analysis_settings(args), flag_settings(args)
    if scheduler is not None:  # paths as the workers see them: absolute, not from our cwd
        ready = [(v.absolute(), o.absolute(), c) for v, o, c in ready]
        for name in ("transcript", "mood"):
            if getattr(args, name) is not None:
                setattr(args, name, getattr(args, name).absolute())
    parallel = scheduler is not None or (args.jobs > 1 and len(ready) > 1)
    jobs = [Job(video=v, out=o, consent=c, settings=settings, flags=fsettings,
                model_path=model.path, model_sha256=model.sha256, transcript=args.transcript,
                mood=args.mood, client_speaker=args.client_speaker, client_face=args.client_face,
                therapist_speaker=args.therapist_speaker, therapist_face=args.therapist_face,
                neutral=args.neutral, workers=1 if parallel else None) for v, o, c in ready]
    if scheduler is not None:
        failures += _run_on_cluster(jobs, scheduler, local_workers(args), args.quiet)
    elif not parallel:
        for job in jobs:
            try:
                with progress_bar(job.video.name, quiet=args.quiet) as progress:
                    outcome = run_job(job, progress)
            except CuewatchError as exc:
                outcome = {"video": str(job.video), "error": str(exc)}
            failures += not _report(outcome, args.quiet)
    else:
        with process_pool(min(args.jobs, len(jobs))) as pool, \
                progress_bar(f"{len(jobs)} videos", quiet=args.quiet) as progress:
            futures = [pool.submit(_run_job_quiet, job) for job in jobs]
            for done, fut in enumerate(as_completed(futures), 1):
                failures += not _report(fut.result(), args.quiet)
                progress.report(done / len(jobs), f"{done}/{len(jobs)} done")
    return 2 if failures else 0
