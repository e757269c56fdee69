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

The queries are read-only and plain (frozen dataclasses); writes happen only inside the
flags' own transaction (``store_in``, called by ``project.flags.replace_in``).
Same thread as the project.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

from cuewatch.domain import Flag
from cuewatch.formats import MISSED_RESPONSE_KINDS, NAMED_OR_EXPLORED_KINDS
from cuewatch.project.sql import Manager, now, to_json
from cuewatch.words.response import RESPONSE_KINDS

if TYPE_CHECKING:
    from cuewatch.attunement.session import Attunement


@dataclass(frozen=True)
class StoredResponse:
    """One flagged moment's trainee response (raised flags only)."""

    flag_id: int                 # the store's flag id (project.flags)
    kind: str                    # one of RESPONSE_KINDS, or "" if none could be read
    reason: str                  # why kind is "" (e.g. NO_SPEAKER_LABELS), else ""
    evidence: str                # the therapist's words that decided it ("" for none)
    latency_s: Optional[float]   # flag end -> deciding turn start
    turn_start: Optional[float]  # the deciding therapist turn's start (the app jumps there)
    mirroring: Optional[str]     # synchrony.flag_mirroring verdict, or None
    mirroring_reason: str        # e.g. formats.THERAPIST_NOT_ON_CAMERA, else ""
    missed: bool                 # kind in formats.MISSED_RESPONSE_KINDS
    rule: str = ""               # the response rule that decided the kind (explainability)


@dataclass(frozen=True)
class StoredSynchrony:
    """One recording's session synchrony."""

    z: Optional[float]
    lag_s: Optional[float]       # positive: the therapist follows
    leader: Optional[str]
    statistic: Optional[float]
    over_time: tuple[tuple[float, float], ...]   # (t seconds, r); r may be nan
    reason: str                  # why z is None (e.g. THERAPIST_NOT_ON_CAMERA), else ""


@dataclass(frozen=True)
class AttunementSummary:
    """What ``cuewatch review P --attunement`` prints and the app's panel shows."""

    recording_id: int
    moments: int                 # raised flags
    by_kind: dict[str, int]      # kind -> count (every kind present, 0 if none)
    #: (named + explored) / moments whose kind could be read; None when none could
    share_named_or_explored: Optional[float]
    median_latency_s: Optional[float]
    synchrony_z: Optional[float]
    synchrony_reason: str
    missed: tuple[int, ...]      # flag ids of missed moments, in time order
    therapist_speaker: Optional[str]
    therapist_track: Optional[int]


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
        """The session summary over the raised flags (see ``AttunementSummary``)."""
        rid = int(recording_id)
        flags = self.db.flags.all(rid)
        responses = self.responses(rid)
        by_kind = {k: 0 for k in RESPONSE_KINDS}
        latencies: list[float] = []
        missed: list[int] = []
        for f in flags:
            r = responses.get(int(f.id)) if f.id is not None else None
            if r is None or not r.kind:
                continue
            by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
            if r.latency_s is not None:
                latencies.append(r.latency_s)
            if r.missed:
                missed.append(r.flag_id)
        read = sum(by_kind.values())
        share = sum(by_kind.get(k, 0) for k in NAMED_OR_EXPLORED_KINDS) / read if read else None
        sync = self.synchrony(rid)
        speaker, track = self.therapist(rid)
        return AttunementSummary(
            recording_id=rid, moments=len(flags), by_kind=by_kind, share_named_or_explored=share,
            median_latency_s=statistics.median(latencies) if latencies else None,
            synchrony_z=sync.z if sync is not None else None,
            synchrony_reason=sync.reason if sync is not None else "",
            missed=tuple(missed), therapist_speaker=speaker, therapist_track=track)

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


# ---------------------------------------------------------------- the summary in words

#: how the summary names each response kind (the CLI, the HTML report).
KIND_LABELS: dict[str, str] = {"named": "named", "explored": "explored", "validated": "validated",
                               "moved_on": "moved on", "none": "none"}


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, float(seconds)), 60.0)
    return f"{int(m)}:{s:04.1f}"


def summary_lines(summary: AttunementSummary, flags: Sequence[Flag],
                  responses: dict[int, StoredResponse]) -> list[str]:
    """The session summary as ``cuewatch review P --attunement`` prints it and the HTML
    report shows it: moments flagged, by kind, share named or explored, median latency,
    synchrony z (or why none), the missed moments with their times."""
    s = summary
    by_id = {int(f.id): f for f in flags if f.id is not None}
    lines = [f"moments flagged: {s.moments}"]
    if s.moments:
        lines.append("responses: " + ", ".join(f"{KIND_LABELS.get(k, k)} {n}"
                                              for k, n in s.by_kind.items()))
        unread = s.moments - sum(s.by_kind.values())
        if unread:
            reasons = sorted({r.reason for r in responses.values() if not r.kind and r.reason})
            lines.append(f"no response kind for {unread} moment(s)"
                         + (f": {'; '.join(reasons)}" if reasons else ""))
    share = "-" if s.share_named_or_explored is None else f"{100 * s.share_named_or_explored:.0f}%"
    lines.append(f"named or explored: {share}")
    lines.append("median latency: " + ("-" if s.median_latency_s is None
                                       else f"{s.median_latency_s:.1f} s"))
    if s.synchrony_z is not None:
        lines.append(f"synchrony z: {s.synchrony_z:+.2f}")
    else:
        lines.append(f"synchrony z: none ({s.synchrony_reason or 'not computed'})")
    therapist = s.therapist_speaker or "every speaker but the client"
    camera = f"face track {s.therapist_track}" if s.therapist_track is not None else "not on camera"
    lines.append(f"therapist: {therapist}, {camera}")
    lines.append(f"missed moments: {len(s.missed)}")
    for fid in s.missed:
        f, r = by_id.get(fid), responses.get(fid)
        if f is None or r is None:
            continue
        said = f" ({r.evidence!r})" if r.evidence else ""
        lines.append(f"  flag {fid} at {_clock(f.start)}-{_clock(f.end)}: "
                     f"{KIND_LABELS.get(r.kind, r.kind)}{said}")
    return lines


def summary_dict(summary: AttunementSummary) -> dict[str, Any]:
    """The summary as plain JSON data (``cuewatch review --attunement --json``, the JSON export)."""
    return dict(summary.__dict__, missed=list(summary.missed))
