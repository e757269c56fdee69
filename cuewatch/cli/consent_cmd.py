"""``cuewatch consent P show|revoke|set RECORDING``: what consent allows; withdraw or renew it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cuewatch.errors import CuewatchError
from cuewatch.project.revocation import revoke_consent
from cuewatch.project.store import Project


def _show(project: Project, recording: str | None) -> None:
    recs = [project.recordings.find(recording)] if recording else project.recordings.all()
    for rec in recs:
        s = project.consents.status(int(rec.id))  # type: ignore[arg-type]
        print(f"recording {rec.id}: {Path(rec.path).name}")
        print(f"  consent: {s.state}" + (f" on {s.revoked}" if s.revoked else ""))
        if s.scopes:
            print(f"  scopes: {', '.join(s.scopes)}; obtained {s.obtained}; "
                  f"expires {s.expires or 'never'}; recorded by {s.recorded_by or 'unknown'}")
            people = ", ".join(f"{p['name']} ({p['role']})" for p in s.participants)
            print(f"  participants: {people}")
        allowed = [k for k, v in s.allowed.items() if v]
        print(f"  allows today: {', '.join(allowed) if allowed else 'nothing'}")


def run(args: argparse.Namespace) -> int:
    with Project.open(args.project) as project:
        if args.action == "show":
            _show(project, args.recording)
            return 0
        if not args.recording:
            raise CuewatchError(f"consent {args.action} needs the RECORDING (id or file name)")
        rec = project.recordings.find(args.recording)
        if args.action == "set":
            if not args.consent:
                raise CuewatchError("consent set needs --consent TEXT|FILE")
            project.consents.set(int(rec.id), args.consent)  # type: ignore[arg-type]
            _show(project, str(rec.id))
            return 0
        report = revoke_consent(project, int(rec.id))  # type: ignore[arg-type]
    print(f"consent revoked for recording {rec.id} ({Path(rec.path).name})")
    for line in report.lines():
        print(f"  {line}")
    if report.missing_files:
        print("some exported files were already gone (listed above)", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("consent", help="show a project's consent; revoke or renew it")
    p.add_argument("project", type=Path, metavar="P.cuewatch")
    p.add_argument("action", choices=("show", "revoke", "set"),
                   help="revoke deletes everything cuewatch derived from the recording")
    p.add_argument("recording", nargs="?", metavar="RECORDING",
                   help="recording id or file name (show: default all)")
    p.add_argument("--consent", metavar="TEXT|FILE", help="set: the new consent JSON")
    p.set_defaults(func=run)
