"""The app's consent questions, offscreen: the export dialog has no default purpose, and
the import form refuses consent dated in the future."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QDate  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from cuewatch.consent.policy import EXPORT_PURPOSES  # noqa: E402
from cuewatch_ui.export_dialog import ExportPurposeDialog  # noqa: E402
from cuewatch_ui.import_dialogs import ImportDialog  # noqa: E402
from cuewatch_ui.main_window import MainWindow, make_settings  # noqa: E402


def test_export_dialog_asks_for_a_purpose(qtbot) -> None:
    for fmt in ("clips", "frames", "csv"):
        dialog = ExportPurposeDialog(fmt)
        qtbot.addWidget(dialog)
        ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
        assert dialog.purpose is None and not ok.isEnabled()
        assert "not stated" not in [dialog.combo.itemText(i) for i in range(dialog.combo.count())]
        assert "Choose a purpose" in dialog.status.text()
        dialog.combo.setCurrentIndex(dialog.combo.findText("research"))
        assert ok.isEnabled() and dialog.purpose == "research" and dialog.status.text() == ""
        assert [dialog.combo.itemData(i) for i in range(1, dialog.combo.count())] == list(EXPORT_PURPOSES)


def test_app_export_without_purpose_is_refused(qtbot, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "settings.ini")
    settings.reviewer = "tester"  # else the app asks for a name first
    window = MainWindow(settings, auto_analyse=False)
    qtbot.addWidget(window)
    window.open_project(tmp_path / "p.cuewatch", create=True)
    out = tmp_path / "out"
    task = window.export("clips", out, None)
    qtbot.waitUntil(lambda: task.done, timeout=15000)
    boxes = [w for w in QApplication.topLevelWidgets()
             if isinstance(w, QMessageBox) and w.objectName() == "cuewatch-error" and w.isVisible()]
    assert boxes and "purpose" in boxes[0].text()
    boxes[0].close()
    assert not out.exists()
    window.close()


def test_import_form_refuses_consent_dated_in_the_future(qtbot, tmp_path: Path) -> None:
    video = tmp_path / "session.mp4"
    video.write_bytes(b"")  # the form only reads the name and the sidecar
    dialog = ImportDialog(video, recorded_by="Dr C")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    dialog.client_name.setText("Ana")
    dialog.scope_boxes["training"].setChecked(True)
    assert ok.isEnabled()
    dialog.obtained.setDate(QDate.currentDate().addDays(1))
    assert not ok.isEnabled() and "in the future" in dialog.status.text()
    dialog.obtained.setDate(QDate.currentDate())
    assert ok.isEnabled()
