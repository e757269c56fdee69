"""Reviewers' verdicts on flags: one current verdict per reviewer per flag, the earlier
ones kept as history, and undo (Ctrl+Z) per reviewer."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Optional

from cuewatch.domain import VERDICTS, Review
from cuewatch.errors import ProjectError
from cuewatch.project.sql import Manager, inserted_id, now, optional, where_clause


@dataclass
class HistoryEntry:
    """A verdict as it was given; ``status`` says whether it still stands."""

    review: Review
    status: str  # current | superseded | undone


class Reviews(Manager):
    """``project.reviews``: verdicts and their history (same thread as the project)."""

    @staticmethod
    def _review(r: sqlite3.Row) -> Review:
        return Review(flag_id=r["flag_id"], reviewer=r["reviewer"], verdict=r["verdict"],
                      note=r["note"], time=r["time"], id=r["id"])

    def set_verdict(self, flag_id: int, reviewer: str, verdict: str, note: str = "") -> Review:
        """A reviewer's verdict on a flag; it replaces their earlier one (kept as history)."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise ProjectError("a verdict needs a reviewer name")
        if verdict not in VERDICTS:
            raise ProjectError(f"unknown verdict {verdict!r} (use {', '.join(VERDICTS)})")
        with self.db._write() as conn:
            row = conn.execute("SELECT recording_id FROM flags WHERE id = ?", (int(flag_id),)).fetchone()
            if row is None:
                raise ProjectError(f"{self.db.path.name}: no flag {flag_id}")
            conn.execute("UPDATE reviews SET current = 0 WHERE flag_id = ? AND reviewer = ? "
                         "AND current = 1", (int(flag_id), reviewer))
            when = now()
            cur = conn.execute("INSERT INTO reviews(flag_id, reviewer, verdict, note, time, current) "
                               "VALUES (?,?,?,?,?,1)", (int(flag_id), reviewer, verdict, note or "", when))
            self.db._log(conn, "verdict", row["recording_id"], {
                "flag_id": int(flag_id), "verdict": verdict, "review_id": cur.lastrowid,
                "with_note": bool(note)}, reviewer)
        return Review(flag_id=int(flag_id), reviewer=reviewer, verdict=verdict, note=note or "",
                      time=when, id=inserted_id(cur))

    def undo_last(self, reviewer: str) -> Optional[Review]:
        """Take back the reviewer's latest verdict (Ctrl+Z); their previous verdict on that
        flag, if any, is in force again. Returns the verdict taken back, or None."""
        with self.db._write() as conn:
            last = conn.execute("SELECT * FROM reviews WHERE reviewer = ? AND undone = 0 "
                                "ORDER BY id DESC LIMIT 1", (reviewer,)).fetchone()
            if last is None:
                return None
            conn.execute("UPDATE reviews SET undone = 1, current = 0 WHERE id = ?", (last["id"],))
            if last["current"]:
                prev = conn.execute("SELECT id FROM reviews WHERE flag_id = ? AND reviewer = ? "
                                    "AND undone = 0 ORDER BY id DESC LIMIT 1",
                                    (last["flag_id"], reviewer)).fetchone()
                if prev is not None:
                    conn.execute("UPDATE reviews SET current = 1 WHERE id = ?", (prev["id"],))
            rid = conn.execute("SELECT recording_id FROM flags WHERE id = ?",
                               (last["flag_id"],)).fetchone()
            self.db._log(conn, "undo_verdict", rid[0] if rid else None,
                         {"flag_id": last["flag_id"], "review_id": last["id"]}, reviewer)
        return self._review(last)

    def all(self, flag_id: Optional[int] = None, *, recording_id: Optional[int] = None,
            reviewer: Optional[str] = None, superseded: bool = False,
            orphaned: Optional[bool] = None) -> list[Review]:
        """Current verdicts (one per reviewer per flag); with ``superseded``, also the
        earlier verdicts they replaced (never the undone ones), oldest first.

        Verdicts on flags no longer raised (orphaned) are listed too; ``orphaned`` True
        keeps only those, False only verdicts on raised flags.
        """
        sql = ("SELECT r.* FROM reviews r JOIN flags f ON f.id = r.flag_id WHERE "
               + ("r.undone = 0" if superseded else "r.current = 1"))
        where, params = where_clause(("r.flag_id = ?", optional(int, flag_id)),
                                     ("f.recording_id = ?", optional(int, recording_id)),
                                     ("r.reviewer = ?", reviewer),
                                     ("f.raised = ?", None if orphaned is None else int(not orphaned)))
        return [self._review(r) for r in self.db._query(
            sql + where + " ORDER BY r.flag_id, r.reviewer, r.id", params)]

    def history(self, flag_id: int, reviewer: Optional[str] = None) -> list[HistoryEntry]:
        """Every verdict given on a flag, oldest first, with whether it still stands."""
        where, params = where_clause(("flag_id = ?", int(flag_id)), ("reviewer = ?", reviewer))
        out = []
        for r in self.db._query(f"SELECT * FROM reviews WHERE 1=1{where} ORDER BY id", params):
            status = "undone" if r["undone"] else ("current" if r["current"] else "superseded")
            out.append(HistoryEntry(self._review(r), status))
        return out

    def reviewers(self) -> list[str]:
        return [r[0] for r in self.db._query(
            "SELECT DISTINCT reviewer FROM reviews WHERE current = 1 ORDER BY reviewer")]
