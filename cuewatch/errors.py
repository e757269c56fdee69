"""Errors a user can act on.

A ``CuewatchError`` carries one clear line for the user; the command line prints it and
exits with ``exit_code`` (2 for bad input), the app shows it in a dialog. Anything else
escaping the core is a bug.
"""

from __future__ import annotations


class CuewatchError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class VideoError(CuewatchError):
    """The video cannot be opened or decoded."""


class ConsentError(CuewatchError):
    """No consent on record covers what was asked."""


class ModelError(CuewatchError):
    """The face model is missing, unreachable or not the pinned file."""


class TranscriptError(CuewatchError):
    """A transcript or mood file cannot be parsed safely."""


class ProjectError(CuewatchError):
    """A project file is missing, corrupt, from a newer cuewatch, or busy."""


class CuewatchWarning(UserWarning):
    """Something the user should know although the command goes on; the command line
    prints it as one line (``cuewatch: note: ...``), the app in its status bar."""


class ReadOnlyProjectWarning(CuewatchWarning):
    """A project was opened read-only: it can be listed and exported, not changed."""


class StoredSettingsWarning(CuewatchWarning):
    """Settings stored by another cuewatch have fields this one does not know: they are
    ignored, and the stored project stays readable."""
