"""The export dialog: what an export is for, asked before anything is written.

There is no default purpose: consent decides per purpose (``cuewatch.consent.policy``), so
the dialog cannot be accepted until the user chooses one, unless the format is one the
policy lets go out without a purpose (``PURPOSE_OPTIONAL_FORMATS``).
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QComboBox, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from cuewatch.consent.policy import EXPORT_PURPOSES, PURPOSE_OPTIONAL_FORMATS

#: the combo box's first entry: a prompt, not a purpose.
CHOOSE_PURPOSE = "Choose a purpose\u2026"
#: the first entry where the format needs no purpose.
NO_PURPOSE = "(none: needs training or supervision consent)"


class ExportPurposeDialog(QDialog):
    """Asks what an export in ``fmt`` is for. Main thread. ``purpose`` after accept."""

    def __init__(self, fmt: str, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.fmt = fmt
        self.optional = fmt in PURPOSE_OPTIONAL_FORMATS
        self.setWindowTitle(f"Export {fmt}")
        self.combo = QComboBox()
        self.combo.addItem(NO_PURPOSE if self.optional else CHOOSE_PURPOSE, None)
        for purpose in EXPORT_PURPOSES:
            self.combo.addItem(purpose, purpose)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("What is this export for? The consent of every recording in it "
                                "must cover that purpose (research needs the research scope)."))
        layout.addWidget(self.combo)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)
        self.combo.currentIndexChanged.connect(self._validate)
        self._validate()

    @property
    def purpose(self) -> Optional[str]:
        """The chosen purpose, or None (nothing chosen yet, or none needed)."""
        return self.combo.currentData()

    def _validate(self) -> None:
        ok = self.optional or self.purpose is not None
        self.status.setText("" if ok else f"Choose a purpose: an export in {self.fmt} holds "
                                          "data that consent covers only for a stated purpose.")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ok)
