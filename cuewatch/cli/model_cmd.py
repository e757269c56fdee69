"""``cuewatch model [fetch]``: where the face model is, and whether it checks out."""

from __future__ import annotations

import argparse
import os

from cuewatch.cli.progress_bar import progress_bar
from cuewatch.errors import ModelError
from cuewatch.faces.model import MODEL_ENV, MODEL_SHA256, MODEL_URL, cache_path, fetch_model, find_model


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("model", help="show where the face model is, or fetch it",
                              description="Show where the pinned face model is and whether "
                                          "its SHA-256 checks out; 'fetch' downloads it.")
    p.add_argument("action", nargs="?", choices=["show", "fetch"], default="show")
    p.add_argument("--model", metavar="PATH", help="a model file to check instead")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "fetch":
        with progress_bar("face model", quiet=args.quiet) as progress:
            fetched = fetch_model(progress=progress)
        print(f"model: {fetched.path}\nsha256: {fetched.sha256} (ok)")
        return 0
    try:
        loc = find_model(args.model)
    except ModelError as exc:
        print(f"model: {exc}")
        return 2
    if loc is None:
        print(f"model: not on this machine\n"
              f"  looked at: ${MODEL_ENV} ({os.environ.get(MODEL_ENV) or 'unset'}), {cache_path()}\n"
              f"  'cuewatch model fetch' downloads it from {MODEL_URL}\n"
              f"  expected sha256: {MODEL_SHA256}")
        return 1
    print(f"model: {loc.path}\nsource: {loc.source}\nsha256: {loc.sha256} (ok, pinned)")
    return 0
