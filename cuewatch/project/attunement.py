"""A project's attunement (issue 13): per raised flag the trainee's response and whether
their face moved toward the client's, per recording the session synchrony and who the
therapist is.

Responses and mirroring follow the flags: every flag recompute (new sensitivity,
thresholds, a marked neutral) stores them again for the new flag set, in the same
transaction as the flags, keyed by the store's flag id; a retired flag has none. The
session synchrony does not depend on the flags: it is computed once per analysis (and,
for a project analysed before schema 6, at its first flag recompute). ``synchrony(rid)``
None means attunement was never computed for that recording: it has no transcript or mood
file, or it was analysed before this cuewatch (analyse again, or recompute its flags).

The queries are read-only and plain (the frozen records of ``cuewatch.attunement.summary``,
importable from here too); writes happen only inside the
flags' own transaction (``store_in``, called by ``project.flags.replace_in``).
Same thread as the project.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from cuewatch.attunement.summary import (
    AttunementSummary,
    StoredResponse,
    StoredSynchrony,
    summarise,
    summary_dict,
    summary_lines,
)
from cuewatch.domain import Flag
from cuewatch.formats import MISSED_RESPONSE_KINDS
from cuewatch.project.sql import Manager, now, to_json

if TYPE_CHECKING:
    from cuewatch.attunement.session import Attunement


def _number(value: Any) -> Optional[float]:
    return None if value is None else float(value)


class AttunementStore(Manager):
    """``project.attunement``: responses, mirroring, synchrony (same thread as the project)."""

    # -- queries

    def responses(self, recording_id: int) -> dict[int, StoredResponse]:
        """The stored responses of the recording's raised flags, by flag id (time order)."""
        rows = self.db._query(
            "SELECT r.flag_id, r.kind, r.reason, r.evidence, r.latency, r.turn_start, "
            "r.mirroring, r.mirroring_reason, r.rule FROM flag_responses r "
            "JOIN flags f ON f.id = r.flag_id WHERE f.recording_id = ? AND f.raised = 1 "
            "ORDER BY f.start, f.id", (int(recording_id),), plain=True)
        return {int(r[0]): StoredResponse(
            flag_id=int(r[0]), kind=r[1], reason=r[2], evidence=r[3], latency_s=_number(r[4]),
            turn_start=_number(r[5]), mirroring=r[6], mirroring_reason=r[7],
            missed=r[1] in MISSED_RESPONSE_KINDS, rule=r[8]) for r in rows}

    def synchrony(self, recording_id: int) -> Optional[StoredSynchrony]:
        """The session synchrony; None when attunement was never computed for it."""
        rows = self.db._query("SELECT z, lag_s, leader, statistic, reason, document FROM synchrony "
                              "WHERE recording_id = ?", (int(recording_id),))
        if not rows:
            return None
        r = rows[0]
        doc = json.loads(r["document"])
        over = tuple((float(t), math.nan if v is None else float(v))
                     for t, v in doc.get("over_time") or [] if t is not None)
        return StoredSynchrony(z=_number(r["z"]), lag_s=_number(r["lag_s"]), leader=r["leader"],
                               statistic=_number(r["statistic"]), over_time=over, reason=r["reason"])

    def synchrony_document(self, recording_id: int) -> Optional[dict[str, Any]]:
        """attunement.json's "synchrony" object as stored (per-signal z and lag too), with the
        settings it was made with under "settings"; None when never computed."""
        rows = self.db._query("SELECT document, settings FROM synchrony WHERE recording_id = ?",
                              (int(recording_id),))
        if not rows:
            return None
        return {**json.loads(rows[0]["document"]), "settings": json.loads(rows[0]["settings"])}

    def computed(self, recording_id: int) -> bool:
        """Whether attunement was ever computed for the recording (by an analysis or a recompute)."""
        return bool(self.db._query("SELECT 1 FROM synchrony WHERE recording_id = ?",
                                   (int(recording_id),)))

    def therapist(self, recording_id: int) -> tuple[Optional[str], Optional[int]]:
        """(speaker, face track) of the therapist: as the last analysis chose them, else as
        the user gave the speaker; a None track: the therapist is not on camera (or not
        known yet)."""
        row = self.db.recordings.row(recording_id)
        return (row["chosen_therapist_speaker"] or row["therapist_speaker"],
                None if row["therapist_track"] is None else int(row["therapist_track"]))

    def summary(self, recording_id: int) -> AttunementSummary:
        """The session summary over the raised flags (``cuewatch.attunement.summary.summarise``)."""
        rid = int(recording_id)
        return summarise(rid, self.db.flags.all(rid), self.responses(rid), self.synchrony(rid),
                         *self.therapist(rid))

    # -- writing (inside the flags' transaction)

    def store_in(self, conn: sqlite3.Connection, rid: int, flags: Sequence[Flag],
                 attunement: Optional[Attunement]) -> dict[str, int]:
        """Store ``attunement`` for ``flags`` (already stored: each has its id; the
        attunement's flags are in the same order), inside the caller's transaction.

        Every response of the recording is replaced, so responses stay in step with the
        flags (a retired flag has none). The therapist and the session synchrony are
        stored when the attunement carries them (``Attunement.with_synchrony``). Without
        an attunement (no transcript) the recording's attunement is cleared.
        """
        conn.execute("DELETE FROM flag_responses WHERE recording_id = ?", (rid,))
        if attunement is None:
            conn.execute("DELETE FROM synchrony WHERE recording_id = ?", (rid,))
            return {"responses": 0}
        if len(attunement.flags) != len(flags):
            raise ValueError(f"attunement of {len(attunement.flags)} flags for {len(flags)} flags")
        rows = []
        for flag, item in zip(flags, attunement.flags):
            resp = item.response
            rows.append((int(flag.id), rid,  # type: ignore[arg-type]
                         resp.kind if resp is not None else "", item.response_reason,
                         resp.evidence if resp is not None else "",
                         resp.latency if resp is not None else None,
                         resp.turn_start if resp is not None else None,
                         resp.rule if resp is not None else "",
                         item.mirroring.verdict if item.mirroring is not None else None,
                         item.mirroring_reason))
        conn.executemany(
            "INSERT INTO flag_responses(flag_id, recording_id, kind, reason, evidence, latency, "
            "turn_start, rule, mirroring, mirroring_reason) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        if attunement.with_synchrony:
            conn.execute("UPDATE recordings SET chosen_therapist_speaker = ?, therapist_track = ? "
                         "WHERE id = ?", (attunement.therapist_speaker, attunement.therapist_track, rid))
            doc = attunement.synchrony_dict()
            conn.execute(
                "INSERT OR REPLACE INTO synchrony(recording_id, z, lag_s, leader, statistic, reason, "
                "document, settings, computed) VALUES (?,?,?,?,?,?,?,?,?)",
                (rid, doc["z"], doc["lag_s"], doc["leader"], doc["statistic"], doc["reason"] or "",
                 json.dumps(doc), to_json(attunement.settings_dict()), now()))
        return {"responses": len(rows)}


__all__ = ["AttunementStore", "AttunementSummary", "StoredResponse", "StoredSynchrony",
           "summary_dict", "summary_lines"]
