"""A project's analyses: the job queue (queued -> running -> done | failed, run by
``cuewatch.project.queue``) and what a finished analysis stores (tracks, mood segments;
its flags go through ``project.flags``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

from cuewatch import __version__
from cuewatch.domain import Flag, Gap, MoodSegment, TrackSummary
from cuewatch.errors import ConsentError, ProjectError
from cuewatch.features.keys import features_key
from cuewatch.options import AnalysisSettings, FlagSettings
from cuewatch.project.sql import Manager, inserted_id, now, optional, to_json, where_clause

ANALYSIS_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")


class AnalysisResult(Protocol):
    """What ``finish`` stores of a finished analysis: the fields of
    ``cuewatch.recording.analyse.PipelineResult`` (the store never imports the pipeline)."""

    # read-only properties, so that a dataclass with narrower field types matches
    @property
    def features_dir(self) -> Optional[Path]: ...
    @property
    def tracks(self) -> Sequence[TrackSummary]: ...
    @property
    def segments(self) -> Sequence[MoodSegment]: ...
    @property
    def client_speaker(self) -> Optional[str]: ...
    @property
    def client_track(self) -> Optional[int]: ...
    @property
    def flags(self) -> Sequence[Flag]: ...
    @property
    def gaps(self) -> Sequence[Gap]: ...
    @property
    def warnings(self) -> Sequence[str]: ...

@dataclass
class Analysis:
    """One analysis of a recording and where it stands."""

    id: int
    recording_id: int
    state: str  # queued | running | done | failed
    settings: AnalysisSettings
    flag_settings: FlagSettings
    model_sha256: Optional[str]
    cuewatch_version: str
    cache_key: Optional[str]
    features_dir: Optional[Path]
    progress: float
    message: str
    error: Optional[str]
    worker: Optional[str]
    attempts: int
    warnings: list[str]
    queued: str
    started: Optional[str]
    finished: Optional[str]
    #: "running", but the process that ran it is gone (killed): the next run resumes it
    interrupted: bool = False

    @property
    def parameters(self) -> dict[str, Any]:
        return {"analysis": self.settings.to_dict(), "flags": self.flag_settings.to_dict()}


class Analyses(Manager):
    """``project.analyses``: the analysis queue and results (same thread as the project)."""

    def queue_in(self, conn: sqlite3.Connection, recording_id: int, settings: AnalysisSettings,
                 flag_settings: FlagSettings, actor: Optional[str]) -> int:
        params = to_json({"analysis": settings.to_dict(), "flags": flag_settings.to_dict()})
        same = conn.execute("SELECT id FROM analyses WHERE recording_id = ? AND parameters = ? "
                            "AND state IN ('queued', 'running')", (recording_id, params)).fetchone()
        if same:
            return int(same["id"])
        cur = conn.execute(
            "INSERT INTO analyses(recording_id, state, parameters, cuewatch_version, queued) "
            "VALUES (?, 'queued', ?, ?, ?)", (recording_id, params, __version__, now()))
        self.db._log(conn, "queue_analysis", recording_id, {"analysis_id": inserted_id(cur)}, actor)
        return inserted_id(cur)

    def queue(self, recording_id: int, *, settings: AnalysisSettings = AnalysisSettings(),
              flag_settings: FlagSettings = FlagSettings(),
              actor: Optional[str] = None) -> Analysis:
        """Queue an analysis; refused without consent covering training or supervision."""
        self.db.consents.require_analysis(recording_id)
        with self.db._write() as conn:
            aid = self.queue_in(conn, int(recording_id), settings, flag_settings, actor)
        return self.get(aid)

    def _analysis(self, r: sqlite3.Row) -> Analysis:
        params = json.loads(r["parameters"])
        fs = dict(params.get("flags", {}))
        return Analysis(
            id=r["id"], recording_id=r["recording_id"], state=r["state"],
            settings=AnalysisSettings.from_stored(params.get("analysis", {})),
            flag_settings=FlagSettings.from_stored(fs), model_sha256=r["model_sha256"],
            cuewatch_version=r["cuewatch_version"], cache_key=r["cache_key"],
            features_dir=self.db._data_path(r["features_dir"]) if r["features_dir"] else None,
            progress=r["progress"], message=r["message"], error=r["error"], worker=r["worker"],
            attempts=r["attempts"], warnings=json.loads(r["warnings"]), queued=r["queued"],
            started=r["started"], finished=r["finished"],
            interrupted=r["state"] == "running" and _worker_gone(r["worker"]))

    def get(self, analysis_id: int) -> Analysis:
        rows = self.db._query("SELECT * FROM analyses WHERE id = ?", (int(analysis_id),))
        if not rows:
            raise ProjectError(f"{self.db.path.name}: no analysis {analysis_id}")
        return self._analysis(rows[0])

    def all(self, recording_id: Optional[int] = None,
            state: Optional[str] = None) -> list[Analysis]:
        where, params = where_clause(("recording_id = ?", optional(int, recording_id)), ("state = ?", state))
        return [self._analysis(r) for r in self.db._query(
            f"SELECT * FROM analyses WHERE 1=1{where} ORDER BY id", params)]

    @property
    def features_cache(self) -> Path:
        """The project's features cache: ``<cache key>/`` per (content, model, settings)."""
        return self.db.data_dir / "features"

    def requeue_interrupted(self, *, actor: Optional[str] = None) -> list[int]:
        """Put back in the queue analyses whose process died (see ``_worker_gone``)."""
        back = []
        with self.db._write() as conn:
            for r in conn.execute("SELECT id, recording_id, worker FROM analyses "
                                  "WHERE state = 'running'").fetchall():
                if not _worker_gone(r["worker"]):
                    continue
                conn.execute("UPDATE analyses SET state = 'queued', worker = NULL, "
                             "message = 'interrupted; queued again' WHERE id = ?", (r["id"],))
                self.db._log(conn, "requeue_analysis", r["recording_id"],
                             {"analysis_id": r["id"], "was": r["worker"]}, actor)
                back.append(int(r["id"]))
        return back

    def requeue_running(self, analysis_ids: Sequence[int], *, actor: Optional[str] = None) -> None:
        """Put back in the queue analyses this process stops running (cancel)."""
        with self.db._write() as conn:
            for aid in analysis_ids:
                n = conn.execute("UPDATE analyses SET state = 'queued', worker = NULL, "
                                 "message = 'cancelled; queued again' WHERE id = ? "
                                 "AND state = 'running'", (int(aid),)).rowcount
                if n:
                    rid = conn.execute("SELECT recording_id FROM analyses WHERE id = ?",
                                       (int(aid),)).fetchone()[0]
                    self.db._log(conn, "requeue_analysis", rid, {"analysis_id": int(aid),
                                                                 "why": "cancelled"}, actor)

    def requeue_failed(self, *, actor: Optional[str] = None) -> list[int]:
        with self.db._write() as conn:
            rows = conn.execute("SELECT id, recording_id FROM analyses WHERE state = 'failed'").fetchall()
            for r in rows:
                conn.execute("UPDATE analyses SET state = 'queued', error = NULL, progress = 0 "
                             "WHERE id = ?", (r["id"],))
                self.db._log(conn, "requeue_analysis", r["recording_id"], {"analysis_id": r["id"]}, actor)
        return [int(r["id"]) for r in rows]

    def claim(self, model_sha256: str, *, actor: Optional[str] = None) -> Optional[Analysis]:
        """Take the oldest queued analysis whose consent still allows it; mark it running.

        Analyses whose consent no longer allows analysis fail with the consent message.
        """
        worker = f"{socket.gethostname()}:{os.getpid()}"
        while True:
            with self.db._write() as conn:
                r = conn.execute("SELECT * FROM analyses WHERE state = 'queued' "
                                 "ORDER BY id LIMIT 1").fetchone()
                if r is None:
                    return None
                rid = r["recording_id"]
                try:
                    self.db.consents.require_analysis(rid)
                except ConsentError as exc:
                    conn.execute("UPDATE analyses SET state = 'failed', error = ?, finished = ? "
                                 "WHERE id = ?", (str(exc), now(), r["id"]))
                    self.db._log(conn, "analysis_refused", rid, {"analysis_id": r["id"],
                                                                 "reason": str(exc)}, actor)
                    continue
                params = json.loads(r["parameters"])
                key = features_key(
                    conn.execute("SELECT sha256 FROM recordings WHERE id = ?", (rid,)).fetchone()[0],
                    model_sha256, AnalysisSettings.from_stored(params.get("analysis", {})))
                fdir = self.features_cache / key
                conn.execute(
                    "UPDATE analyses SET state = 'running', worker = ?, started = ?, "
                    "attempts = attempts + 1, model_sha256 = ?, cache_key = ?, features_dir = ?, "
                    "message = 'started', error = NULL WHERE id = ?",
                    (worker, now(), model_sha256, key, self.db._store_data_path(fdir), r["id"]))
                self.db._log(conn, "start_analysis", rid, {"analysis_id": r["id"],
                                                           "attempt": r["attempts"] + 1}, actor)
            return self.get(int(r["id"]))

    def set_progress(self, analysis_id: int, fraction: float, message: str = "") -> None:
        """Progress of a running analysis (not audited: callers throttle it)."""
        with self.db._write() as conn:
            conn.execute("UPDATE analyses SET progress = ?, message = ? WHERE id = ? "
                         "AND state = 'running'", (float(fraction), message[:200], int(analysis_id)))

    def finish(self, analysis_id: int, result: AnalysisResult, *,
               actor: Optional[str] = None) -> Analysis:
        """Store a ``PipelineResult``: tracks, mood segments, client and therapist, flags, gaps,
        and the attunement (responses, mirroring, synchrony) when it has one.

        Refused, with its features deleted, if consent was revoked meanwhile (checked
        under the write lock, so a revoke cannot slip in between).
        """
        try:
            with self.db._write() as conn:
                row = conn.execute("SELECT recording_id, features_dir FROM analyses WHERE id = ?",
                                   (int(analysis_id),)).fetchone()
                if row is None:
                    raise ConsentError(f"analysis {analysis_id} was withdrawn while it ran "
                                       "(consent revoked?); its results are discarded")
                rid = int(row["recording_id"])
                self.db.consents.require_analysis(rid)
                self._store_result(conn, int(analysis_id), rid, row["features_dir"], result, actor)
        except ConsentError:
            given = getattr(result, "features_dir", None)
            fdir = Path(given) if given else None
            if fdir is not None and fdir.is_dir() and self.features_cache in fdir.parents:
                shutil.rmtree(fdir, ignore_errors=True)
            raise
        return self.get(analysis_id)

    def _store_result(self, conn: sqlite3.Connection, analysis_id: int, rid: int,
                      stored_features: Optional[str], result: AnalysisResult, actor: Optional[str]) -> None:
        """The rows of a finished analysis, inside the caller's transaction."""
        conn.execute("DELETE FROM tracks WHERE recording_id = ?", (rid,))
        conn.executemany(
            "INSERT INTO tracks(recording_id, track_id, start, end, n_frames, coverage, "
            "mean_bbox) VALUES (?,?,?,?,?,?,?)",
            [(rid, t.track_id, t.start, t.end, t.n_frames, t.coverage,
              to_json([float(v) for v in t.mean_bbox])) for t in result.tracks])
        self._replace_segments(conn, rid, result.segments)
        conn.execute("UPDATE recordings SET client_track = ?, chosen_speaker = ?, "
                     "chosen_therapist_speaker = ?, therapist_track = ? WHERE id = ?",
                     (result.client_track, getattr(result, "client_speaker", None),
                      getattr(result, "therapist_speaker", None),
                      getattr(result, "therapist_track", None), rid))
        fdir = (self.db._store_data_path(Path(result.features_dir)) if result.features_dir
                else stored_features)
        stats = self.db.flags.replace_in(conn, rid, result.flags, result.gaps,
                                         getattr(result, "attunement", None))
        conn.execute(
            "UPDATE analyses SET state = 'done', progress = 1, message = 'done', "
            "finished = ?, features_dir = ?, warnings = ?, worker = NULL WHERE id = ?",
            (now(), fdir, to_json(list(result.warnings)), analysis_id))
        self.db._log(conn, "finish_analysis", rid, {"analysis_id": analysis_id, **stats,
                                                    "client_track": result.client_track,
                                                    "therapist_track": getattr(result, "therapist_track", None)},
                         actor)

    def fail(self, analysis_id: int, error: str, *, actor: Optional[str] = None) -> None:
        """Mark an analysis failed (if revoking consent removed it meanwhile, only log)."""
        with self.db._write() as conn:
            row = conn.execute("SELECT recording_id FROM analyses WHERE id = ?",
                               (int(analysis_id),)).fetchone()
            conn.execute("UPDATE analyses SET state = 'failed', error = ?, finished = ?, "
                         "worker = NULL WHERE id = ?", (error[:1000], now(), int(analysis_id)))
            self.db._log(conn, "fail_analysis", row[0] if row else None,
                         {"analysis_id": int(analysis_id), "error": error[:300]}, actor)

    def features_dir(self, recording_id: int) -> Optional[Path]:
        """Features of the latest finished analysis, or None."""
        rows = self.db._query("SELECT features_dir FROM analyses WHERE recording_id = ? AND "
                              "state = 'done' AND features_dir IS NOT NULL ORDER BY finished DESC, "
                              "id DESC LIMIT 1", (int(recording_id),))
        return self.db._data_path(rows[0]["features_dir"]) if rows else None

    def latest(self, recording_id: int) -> Optional[Analysis]:
        rows = self.db._query("SELECT * FROM analyses WHERE recording_id = ? AND state = 'done' "
                              "ORDER BY finished DESC, id DESC LIMIT 1", (int(recording_id),))
        return self._analysis(rows[0]) if rows else None

    def tracks(self, recording_id: int) -> list[TrackSummary]:
        return [TrackSummary(track_id=r["track_id"], start=r["start"], end=r["end"],
                      n_frames=r["n_frames"], coverage=r["coverage"],
                      mean_bbox=tuple(json.loads(r["mean_bbox"])))  # type: ignore[arg-type]
                for r in self.db._query("SELECT * FROM tracks WHERE recording_id = ? "
                                        "ORDER BY track_id", (int(recording_id),))]

    def _replace_segments(self, conn: sqlite3.Connection, rid: int,
                          segments: Sequence[MoodSegment]) -> None:
        conn.execute("DELETE FROM mood_segments WHERE recording_id = ?", (rid,))
        conn.executemany(
            "INSERT INTO mood_segments(recording_id, start, end, speaker, text, valence, "
            "category, certainty, line) VALUES (?,?,?,?,?,?,?,?,?)",
            [(rid, s.start, s.end, s.speaker, s.text, s.valence, s.category, s.certainty, s.line)
             for s in segments])

    def set_mood_segments(self, recording_id: int, segments: Sequence[MoodSegment], *,
                          actor: Optional[str] = None) -> None:
        self.db.recordings.row(recording_id)
        with self.db._write() as conn:
            self._replace_segments(conn, int(recording_id), segments)
            self.db._log(conn, "set_mood_segments", int(recording_id), {"n": len(segments)}, actor)

    def mood_segments(self, recording_id: int, speaker: Optional[str] = None) -> list[MoodSegment]:
        where, params = where_clause(("recording_id = ?", int(recording_id)), ("speaker = ?", speaker))
        sql = f"SELECT * FROM mood_segments WHERE 1=1{where}"
        return [MoodSegment(start=r["start"], end=r["end"], speaker=r["speaker"], text=r["text"],
                            valence=r["valence"], category=r["category"],
                            certainty=r["certainty"], line=r["line"])
                for r in self.db._query(sql + " ORDER BY start, id", params)]

    # -- flags and gaps


def _worker_gone(worker: Optional[str]) -> bool:
    """Whether the process that claimed an analysis (``host:pid``) is gone: it is, unless
    it runs on this host and its pid is alive (another host's run cannot be checked; it
    is resumed here, as before)."""
    host, _, pid = (worker or "").rpartition(":")
    return not (host == socket.gethostname() and pid.isdigit() and _pid_alive(int(pid)))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
