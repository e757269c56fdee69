"""Views of a ``FlagReview``: the filtered flag list and the current flag's detail.

``QtFlagList``: filter bar (type, verdict, severity, reviewer, the trainee's response:
"missed moments" shows the flags the trainee moved on from or did not answer) over a table
with a Response column.
``QtFlagDetail``: the words, stated mood, expression, AU evidence as bars, confidence,
a thumbnail of the peak frame, the trainee's response (kind, the words that decided it,
latency, whether their face moved toward the client's), verdict buttons (A / D / U) and a
note. Both run on the
main thread; the thumbnail is decoded by the window's ``LatestRequestWorker``.
"""

from __future__ import annotations

from typing import Any, Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cuewatch.exports.describe import clock, evidence_aus, expressed_text, peak_time, stated_text
from cuewatch.flags.matching import ORPHANED_STATUS
from cuewatch.formats import FLAG_TYPE_LABELS, FLAG_TYPES, THERAPIST_INCONGRUENCE
from cuewatch_ui.document import ClientFace
from cuewatch_ui.flag_review import (
    RESPONSE_FILTERS,
    SEVERITY_FILTERS,
    VERDICT_FILTERS,
    Filters,
    FlagReview,
)
from cuewatch_ui.qt_timeline import (
    FLAG_COLOURS,
    VERDICT_COLOURS,
    response_colour,
    response_label,
    response_text,
)

COLUMNS = ("Time", "Type", "Face", "Sev.", "Conf.", "Verdict", "Response", "Said")
RESPONSE = COLUMNS.index("Response")
#: the response filter's entry for the missed moments (kinds none and moved on)
MISSED_FILTER_TEXT = "missed moments"
#: the per-flag mirroring verdicts (``cuewatch.attunement.synchrony.MIRRORING_VERDICTS``)
#: as the flag detail says them
MIRRORING_TEXT = {
    "toward": "the trainee's face moved toward the client's",
    "away": "the trainee's face moved away from the client's",
    "mixed": "mixed: toward on one signal, away on another",
    "no_change": "the trainee's face did not change",
    "client_still": "the client's face hardly moved: nothing to mirror",
    "not_seen": "a face was not seen well enough to tell",
}
SAID = COLUMNS.index("Said")
SHORT_TYPES = {"incongruence": "incongr.", THERAPIST_INCONGRUENCE: "therapist incongr."}
#: how an orphaned verdict's row (its flag no longer raised) is drawn and marked.
ORPHANED_COLOUR = QColor(150, 150, 150)
ORPHANED_MARK = "no longer raised"
Index = QModelIndex | QPersistentModelIndex


class FlagTableModel(QAbstractTableModel):
    """The visible flags of a ``FlagReview`` as table rows. Main thread."""

    def __init__(self, review: FlagReview) -> None:
        super().__init__()
        self.review = review
        review.flagsChanged.connect(self._reset)

    def _reset(self) -> None:
        self.beginResetModel()
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.review.visible)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def flag_index(self, row: int) -> int:
        return self.review.visible[row]

    def row_of(self, flag_index: int) -> int:
        try:
            return self.review.visible.index(flag_index)
        except ValueError:
            return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        flag = self.review.flags[self.review.visible[index.row()]]
        col = index.column()
        # the Verdict column shows the verdicts of the reviewer chosen in the filter bar
        review = self.review.verdict_of(flag, self.review.filters.reviewer or None)
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return clock(flag.start)
            if col == 1:
                return SHORT_TYPES.get(flag.type, flag.type) + ("" if flag.raised
                                                                else f" ({ORPHANED_MARK})")
            if col == 2:
                return str(flag.expressed.get("category") or "?")
            if col == 3:
                return f"{flag.severity:.2f}"
            if col == 4:
                return f"{flag.confidence:.2f}"
            if col == 5:
                return review.verdict if review else ""
            if col == RESPONSE:
                response = self.review.response_of(flag)
                return response_label(response.kind) if response is not None else ""
            if col == SAID:
                return str(flag.stated.get("words") or stated_text(flag))
        if role == Qt.ItemDataRole.ToolTipRole and col == RESPONSE:
            response = self.review.response_of(flag)
            if response is not None:
                return response_text(response)
        if role == Qt.ItemDataRole.ToolTipRole:
            return (("" if flag.raised else f"Orphaned verdict: {ORPHANED_STATUS}; kept, and "
                     "re-attached if a recompute raises it again\n")
                    + f"{clock(flag.start)}-{clock(flag.end)}  {FLAG_TYPE_LABELS.get(flag.type, flag.type)}\n"
                    f"said: {stated_text(flag)}\nface: {expressed_text(flag)}")
        if role == Qt.ItemDataRole.ForegroundRole:
            if not flag.raised and not (col == 5 and review):
                return ORPHANED_COLOUR
            if col == 1:
                return FLAG_COLOURS.get(flag.type)
            if col == 5 and review:
                return VERDICT_COLOURS.get(review.verdict)
            if col == RESPONSE:
                response = self.review.response_of(flag)
                return response_colour(response.kind) if response is not None else None
            if flag.confidence < 0.4:
                return QColor(130, 130, 130)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in (0, 3, 4):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class QtFlagList(QWidget):
    """Filter bar and flag table. Selecting a row makes that flag current."""

    def __init__(self, review: FlagReview, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.review = review
        self.model = FlagTableModel(review)
        self.type_combo = self._combo("Flag type", [("all types", "any")]
                                     + [(FLAG_TYPE_LABELS[t], t) for t in FLAG_TYPES])
        self.verdict_combo = self._combo("Verdict (of the reviewer on the right)",
                                         [("any verdict" if v == "any" else v, v) for v in VERDICT_FILTERS])
        self.severity_combo = QComboBox()
        self.severity_combo.setToolTip("Lowest severity shown")
        for s in SEVERITY_FILTERS:
            self.severity_combo.addItem("any severity" if s == 0 else f"severity \u2265 {s:g}", s)
        self.severity_combo.currentIndexChanged.connect(self._filters_changed)
        self.reviewer_combo = self._combo("Whose verdicts the Verdict column and filter show", [])
        self.response_combo = self._combo(
            "The trainee's response to the moment; missed moments: no response or moved on",
            [("any response" if r == "any" else MISSED_FILTER_TEXT if r == "missed"
              else response_label(r), r) for r in RESPONSE_FILTERS])
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the review shortcuts
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(SAID, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._row_changed)
        self.count_label = QLabel()

        bar = QGridLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.type_combo, 0, 0)
        bar.addWidget(self.severity_combo, 0, 1)
        bar.addWidget(self.verdict_combo, 1, 0)
        bar.addWidget(self.reviewer_combo, 1, 1)
        bar.addWidget(self.response_combo, 2, 0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)
        review.flagsChanged.connect(self._flags_changed)
        review.currentChanged.connect(self._select_current)
        self._flags_changed()

    def _combo(self, tip: str, items: list[tuple[str, str]]) -> QComboBox:
        c = QComboBox()
        c.setToolTip(tip)
        c.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for text, value in items:
            c.addItem(text, value)
        c.currentIndexChanged.connect(self._filters_changed)
        return c

    def _filters_changed(self) -> None:
        reviewer = self.reviewer_combo.currentText()
        self.review.set_filters(Filters(
            type=self.type_combo.currentData() or "any",
            verdict=self.verdict_combo.currentData() or "any",
            min_severity=float(self.severity_combo.currentData() or 0.0),
            reviewer="" if reviewer in ("", self.review.reviewer) else reviewer,
            response=self.response_combo.currentData() or "any"))

    def _flags_changed(self) -> None:
        names = self.review.reviewers
        current = self.reviewer_combo.currentText() or self.review.reviewer
        self.reviewer_combo.blockSignals(True)
        self.reviewer_combo.clear()
        self.reviewer_combo.addItems(names or [""])
        if current in names:
            self.reviewer_combo.setCurrentText(current)
        self.reviewer_combo.blockSignals(False)
        n, total = len(self.review.visible), len(self.review.flags)
        text = f"{n} of {total} flags" if n != total else f"{total} flags"
        orphaned = sum(not f.raised for f in self.review.flags)
        if orphaned:
            text += f" ({orphaned} {ORPHANED_MARK}, kept for their verdicts)"
        self.count_label.setText(text)
        self._select_current(self.review.current)

    def _row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid():
            self.review.set_current(self.model.flag_index(current.row()))

    def _select_current(self, flag_index: int) -> None:
        row = self.model.row_of(flag_index) if flag_index >= 0 else -1
        sel = self.table.selectionModel()
        if row < 0:
            sel.clearSelection()
            return
        if self.table.currentIndex().row() != row:
            self.table.setCurrentIndex(self.model.index(row, 0))
        self.table.scrollTo(self.model.index(row, 0))


class AuBars(QWidget):
    """Action-unit evidence as horizontal bars (intensity 0..5, FACS scale)."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.values: list[tuple[str, float]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_values(self, values: list[tuple[str, float]]) -> None:
        self.values = values[:8]
        self.setFixedHeight(max(18, 16 * len(self.values) + 2))
        self.setToolTip("\n".join(f"{n}: {v:.2f}" for n, v in self.values) or "no AU evidence")
        self.update()

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        pal = self.palette()
        if not self.values:
            p.setPen(pal.placeholderText().color())
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignVCenter, "no AU evidence")
            return
        label_w = 44
        width = max(10, self.width() - label_w - 40)
        top = max(1.0, max(v for _n, v in self.values))
        scale = 5.0 if top > 1.0 else 1.0   # intensities (0..5) or fractions (0..1)
        for i, (name, value) in enumerate(self.values):
            y = i * 16 + 1
            p.setPen(pal.windowText().color())
            p.drawText(QRectF(0, y, label_w, 14), Qt.AlignmentFlag.AlignVCenter, name)
            p.fillRect(QRectF(label_w, y + 2, width, 10), pal.alternateBase())
            p.fillRect(QRectF(label_w, y + 2, width * min(1.0, max(0.0, value / scale)), 10),
                       QColor(70, 120, 190))
            p.drawText(QRectF(label_w + width + 4, y, 36, 14), Qt.AlignmentFlag.AlignVCenter, f"{value:.2f}")


class QtFlagDetail(QWidget):
    """The current flag: what was said and shown, the evidence, and my verdict."""

    thumbnailWanted = Signal(float)   # seconds: the window decodes it off the UI thread
    responseWanted = Signal(float)    # seconds: the deciding therapist turn, to play from

    def __init__(self, review: FlagReview, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.review = review
        self.title = QLabel("No flag selected")
        self.title.setStyleSheet("font-weight: bold")
        self.words = QLabel()
        self.words.setWordWrap(True)
        self.stated = QLabel()
        self.expressed = QLabel()
        self.expressed.setToolTip("The expression the overlay and the expression lane show "
                                  "over this flag's frames")
        self.prototype = QLabel()
        self.prototype.setToolTip("The expression prototype that contradicts the words")
        self.face: Optional[ClientFace] = None
        self.response: Any = None   # the current flag's StoredResponse
        self.confidence = QLabel()
        self.others = QLabel()
        self.others.setWordWrap(True)
        self.aus = AuBars()
        self.thumbnail = QLabel()
        self.thumbnail.setFixedSize(QSize(160, 120))
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setStyleSheet("background: #202020; color: #aaa")
        self.response_kind = QLabel()
        self.response_kind.setToolTip("What the trainee did with the moment, read from their "
                                      "words after it (named, explored, validated, moved on, none)")
        self.response_words = QLabel()
        self.response_words.setWordWrap(True)
        self.response_latency = QLabel()
        self.mirroring = QLabel()
        self.mirroring.setWordWrap(True)
        self.mirroring.setToolTip("Whether the trainee's face moved toward the client's in the "
                                  "seconds after the moment")
        self.play_response = QPushButton("Play response")
        self.play_response.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_response.setToolTip("Play from the therapist turn that decided the response")
        self.play_response.clicked.connect(self._play_response)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for verdict, key in (("agree", "A"), ("disagree", "D"), ("unsure", "U")):
            b = QPushButton(f"{verdict.capitalize()} ({key})")
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip(f"My verdict: {verdict} (key {key}); saved to the project at once")
            b.clicked.connect(lambda _c=False, v=verdict: self._verdict(v))
            colour = VERDICT_COLOURS[verdict].name()
            b.setStyleSheet(f"QPushButton:checked {{ background: {colour}; color: white; "
                            f"font-weight: bold; border: 1px solid {colour}; border-radius: 3px; "
                            "padding: 4px; }")
            self.buttons[verdict] = b
            row.addWidget(b)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (saved with your verdict)")
        self.note.editingFinished.connect(self._note_done)
        self.note.returnPressed.connect(self.note.clearFocus)  # Enter: back to the review keys

        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Said:", self.words)
        form.addRow("Stated mood:", self.stated)
        form.addRow("Face:", self.expressed)
        form.addRow("Contradicts:", self.prototype)
        form.addRow("Confidence:", self.confidence)
        form.addRow("AU evidence:", self.aus)
        top = QHBoxLayout()
        top.addLayout(form, 1)
        top.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignTop)
        self.response_box = QGroupBox("Trainee's response")
        response_form = QFormLayout(self.response_box)
        kind_row = QHBoxLayout()
        kind_row.addWidget(self.response_kind, 1)
        kind_row.addWidget(self.play_response)
        response_form.addRow("Response:", kind_row)
        response_form.addRow("Words:", self.response_words)
        response_form.addRow("Latency:", self.response_latency)
        response_form.addRow("Mirroring:", self.mirroring)
        box = QGroupBox("Your verdict")
        vb = QVBoxLayout(box)
        vb.addLayout(row)
        vb.addWidget(self.note)
        vb.addWidget(self.others)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.title)
        layout.addLayout(top)
        layout.addWidget(self.response_box)
        layout.addWidget(box)
        layout.addStretch(1)
        review.currentChanged.connect(self.show_flag)
        review.reviewsChanged.connect(lambda: self.show_flag(review.current, reload_thumbnail=False))
        self.show_flag(-1)

    def show_flag(self, index: int, reload_thumbnail: bool = True) -> None:
        flag = self.review.current_flag
        enabled = flag is not None
        for b in self.buttons.values():
            b.setEnabled(enabled)
        self.note.setEnabled(enabled)
        if flag is None:
            self.title.setText("No flag selected: pick one in the list or on the timeline")
            for w in (self.words, self.stated, self.expressed, self.prototype, self.confidence,
                      self.others):
                w.setText("")
            self.show_response(None)
            self.aus.set_values([])
            self.thumbnail.clear()
            for b in self.buttons.values():
                b.setChecked(False)
            self.note.setText("")
            return
        self.title.setText(f"{FLAG_TYPE_LABELS.get(flag.type, flag.type).capitalize()} at {clock(flag.start)}\u2013{clock(flag.end)}"
                           f"  \u00b7 severity {flag.severity:.2f}"
                           + ("" if flag.raised else f"  \u00b7 {ORPHANED_STATUS}"))
        words = flag.stated.get("words") or ""
        self.words.setText(f"\u201c{words}\u201d" if words else "(no words)")
        self.stated.setText(stated_text(flag))
        self.expressed.setText(self._face_text(flag))
        self.prototype.setText(expressed_text(flag) + "  (prototype match)")
        self.confidence.setText(f"{flag.confidence:.2f}" + ("  (low: face seen poorly)"
                                                            if flag.confidence < 0.4 else ""))
        self.aus.set_values(evidence_aus(flag))
        self.show_response(self.review.response_of(flag))
        mine = self.review.verdict_of(flag)
        for verdict, b in self.buttons.items():
            b.setChecked(mine is not None and mine.verdict == verdict)
        if not self.note.hasFocus():
            self.note.setText(mine.note if mine else "")
        others = [r for name, r in sorted(self.review.reviews.get(flag.id or -1, {}).items())
                  if name != self.review.reviewer]
        self.others.setText("Others: " + "; ".join(f"{r.reviewer}: {r.verdict}" for r in others)
                            if others else "")
        if reload_thumbnail:
            self.thumbnail.setText("\u2026")
            self.thumbnailWanted.emit(peak_time(flag))

    def show_response(self, response: Any) -> None:
        """The trainee's stored response (a ``StoredResponse``, or None: none stored)."""
        self.response = response
        self.play_response.setEnabled(response is not None and response.turn_start is not None)
        if response is None:
            flag = self.review.current_flag
            self.response_kind.setText(
                "" if flag is None else "none read: the flag is no longer raised" if not flag.raised
                else "not read yet (change the sensitivity or analyse again to read it)")
            self.response_kind.setStyleSheet("")
            for w in (self.response_words, self.response_latency, self.mirroring):
                w.setText("")
            return
        colour = response_colour(response.kind).name()
        self.response_kind.setText(response_label(response.kind)
                                   + ("  \u00b7 missed moment" if response.missed else ""))
        self.response_kind.setStyleSheet(f"color: {colour}; font-weight: bold")
        self.response_words.setText(f"\u201c{response.evidence}\u201d" if response.evidence
                                    else (response.reason or "(no therapist turn in the window)"))
        self.response_latency.setText("" if response.latency_s is None
                                      else f"{response.latency_s:.1f} s after the moment")
        self.mirroring.setText(MIRRORING_TEXT.get(response.mirroring, response.mirroring)
                               if response.mirroring else response.mirroring_reason)

    def _play_response(self) -> None:
        if self.response is not None and self.response.turn_start is not None:
            self.responseWanted.emit(float(self.response.turn_start))

    def set_face(self, face: Optional[ClientFace]) -> None:
        """The loaded recording's client face: the same per-frame expression the overlay reads."""
        self.face = face
        self.show_flag(self.review.current, reload_thumbnail=False)

    def _face_text(self, flag: Any) -> str:
        shares = self.face.expression_shares(flag.start, flag.end) if self.face is not None else []
        if not shares:
            return "face not seen" if self.face is not None else ""
        return (", ".join(f"{name} {share:.0%}" for name, share in shares[:3])
                + f"  (at the peak: {self.face.expression_at(peak_time(flag))})")  # type: ignore[union-attr]

    def set_thumbnail(self, image: Optional[QImage]) -> None:
        if image is None or image.isNull():
            self.thumbnail.setText("no frame")
            return
        self.thumbnail.setPixmap(QPixmap.fromImage(image).scaled(
            self.thumbnail.size(), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))

    def _verdict(self, verdict: str) -> None:
        self.review.set_verdict(verdict, self.note.text())

    def _note_done(self) -> None:
        self.review.set_note(self.note.text())

