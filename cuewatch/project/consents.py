"""A project's consent records: the one in force per recording, its history, the checks
every analysis and export goes through, and revocation's rows (its files:
``cuewatch.project.revocation``)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cuewatch.consent.policy import (
    ConsentStatus,
    consent_state,
    require_analysis_consent,
    require_export_consent,
)
from cuewatch.consent.record import Consent, consent_from_dict, require_obtained
from cuewatch.project.recordings import ConsentInput, as_consent
from cuewatch.project.sql import Manager, now, to_json


@dataclass
class RevokeReport:
    """What revoking consent deleted, for the user and the audit log."""

    recording_id: int
    features_dirs: list[str] = field(default_factory=list)
    #: stored feature folders outside this project's data folder: not deleted (not ours)
    features_outside: list[str] = field(default_factory=list)
    exported_files: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)
    #: folders of exports that were killed before they finished (not deleted: check by hand)
    interrupted_exports: list[str] = field(default_factory=list)
    flags: int = 0
    reviews: int = 0
    gaps: int = 0
    mood_segments: int = 0
    tracks: int = 0
    annotations: int = 0
    analyses: int = 0
    neutral_spans: int = 0
    #: the attunement: the trainee's responses (with their flags) and the session synchrony
    flag_responses: int = 0
    synchrony: int = 0

    def lines(self) -> list[str]:
        out = [f"deleted {self.flags} flags, {self.reviews} reviews, {self.annotations} "
               f"annotations, {self.mood_segments} mood segments, {self.gaps} gaps, "
               f"{self.tracks} tracks, {self.analyses} analyses, {self.neutral_spans} neutral spans, "
               f"{self.flag_responses} responses, {self.synchrony} synchrony"]
        out += [f"deleted features {p}" for p in self.features_dirs]
        out += [f"not deleted (outside this project's data folder): {p}"
                for p in self.features_outside]
        out += [f"deleted exported file {p}" for p in self.exported_files]
        out += [f"already gone: {p}" for p in self.missing_files]
        out += [f"an export into {p} was interrupted; files there may hold this recording: "
                "check that folder by hand" for p in self.interrupted_exports]
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


#: the file work of a revocation: (report, stored feature folders, exported files) -> None,
#: filling the report's file lists; run under the revocation's write lock.
DeleteFiles = Callable[[RevokeReport, list[Path], list[Path]], None]


class Consents(Manager):
    """``project.consents``: consent per recording (same thread as the project)."""


    def insert_in(self, conn: sqlite3.Connection, recording_id: int, record: Consent,
                  actor: Optional[str]) -> None:
        require_obtained(record, f"recording {recording_id}")
        conn.execute("UPDATE consents SET status = 'superseded' "
                     "WHERE recording_id = ? AND status = 'active'", (recording_id,))
        conn.execute(
            "INSERT INTO consents(recording_id, document, scopes, obtained, expires, recorded_by, "
            "source, status, entered, entered_by) VALUES (?,?,?,?,?,?,?, 'active', ?, ?)",
            (recording_id, to_json(record.to_dict()), to_json(list(record.scopes)),
             record.obtained.isoformat(), record.expires.isoformat() if record.expires else None,
             record.recorded_by, record.source, now(), actor or self.db.actor))
        self.db._log(conn, "set_consent", recording_id, {
            "scopes": list(record.scopes), "obtained": record.obtained.isoformat(),
            "expires": record.expires.isoformat() if record.expires else None,
            "recorded_by": record.recorded_by, "source": record.source}, actor)

    def set(self, recording_id: int, consent: ConsentInput, *,
            actor: Optional[str] = None) -> Consent:
        """Record (or replace) the consent for a recording; the old one is kept as history."""
        record = as_consent(consent)
        self.db.recordings.row(recording_id)
        with self.db._write() as conn:
            self.insert_in(conn, int(recording_id), record, actor)
        return record

    def get(self, recording_id: int) -> Optional[Consent]:
        """The consent in force (possibly expired), or None (never given, or revoked)."""
        rows = self.db._query("SELECT document, source FROM consents "
                              "WHERE recording_id = ? AND status = 'active'", (int(recording_id),))
        if not rows:
            return None
        return consent_from_dict(json.loads(rows[0]["document"]), rows[0]["source"] or "project")

    def status(self, recording_id: int, today: Optional[_dt.date] = None) -> ConsentStatus:
        self.db.recordings.row(recording_id)
        revoked = self.db._query("SELECT revoked, revoked_by FROM consents WHERE recording_id = ? "
                                 "AND status = 'revoked' ORDER BY id DESC LIMIT 1", (int(recording_id),))
        return consent_state(int(recording_id), self.get(recording_id),
                             revoked[0]["revoked"] if revoked else None, today)

    def history(self, recording_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db._query(
            "SELECT id, status, scopes, obtained, expires, recorded_by, source, entered, "
            "entered_by, revoked, revoked_by FROM consents WHERE recording_id = ? ORDER BY id",
            (int(recording_id),))]

    def require_analysis(self, recording_id: int, today: Optional[_dt.date] = None) -> Consent:
        rec = self.db.recordings.row(recording_id)
        return require_analysis_consent(self.get(recording_id), Path(rec["path"]).name, today)

    def require_export(self, recording_id: int, purpose: Optional[str],
                       today: Optional[_dt.date] = None) -> Consent:
        rec = self.db.recordings.row(recording_id)
        return require_export_consent(self.get(recording_id), purpose,
                                      Path(rec["path"]).name, today)

    def revoke(self, recording_id: int, delete_files: DeleteFiles, *,
               actor: Optional[str] = None) -> RevokeReport:
        """Withdraw consent and delete the rows derived from the recording; ``delete_files``
        deletes its files first (``cuewatch.project.revocation.revoke_consent``).

        Files go first, then the rows, under one write lock: a crash in between leaves
        consent in force, so running revoke again finishes the job.
        """
        rid = int(recording_id)
        self.db.recordings.row(rid)
        report = RevokeReport(recording_id=rid)
        with self.db._write() as conn:
            dirs = {r["features_dir"] for r in conn.execute(
                "SELECT features_dir FROM analyses WHERE recording_id = ? AND features_dir IS NOT NULL",
                (rid,))}
            report.interrupted_exports = sorted({r[0] for r in conn.execute(
                "SELECT path FROM exported_files WHERE recording_id = ? AND deleted IS NULL "
                "AND pending = 1", (rid,))})
            exports = conn.execute("SELECT id, path FROM exported_files WHERE recording_id = ? "
                                   "AND deleted IS NULL AND pending = 0", (rid,)).fetchall()
            delete_files(report, [self.db._data_path(stored) for stored in sorted(dirs)],
                         [Path(r["path"]) for r in exports])
            when = now()
            conn.execute("UPDATE exported_files SET deleted = ? WHERE recording_id = ? "
                         "AND deleted IS NULL", (when, rid))
            report.reviews = conn.execute(
                "SELECT count(*) FROM reviews WHERE flag_id IN "
                "(SELECT id FROM flags WHERE recording_id = ?)", (rid,)).fetchone()[0]
            for table in ("flag_responses", "synchrony", "flags", "gaps", "mood_segments", "tracks",
                          "annotations", "analyses", "neutral_spans"):
                n = conn.execute(f"DELETE FROM {table} WHERE recording_id = ?", (rid,)).rowcount
                setattr(report, table, n)
            conn.execute("UPDATE recordings SET client_track = NULL, chosen_speaker = NULL, "
                         "chosen_therapist_speaker = NULL, therapist_track = NULL WHERE id = ?", (rid,))
            conn.execute("UPDATE consents SET status = 'revoked', revoked = ?, revoked_by = ? "
                         "WHERE recording_id = ? AND status = 'active'",
                         (when, actor or self.db.actor, rid))
            detail = report.to_dict()
            detail.pop("recording_id")
            self.db._log(conn, "revoke_consent", rid, detail, actor)
        return report
