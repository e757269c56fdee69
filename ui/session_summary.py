"""The session summary panel: how the trainee met the client's moments, at a glance.

``SessionSummaryModel`` turns one recording's stored attunement (``project.attunement``:
the summary, each flag's response, the synchrony) into rows: moments flagged, the share
named or explored, each response kind, the missed moments, the median latency and the
synchrony z. A row that stands for moments lists them as its children; picking a row
jumps to its moment (the first one, for a row of several), and the synchrony row to where
the two faces moved together most. ``QtSessionSummary`` is its view. Main thread; every
number comes from the core, none is computed here but the choice of which moment to show.
"""

from __future__ import annotations

import math
from typing import Any, Optional

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTreeView, QVBoxLayout, QWidget

from cuewatch.domain import Flag
from cuewatch.exports.describe import clock, stated_text
from cuewatch.words.response import RESPONSE_KINDS
from cuewatch_ui.document import SessionAttunement
from cuewatch_ui.qt_timeline import response_colour, response_label

COLUMNS = ("Measure", "Value")
#: the rows' labels (tests and the README name them)
MOMENTS = "Moments flagged"
NAMED_OR_EXPLORED = "Named or explored"
MISSED = "Missed moments"
MEDIAN_LATENCY = "Median latency"
SYNCHRONY_Z = "Synchrony z"
#: what the panel says with no recording open, and for one analysed before responses were read
NO_RECORDING = "Open an analysed recording to see how the trainee met the client's moments."
NO_WORDS = ("No transcript or mood file: the trainee's responses are read from the therapist's "
            "words (File > Attach transcript).")
NOT_COMPUTED = ("The trainee's responses have not been read for this recording yet: analyse it "
                "again, or change the sensitivity (the flags are recomputed with them).")
#: item data: where a row jumps, ("flag", flag id) or ("time", seconds)
TARGET_ROLE = Qt.ItemDataRole.UserRole + 1


class SessionSummaryModel(QStandardItemModel):
    """The summary rows of one recording (``set_attunement``). Main thread."""

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(list(COLUMNS))
        self.attunement = SessionAttunement()
        self.raised: list[Flag] = []   # not "flags": that is the model's virtual

    def set_attunement(self, attunement: SessionAttunement, flags: list[Flag]) -> None:
        """Show this recording's stored attunement for its raised ``flags``."""
        self.attunement = attunement
        self.raised = sorted((f for f in flags if f.raised), key=lambda f: (f.start, f.id or 0))
        self.setRowCount(0)
        summary = attunement.summary
        if summary is None or not attunement.computed:
            return
        root = self.invisibleRootItem()
        responses = attunement.responses
        by_id = {f.id: f for f in self.raised}
        answered = [f for f in self.raised if f.id in responses]

        def of(kinds: tuple[str, ...]) -> list[Flag]:
            return [f for f in answered if responses[f.id].kind in kinds]  # type: ignore[index]

        root.appendRow(self._row(MOMENTS, str(summary.moments), self.raised,
                                 "Raised flags of this recording; each lists the trainee's response"))
        share = summary.share_named_or_explored
        named = summary.by_kind.get("named", 0) + summary.by_kind.get("explored", 0)
        read = sum(summary.by_kind.values())     # the moments whose response could be read
        root.appendRow(self._row(NAMED_OR_EXPLORED,
                                 "\u2013" if share is None else f"{share:.0%} ({named} of {read})",
                                 of(("named", "explored")),
                                 "The moments the trainee turned toward: named the feeling or asked about it"))
        for kind in RESPONSE_KINDS:
            row = self._row(f"   {response_label(kind)}", str(summary.by_kind.get(kind, 0)), of((kind,)),
                            f"Moments the trainee's response was read as {response_label(kind)}")
            row[0].setForeground(response_colour(kind))
            root.appendRow(row)
        missed = [by_id[i] for i in summary.missed if i in by_id]
        missed_row = self._row(MISSED, str(len(summary.missed)), missed,
                               "No response, or the trainee moved on: the moments to look at first")
        root.appendRow(missed_row)
        latencies = {f.id: responses[f.id].latency_s for f in answered  # type: ignore[index]
                     if responses[f.id].latency_s is not None}  # type: ignore[index]
        median = summary.median_latency_s
        nearest = (min(latencies, key=lambda i: (abs(float(latencies[i]) - median), i))  # type: ignore[arg-type]
                   if latencies and median is not None else None)
        root.appendRow(self._row(MEDIAN_LATENCY, "\u2013" if median is None else f"{median:.1f} s",
                                 [by_id[nearest]] if nearest in by_id else [],
                                 "From the moment's end to the therapist turn that decided the "
                                 "response; the row jumps to the moment nearest the median",
                                 children=False))
        root.appendRow(self._synchrony_row())

    def _row(self, label: str, value: str, moments: list[Flag], tip: str,
             children: bool = True) -> list[QStandardItem]:
        name, val = QStandardItem(label), QStandardItem(value)
        val.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        for item in (name, val):
            item.setEditable(False)
            item.setToolTip(tip)
            if moments:
                item.setData(("flag", int(moments[0].id)), TARGET_ROLE)  # type: ignore[arg-type]
        if children:
            for f in moments:
                name.appendRow(self._moment(f))
        return [name, val]

    def _moment(self, flag: Flag) -> QStandardItem:
        """A child row (one item; the view spans it over both columns): one moment, its
        time and what was said, coloured by the response; picking it jumps there."""
        response = self.attunement.responses.get(flag.id) if flag.id is not None else None
        said = str(flag.stated.get("words") or stated_text(flag))
        item = QStandardItem(f"{clock(flag.start)}  {said}")
        tip = f"{clock(flag.start)}\u2013{clock(flag.end)}  said: {stated_text(flag)}"
        if response is not None:
            tip += f"\nresponse: {response_label(response.kind)}"
            if response.evidence:
                tip += f" \u201c{response.evidence}\u201d"
            item.setForeground(response_colour(response.kind))
        item.setEditable(False)
        item.setToolTip(tip)
        item.setData(("flag", int(flag.id)), TARGET_ROLE)  # type: ignore[arg-type]
        return item

    def _synchrony_row(self) -> list[QStandardItem]:
        summary, sync = self.attunement.summary, self.attunement.synchrony
        assert summary is not None
        z = summary.synchrony_z
        value = f"{z:+.1f}" if z is not None else "\u2013"
        tip = ("How much more the two faces moved together than in shuffled pairings "
               "(z against surrogates)")
        name, val = QStandardItem(SYNCHRONY_Z), QStandardItem(value)
        val.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if z is None:
            val.setForeground(Qt.GlobalColor.gray)
        peak = _peak_time(sync.over_time) if sync is not None else None
        for item in (name, val):
            item.setEditable(False)
            item.setToolTip(tip + ("; the row jumps to where they moved together most"
                                   if peak is not None else ""))
            if peak is not None:
                item.setData(("time", peak), TARGET_ROLE)
        if z is None:   # no number: say why (e.g. "therapist not on camera")
            why = QStandardItem(summary.synchrony_reason or "not computed")
            why.setEditable(False)
            why.setForeground(Qt.GlobalColor.gray)
            why.setToolTip(why.text())
            name.appendRow(why)
        if sync is not None and sync.lag_s is not None:
            lag = QStandardItem(f"lag {abs(sync.lag_s):.1f} s: {sync.leader or 'neither'} leads")
            lag.setEditable(False)
            name.appendRow(lag)
        return [name, val]

    def target(self, index: QModelIndex) -> Optional[tuple[str, Any]]:
        """Where the row at ``index`` jumps: ("flag", id), ("time", s) or None."""
        if not index.isValid():
            return None
        value = self.itemFromIndex(index.siblingAtColumn(0)).data(TARGET_ROLE) \
            if index.column() else self.itemFromIndex(index).data(TARGET_ROLE)
        return tuple(value) if value else None  # type: ignore[return-value]

    def find(self, label: str) -> QModelIndex:
        """The top-level row with this label (stripped), for tests and the README's names."""
        for row in range(self.rowCount()):
            if self.item(row, 0).text().strip() == label:
                return self.index(row, 0)
        return QModelIndex()


def _peak_time(over_time: tuple[tuple[float, float], ...]) -> Optional[float]:
    """Where the windowed correlation is highest (None: no finite value)."""
    best = [(r, t) for t, r in over_time if r is not None and math.isfinite(r)]
    return float(max(best)[1]) if best else None


class QtSessionSummary(QWidget):
    """The summary as a tree of rows; a click on a row asks to jump to its moment.

    Signals: ``momentPicked(flag_id)`` and ``timePicked(seconds)``.
    """

    momentPicked = Signal(int)
    timePicked = Signal(float)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.model = SessionSummaryModel(self)
        self.people = QLabel()
        self.people.setWordWrap(True)
        self.people.setStyleSheet("color: palette(mid)")
        self.tree = QTreeView()
        self.tree.setModel(self.model)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setFocusPolicy(Qt.FocusPolicy.NoFocus)   # keys belong to the review shortcuts
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setIndentation(12)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.clicked.connect(self._clicked)
        self.empty = QLabel(NO_RECORDING)
        self.empty.setWordWrap(True)
        self.empty.setEnabled(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.people)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        self.set_attunement(SessionAttunement(), [])

    def set_attunement(self, attunement: SessionAttunement, flags: list[Flag],
                       has_words: bool = True) -> None:
        """Show a recording's attunement (``has_words``: it has a transcript or mood file)."""
        self.model.set_attunement(attunement, flags)
        summary = attunement.summary
        shown = summary is not None and attunement.computed
        self.tree.setVisible(shown)
        self.empty.setVisible(not shown)
        self.people.setVisible(shown)
        self.empty.setText(NO_RECORDING if summary is None else NOT_COMPUTED if has_words else NO_WORDS)
        if summary is not None:
            speaker = summary.therapist_speaker or "not known"
            face = f"track {summary.therapist_track}" if summary.therapist_track is not None \
                else "not on camera"
            self.people.setText(f"Therapist: {speaker} \u00b7 face {face}")
            for row in range(self.model.rowCount()):
                parent = self.model.item(row, 0)
                for child in range(parent.rowCount()):   # a child row reads across both columns
                    self.tree.setFirstColumnSpanned(child, parent.index(), True)
            for label in (MISSED, SYNCHRONY_Z):   # the moments to look at first; why no z
                index = self.model.find(label)
                if index.isValid():
                    self.tree.expand(index)

    def _clicked(self, index: QModelIndex) -> None:
        target = self.model.target(index)
        if target is None:
            return
        kind, value = target
        if kind == "flag":
            self.momentPicked.emit(int(value))
        else:
            self.timePicked.emit(float(value))

