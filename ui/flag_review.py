"""The flag review model: one recording's flags, the filters, the current flag, verdicts.

``FlagReview`` keeps which flags pass the filters (type, verdict, severity, reviewer,
the trainee's response), which one is current, every reviewer's current verdict, and the
trainee's stored response to each flag; verdicts and undo go
straight to the project through ``ProjectDocument`` (saved at once, never batched).
``QtFlagList`` and ``QtFlagDetail`` are its views.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QObject, Signal

from cuewatch.domain import VERDICTS, Flag, Review
from cuewatch.words.response import RESPONSE_KINDS
from cuewatch_ui.document import ProjectDocument

if TYPE_CHECKING:
    from cuewatch.project.attunement import StoredResponse

#: verdict filter choices: "any", "unreviewed", or a verdict.
VERDICT_FILTERS: tuple[str, ...] = ("any", "unreviewed") + VERDICTS
#: response filter choices: "any", "missed" (the moments the trainee missed: the core's
#: ``StoredResponse.missed``, kinds ``formats.MISSED_RESPONSE_KINDS``), or a response kind.
RESPONSE_FILTERS: tuple[str, ...] = ("any", "missed") + RESPONSE_KINDS
#: minimum severity choices.
SEVERITY_FILTERS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)


@dataclass
class Filters:
    type: str = "any"            # "any" or a FLAG_TYPES entry
    verdict: str = "any"         # VERDICT_FILTERS
    min_severity: float = 0.0
    reviewer: str = ""           # whose verdicts the verdict filter reads; "" = me
    response: str = "any"        # RESPONSE_FILTERS


class FlagReview(QObject):
    """Main thread. Signals: ``flagsChanged`` (list content), ``currentChanged(index)``
    (index into ``flags``, -1 none), ``reviewsChanged``."""

    flagsChanged = Signal()
    currentChanged = Signal(int)
    reviewsChanged = Signal()

    def __init__(self, document: Optional[ProjectDocument] = None,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.document = document
        self.recording_id: Optional[int] = None
        self.flags: list[Flag] = []
        self.filters = Filters()
        self.visible: list[int] = []          # indices into flags
        self.current = -1
        self.reviews: dict[int, dict[str, Review]] = {}   # flag id -> reviewer -> review
        self.responses: dict[int, StoredResponse] = {}    # flag id -> the trainee's response

    # -- loading ----------------------------------------------------------------------
    def set_flags(self, recording_id: Optional[int], flags: list[Flag],
                  responses: Optional[dict[int, StoredResponse]] = None) -> None:
        """Show these flags (with the trainee's stored responses, by flag id)."""
        keep = self.current_flag.id if self.current_flag is not None else None
        self.recording_id = recording_id
        self.flags = list(flags)
        self.responses = dict(responses or {})
        self.reload_reviews(emit=False)
        self._refilter()
        index = next((i for i, f in enumerate(self.flags) if keep is not None and f.id == keep), -1)
        self.current = -1
        self.flagsChanged.emit()
        if index >= 0 and index in self.visible:
            self.set_current(index)
        else:
            self.currentChanged.emit(-1)

    def reload_reviews(self, emit: bool = True) -> None:
        self.reviews = {}
        if self.recording_id is not None and self.document is not None:
            for r in self.document.reviews(self.recording_id):
                self.reviews.setdefault(r.flag_id, {})[r.reviewer] = r
        if emit:
            self._refilter()
            self.flagsChanged.emit()
            self.reviewsChanged.emit()

    @property
    def reviewers(self) -> list[str]:
        names = {name for by in self.reviews.values() for name in by}
        if self.reviewer:
            names.add(self.reviewer)
        return sorted(names)

    @property
    def reviewer(self) -> str:
        """My name: whose verdicts the buttons and keys set."""
        return self.document.reviewer if self.document is not None else ""

    # -- filters ----------------------------------------------------------------------
    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        keep = self.current
        self._refilter()
        self.flagsChanged.emit()
        if keep not in self.visible:
            self.current = -1
            self.currentChanged.emit(-1)

    def verdict_of(self, flag: Flag, reviewer: Optional[str] = None) -> Optional[Review]:
        who = reviewer or self.reviewer
        if flag.id is None:
            return None
        return self.reviews.get(flag.id, {}).get(who)

    def response_of(self, flag: Flag) -> Optional[StoredResponse]:
        """The trainee's stored response to this flag (None: none stored, e.g. an orphaned
        verdict's flag, or a recording analysed before responses were read)."""
        return self.responses.get(flag.id) if flag.id is not None else None

    def _passes(self, flag: Flag) -> bool:
        f = self.filters
        if f.type != "any" and flag.type != f.type:
            return False
        if f.response != "any":
            response = self.response_of(flag)
            if response is None:
                return False
            if (not response.missed) if f.response == "missed" else response.kind != f.response:
                return False
        if flag.severity < f.min_severity - 1e-9:
            return False
        if f.verdict != "any":
            review = self.verdict_of(flag, f.reviewer or None)
            if f.verdict == "unreviewed":
                return review is None
            return review is not None and review.verdict == f.verdict
        return True

    def _refilter(self) -> None:
        self.visible = [i for i, f in enumerate(self.flags) if self._passes(f)]

    # -- navigation -------------------------------------------------------------------
    @property
    def current_flag(self) -> Optional[Flag]:
        return self.flags[self.current] if 0 <= self.current < len(self.flags) else None

    def index_of(self, flag_id: int) -> int:
        """Index in ``flags`` of the flag with this id (-1: not listed)."""
        return next((i for i, f in enumerate(self.flags) if f.id == flag_id), -1)

    def set_current(self, index: int) -> None:
        if index != self.current and -1 <= index < len(self.flags):
            self.current = index
            self.currentChanged.emit(index)

    def step(self, direction: int) -> None:
        """Next (+1) or previous (-1) flag among those that pass the filters."""
        if not self.visible:
            return
        if self.current in self.visible:
            pos = self.visible.index(self.current) + direction
        else:  # from the flag list's start or end
            pos = 0 if direction > 0 else len(self.visible) - 1
        pos = max(0, min(len(self.visible) - 1, pos))
        self.set_current(self.visible[pos])

    # -- verdicts ---------------------------------------------------------------------
    def set_verdict(self, verdict: str, note: Optional[str] = None) -> Optional[Review]:
        """Store my verdict on the current flag at once (with the note, or the one it had)."""
        flag = self.current_flag
        if flag is None or flag.id is None or self.recording_id is None or self.document is None:
            return None
        if note is None:
            previous = self.verdict_of(flag)
            note = previous.note if previous is not None else ""
        review = self.document.set_verdict(self.recording_id, flag.id, verdict, note)
        self.reload_reviews()
        return review

    def set_note(self, note: str) -> Optional[Review]:
        """Save a changed note with my current verdict (a note needs a verdict to hang on)."""
        flag = self.current_flag
        review = self.verdict_of(flag) if flag is not None else None
        if review is None or review.note == note:
            return None
        return self.set_verdict(review.verdict, note)

    def undo(self) -> Optional[Review]:
        """Take back my last verdict (on whichever flag it was) and show that flag."""
        if self.recording_id is None or self.document is None:
            return None
        review = self.document.undo_verdict(self.recording_id)
        self.reload_reviews()
        if review is not None:
            index = next((i for i, f in enumerate(self.flags) if f.id == review.flag_id), -1)
            if index >= 0:
                self.set_current(index)
        return review
