"""A project's recordings: the videos, their transcript and mood files, which face and
speaker are the client's, and where each video is now (found by content hash)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from cuewatch.consent.policy import require_analysis_consent
from cuewatch.consent.record import Consent, consent_from_dict, parse_consent, sidecar_path
from cuewatch.domain import Recording
from cuewatch.errors import ConsentError, ProjectError
from cuewatch.features.keys import content_sha256
from cuewatch.options import SPAN_SECONDS_RANGE, AnalysisSettings, FlagSettings
from cuewatch.project.sql import Manager, inserted_id, now, to_json

if TYPE_CHECKING:
    from cuewatch.media.video import VideoInfo

ConsentInput = Union[Consent, Mapping[str, Any], str, os.PathLike]


def content_hash(path: Path) -> str:
    """SHA-256 of a file's content: how a recording is recognised wherever it moves."""
    try:
        return content_sha256(Path(path))
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None


def as_consent(consent: ConsentInput) -> Consent:
    """A consent record from what a caller gives: a record, a dict, JSON text or a path."""
    if isinstance(consent, Consent):
        return consent
    if isinstance(consent, Mapping):
        return consent_from_dict(dict(consent), "given")
    return parse_consent(str(consent))


def _checked_mood_input(kind: str, path: Union[str, os.PathLike], duration: Optional[float]) -> Path:
    """A transcript or mood file that parses against the recording's duration, as an
    absolute path; a broken one is refused (one line, ``TranscriptError``) before
    anything is stored, not found out at analysis."""
    from cuewatch.words.transcript import load_mood_file, load_transcript

    fp = Path(path).expanduser().absolute()
    if not fp.is_file():
        raise ProjectError(f"{kind} file not found: {fp}")
    (load_transcript if kind == "transcript" else load_mood_file)(fp, duration=duration)
    return fp


class Recordings(Manager):
    """``project.recordings``: the recordings of a project (same thread as the project)."""

    def _recording(self, row: sqlite3.Row) -> Recording:
        return Recording(path=str(self.db._abs(row["path"])), sha256=row["sha256"],
                         duration=row["duration"], fps=row["fps"], width=row["width"],
                         height=row["height"], id=row["id"])

    def all(self) -> list[Recording]:
        return [self._recording(r) for r in self.db._query("SELECT * FROM recordings ORDER BY id")]

    def get(self, recording_id: int) -> Recording:
        return self._recording(self.row(recording_id))

    def row(self, recording_id: int) -> sqlite3.Row:
        rows = self.db._query("SELECT * FROM recordings WHERE id = ?", (int(recording_id),))
        if not rows:
            raise ProjectError(f"{self.db.path.name}: no recording {recording_id}")
        return rows[0]

    def find(self, ref: Union[int, str]) -> Recording:
        """A recording by id, file name, path or hash prefix (as a user types it)."""
        text = str(ref).strip()
        if text.isdigit():
            rows = self.db._query("SELECT * FROM recordings WHERE id = ?", (int(text),))
            if rows:
                return self._recording(rows[0])
        matches = []
        for rec in self.all():
            p = Path(rec.path)
            if text in (p.name, p.stem, str(p)) or \
                    Path(text).absolute() == p.absolute() or \
                    (len(text) >= 8 and rec.sha256.startswith(text.lower())):
                matches.append(rec)
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ProjectError(f"'{text}' matches {len(matches)} recordings; use its id: "
                               + ", ".join(f"{r.id}={Path(r.path).name}" for r in matches))
        raise ProjectError(f"{self.db.path.name}: no recording '{text}' "
                           "(see: cuewatch consent P show, or the recording ids)")

    def metadata(self, recording_id: int) -> dict[str, Any]:
        row = self.row(recording_id)
        meta = json.loads(row["metadata"])
        meta.update(size_bytes=row["size_bytes"], client_speaker=row["client_speaker"],
                    chosen_speaker=row["chosen_speaker"],
                    client_face=row["client_face"], client_track=row["client_track"],
                    therapist_speaker=row["therapist_speaker"],
                    therapist_face=row["therapist_face"],
                    added=row["added"], stored_path=row["path"])
        return meta

    def add(self, video: Union[str, os.PathLike], *,
            consent: Optional[ConsentInput] = None,
            transcript: Optional[Union[str, os.PathLike]] = None,
            mood: Optional[Union[str, os.PathLike]] = None,
            client_speaker: Optional[str] = None, client_face: str = "auto",
            therapist_speaker: Optional[str] = None, therapist_face: str = "auto",
            settings: AnalysisSettings = AnalysisSettings(),
            flag_settings: FlagSettings = FlagSettings(),
            info: Optional[VideoInfo] = None, queue: bool = True,
            actor: Optional[str] = None) -> Recording:
        """Register a consented video and queue its analysis, in one transaction.

        Consent: ``consent`` if given, else the ``VIDEO.consent.json`` sidecar; it must
        cover training or supervision. ``info`` (a ``VideoInfo``) skips probing.
        ``therapist_speaker`` / ``therapist_face``: who the therapist is, as
        ``--therapist-speaker`` / ``--therapist-face`` say it (default: the other person).
        """
        video = Path(video).expanduser().absolute()
        if not video.is_file():
            raise ProjectError(f"video not found: {video}")
        self.db._refuse_project_file(video, "video")
        if consent is None:
            side = sidecar_path(video)
            if not side.is_file():
                raise ConsentError(
                    f"{video.name}: no consent on record; put a consent file at {side} or pass "
                    "--consent (JSON with participants, scopes, obtained)")
            consent = side
        record = as_consent(consent)
        require_analysis_consent(record, video.name)
        if info is None:
            from cuewatch.media.video import probe_video  # OpenCV only when really probing
            info = probe_video(video)
        sha = content_hash(video)
        extra_files = []
        for kind, f in (("transcript", transcript), ("mood", mood)):
            if f is not None:
                self.db._refuse_project_file(Path(f).expanduser().absolute(), f"{kind} file")
                fp = _checked_mood_input(kind, f, float(info.duration) or None)
                extra_files.append((kind, fp, content_hash(fp)))
        meta = {"codec": getattr(info, "codec", ""), "rotation": getattr(info, "rotation", 0),
                "frame_count": getattr(info, "frame_count", 0), "absolute_path": str(video)}
        with self.db._write() as conn:
            dup = conn.execute("SELECT id, path FROM recordings WHERE sha256 = ?", (sha,)).fetchone()
            if dup:
                raise ProjectError(f"{video.name} is already in the project as recording "
                                   f"{dup['id']} ({dup['path']})")
            cur = conn.execute(
                "INSERT INTO recordings(path, sha256, size_bytes, duration, fps, width, height, "
                "metadata, client_speaker, client_face, therapist_speaker, therapist_face, added) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (self.db._store_path(video), sha, video.stat().st_size, float(info.duration),
                 float(info.fps), int(info.width), int(info.height), to_json(meta),
                 client_speaker, client_face or "auto", therapist_speaker,
                 therapist_face or "auto", now()))
            rid = inserted_id(cur)
            for kind, fp, fsha in extra_files:
                conn.execute("INSERT INTO transcripts(recording_id, kind, path, sha256, added) "
                             "VALUES (?,?,?,?,?)", (rid, kind, self.db._store_path(fp), fsha, now()))
            self.db.consents.insert_in(conn, rid, record, actor)
            self.db._log(conn, "add_recording", rid, {
                "path": self.db._store_path(video), "sha256": sha,
                "transcript": transcript is not None, "mood": mood is not None}, actor)
            if queue:
                self.db.analyses.queue_in(conn, rid, settings, flag_settings, actor)
        return self.get(rid)

    def transcripts(self, recording_id: int) -> dict[str, Path]:
        """The transcript and mood files given for a recording: kind -> path."""
        return {r["kind"]: self.db._abs(r["path"]) for r in self.db._query(
            "SELECT kind, path FROM transcripts WHERE recording_id = ?", (int(recording_id),))}

    def attach_transcript(self, recording_id: int, path: Union[str, os.PathLike], *,
                          kind: str = "transcript", actor: Optional[str] = None) -> int:
        """Attach (or replace) a recording's transcript or mood file; queues a new analysis.

        The file is parsed first, so a broken one is refused before anything is stored. The
        face features are cached, so the new analysis only recomputes stated mood and flags.
        Returns the queued analysis id.
        """
        if kind not in ("transcript", "mood"):
            raise ProjectError(f"attach a transcript or a mood file, not {kind!r}")
        rec = self.get(recording_id)
        self.db._refuse_project_file(Path(path).expanduser().absolute(), f"{kind} file")
        fp = _checked_mood_input(kind, path, rec.duration or None)
        latest = self.db.analyses.latest(recording_id)
        settings = latest.settings if latest is not None else AnalysisSettings()
        flag_settings = latest.flag_settings if latest is not None else FlagSettings()
        with self.db._write() as conn:
            old = conn.execute("SELECT path, sha256 FROM transcripts WHERE recording_id = ? AND "
                               "kind = ?", (int(recording_id), kind)).fetchone()
            conn.execute("DELETE FROM transcripts WHERE recording_id = ? AND kind = ?",
                         (int(recording_id), kind))
            sha = content_hash(fp)
            conn.execute("INSERT INTO transcripts(recording_id, kind, path, sha256, added) "
                         "VALUES (?,?,?,?,?)", (int(recording_id), kind, self.db._store_path(fp),
                                                sha, now()))
            self.db._log(conn, f"attach_{kind}", int(recording_id), {
                "path": self.db._store_path(fp), "sha256": sha,
                "replaced": {"path": old["path"], "sha256": old["sha256"]} if old else None}, actor)
            return self.db.analyses.queue_in(conn, int(recording_id), settings, flag_settings, actor)

    def set_client(self, recording_id: int, *, speaker: Optional[str] = None,
                   face: Optional[str] = None, track: Optional[int] = None,
                   actor: Optional[str] = None) -> None:
        """Which speaker and which face are the client's. ``speaker``/``face`` are what the
        next analysis is told; ``track`` sets the client's track now (then recompute flags
        and store them with ``project.flags.replace``)."""
        self.row(recording_id)
        with self.db._write() as conn:
            _set_given(conn, recording_id, {"client_track": None if track is None else int(track),
                                            "client_speaker": speaker, "client_face": face})
            self.db._log(conn, "set_client", recording_id,
                         {"speaker": speaker, "face": face, "track": track}, actor)

    def set_therapist(self, recording_id: int, *, speaker: Optional[str] = None,
                      face: Optional[str] = None, actor: Optional[str] = None) -> None:
        """Which speaker and which face are the therapist's, as the next analysis is told
        (``--therapist-speaker`` / ``--therapist-face``)."""
        self.row(recording_id)
        with self.db._write() as conn:
            _set_given(conn, recording_id, {"therapist_speaker": speaker, "therapist_face": face})
            self.db._log(conn, "set_therapist", recording_id, {"speaker": speaker, "face": face}, actor)

    def _neutral_track(self, recording_id: int, track: Optional[int]) -> int:
        """The face track a neutral span is about: ``track``, or the client's."""
        if track is not None:
            return int(track)
        client = self.client_track(recording_id)
        if client is None:
            raise ProjectError(f"recording {recording_id} has no client face yet: analyse it "
                               "first, or name the face track (--track ID)")
        return int(client)

    def set_neutral(self, recording_id: int, start: float, end: float, *,
                    track: Optional[int] = None, actor: Optional[str] = None) -> int:
        """Mark ``start``-``end`` (seconds) as where the person of ``track`` (default: the
        client) shows a neutral face; it replaces their automatic neutral in flags, the
        app's lanes and exports. Returns the track. Refused outside the recording."""
        row = self.row(recording_id)
        start, end = float(start), float(end)
        if not (SPAN_SECONDS_RANGE.contains(start) and SPAN_SECONDS_RANGE.contains(end)):
            raise ProjectError(f"a neutral span's ends must be {SPAN_SECONDS_RANGE.describe()} "
                               f"seconds, not {start:g}:{end:g}")
        if not end > start:
            raise ProjectError(f"a neutral span must end after it starts, not {start:g}:{end:g}")
        duration = row["duration"]
        if duration and start >= float(duration):
            raise ProjectError(f"the neutral span {start:g}:{end:g} starts after the recording "
                               f"ends ({float(duration):.1f} s)")
        tid = self._neutral_track(recording_id, track)
        with self.db._write() as conn:
            conn.execute("INSERT OR REPLACE INTO neutral_spans(recording_id, track_id, start, end, "
                         "marked_by, time) VALUES (?,?,?,?,?,?)",
                         (int(recording_id), tid, start, end, actor or self.db.actor, now()))
            self.db._log(conn, "set_neutral", int(recording_id),
                         {"track": tid, "start": start, "end": end}, actor)
        return tid

    def clear_neutral(self, recording_id: int, *, track: Optional[int] = None,
                      actor: Optional[str] = None) -> bool:
        """Forget the marked neutral of ``track`` (default: the client's); True if one was
        marked. The automatic neutral applies again."""
        self.row(recording_id)
        tid = self._neutral_track(recording_id, track)
        with self.db._write() as conn:
            n = conn.execute("DELETE FROM neutral_spans WHERE recording_id = ? AND track_id = ?",
                             (int(recording_id), tid)).rowcount
            if n:
                self.db._log(conn, "clear_neutral", int(recording_id), {"track": tid}, actor)
        return bool(n)

    def neutral_span(self, recording_id: int,
                     track: Optional[int] = None) -> Optional[tuple[float, float]]:
        """The marked neutral span of ``track`` (default: the client's), or None (then the
        neutral is found automatically)."""
        tid = track if track is not None else self.client_track(recording_id)
        if tid is None:
            return None
        rows = self.db._query("SELECT start, end FROM neutral_spans WHERE recording_id = ? "
                              "AND track_id = ?", (int(recording_id), int(tid)))
        return (float(rows[0]["start"]), float(rows[0]["end"])) if rows else None

    def neutral_spans(self, recording_id: int) -> dict[int, tuple[float, float]]:
        """Every marked neutral span of the recording, by face track."""
        return {int(r["track_id"]): (float(r["start"]), float(r["end"])) for r in self.db._query(
            "SELECT track_id, start, end FROM neutral_spans WHERE recording_id = ?",
            (int(recording_id),))}

    def locate(self, recording_id: int) -> Path:
        """The video file now, or a ProjectError that says how to find it again."""
        path, certain = self.locate_unverified(recording_id)
        if certain or content_hash(path) == self.row(recording_id)["sha256"]:
            return path
        raise self._not_located(recording_id)

    def locate_unverified(self, recording_id: int) -> tuple[Path, bool]:
        """Where the video is, without reading it (cheap enough for a UI thread): the path,
        and whether that is certain; an uncertain path (the file at the absolute path it was
        added from) needs its content hash checked, which ``locate`` does. ProjectError when
        no file is there at all."""
        row = self.row(recording_id)
        p = self.db._abs(row["path"])
        if p.is_file():
            return p, True
        hint = json.loads(row["metadata"]).get("absolute_path")
        if hint and Path(hint).is_file() and not self.db.is_ours(Path(hint)):
            return Path(hint), False
        raise self._not_located(recording_id)

    def _not_located(self, recording_id: int) -> ProjectError:
        row = self.row(recording_id)
        return ProjectError(f"recording {recording_id} ({Path(row['path']).name}) is not at "
                            f"{self.db._abs(row['path'])}; "
                            f"find it with: cuewatch project relocate {self.db.path} FOLDER")

    def missing(self) -> list[Recording]:
        out = []
        for rec in self.all():
            try:
                self.locate(int(rec.id))  # type: ignore[arg-type]
            except ProjectError:
                out.append(rec)
        return out

    def client_track(self, recording_id: int) -> Optional[int]:
        """The client's face track the last analysis chose (or was told)."""
        return self.row(recording_id)["client_track"]

    def client_speaker(self, recording_id: int) -> Optional[str]:
        """The client's speaker: as the last analysis chose it, else as the user gave it."""
        row = self.row(recording_id)
        return row["chosen_speaker"] or row["client_speaker"]

    def set_paths(self, found: Mapping[int, Path], *, actor: Optional[str] = None) -> None:
        """Store where moved recordings were found again (``cuewatch.project.relocation``)."""
        if not found:
            return
        with self.db._write() as conn:
            for rid, fp in found.items():
                row = conn.execute("SELECT metadata FROM recordings WHERE id = ?", (rid,)).fetchone()
                meta = json.loads(row["metadata"])
                meta["absolute_path"] = str(fp)
                conn.execute("UPDATE recordings SET path = ?, metadata = ? WHERE id = ?",
                             (self.db._store_path(fp), to_json(meta), rid))
                self.db._log(conn, "relocate", rid, {"path": self.db._store_path(fp)}, actor)


def _set_given(conn: sqlite3.Connection, recording_id: int, values: dict[str, Any]) -> None:
    """Set the recording's columns whose value is given (None: left as it is). The column
    names are this module's own, never the caller's."""
    for column, value in values.items():
        if value is not None:
            conn.execute(f"UPDATE recordings SET {column} = ? WHERE id = ?", (value, recording_id))
