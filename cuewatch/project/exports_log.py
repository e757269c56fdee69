"""The log of files written out of a project (exports), so that revoking consent can
delete them, and can say where an export killed midway was writing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from cuewatch.project.sql import Manager, inserted_id, now, optional, where_clause


@dataclass
class ExportedFile:
    id: int
    recording_id: Optional[int]
    path: Path
    format: str
    purpose: str
    created: str
    actor: str
    deleted: Optional[str]


class ExportsLog(Manager):
    """``project.exports``: what was exported where (same thread as the project)."""

    def begin(self, out_dir: Union[str, os.PathLike], *, format: str, purpose: str,
              recording_ids: Sequence[int], actor: Optional[str] = None) -> list[int]:
        """Note an export about to write into ``out_dir``: if it is killed before
        ``record``, revoking consent can at least say where to look."""
        when = now()
        with self.db._write() as conn:
            ids = [inserted_id(conn.execute(
                "INSERT INTO exported_files(recording_id, path, format, purpose, created, actor, "
                "pending) VALUES (?,?,?,?,?,?,1)",
                (int(rid), str(Path(out_dir).absolute()), format, purpose, when,
                 actor or self.db.actor))) for rid in recording_ids]
        return ids

    def record(self, paths: Sequence[Union[str, os.PathLike]], *, format: str,
               purpose: str, recording_id: Optional[int] = None,
               actor: Optional[str] = None, pending: Sequence[int] = ()) -> None:
        """Remember files written out of the project, so revoking consent can delete them;
        ``pending``: the ``begin`` notes this completes."""
        when = now()
        with self.db._write() as conn:
            for pid in pending:
                conn.execute("DELETE FROM exported_files WHERE id = ? AND pending = 1", (int(pid),))
            conn.executemany(
                "INSERT INTO exported_files(recording_id, path, format, purpose, created, actor) "
                "VALUES (?,?,?,?,?,?)",
                [(recording_id, str(Path(p).absolute()), format, purpose, when, actor or self.db.actor)
                 for p in paths])
            self.db._log(conn, "export", recording_id, {"format": format, "purpose": purpose,
                                                        "files": len(paths)}, actor)

    def files(self, recording_id: Optional[int] = None,
              include_deleted: bool = False) -> list[ExportedFile]:
        where, params = where_clause(("recording_id = ?", optional(int, recording_id)))
        if not include_deleted:
            where += " AND deleted IS NULL AND pending = 0"
        return [ExportedFile(r["id"], r["recording_id"], Path(r["path"]), r["format"],
                             r["purpose"], r["created"], r["actor"], r["deleted"])
                for r in self.db._query(f"SELECT * FROM exported_files WHERE 1=1{where} ORDER BY id",
                                        params)]
