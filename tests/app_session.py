"""The real app (offscreen) open on a project while other processes write to it.

Run as a subprocess by ``test_project_concurrency.py``:
``python tests/app_session.py PROJECT STOPFILE SETTINGS.ini``. It opens ``MainWindow`` on
PROJECT the way ``cuewatch-app PROJECT`` does, prints ``ready``, then until STOPFILE
exists, every ``TICK_MS``: reloads the selected recording (a worker thread opens the
project, as the app does on every selection) and gives the next flag a verdict as the
reviewer "App" through the review panel. Then it closes the window as a user quitting
does and prints ``app verdicts N``.
"""

from __future__ import annotations

import sys
from pathlib import Path

TICK_MS = 60


def main(project: Path, stop_file: Path, settings_ini: Path) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from cuewatch_ui.app import drop_opencv_qt_paths
    from cuewatch_ui.main_window import MainWindow, make_settings

    drop_opencv_qt_paths()
    app = QApplication(sys.argv[:1])
    settings = make_settings(settings_ini)
    settings.reviewer = "App"
    window = MainWindow(settings, auto_analyse=False)
    window.show()
    window.open_project(project)
    given = []

    def tick() -> None:
        if stop_file.exists():
            window.close()
            app.quit()
            return
        rid = window.controller.recording_id
        if rid is not None:
            window.controller.load(rid)  # a worker thread opens the project meanwhile
        if window.review.current_flag is None or window.data is None:
            window.review.step(1)
        if window.review.current_flag is not None:
            review = window.review.set_verdict("agree" if len(given) % 2 else "disagree")
            if review is not None:
                given.append(review.id)
            window.review.step(1)
        QTimer.singleShot(TICK_MS, tick)

    print("ready", flush=True)
    QTimer.singleShot(TICK_MS, tick)
    code = app.exec()
    print(f"app verdicts {len(given)}", flush=True)
    return int(code)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
