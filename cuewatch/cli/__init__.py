"""The ``cuewatch`` command line.

Each sub-command lives in its own module here with a ``register(subparsers)`` function
that adds its parser and sets ``func`` (called with the parsed namespace, returning an
exit status). ``main`` turns a ``CuewatchError`` into one line on stderr and its exit
status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings

# MediaPipe and TensorFlow Lite log to stderr through glog/absl; a user gets our own lines.
for _var, _value in (("GLOG_minloglevel", "2"), ("TF_CPP_MIN_LOG_LEVEL", "3"),
                     ("ABSL_MIN_LOG_LEVEL", "2")):
    os.environ.setdefault(_var, _value)
from collections.abc import Sequence
from typing import NoReturn, Optional

from cuewatch import __version__
from cuewatch.errors import CuewatchError, CuewatchWarning
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


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line on stderr and exit 2, like every other bad input.

    Sub-command parsers are made with the parent's class, so every command shares it.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="cuewatch",
        description="Marks where a client's face conflicts with the mood they state. "
                    "A training aid, not a diagnostic instrument.",
    )
    parser.add_argument("--version", action="version", version=f"cuewatch {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also log debug detail (errors the command worked around) to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def quiet_native_logs() -> None:
    """Send native libraries' stderr chatter (MediaPipe, TFLite) to /dev/null.

    Python keeps the real stderr (our messages, progress bars) through a duplicate of the
    descriptor; only writes that go straight to descriptor 2 from C++ are dropped.
    ``CUEWATCH_NATIVE_LOGS=1`` keeps them, for debugging.
    """
    if os.environ.get("CUEWATCH_NATIVE_LOGS") == "1":
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        sys.stderr = os.fdopen(saved, "w", buffering=1, encoding=sys.stderr.encoding,
                               errors="backslashreplace")
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - odd environments
        pass


class _StderrHandler(logging.StreamHandler):
    """The command line's log output; one per process, whatever ``main`` is called."""


def configure_logging(verbose: bool = False) -> None:
    """cuewatch's log records on stderr: warnings (an error a command worked around, such as
    a damaged cache) by default, debug detail with ``--verbose``."""
    logger = logging.getLogger("cuewatch")
    for old in [h for h in logger.handlers if isinstance(h, _StderrHandler)]:
        logger.removeHandler(old)
    handler = _StderrHandler(sys.stderr)  # the real stderr kept by quiet_native_logs
    handler.setFormatter(logging.Formatter("cuewatch: %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    if argv is None:  # a real command line, not a call from tests or the app
        quiet_native_logs()
    configure_logging(args.verbose)
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", CuewatchWarning)
        try:
            code = int(args.func(args) or 0)
        except CuewatchError as exc:  # the one line says it all (notes are left out)
            print(f"cuewatch: {exc}", file=sys.stderr)
            return exc.exit_code
        except Cancelled:
            print("cuewatch: cancelled", file=sys.stderr)
            return 130
        except KeyboardInterrupt:
            print("cuewatch: interrupted", file=sys.stderr)
            return 130
    _print_notes(notes)
    return code


def _print_notes(notes: Sequence[warnings.WarningMessage]) -> None:
    """The core's notices (``CuewatchWarning``) as one line each; other warnings as usual."""
    seen = set()
    for note in notes:
        if not issubclass(note.category, CuewatchWarning):
            warnings.showwarning(note.message, note.category, note.filename, note.lineno)
        elif str(note.message) not in seen:
            seen.add(str(note.message))
            print(f"cuewatch: note: {note.message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
