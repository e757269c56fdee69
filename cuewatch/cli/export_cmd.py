"""``cuewatch export``: a project's flags, verdicts and evidence in the formats users use."""

from __future__ import annotations

import argparse
from pathlib import Path

from cuewatch.cli.progress_bar import progress_bar
from cuewatch.consent.policy import EXPORT_PURPOSES
from cuewatch.exports import EXPORT_FORMATS


def run(args: argparse.Namespace) -> int:
    from cuewatch.project.export import export_project

    with progress_bar(f"export {args.format}", quiet=args.quiet) as progress:
        files = export_project(args.project, args.format, args.out, purpose=args.purpose,
                               anonymise=args.anonymise, recordings=args.recording,
                               progress=progress, include_notes=args.include_notes,
                               keep_audio=args.keep_audio)
    for f in files:
        print(f)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export flags, verdicts and evidence")
    p.add_argument("project", type=Path, metavar="P.cuewatch")
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--purpose", choices=EXPORT_PURPOSES,
                   help="what the export is for (required); consent must cover it (research "
                        "needs the research scope)")
    p.add_argument("--anonymise", "--anonymize", action="store_true",
                   help="no names and no faces: pseudonyms (R1, A, client) for every name, "
                        "faces blurred, notes left out, no sound in clips")
    p.add_argument("--include-notes", action="store_true",
                   help="with --anonymise: keep the free-text notes (they may name people)")
    p.add_argument("--keep-audio", action="store_true",
                   help="with --anonymise --format clips: keep the sound (voices identify people)")
    p.add_argument("--recording", action="append", metavar="REC",
                   help="only this recording (id or file name); repeatable")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
