"""Bringing a recording in: the consent form, and picking the client's face on a frame.

``ImportDialog`` asks for what ``project.recordings.add`` needs: the consent record (a
form; prefilled from a ``VIDEO.consent.json`` sidecar when there is one), a transcript,
and the client's speaker name. Without consent covering training or supervision the OK
button stays disabled: such a recording cannot be analysed. ``FacePickDialog`` shows a
frame with every tracked face boxed and returns the track the user clicks.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QDate, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from cuewatch.consent.record import ANALYSIS_SCOPES, consent_from_dict, require_obtained, sidecar_path
from cuewatch.errors import ConsentError
from cuewatch.formats import CONSENT_SCOPES, TRANSCRIPT_EXTENSIONS, file_dialog_filter

log = logging.getLogger(__name__)


def guess_transcript(video: Path) -> Optional[Path]:
    """A transcript beside the video with the same stem, if there is one."""
    for suffix in TRANSCRIPT_EXTENSIONS:
        p = video.with_suffix(suffix)
        if p.is_file():
            return p
    return None


class ImportDialog(QDialog):
    """Consent form + transcript for one video. Main thread. ``values()`` after accept."""

    def __init__(self, video: Path, recorded_by: str = "", parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.video = Path(video)
        self.setWindowTitle(f"Add {self.video.name}")
        self.client_name = QLineEdit()
        self.client_name.setPlaceholderText("as on the signed form")
        self.therapist_name = QLineEdit()
        self.scope_boxes = {s: QCheckBox(s) for s in CONSENT_SCOPES}
        self.obtained = QDateEdit(QDate.currentDate())
        self.obtained.setCalendarPopup(True)
        self.obtained.setDisplayFormat("yyyy-MM-dd")
        self.expires_box = QCheckBox("expires on")
        self.expires = QDateEdit(QDate.currentDate().addYears(1))
        self.expires.setCalendarPopup(True)
        self.expires.setDisplayFormat("yyyy-MM-dd")
        self.expires.setEnabled(False)
        self.expires_box.toggled.connect(self.expires.setEnabled)
        self.recorded_by = QLineEdit(recorded_by)
        self.transcript = QLineEdit()
        self.transcript.setPlaceholderText("WebVTT or SRT with <v Speaker> labels (optional)")
        browse = QPushButton("Browse\u2026")
        browse.clicked.connect(self._browse_transcript)
        self.client_speaker = QLineEdit()
        self.client_speaker.setPlaceholderText("transcript label of the client (default: Client)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.extra: dict[str, Any] = {}

        scopes = QHBoxLayout()
        for box in self.scope_boxes.values():
            scopes.addWidget(box)
            box.toggled.connect(self._validate)
        expires = QHBoxLayout()
        expires.addWidget(self.expires_box)
        expires.addWidget(self.expires)
        transcript = QHBoxLayout()
        transcript.addWidget(self.transcript, 1)
        transcript.addWidget(browse)
        form = QFormLayout()
        form.addRow(QLabel(f"<b>{self.video.name}</b><br>Consent on record is required: "
                           "without training or supervision scope it cannot be analysed."))
        form.addRow("Client (participant):", self.client_name)
        form.addRow("Therapist (participant):", self.therapist_name)
        form.addRow("Consent covers:", scopes)
        form.addRow("Obtained:", self.obtained)
        form.addRow("", expires)
        form.addRow("Recorded by:", self.recorded_by)
        form.addRow("Transcript:", transcript)
        form.addRow("Client speaker:", self.client_speaker)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Add and analyse")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        for w in (self.client_name, self.therapist_name, self.recorded_by):
            w.textChanged.connect(self._validate)
        self.obtained.dateChanged.connect(self._validate)
        self.expires.dateChanged.connect(self._validate)
        self.expires_box.toggled.connect(self._validate)
        self._prefill()
        self._validate()

    def _prefill(self) -> None:
        side = sidecar_path(self.video)
        if side.is_file():
            try:
                data = json.loads(side.read_text(encoding="utf-8-sig"))
                consent = consent_from_dict(data, str(side))
            except (ConsentError, ValueError, OSError):  # the form starts empty; checks say why
                log.warning("consent sidecar %s not used to fill in the form", side, exc_info=True)
            else:
                for p in consent.participants:
                    target = self.therapist_name if p.role.lower().startswith("therap") else self.client_name
                    if not target.text():
                        target.setText(p.name)
                for s in consent.scopes:
                    self.scope_boxes[s].setChecked(True)
                self.obtained.setDate(QDate(consent.obtained.year, consent.obtained.month,
                                            consent.obtained.day))
                if consent.expires:
                    self.expires_box.setChecked(True)
                    self.expires.setDate(QDate(consent.expires.year, consent.expires.month,
                                               consent.expires.day))
                if consent.recorded_by:
                    self.recorded_by.setText(consent.recorded_by)
                self.extra = dict(consent.extra)
        guess = guess_transcript(self.video)
        if guess is not None:
            self.transcript.setText(str(guess))

    def _browse_transcript(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Transcript", str(self.video.parent),
                                              file_dialog_filter("Transcripts", TRANSCRIPT_EXTENSIONS)
                                              + ";;All files (*)")
        if path:
            self.transcript.setText(path)

    def consent_dict(self) -> dict[str, Any]:
        people = [{"name": self.client_name.text().strip(), "role": "client"}]
        if self.therapist_name.text().strip():
            people.append({"name": self.therapist_name.text().strip(), "role": "therapist"})
        d: dict[str, Any] = {
            "participants": people,
            "scopes": [s for s, b in self.scope_boxes.items() if b.isChecked()],
            "obtained": self.obtained.date().toString("yyyy-MM-dd"),
            "expires": self.expires.date().toString("yyyy-MM-dd") if self.expires_box.isChecked() else None,
            "recorded_by": self.recorded_by.text().strip() or None,
        }
        d.update(self.extra)
        return d

    def _validate(self) -> None:
        problem = ""
        if not self.client_name.text().strip():
            problem = "Enter the client's name as on the consent form."
        else:
            try:
                consent = consent_from_dict(self.consent_dict(), "form")
                today = _dt.date.today()
                require_obtained(consent, "form", today)
                if consent.is_expired(today):
                    problem = "This consent has expired: the recording cannot be analysed."
                elif not consent.allows_analysis(today):
                    problem = ("Consent must cover " + " or ".join(ANALYSIS_SCOPES)
                               + " for the recording to be analysed.")
            except ConsentError as exc:
                problem = str(exc)
        self.status.setText(problem)
        self.status.setStyleSheet("color: #b03030" if problem else "")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)

    def values(self) -> dict[str, Any]:
        """Keyword arguments for ``project.recordings.add``."""
        transcript = self.transcript.text().strip()
        return {"consent": self.consent_dict(),
                "transcript": Path(transcript) if transcript else None,
                "client_speaker": self.client_speaker.text().strip() or None}


class _FaceCanvas(QWidget):
    def __init__(self, dialog: FacePickDialog) -> None:
        super().__init__(dialog)
        self.dialog = dialog
        self.setMinimumSize(480, 320)
        self.setMouseTracking(True)
        self.hover: Optional[int] = None

    def _scale(self) -> tuple[float, float, float]:
        img = self.dialog.image
        s = min(self.width() / img.width(), self.height() / img.height())
        ox = (self.width() - img.width() * s) / 2
        oy = (self.height() - img.height() * s) / 2
        return s, ox, oy

    def track_at(self, pos: QPointF) -> Optional[int]:
        s, ox, oy = self._scale()
        x, y = (pos.x() - ox) / s, (pos.y() - oy) / s
        for tid, (x0, y0, x1, y1) in self.dialog.boxes.items():
            if x0 <= x <= x1 and y0 <= y <= y1:
                return tid
        return None

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        s, ox, oy = self._scale()
        img = self.dialog.image
        p.drawImage(QRectF(ox, oy, img.width() * s, img.height() * s), img)
        for tid, (x0, y0, x1, y1) in self.dialog.boxes.items():
            colour = QColor(255, 200, 0) if tid == self.hover else QColor(80, 220, 255)
            p.setPen(QPen(colour, 3 if tid == self.hover else 2))
            p.drawRect(QRectF(ox + x0 * s, oy + y0 * s, (x1 - x0) * s, (y1 - y0) * s))
            label = f"face {tid}"
            width = p.fontMetrics().horizontalAdvance(label) + 8
            tag = QRectF(ox + x0 * s, oy + y0 * s - 18, width, 18)
            p.fillRect(tag, colour)
            p.setPen(QColor(0, 0, 0))
            p.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        hover = self.track_at(event.position())
        if hover != self.hover:
            self.hover = hover
            self.setCursor(Qt.CursorShape.PointingHandCursor if hover is not None else Qt.CursorShape.ArrowCursor)
            self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        tid = self.track_at(event.position())
        if tid is not None:
            self.dialog.choose(tid)


class FacePickDialog(QDialog):
    """Click the client's face. ``boxes``: track id -> (x0, y0, x1, y1) in frame pixels."""

    def __init__(self, image: np.ndarray, boxes: dict[int, tuple[float, float, float, float]],
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Which face is the client's?")
        rgb = np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)
        self._buffer = rgb  # QImage does not copy
        self.image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.shape[1] * 3,
                            QImage.Format.Format_RGB888)
        self.boxes = boxes
        self.chosen: Optional[int] = None
        self.canvas = _FaceCanvas(self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Several faces were found. Click the client's face: only the "
                                "client's face is compared with what the client says."))
        layout.addWidget(self.canvas, 1)
        layout.addWidget(buttons)

    def choose(self, track_id: int) -> None:
        self.chosen = track_id
        self.accept()
