"""``cuewatch-app [PROJECT]``: start the desktop app (optionally on a project)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from cuewatch import __version__

if TYPE_CHECKING:
    from cuewatch_ui.main_window import MainWindow


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cuewatch-app", description="cuewatch desktop app: review "
                                "where a client's face conflicts with the mood they state. "
                                "A training aid, not a diagnostic instrument.")
    p.add_argument("project", nargs="?", type=Path, help="project file (P.cuewatch) to open")
    p.add_argument("--model", help="face model file (default: $CUEWATCH_MODEL or the cache)")
    p.add_argument("--reviewer", help="your name for verdicts (remembered)")
    p.add_argument("--settings", type=Path, help="keep the app's settings in this INI file")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="open PROJECT, show its first flag with the overlay, save the window "
                        "as PNG and quit (for the README)")
    p.add_argument("--version", action="version", version=f"cuewatch {__version__}")
    return p


def take_screenshot(window: MainWindow, target: Path, deadline_s: float = 60.0) -> None:
    """Once the project is loaded: select the first flag, show the overlay, wait for the
    frame and thumbnail, save the window (as the screen shows it) and quit."""
    import time

    start = time.monotonic()

    def ready() -> bool:
        return window.data is not None and window.player.frame_span is not None

    def poll() -> None:
        if not ready() and time.monotonic() - start < deadline_s:
            QTimer.singleShot(200, poll)
            return
        window.qt_player.overlay_box.setChecked(True)
        window.review.step(1)
        QTimer.singleShot(2500, shoot)

    def shoot() -> None:
        screen = window.screen()
        image = screen.grabWindow(window.winId()) if screen is not None else window.grab()
        if image.isNull():
            image = window.grab()
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(str(target))
        print(target)
        window.close()

    poll()


def drop_opencv_qt_paths() -> None:
    """Undo what importing OpenCV (via mediapipe) did to the environment.

    opencv-contrib-python points ``QT_QPA_PLATFORM_PLUGIN_PATH`` (and the font dir) at the
    Qt 5 plugins inside its wheel when ``cv2`` is imported; PySide6 would then fail to load
    its xcb platform plugin ("could not load the Qt platform plugin"). Call after the
    core is imported and before the QApplication exists.
    """
    for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR"):
        value = os.environ.get(name, "")
        if value and f"{os.sep}cv2{os.sep}" in value:
            del os.environ[name]


def run(project: Optional[Path] = None, *, model: Optional[str] = None,
        reviewer: Optional[str] = None, settings_path: Optional[Path] = None,
        screenshot: Optional[Path] = None, argv: Optional[Sequence[str]] = None) -> int:
    """Create the application and window, open ``project``, and run the event loop."""
    from cuewatch_ui.app_log import start_app_log
    from cuewatch_ui.main_window import MainWindow, make_settings

    start_app_log()
    drop_opencv_qt_paths()
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("cuewatch")
    app.setOrganizationName("cuewatch")
    app.setApplicationVersion(__version__)
    settings = make_settings(settings_path)
    if reviewer:
        settings.reviewer = reviewer
    window = MainWindow(settings, model=model)
    if screenshot is not None:
        window.resize(1440, 900)
    window.show()
    if project is not None:
        QTimer.singleShot(0, lambda: window._safely(lambda: window.open_project(project)))
        if screenshot is not None:
            QTimer.singleShot(0, lambda: take_screenshot(window, screenshot))
    return int(app.exec())


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.project, model=args.model, reviewer=args.reviewer, settings_path=args.settings,
               screenshot=args.screenshot)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
