"""What the app remembers between runs (QSettings, in the app only): the reviewer's name,
recent projects, the Dask scheduler analyses run on, and the window layout. Nothing about
recordings is kept here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow, QSplitter

from cuewatch.cluster import check_scheduler
from cuewatch.errors import CuewatchError

MAX_RECENT = 8


class AppSettings:
    """Typed access to the app's QSettings. Main thread."""

    def __init__(self, qsettings: Optional[QSettings] = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings("cuewatch", "cuewatch")

    @property
    def reviewer(self) -> str:
        return str(self.q.value("reviewer", "") or "")

    @reviewer.setter
    def reviewer(self, name: str) -> None:
        self.q.setValue("reviewer", name.strip())
        self.q.sync()

    @property
    def scheduler(self) -> str:
        """Where analyses run: "" on this machine (no Dask), else a checked scheduler address
        or "local" (``cuewatch.cluster.check_scheduler``); a stored value that fails the check
        counts as "" (the analysis then says nothing of a cluster it cannot use)."""
        value = str(self.q.value("analysis/scheduler", "") or "")
        try:
            return check_scheduler(value) if value else ""
        except CuewatchError:
            return ""

    @scheduler.setter
    def scheduler(self, address: str) -> None:
        """Raises ``CuewatchError`` (one line) for an address of the wrong form."""
        self.q.setValue("analysis/scheduler", check_scheduler(address) if address.strip() else "")
        self.q.sync()

    def recent_projects(self) -> list[str]:
        value = self.q.value("recent_projects", []) or []
        if isinstance(value, str):  # QSettings gives a one-item list back as a string
            return [value]
        return [str(v) for v in value if v] if isinstance(value, (list, tuple)) else []

    def add_recent(self, path: Path | str) -> None:
        p = str(Path(path).absolute())
        recent = [r for r in self.recent_projects() if r != p]
        self.q.setValue("recent_projects", ([p] + recent)[:MAX_RECENT])
        self.q.sync()

    def remove_recent(self, path: Path | str) -> None:
        p = str(Path(path).absolute())
        self.q.setValue("recent_projects", [r for r in self.recent_projects() if r != p])

    def save_window(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> None:
        self.q.setValue("window/geometry", window.saveGeometry())
        self.q.setValue("window/state", window.saveState())
        for name, splitter in splitters.items():
            self.q.setValue(f"window/splitter/{name}", splitter.saveState())
        self.q.sync()

    def restore_window(self, window: QMainWindow, splitters: dict[str, QSplitter]) -> bool:
        geometry = self.q.value("window/geometry")
        if not isinstance(geometry, QByteArray) or geometry.isEmpty():
            return False
        window.restoreGeometry(geometry)
        state = self.q.value("window/state")
        if isinstance(state, QByteArray):
            window.restoreState(state)
        for name, splitter in splitters.items():
            s = self.q.value(f"window/splitter/{name}")
            if isinstance(s, QByteArray):
                splitter.restoreState(s)
        return True
