"""The app's log file, for a user to attach to a bug report: the same file ``cuewatch demo``
sends the app's output to (``cuewatch.cli.demo_cmd.app_log_path``), kept by size. Main
thread: configured once at start, shown from the Help menu."""

from __future__ import annotations

import logging
import logging.handlers
import platform
import sys
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from cuewatch import __version__
from cuewatch.cli.demo_cmd import app_log_path

log = logging.getLogger(__name__)

#: the log file is rolled over at this size, keeping LOG_BACKUPS older files beside it.
LOG_MAX_BYTES = 1_000_000
LOG_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def start_app_log(path: Optional[Path] = None) -> Optional[Path]:
    """Send the app's log records (and Python's warnings) to its rotating log file; returns
    the file, or None (said on stderr) when it cannot be written: the app runs without it."""
    path = path or app_log_path()
    root = logging.getLogger()
    for handler in root.handlers:  # started twice in one process (tests): one handler
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path.absolute():
            return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8")
    except OSError as exc:
        print(f"cuewatch-app: cannot write the log file {path}: {exc.strerror or exc}", file=sys.stderr)
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    log.info("cuewatch %s started (Python %s, %s)", __version__, platform.python_version(),
             platform.platform())
    return path


def show_log_file(parent: QWidget) -> None:
    """Where the log file is, with a button to copy the path and one to open its folder."""
    path = app_log_path()
    box = QMessageBox(parent)
    box.setWindowTitle("Log file")
    box.setIcon(QMessageBox.Icon.Information)
    box.setText("Attach this file to a bug report: it holds the app's messages (they may name "
                "files), never any part of a recording.")
    box.setInformativeText(str(path) if path.exists() else f"{path}\n(nothing logged yet)")
    copy = box.addButton("&Copy path", QMessageBox.ButtonRole.ActionRole)
    folder = box.addButton("&Open folder", QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() is copy:
        QGuiApplication.clipboard().setText(str(path))
    elif box.clickedButton() is folder:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))
