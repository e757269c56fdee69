"""The ``cuewatch`` command line.

Each sub-command lives in its own module here with a ``register(subparsers)`` function
that adds its parser and sets ``func`` (called with the parsed namespace, returning an
exit status). ``main`` turns a ``CuewatchError`` into one line on stderr and its exit
status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

from cuewatch import __version__
from cuewatch.errors import CuewatchError
from cuewatch.progress import Cancelled

#: sub-command modules, in the order ``cuewatch --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "cuewatch.cli.analyze_cmd",
    "cuewatch.cli.model_cmd",
    "cuewatch.cli.project_cmd",
    "cuewatch.cli.review_cmd",
    "cuewatch.cli.consent_cmd",
    "cuewatch.cli.export_cmd",
    "cuewatch.cli.demo_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cuewatch",
        description="Marks where a client's face conflicts with the mood they state. "
                    "A training aid, not a diagnostic instrument.",
    )
    parser.add_argument("--version", action="version", version=f"cuewatch {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CuewatchError as exc:
        print(f"cuewatch: {exc}", file=sys.stderr)
        return exc.exit_code
    except Cancelled:
        print("cuewatch: cancelled", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("cuewatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
