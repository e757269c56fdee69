"""Revoking consent: delete every file cuewatch derived from a recording (its features in
the project's data folder, the files exported from it), then its rows
(``project.consents.revoke``), under one write lock."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from cuewatch.project.consents import RevokeReport

if TYPE_CHECKING:
    from cuewatch.project.store import Project

__all__ = ["RevokeReport", "revoke_consent"]


def revoke_consent(project: Project, recording_id: int, *,
                   actor: Optional[str] = None) -> RevokeReport:
    """Withdraw consent and delete everything cuewatch derived from the recording.

    Files go first, then the rows, under one write lock: a crash in between leaves
    consent in force, so running revoke again finishes the job.
    """
    def delete_files(report: RevokeReport, features: list[Path], exports: list[Path]) -> None:
        for d in features:
            if not project.in_data_dir(d):  # never another project's (or anyone's) files
                report.features_outside.append(str(d))
            elif d.exists():
                shutil.rmtree(d, ignore_errors=False)
                report.features_dirs.append(str(d))
        for p in exports:
            if p.is_dir():
                shutil.rmtree(p)
                report.exported_files.append(str(p))
            elif p.exists():
                p.unlink()
                report.exported_files.append(str(p))
            else:
                report.missing_files.append(str(p))

    return project.consents.revoke(recording_id, delete_files, actor=actor)
