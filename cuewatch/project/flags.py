"""A project's flags and gaps: flags stored again after every recompute without losing a
verdict (matching by moment, ``cuewatch.flags.matching``), orphaned verdicts kept with
their moment and re-attached when a later recompute raises it again."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from cuewatch.domain import VERDICTS, Flag, Gap
from cuewatch.errors import ProjectError
from cuewatch.flags.matching import Moment, StoredMoment, match_flags
from cuewatch.options import FlagSettings
from cuewatch.project.sql import Manager, inserted_id, optional, to_json, where_clause

if TYPE_CHECKING:
    from cuewatch.attunement.session import Attunement


class Flags(Manager):
    """``project.flags``: raised and retired flags, and gaps (same thread as the project)."""

    _FLAG_COLUMNS = ("id, recording_id, start, end, type, track, severity, confidence, "
                     "stated, expressed, evidence, raised")
    #: a retired flag that still carries a verdict in force: an orphaned verdict.
    _ORPHANED = ("f.raised = 0 AND EXISTS (SELECT 1 FROM reviews o WHERE o.flag_id = f.id "
                 "AND o.current = 1)")

    def _flag_list(self, rows: Sequence[Sequence[Any]]) -> list[Flag]:
        """Flags from rows of ``_FLAG_COLUMNS``. Listing all flags is hot (the app's list,
        every export): the JSON of all rows is parsed in one call, not three per flag."""
        try:
            payload = json.loads("[" + ",".join(f"{r[8]},{r[9]},{r[10]}" for r in rows) + "]")
        except json.JSONDecodeError as exc:
            raise ProjectError(f"{self.db.path} is damaged (a flag's JSON: {exc.msg})") from None
        return [Flag(start=r[2], end=r[3], type=r[4], track=r[5], stated=payload[3 * i],
                     expressed=payload[3 * i + 1], severity=r[6], confidence=r[7],
                     evidence=payload[3 * i + 2], id=r[0], raised=bool(r[11]))
                for i, r in enumerate(rows)]

    def all(self, recording_id: Optional[int] = None, *, types: Optional[Sequence[str]] = None,
            min_severity: Optional[float] = None, min_confidence: Optional[float] = None,
            start: Optional[float] = None, end: Optional[float] = None,
            reviewer: Optional[str] = None, verdict: Optional[str] = None,
            unreviewed_by: Optional[str] = None, orphaned: bool = False) -> list[Flag]:
        """Raised flags (all recordings when ``recording_id`` is None), in time order.

        ``start``/``end`` keep flags overlapping that span; ``reviewer`` + ``verdict`` keep
        flags whose current verdict by that reviewer is ``verdict``; ``unreviewed_by`` keeps
        flags that reviewer has not judged yet. ``orphaned`` adds the flags no longer
        raised that still carry a verdict (``Flag.raised`` False), for review lists and
        exports; agreement and the timeline use the raised flags only.
        """
        return [f for _rid, f in self._flag_rows(recording_id, types, min_severity,
                                                 min_confidence, start, end, reviewer, verdict,
                                                 unreviewed_by, orphaned)]

    def orphaned(self, recording_id: Optional[int] = None) -> list[Flag]:
        """Moments with a verdict in force whose flag a recompute no longer raises."""
        return [f for f in self.all(recording_id, orphaned=True) if not f.raised]

    def by_recording(self, **filters: Any) -> dict[int, list[Flag]]:
        """All flags grouped by recording id (same filters as ``all``)."""
        out: dict[int, list[Flag]] = {}
        for rid, f in self._flag_rows(None, **filters):
            out.setdefault(rid, []).append(f)
        return out

    def _flag_rows(self, recording_id: Optional[int] = None,
                   types: Optional[Sequence[str]] = None, min_severity: Optional[float] = None,
                   min_confidence: Optional[float] = None, start: Optional[float] = None,
                   end: Optional[float] = None, reviewer: Optional[str] = None,
                   verdict: Optional[str] = None, unreviewed_by: Optional[str] = None,
                   orphaned: bool = False) -> list[tuple[int, Flag]]:
        if verdict is not None and verdict not in VERDICTS:
            raise ProjectError(f"unknown verdict {verdict!r} (use {', '.join(VERDICTS)})")
        where, params = where_clause(
            ("f.recording_id = ?", optional(int, recording_id)),
            ("f.severity >= ?", optional(float, min_severity)),
            ("f.confidence >= ?", optional(float, min_confidence)),
            ("f.end >= ?", optional(float, start)), ("f.start <= ?", optional(float, end)),
            ("f.id IN (SELECT flag_id FROM reviews WHERE current = 1 AND reviewer = ?)", reviewer),
            ("f.id IN (SELECT flag_id FROM reviews WHERE current = 1 AND verdict = ? "
             "AND (reviewer = ? OR ? IS NULL))", (verdict, reviewer, reviewer)),
            ("f.id NOT IN (SELECT flag_id FROM reviews WHERE current = 1 AND reviewer = ?)",
             unreviewed_by))
        if types:
            where += f" AND f.type IN ({','.join('?' * len(types))})"
            params += list(types)
        raised = f"(f.raised = 1 OR {self._ORPHANED})" if orphaned else "f.raised = 1"
        rows = self.db._query(f"SELECT {self._FLAG_COLUMNS} FROM flags f WHERE {raised}{where} "
                              "ORDER BY f.recording_id, f.start, f.id", params, plain=True)
        return list(zip((r[1] for r in rows), self._flag_list(rows)))

    def get(self, flag_id: int) -> Flag:
        rows = self.db._query(f"SELECT {self._FLAG_COLUMNS} FROM flags WHERE id = ?", (int(flag_id),),
                              plain=True)
        if not rows:
            raise ProjectError(f"{self.db.path.name}: no flag {flag_id}")
        return self._flag_list(rows)[0]

    def recording_of(self, flag_id: int) -> int:
        rows = self.db._query("SELECT recording_id FROM flags WHERE id = ?", (int(flag_id),))
        if not rows:
            raise ProjectError(f"{self.db.path.name}: no flag {flag_id}")
        return int(rows[0][0])

    def gaps(self, recording_id: int) -> list[Gap]:
        return [Gap(start=r["start"], end=r["end"], track=r["track"], reason=r["reason"])
                for r in self.db._query("SELECT * FROM gaps WHERE recording_id = ? ORDER BY start, id",
                                        (int(recording_id),))]

    def replace_in(self, conn: sqlite3.Connection, rid: int, flags: Sequence[Flag],
                   gaps: Sequence[Gap], attunement: Optional[Attunement] = None) -> dict[str, int]:
        """Store recomputed flags without losing a verdict (``cuewatch.flags.matching``).

        ``attunement`` (computed for ``flags``, in their order) is stored with them
        (``project.attunement.store_in``): responses and mirroring stay in step with the
        flag set, a retired flag has none; without it the recording's responses are cleared.

        A new flag takes over the stored flag covering the same moment (its id, verdicts
        and notes), raised or retired; a stored flag no longer covered is retired
        (``raised = 0``) if it carries a verdict, an orphaned verdict kept with its moment,
        and deleted only if nobody ever judged it (or every verdict on it was undone).
        """
        stored = [StoredMoment(start=r["start"], end=r["end"], type=r["type"], track=r["track"],
                               id=int(r["id"]), reviewed=bool(r["reviewed"]),
                               raised=bool(r["raised"]))
                  for r in conn.execute(
                      "SELECT f.id, f.start, f.end, f.type, f.track, f.raised, EXISTS (SELECT 1 "
                      "FROM reviews r WHERE r.flag_id = f.id AND r.undone = 0) AS reviewed "
                      "FROM flags f WHERE f.recording_id = ?", (rid,))]
        by_id = {s.id: s for s in stored}
        matched = match_flags(stored, [Moment(f.start, f.end, f.type, f.track) for f in flags])
        stats = {"flags": len(flags), "flags_kept": 0, "flags_new": 0, "flags_reattached": 0,
                 "verdicts_reattached": 0, "flags_retired": 0, "verdicts_orphaned": 0,
                 "flags_removed": 0, "reviews_removed": 0, "gaps": len(gaps)}
        for i, f in enumerate(flags):
            values = (f.start, f.end, f.type, f.track, float(f.severity), float(f.confidence),
                      to_json(f.stated), to_json(f.expressed), to_json(f.evidence))
            fid = matched.get(i)
            if fid is not None:
                conn.execute("UPDATE flags SET start=?, end=?, type=?, track=?, severity=?, "
                             "confidence=?, stated=?, expressed=?, evidence=?, raised=1 "
                             "WHERE id = ?", values + (fid,))
                if by_id[fid].raised:
                    stats["flags_kept"] += 1
                else:
                    stats["flags_reattached"] += 1
                    stats["verdicts_reattached"] += self._current_verdicts(conn, [fid])
            else:
                fid = inserted_id(conn.execute(
                    "INSERT INTO flags(recording_id, start, end, type, track, severity, "
                    "confidence, stated, expressed, evidence) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rid,) + values))
                stats["flags_new"] += 1
            f.id, f.raised = int(fid), True
        taken = set(matched.values())
        retire = [s.id for s in stored if s.id not in taken and s.reviewed]
        drop = [s.id for s in stored if s.id not in taken and not s.reviewed]
        for i in range(0, len(retire), 500):
            chunk = retire[i:i + 500]
            newly = [fid for fid in chunk if by_id[fid].raised]
            stats["flags_retired"] += len(newly)
            stats["verdicts_orphaned"] += self._current_verdicts(conn, newly)
            conn.execute(f"UPDATE flags SET raised = 0 WHERE id IN ({','.join('?' * len(chunk))})",
                         chunk)
        for i in range(0, len(drop), 500):
            chunk = drop[i:i + 500]
            conn.execute(f"DELETE FROM flags WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        stats["flags_removed"] = len(drop)
        conn.execute("DELETE FROM gaps WHERE recording_id = ?", (rid,))
        conn.executemany("INSERT INTO gaps(recording_id, start, end, track, reason) "
                         "VALUES (?,?,?,?,?)", [(rid, g.start, g.end, g.track, g.reason) for g in gaps])
        stats.update(self.db.attunement.store_in(conn, rid, flags, attunement))
        return stats

    @staticmethod
    def _current_verdicts(conn: sqlite3.Connection, flag_ids: Sequence[int]) -> int:
        if not flag_ids:
            return 0
        return int(conn.execute(
            f"SELECT count(*) FROM reviews WHERE current = 1 AND flag_id IN "
            f"({','.join('?' * len(flag_ids))})", list(flag_ids)).fetchone()[0])

    def replace(self, recording_id: int, flags: Sequence[Flag], gaps: Sequence[Gap], *,
                flag_settings: Optional[FlagSettings] = None,
                attunement: Optional[Attunement] = None,
                actor: Optional[str] = None) -> dict[str, int]:
        """Store recomputed flags; every verdict and note is kept. A flag covering the same
        moment as a stored one keeps its id and verdicts; verdicts on a moment no longer
        flagged stay as orphaned verdicts (``orphaned``) and re-attach when a later
        recompute raises it again. Returns counts (also in the audit log).

        ``flag_settings``: what the flags were cut with; it becomes the flag settings of
        the recording's latest analysis (what the app shows, exports state).
        ``attunement``: the responses and mirroring for these flags (see ``replace_in``).
        """
        self.db.recordings.row(recording_id)
        with self.db._write() as conn:
            stats = self.replace_in(conn, int(recording_id), flags, gaps, attunement)
            detail: dict[str, Any] = dict(stats)
            if flag_settings is not None:
                detail["flag_settings"] = flag_settings.to_dict()
                latest = conn.execute(
                    "SELECT id, parameters FROM analyses WHERE recording_id = ? AND state = 'done' "
                    "ORDER BY finished DESC, id DESC LIMIT 1", (int(recording_id),)).fetchone()
                if latest is not None:
                    params = json.loads(latest["parameters"])
                    params["flags"] = flag_settings.to_dict()
                    conn.execute("UPDATE analyses SET parameters = ? WHERE id = ?",
                                 (to_json(params), latest["id"]))
            self.db._log(conn, "replace_flags", int(recording_id), detail, actor)
        return stats
