"""``cuewatch project new|add|analyze|status|flags|transcript|neutral|relocate``: build and
analyse a review project, replace a transcript, mark where a face is neutral, and recompute
flags with other settings (every verdict kept)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cuewatch.cli.analyze_cmd import (
    _jobs,
    _span,
    add_flag_options,
    add_sampling_options,
    analysis_settings,
    face_choice,
    flag_settings,
)
from cuewatch.cli.cluster_options import add_cluster_options, local_workers, scheduler_choice
from cuewatch.cli.progress_bar import progress_bar
from cuewatch.domain import stored_id
from cuewatch.errors import ProjectError
from cuewatch.project.relocation import relocate
from cuewatch.project.store import Project


def _new(args: argparse.Namespace) -> int:
    with Project.create(args.project):
        pass
    print(f"created {args.project}")
    return 0


def _add(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        rec = project.recordings.add(
            args.video, consent=args.consent, transcript=args.transcript, mood=args.mood,
            client_speaker=args.client_speaker, client_face=args.client_face,
            therapist_speaker=args.therapist_speaker, therapist_face=args.therapist_face,
            settings=analysis_settings(args), flag_settings=flag_settings(args))
        status = project.consents.status(stored_id(rec))
    print(f"added recording {rec.id}: {Path(rec.path).name} ({rec.duration:.1f} s), "
          f"consent: {', '.join(status.scopes)}; analysis queued "
          f"(run: cuewatch project analyze {args.project})")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from cuewatch.project.queue import run_queued

    scheduler = scheduler_choice(args)
    with progress_bar("analysing", quiet=args.quiet) as progress:
        if scheduler is None:
            summary = run_queued(args.project, model=args.model, jobs=args.jobs,
                                 retry_failed=args.retry_failed, progress=progress)
        else:
            from cuewatch.project.batch import run_on_cluster

            summary = run_on_cluster(args.project, scheduler=scheduler, workers=local_workers(args),
                                     model=args.model, retry_failed=args.retry_failed,
                                     progress=progress)
    if summary.requeued:
        print(f"resumed {len(summary.requeued)} unfinished analys"
              f"{'is' if len(summary.requeued) == 1 else 'es'}", file=sys.stderr)
    for w in summary.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for aid, error in summary.failed:
        print(f"analysis {aid} failed: {error}", file=sys.stderr)
    print(f"{len(summary.done)} analysed, {len(summary.failed)} failed")
    return 1 if summary.failed else 0


def _status(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        for rec in project.recordings.all():
            rid = stored_id(rec)
            latest = project.analyses.all(rid)
            state = latest[-1] if latest else None
            consent = project.consents.status(rid)
            if state is not None and state.interrupted:  # its process was killed
                what = (f"interrupted at {100 * state.progress:.0f}% (resume: cuewatch project "
                        f"analyze {args.project})")
            else:
                what = (f"{state.state}" + (f" {100 * state.progress:.0f}%" if state.state == "running" else "")
                        + (f" ({state.error})" if state.state == "failed" and state.error else "")
                        if state else "not analysed")
            print(f"{rid:>4}  {Path(rec.path).name}  consent {consent.state}"
                  f"{' (' + ', '.join(consent.scopes) + ')' if consent.scopes else ''}  "
                  f"analysis {what}  flags {len(project.flags.all(rid))}")
    return 0


def _flags(args: argparse.Namespace) -> int:
    from cuewatch.project.flag_recompute import recompute_recording_flags

    settings = flag_settings(args)
    with Project.open(args.project) as project:
        if args.recording:
            ids = [stored_id(project.recordings.find(args.recording))]
        else:
            ids = [stored_id(r) for r in project.recordings.all()
                   if project.analyses.latest(stored_id(r)) is not None]
            if not ids:
                raise ProjectError(f"{project.path.name}: nothing analysed yet "
                                   f"(run: cuewatch project analyze {args.project})")
        for rid in ids:
            print(recompute_recording_flags(project, rid, settings).line())
    return 0


def _transcript(args: argparse.Namespace) -> int:
    kind = "mood" if args.mood else "transcript"
    with Project.open(args.project) as project:
        rec = project.recordings.find(args.recording)
        replaced = kind in project.recordings.transcripts(stored_id(rec))
        project.recordings.attach_transcript(stored_id(rec), args.file, kind=kind)
    print(f"recording {rec.id} ({Path(rec.path).name}): {kind} {'replaced by' if replaced else 'set to'} "
          f"{args.file.name}; analysis queued (run: cuewatch project analyze {args.project})")
    return 0


def _neutral(args: argparse.Namespace) -> int:
    from cuewatch.project.flag_recompute import mark_neutral

    if (args.span is None) == (not args.clear):
        raise ProjectError("give a span START:END, or --clear (not both)")
    with Project.open(args.project) as project:
        rec = project.recordings.find(args.recording)
        change = mark_neutral(project, int(rec.id), None if args.clear else args.span,  # type: ignore[arg-type]
                              track=args.track)
    print(change.line())
    return 0


def _relocate(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        found = relocate(project, args.folders)
        for rid, path in sorted(found.items()):
            print(f"recording {rid}: found at {path}")
        still = project.recordings.missing()
    for rec in still:
        print(f"recording {rec.id}: still missing ({Path(rec.path).name})", file=sys.stderr)
    return 0 if not still else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("project", help="create a review project, add and analyse recordings")
    sub = p.add_subparsers(dest="project_command", metavar="ACTION", required=True)

    new = sub.add_parser("new", help="create an empty project file")
    new.add_argument("project", type=Path, metavar="P.cuewatch")
    new.set_defaults(func=_new)

    add = sub.add_parser("add", help="add a consented video (its analysis is queued)")
    add.add_argument("project", type=Path, metavar="P.cuewatch")
    add.add_argument("video", type=Path, metavar="VIDEO")
    add.add_argument("--consent", metavar="TEXT|FILE",
                     help="consent JSON (default: the VIDEO.consent.json sidecar)")
    add.add_argument("--transcript", type=Path, metavar="FILE", help="WebVTT or SRT transcript")
    add.add_argument("--mood", type=Path, metavar="FILE", help="mood segments (CSV or JSON)")
    add.add_argument("--client-speaker", metavar="NAME", help="the client's speaker name")
    add.add_argument("--client-face", default="auto", metavar="auto|left|right|largest|ID",
                     help="whose face is the client's (default: auto)")
    add.add_argument("--therapist-speaker", metavar="NAME",
                     help="the therapist's speaker name (default: the speaker who is not the client)")
    add.add_argument("--therapist-face", default="auto", metavar="auto|left|right|largest|ID",
                     type=face_choice("--therapist-face"),
                     help="whose face is the therapist's (default: auto, the person in view who "
                          "is not the client)")
    add_sampling_options(add)
    add_flag_options(add)
    add.set_defaults(func=_add)

    an = sub.add_parser("analyze", help="run queued analyses; resumes an interrupted run")
    an.add_argument("project", type=Path, metavar="P.cuewatch")
    an.add_argument("--jobs", type=_jobs, default=1, metavar="N",
                    help="recordings analysed in parallel processes (default 1)")
    add_cluster_options(an, "recording")
    an.add_argument("--quiet", action="store_true", help="no progress bar")
    an.add_argument("--retry-failed", action="store_true", help="queue failed analyses again")
    an.add_argument("--model", metavar="PATH", help="the face model file")
    an.set_defaults(func=_analyze)

    st = sub.add_parser("status", help="recordings, consent and analysis state")
    st.add_argument("project", type=Path, metavar="P.cuewatch")
    st.set_defaults(func=_status)

    fl = sub.add_parser("flags", help="recompute flags with another sensitivity or thresholds "
                        "from the stored features; every verdict and note is kept",
                        description="Cut the flags again from the stored features. Verdicts "
                        "stay with their moment: on a flag no longer raised they are kept as "
                        "orphaned verdicts, and re-attach when a later recompute raises it.")
    fl.add_argument("project", type=Path, metavar="P.cuewatch")
    fl.add_argument("--recording", metavar="REC", help="only this recording (id or file name); "
                    "default: every analysed recording")
    add_flag_options(fl)
    fl.set_defaults(func=_flags)
    tr = sub.add_parser("transcript", help="give a recording a new transcript (or mood file); "
                        "it is checked first, the old one is replaced, and flags are recomputed "
                        "at the next analyze")
    tr.add_argument("project", type=Path, metavar="P.cuewatch")
    tr.add_argument("recording", metavar="RECORDING", help="recording id or file name")
    tr.add_argument("file", type=Path, metavar="FILE", help="WebVTT or SRT transcript")
    tr.add_argument("--mood", action="store_true", help="FILE is a mood file (CSV or JSON)")
    tr.set_defaults(func=_transcript)

    ne = sub.add_parser("neutral", help="mark where a person's face is neutral (default: the "
                        "client's); their expression is read against it in flags, the app and "
                        "exports, and the flags are recomputed")
    ne.add_argument("project", type=Path, metavar="P.cuewatch")
    ne.add_argument("recording", metavar="RECORDING", help="recording id or file name")
    ne.add_argument("span", type=_span, nargs="?", metavar="START:END",
                    help="the span in seconds where the face is neutral")
    ne.add_argument("--track", type=int, metavar="ID", help="the face track (default: the client's)")
    ne.add_argument("--clear", action="store_true",
                    help="forget the marked span: the neutral is found automatically again")
    ne.set_defaults(func=_neutral)

    rl = sub.add_parser("relocate", help="find moved recordings again by their content")
    rl.add_argument("project", type=Path, metavar="P.cuewatch")
    rl.add_argument("folders", nargs="+", type=Path, metavar="FOLDER")
    rl.set_defaults(func=_relocate)
