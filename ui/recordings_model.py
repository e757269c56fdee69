"""The recordings list: a Qt model that refreshes itself from the document's signals, and
the table that shows it. Main thread only."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from cuewatch_ui.document import ProjectDocument, RecordingRow

COLUMNS = ("Recording", "Consent", "Analysis")
#: after the name of a recording whose video is not where the project expects it
MOVED_MARK = "  (moved?)"


class RecordingsModel(QStandardItemModel):
    """One row per recording (name, consent, analysis state). It listens to the document's
    ``recordingsChanged`` and ``analysesChanged`` and owns its refresh. Main thread."""

    refreshed = Signal()

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.document: Optional[ProjectDocument] = None
        self.rows: list[RecordingRow] = []

    def set_document(self, document: Optional[ProjectDocument]) -> None:
        if self.document is not None:
            self.document.recordingsChanged.disconnect(self.refresh)
            self.document.analysesChanged.disconnect(self.refresh)
        self.document = document
        if document is not None:
            document.recordingsChanged.connect(self.refresh)
            document.analysesChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Read the rows again (cheap reads only) and update the items in place, so the
        table's selection stays where it is."""
        self.rows = self.document.rows() if self.document is not None else []
        self.setRowCount(len(self.rows))
        for i, row in enumerate(self.rows):
            name = QStandardItem(row.name + ("" if row.present is not False else MOVED_MARK))
            name.setToolTip(row.recording.path)
            name.setData(row.recording.id, Qt.ItemDataRole.UserRole)
            consent = QStandardItem(row.consent.state)
            consent.setToolTip("scopes: " + ", ".join(row.consent.scopes) if row.consent.scopes
                               else "no consent")
            if not row.consent.allows_analysis:
                consent.setForeground(Qt.GlobalColor.red)
            state = QStandardItem(row.analysis_state)
            if row.analysis is not None and row.analysis.error:
                state.setToolTip(row.analysis.error)
            for col, item in enumerate((name, consent, state)):
                item.setEditable(False)
                self.setItem(i, col, item)
        self.refreshed.emit()

    def row_of(self, recording_id: Optional[int]) -> int:
        """The row showing this recording, or -1."""
        return next((i for i, r in enumerate(self.rows) if r.recording.id == recording_id), -1)

    def first_analysed(self) -> int:
        """The row to open first: the first analysed recording, else the first; -1 if none."""
        done = [i for i, r in enumerate(self.rows) if r.analysis is not None and r.analysis.state == "done"]
        return done[0] if done else (0 if self.rows else -1)


class RecordingsTable(QTableView):
    """Shows a ``RecordingsModel``; says which recording the user picked. Main thread."""

    recordingPicked = Signal(int)   # recording id

    def __init__(self, model: RecordingsModel, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.selectionModel().selectionChanged.connect(self._selection_changed)

    def model(self) -> RecordingsModel:  # type: ignore[override]
        return super().model()  # type: ignore[return-value]

    def item(self, row: int, column: int) -> Optional[QStandardItem]:
        """The item at a cell (as ``QTableWidget.item``)."""
        return self.model().item(row, column)

    def selected_recording(self) -> Optional[int]:
        rows = self.selectionModel().selectedRows()
        return None if not rows else rows[0].data(Qt.ItemDataRole.UserRole)

    def show_selected(self, recording_id: Optional[int]) -> None:
        """Select this recording's row without telling anyone (after a refresh)."""
        row = self.model().row_of(recording_id)
        if row >= 0 and self.selected_recording() != recording_id:
            selection = self.selectionModel()
            selection.blockSignals(True)
            self.selectRow(row)
            selection.blockSignals(False)
            self.viewport().update()

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rid = self.selected_recording()
        if rid is not None and selected.indexes():
            self.recordingPicked.emit(int(rid))
