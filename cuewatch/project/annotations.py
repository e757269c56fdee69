"""Manual annotations: spans of a recording a supervisor or trainee labels by hand."""

from __future__ import annotations

from typing import Optional

from cuewatch.domain import Annotation
from cuewatch.errors import ProjectError
from cuewatch.project.sql import Manager, inserted_id, now, optional, where_clause


class Annotations(Manager):
    """``project.annotations`` (same thread as the project)."""

    def add(self, recording_id: int, start: float, end: float, label: str,
            note: str = "", *, reviewer: Optional[str] = None) -> Annotation:
        reviewer = (reviewer or self.db.actor).strip()
        label = (label or "").strip()
        if not label:
            raise ProjectError("an annotation needs a label")
        if not (0 <= float(start) <= float(end)):
            raise ProjectError(f"annotation span {start}-{end} s: start must be >= 0 and <= end")
        self.db.recordings.row(recording_id)
        when = now()
        with self.db._write() as conn:
            aid = inserted_id(conn.execute(
                "INSERT INTO annotations(recording_id, start, end, label, note, reviewer, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (int(recording_id), float(start), float(end), label, note or "", reviewer, when)))
            self.db._log(conn, "add_annotation", int(recording_id),
                         {"annotation_id": aid, "start": start, "end": end, "label": label}, reviewer)
        return Annotation(int(recording_id), float(start), float(end), label, note or "",
                          reviewer, when, int(aid))

    def all(self, recording_id: Optional[int] = None,
            reviewer: Optional[str] = None) -> list[Annotation]:
        where, params = where_clause(("recording_id = ?", optional(int, recording_id)),
                                     ("reviewer = ?", reviewer))
        return [Annotation(r["recording_id"], r["start"], r["end"], r["label"], r["note"],
                           r["reviewer"], r["created"], r["id"])
                for r in self.db._query(f"SELECT * FROM annotations WHERE 1=1{where} "
                                        "ORDER BY recording_id, start, id", params)]

    def delete(self, annotation_id: int, *, actor: Optional[str] = None) -> None:
        with self.db._write() as conn:
            r = conn.execute("SELECT * FROM annotations WHERE id = ?", (int(annotation_id),)).fetchone()
            if r is None:
                raise ProjectError(f"{self.db.path.name}: no annotation {annotation_id}")
            conn.execute("DELETE FROM annotations WHERE id = ?", (int(annotation_id),))
            self.db._log(conn, "delete_annotation", r["recording_id"], {
                "annotation_id": int(annotation_id), "label": r["label"],
                "start": r["start"], "end": r["end"], "by": r["reviewer"]}, actor)
