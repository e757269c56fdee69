"""``cuewatch review``: list flags with verdicts, record a verdict, show agreement, or the
attunement summary (``--attunement``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cuewatch.domain import VERDICTS, stored_id
from cuewatch.errors import CuewatchError
from cuewatch.flags.agreement import project_agreement
from cuewatch.flags.matching import ORPHANED_STATUS
from cuewatch.formats import EXPRESSION_CATEGORIES, FLAG_TYPE_LABELS
from cuewatch.project.attunement import summary_dict, summary_lines
from cuewatch.project.store import Project

#: ``cuewatch review P``'s face column width: the longest expression category name.
FACE_WIDTH = max(len(c) for c in EXPRESSION_CATEGORIES)


def _list(project: Project, args: argparse.Namespace) -> None:
    names = {stored_id(r): Path(r.path).name for r in project.recordings.all()}
    rid = stored_id(project.recordings.find(args.recording)) if args.recording else None
    by_flag: dict[int, list[str]] = {}
    notes: dict[int, list[str]] = {}
    for r in project.reviews.all(recording_id=rid):
        by_flag.setdefault(r.flag_id, []).append(f"{r.reviewer}={r.verdict}")
        if r.note and r.note.strip():
            notes.setdefault(r.flag_id, []).append(f"{r.reviewer}: {' '.join(r.note.split())}")
    shown = {rec_id: flags for rec_id, flags in project.flags.by_recording(orphaned=True).items()
             if rid is None or rec_id == rid}
    # the columns line up: each as wide as its widest entry (readable type names)
    name_width = max((len(str(names.get(r, r))) for r in shown), default=0)
    type_width = max(len(label) for label in FLAG_TYPE_LABELS.values())
    for rec_id, flags in shown.items():
        name = str(names.get(rec_id, rec_id))
        for f in flags:
            stated = f.stated.get("words") or f.stated.get("category") or ""
            kind = FLAG_TYPE_LABELS.get(f.type, f.type)
            print(f"{f.id:>6}  {name:<{name_width}}  {f.start:8.2f}-{f.end:8.2f}  {kind:<{type_width}}  "
                  f"said {stated!r:<40.40} / face {f.expressed.get('category', '?'):<{FACE_WIDTH}}  "
                  f"severity {f.severity:.2f}  {' '.join(by_flag.get(stored_id(f), [])) or '(no verdicts)'}"
                  + ("" if f.raised else f"  [orphaned: {ORPHANED_STATUS}]"))
            for note in notes.get(stored_id(f), []):  # each reviewer's note, one line each
                print(f"{'':>8}note {note}")


def _no_attunement(project: Project, rid: int, name: str) -> str:
    """Why a recording has no attunement, and what to run."""
    if project.analyses.latest(rid) is None:
        return (f"recording {rid} ({name}) has not been analysed yet "
                f"(run: cuewatch project analyze {project.path})")
    if not project.analyses.mood_segments(rid):
        return (f"recording {rid} ({name}) has no transcript or mood file, so there is no "
                f"attunement (give it one: cuewatch project transcript {project.path} {rid} FILE)")
    return (f"recording {rid} ({name}) was analysed before attunement was stored; compute it "
            f"with: cuewatch project flags {project.path} --recording {rid}")


def _attunement(project: Project, args: argparse.Namespace) -> int:
    """Print each recording's attunement summary; a recording without one says why. Fails
    (exit 1) when no recording asked about has one."""
    recordings = ([project.recordings.find(args.recording)] if args.recording
                  else project.recordings.all())
    if not recordings:
        raise CuewatchError(f"{project.path.name} has no recordings (add one: "
                            f"cuewatch project add {project.path} VIDEO)")
    shown, missing, out = 0, [], []
    for rec in recordings:
        rid, name = stored_id(rec), Path(rec.path).name
        if not project.attunement.computed(rid):
            missing.append(_no_attunement(project, rid, name))
            continue
        shown += 1
        summary = project.attunement.summary(rid)
        if args.json:
            out.append(dict(summary_dict(summary), recording=name))
            continue
        print(f"recording {rid} ({name})")
        lines = summary_lines(summary, project.flags.all(rid), project.attunement.responses(rid))
        print("\n".join("  " + line for line in lines))
    if not shown:
        raise CuewatchError(missing[0] if len(missing) == 1 else
                            "no recording has an attunement yet: " + "; ".join(missing))
    if args.json:
        print(json.dumps(out, indent=1))
    for line in missing:
        print(line, file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project, actor=args.reviewer) as project:
        if args.undo:
            if not args.reviewer:
                raise CuewatchError("--undo needs --reviewer NAME")
            undone = project.reviews.undo_last(args.reviewer)
            print(f"took back {args.reviewer}'s verdict {undone.verdict!r} on flag {undone.flag_id}"
                  if undone else f"{args.reviewer} has no verdict to take back")
            return 0
        if args.flag is not None or args.verdict is not None:
            if args.flag is None or not args.reviewer or args.verdict is None:
                raise CuewatchError("a verdict needs --flag ID, --reviewer NAME and --verdict "
                                    + "|".join(VERDICTS))
            review = project.reviews.set_verdict(args.flag, args.reviewer, args.verdict, args.note or "")
            print(f"flag {review.flag_id}: {review.reviewer} {review.verdict}")
            return 0
        if args.attunement:
            return _attunement(project, args)
        if args.agreement:
            rid = stored_id(project.recordings.find(args.recording)) if args.recording else None
            report = project_agreement(project, rid)
            if args.json:
                print(json.dumps(report.to_dict(), indent=1))
            else:
                print("\n".join(report.lines()))
            return 0
        _list(project, args)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("review", help="flags and verdicts; record a verdict; agreement")
    p.add_argument("project", type=Path, metavar="P.cuewatch")
    p.add_argument("--agreement", action="store_true",
                   help="Cohen's kappa for each pair of reviewers and the tool against each")
    p.add_argument("--attunement", action="store_true",
                   help="the attunement summary: moments flagged, the trainee's responses by kind, "
                        "share named or explored, median latency, synchrony z, missed moments")
    p.add_argument("--recording", metavar="REC", help="only this recording (id or file name)")
    p.add_argument("--flag", type=int, metavar="ID", help="the flag to give a verdict on")
    p.add_argument("--reviewer", metavar="NAME", help="who gives the verdict")
    p.add_argument("--verdict", choices=VERDICTS)
    p.add_argument("--note", metavar="TEXT")
    p.add_argument("--undo", action="store_true", help="take back the reviewer's last verdict")
    p.add_argument("--json", action="store_true", help="agreement or attunement as JSON")
    p.set_defaults(func=run)
