"""``cuewatch-app [PROJECT]``: start the desktop app (optionally on a project)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cuewatch import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cuewatch-app", description="cuewatch desktop app: review "
                                "where a client's face conflicts with the mood they state. "
                                "A training aid, not a diagnostic instrument.")
    p.add_argument("project", nargs="?", type=Path, help="project file (P.cuewatch) to open")
    p.add_argument("--model", help="face model file (default: $CUEWATCH_MODEL or the cache)")
    p.add_argument("--reviewer", help="your name for verdicts (remembered)")
    p.add_argument("--settings", type=Path, help="keep the app's settings in this INI file")
    p.add_argument("--version", action="version", version=f"cuewatch {__version__}")
    return p


def run(project: Optional[Path] = None, *, model: Optional[str] = None,
        reviewer: Optional[str] = None, settings_path: Optional[Path] = None,
        argv: Optional[Sequence[str]] = None) -> int:
    """Create the application and window, open ``project``, and run the event loop."""
    from cuewatch_ui.main_window import MainWindow, make_settings

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("cuewatch")
    app.setOrganizationName("cuewatch")
    app.setApplicationVersion(__version__)
    settings = make_settings(settings_path)
    if reviewer:
        settings.reviewer = reviewer
    window = MainWindow(settings, model=model)
    window.show()
    if project is not None:
        QTimer.singleShot(0, lambda: window._safely(lambda: window.open_project(project)))
    return int(app.exec())


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.project, model=args.model, reviewer=args.reviewer, settings_path=args.settings)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
