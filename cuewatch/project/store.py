"""A review project: one SQLite file (``*.cuewatch``) that survives crashes.

Everything a supervisor, trainee or researcher does to a set of recordings lives here:
recordings (found again by content hash when moved), consent, analyses and their state,
mood segments, flags, reviewers' verdicts with their history, manual annotations and an
append-only audit log. Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``)
that also appends its audit entry, so a killed process leaves the file with everything
committed before it. A file from a newer cuewatch, a corrupt file or a file that is not a
project is refused after a read-only look, and left untouched.

Threads: a ``Project`` (one SQLite connection) is used from the thread that opened it.
The app opens one ``Project`` per worker thread; several processes may open one file at
once (WAL): a writer waits up to ``timeout`` seconds for another, then gets "busy".

Derived files (features) live in the project's data folder, ``<project file name>-data/``
beside the project file (``course.cuewatch`` -> ``course.cuewatch-data/``). Paths into it are
stored relative to the data folder (``features/<key>``), so a project copied, moved or
renamed together with its data folder keeps its features. Which folder is the data
folder (``Project.data_dir``), in order:

1. ``<project file name>-data`` beside the project file, if it exists;
2. else the folder this project's data folder was called before (its name is recorded in
   ``meta.data_folder`` at creation; older projects name it in their stored feature
   paths), beside the project file, if it exists and no project file of that name sits
   beside it: a project renamed without its folder finds it, while a copy left next to
   its original never takes the original's data;
3. else ``<project file name>-data`` (created when an analysis needs it).

Feature paths stored by older cuewatch versions (relative to the project folder, or
absolute, through some ``*-data`` folder) are read as paths inside the current data
folder. Revoking consent deletes nothing outside the current data folder.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import getpass
import json
import os
import shutil
import socket
import sqlite3
import urllib.parse
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence, Union

from cuewatch import __version__
from cuewatch.consent.record import (
    Consent, consent_from_dict, parse_consent, require_obtained, sidecar_path,
)
from cuewatch.consent.policy import (
    require_analysis_consent, require_export_consent, consent_state, ConsentStatus,
)
from cuewatch.domain import VERDICTS, Annotation, Flag, Gap, MoodSegment, Recording, Review, Track
from cuewatch.errors import ConsentError, ProjectError, ReadOnlyProjectWarning
from cuewatch.features.keys import content_sha256
from cuewatch.features.keys import features_key
from cuewatch.flags.matching import Moment, StoredMoment, match_flags
from cuewatch.options import AnalysisSettings, FlagSettings, stored_settings
from cuewatch.project.schema import (
    APPLICATION_ID, MIGRATIONS, REQUIRED_TABLES, SCHEMA_VERSION, Migration,
)

PROJECT_SUFFIX = ".cuewatch"
DATA_SUFFIX = "-data"
#: ``meta`` key: the data folder's name when the project was created (found again after a rename).
META_DATA_FOLDER = "data_folder"
#: files SQLite keeps beside a project while it is open (or after a crash).
SQLITE_SIDECARS: tuple[str, ...] = ("-wal", "-shm", "-journal")
#: seconds a writer waits for another process before "project is busy".
DEFAULT_TIMEOUT_S = 10.0
ANALYSIS_STATES: tuple[str, ...] = ("queued", "running", "done", "failed")

ConsentInput = Union[Consent, Mapping[str, Any], str, os.PathLike]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on this system (containers)
        return "unknown"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def content_hash(path: Path) -> str:
    """SHA-256 of a file's content: how a recording is recognised wherever it moves."""
    try:
        return content_sha256(Path(path))
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None


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


@dataclass
class HistoryEntry:
    """A verdict as it was given; ``status`` says whether it still stands."""

    review: Review
    status: str  # current | superseded | undone


@dataclass
class AuditEntry:
    id: int
    time: str
    actor: str
    action: str
    recording_id: Optional[int]
    detail: dict[str, Any]


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

    def lines(self) -> list[str]:
        out = [f"deleted {self.flags} flags, {self.reviews} reviews, {self.annotations} "
               f"annotations, {self.mood_segments} mood segments, {self.gaps} gaps, "
               f"{self.tracks} tracks, {self.analyses} analyses"]
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


# ---------------------------------------------------------------- opening and checking

def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _busy(path: Path) -> ProjectError:
    return ProjectError(f"project {path} is busy: another cuewatch is writing to it; try again")


def _ro_uri(path: Path, immutable: bool) -> str:
    return ("file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
            + ("&immutable=1" if immutable else ""))


def _sidecars_exist(path: Path) -> bool:
    return any(Path(str(path) + s).exists() for s in SQLITE_SIDECARS)


def is_project_file(path: Path) -> bool:
    """Whether ``path`` is named as a project file or one of its SQLite side files: files
    never to read but through SQLite (``Project`` also knows its own file by identity).

    Opening and closing such a file with plain ``open()`` drops every POSIX lock this
    process holds on it, locks SQLite's open connections rely on; another process could
    then checkpoint and delete the WAL under them, and their later writes would be lost.
    """
    name = Path(path).name.lower()
    return any(name.endswith(PROJECT_SUFFIX + s) for s in ("",) + SQLITE_SIDECARS)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # stat only: no descriptor is opened
    except OSError:
        return False


def inspect_project_file(path: Path) -> int:
    """Look at ``path`` read-only; return its schema version or refuse it.

    The file is read through SQLite only, never with ``open()``: this process may hold it
    open (the app's window while its worker opens the project again), and closing any
    other descriptor of it would drop the locks those connections rely on. Nothing is
    written: a file we refuse is left exactly as it was. When no process has the file
    open (no -wal/-shm beside it) it is read as immutable, so that not even those side
    files appear next to a file we refuse; that is safe because a writer of a WAL project
    must first create its -wal, and writes go there, not into the file we read. If side
    files appear during the look, it is done again as a plain read-only reader.
    """
    if not path.exists():
        raise ProjectError(f"no project at {path} (create one with: cuewatch project new {path})")
    if not path.is_file():
        raise ProjectError(f"{path} is not a project file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        raise ProjectError(f"{path} is empty, not a cuewatch project")
    if not os.access(path, os.R_OK):
        raise ProjectError(f"cannot read {path}: permission denied")
    immutable = not _sidecars_exist(path)
    try:
        version = _inspect(path, immutable)
    except ProjectError:
        if immutable and _sidecars_exist(path):  # another process opened it meanwhile
            return _inspect(path, False)
        raise
    if immutable and _sidecars_exist(path):
        return _inspect(path, False)
    return version


def _inspect(path: Path, immutable: bool) -> int:
    try:
        conn = sqlite3.connect(_ro_uri(path, immutable), uri=True, timeout=DEFAULT_TIMEOUT_S)
    except sqlite3.Error as exc:
        raise ProjectError(f"cannot open {path}: {exc}") from None
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "meta" not in tables:
            raise ProjectError(f"{path} is an SQLite file but not a cuewatch project")
        app = conn.execute("SELECT value FROM meta WHERE key = 'application'").fetchone()
        if not app or app[0] != APPLICATION_ID:
            raise ProjectError(f"{path} is an SQLite file but not a cuewatch project")
        if version > SCHEMA_VERSION:
            writer = conn.execute("SELECT value FROM meta WHERE key = 'last_written_by'").fetchone()
            by = f" (written by cuewatch {writer[0]})" if writer else ""
            raise ProjectError(
                f"{path} is from a newer cuewatch{by}: project schema {version}, this cuewatch "
                f"{__version__} reads up to {SCHEMA_VERSION}; update cuewatch to open it")
        check = conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise ProjectError(f"{path} is corrupt ({check}); restore it from a backup")
        return int(version)
    except sqlite3.OperationalError as exc:
        if _is_busy(exc):
            raise _busy(path) from None
        raise ProjectError(f"{path} is corrupt or not a cuewatch project ({exc})") from None
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB":
            raise ProjectError(f"{path} is not a cuewatch project") from None
        raise ProjectError(f"{path} is corrupt or not a cuewatch project ({exc})") from None
    finally:
        conn.close()


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        conn.close()
        raise ProjectError(f"{path}: cannot switch the project to WAL mode (got {mode}); "
                           "is it on a network drive?")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def read_only_reason(path: Path) -> Optional[str]:
    """Why this process cannot write the project at ``path`` (None: it can).

    SQLite needs to write the file and, unless they are there already, to create its
    -wal and -shm side files in the folder.
    """
    if not os.access(path, os.W_OK):
        return "no write permission on the file"
    sidecars_writable = all(os.access(str(path) + s, os.W_OK) for s in ("-wal", "-shm"))
    if not sidecars_writable and not os.access(path.parent, os.W_OK | os.X_OK):
        return f"no write permission on its folder {path.parent}"
    return None


def _connect_read_only(path: Path, timeout: float) -> sqlite3.Connection:
    """A connection that cannot write. With no -wal/-shm beside the file nobody has it
    open, and it is read as immutable, so that no side files are left behind (owned by
    us, they could keep the owner from writing); otherwise it shares them read-only."""
    conn = sqlite3.connect(_ro_uri(path, not _sidecars_exist(path)), uri=True,
                           timeout=timeout, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    return conn


def _migrate(conn: sqlite3.Connection, path: Path, from_version: int,
             actor: Optional[str] = None) -> None:
    """Bring a project up to SCHEMA_VERSION, one transaction per step."""
    for version in range(from_version, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            _apply(conn, MIGRATIONS[version])
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('last_written_by', ?)",
                         (__version__,))
            conn.execute(
                "INSERT INTO audit(time, actor, action, recording_id, detail) "
                "VALUES (?, ?, 'migrate', NULL, ?)",
                (_now(), actor or _default_actor(), _json({"from": version, "to": version + 1})))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _apply(conn: sqlite3.Connection, step: Migration) -> None:
    """One migration step inside the caller's transaction."""
    if callable(step):
        step(conn)
    else:  # executescript would commit first; run statement by statement instead
        for statement in _split_sql(step):
            conn.execute(statement)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner ';')."""
    statements, buf = [], ""
    for line in script.splitlines():
        buf += line.split("--", 1)[0] + "\n"  # the schema has no '--' inside strings
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL in migration: {buf[:60]!r}")
    return statements


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


# ---------------------------------------------------------------- the project


class Project:
    """An open project file. Use from one thread; close it (or use ``with``)."""

    def __init__(self, path: Path, conn: sqlite3.Connection, actor: str, timeout: float,
                 read_only: Optional[str] = None) -> None:
        self.path = path
        self.actor = actor
        self.timeout = timeout
        self._conn = conn
        self._data_dir: Optional[Path] = None
        #: why the project is open read-only (every write is refused), or None
        self.read_only = read_only

    # -- lifecycle

    @classmethod
    def create(cls, path: Union[str, os.PathLike], *, actor: Optional[str] = None,
               timeout: float = DEFAULT_TIMEOUT_S) -> "Project":
        """A new, empty project; refuses to overwrite any existing file."""
        path = Path(path).expanduser().absolute()
        if path.exists():
            raise ProjectError(f"{path} already exists; open it, or choose another name")
        if not path.parent.is_dir():
            raise ProjectError(f"folder {path.parent} does not exist")
        actor = actor or _default_actor()
        try:
            # 'x' mode: fail rather than clobber a file that appeared meanwhile.
            open(path, "x").close()
        except OSError as exc:
            raise ProjectError(f"cannot create {path}: {exc.strerror or exc}") from None
        try:
            conn = _connect(path, timeout)
            conn.execute("BEGIN IMMEDIATE")
            _apply(conn, MIGRATIONS[0])
            conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", [
                ("application", APPLICATION_ID), ("created", _now()),
                ("created_by", __version__), ("last_written_by", __version__),
                (META_DATA_FOLDER, path.name + DATA_SUFFIX)])
            conn.execute("INSERT INTO audit(time, actor, action, recording_id, detail) "
                         "VALUES (?, ?, 'create', NULL, ?)",
                         (_now(), actor, _json({"cuewatch_version": __version__})))
            conn.execute("PRAGMA user_version = 1")
            conn.execute("COMMIT")
            _migrate(conn, path, 1, actor)
        except BaseException:
            try:
                conn.close()  # type: ignore[possibly-undefined]
            except Exception:
                pass
            for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
                p.unlink(missing_ok=True)
            raise
        return cls(path, conn, actor, timeout)

    @classmethod
    def open(cls, path: Union[str, os.PathLike], *, actor: Optional[str] = None,
             timeout: float = DEFAULT_TIMEOUT_S) -> "Project":
        """Open an existing project, migrating an older one (after a backup copy).

        A project this process cannot write is opened read-only (``read_only`` says why;
        a ``ReadOnlyProjectWarning`` tells the user): it can be listed and exported, and
        every write is refused with a ProjectError.
        """
        path = Path(path).expanduser().absolute()
        version = inspect_project_file(path)
        why = read_only_reason(path)
        if why is not None:
            return cls._open_read_only(path, version, why, actor, timeout)
        try:
            conn = _connect(path, timeout)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise _busy(path) from None
            raise ProjectError(f"cannot open {path}: {exc}") from None
        try:
            if version < SCHEMA_VERSION:
                backup = path.with_name(f"{path.name}.v{version}.bak")
                if not backup.exists():
                    dest = sqlite3.connect(str(backup))
                    with dest:
                        conn.backup(dest)
                    dest.close()
                _migrate(conn, path, version, actor)
            missing = REQUIRED_TABLES - {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if missing:
                raise ProjectError(f"{path} is damaged: missing tables {', '.join(sorted(missing))}")
        except sqlite3.OperationalError as exc:
            conn.close()
            if _is_busy(exc):
                raise _busy(path) from None
            raise ProjectError(f"cannot open {path}: {exc}") from None
        except BaseException:
            conn.close()
            raise
        return cls(path, conn, actor or _default_actor(), timeout)

    @classmethod
    def _open_read_only(cls, path: Path, version: int, why: str, actor: Optional[str],
                        timeout: float) -> "Project":
        if version < SCHEMA_VERSION:
            raise ProjectError(f"{path} is from an older cuewatch and read-only ({why}): it "
                               "must be upgraded before it can be opened; make it writable, or "
                               "open a copy in a folder you can write to")
        conn = None
        try:
            conn = _connect_read_only(path, timeout)
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            if conn is not None:
                conn.close()
            if _is_busy(exc):
                raise _busy(path) from None
            raise ProjectError(f"cannot open {path} read-only: {exc}") from None
        missing = REQUIRED_TABLES - tables
        if missing:
            conn.close()
            raise ProjectError(f"{path} is damaged: missing tables {', '.join(sorted(missing))}")
        warnings.warn(ReadOnlyProjectWarning(
            f"{path} is read-only ({why}): it can be listed and exported, not changed"),
            stacklevel=3)
        return cls(path, conn, actor or _default_actor(), timeout, read_only=why)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Project":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    @property
    def data_dir(self) -> Path:
        """Where derived files (features) of this project live: see the module docstring
        for how it is found after a copy, move or rename. Decided once per open project."""
        if self._data_dir is None:
            self._data_dir = self._find_data_dir()
        return self._data_dir

    def _find_data_dir(self) -> Path:
        default = self.path.with_name(self.path.name + DATA_SUFFIX)
        if default.is_dir():
            return default
        for name in self._earlier_data_folder_names():
            folder = self.path.with_name(name)
            owner = self.path.with_name(name[:-len(DATA_SUFFIX)])
            if folder.is_dir() and not owner.exists():
                return folder
        return default

    def _earlier_data_folder_names(self) -> list[str]:
        """Names this project's data folder had: recorded at creation, or in old feature
        paths (relative to the project folder, or absolute)."""
        names = [r[0] for r in self._query("SELECT value FROM meta WHERE key = ?",
                                           (META_DATA_FOLDER,))]
        for r in self._query("SELECT DISTINCT features_dir FROM analyses "
                             "WHERE features_dir IS NOT NULL"):
            split = _split_data_path(r[0])
            if split is not None:
                names.append(split[0])
        return [n for n in dict.fromkeys(names)
                if n.endswith(DATA_SUFFIX) and len(n) > len(DATA_SUFFIX) and Path(n).name == n]

    def _store_data_path(self, path: Path) -> str:
        """How a path inside the data folder is stored: relative to it (``features/<key>``).
        A path outside it (not cuewatch's to manage) is stored as it is, absolute."""
        path = Path(path).absolute()
        for base in (self.data_dir.absolute(), self.data_dir.resolve()):
            for p in (path, path.resolve()):
                try:
                    return p.relative_to(base).as_posix()
                except ValueError:
                    continue
        return str(path)

    def _data_path(self, stored: str) -> Path:
        """A stored data path, as a path inside the current data folder (see the module
        docstring: older projects stored it through the data folder's name then)."""
        split = _split_data_path(stored)
        if split is not None:
            return self.data_dir.joinpath(*split[1])
        p = Path(stored)
        return p if p.is_absolute() else self.data_dir / p

    def in_data_dir(self, path: Path) -> bool:
        """Whether ``path`` lies inside this project's data folder (what revocation may delete)."""
        try:
            Path(path).resolve().relative_to(self.data_dir.resolve())
        except ValueError:
            return False
        return Path(path).resolve() != self.data_dir.resolve()

    # -- transactions

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the lock is taken up front so it cannot deadlock."""
        if self.read_only is not None:
            raise ProjectError(f"{self.path} is read-only ({self.read_only}); nothing was changed")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise _busy(self.path) from None
            raise ProjectError(f"cannot write to {self.path}: {exc}") from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                if _is_busy(exc):
                    raise _busy(self.path) from None
                raise ProjectError(f"cannot write to {self.path}: {exc}") from None
            if isinstance(exc, sqlite3.IntegrityError):
                raise ProjectError(f"{self.path}: refused: {exc}") from None
            if isinstance(exc, sqlite3.DatabaseError):
                raise ProjectError(f"{self.path} is damaged ({exc}); restore it from a backup") from None
            raise

    def _log(self, conn: sqlite3.Connection, action: str, recording_id: Optional[int],
             detail: Mapping[str, Any], actor: Optional[str] = None) -> None:
        conn.execute("INSERT INTO audit(time, actor, action, recording_id, detail) "
                     "VALUES (?, ?, ?, ?, ?)",
                     (_now(), actor or self.actor, action, recording_id, _json(dict(detail))))

    def _query(self, sql: str, params: Sequence[Any] = (), plain: bool = False) -> list[Any]:
        """Rows (``sqlite3.Row``; plain tuples with ``plain``, for hot listings)."""
        try:
            cur = self._conn.cursor()
            if plain:
                cur.row_factory = None
            return cur.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise _busy(self.path) from None
            raise ProjectError(f"cannot read {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise ProjectError(f"{self.path} is damaged ({exc}); restore it from a backup") from None

    # -- paths

    def _store_path(self, path: Path) -> str:
        path = Path(path).absolute()
        try:
            return os.path.relpath(path, self.path.parent)
        except ValueError:  # another drive (Windows)
            return str(path)

    def _is_ours(self, path: Path) -> bool:
        """``path`` is a project file (this one under any name, or any other) or a side file."""
        return is_project_file(path) or any(
            _same_file(path, Path(str(self.path) + s)) for s in ("",) + SQLITE_SIDECARS)

    def _refuse_project_file(self, path: Path, what: str) -> None:
        if self._is_ours(path):
            raise ProjectError(f"{path} is a cuewatch project file, not a {what}")

    def _abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else Path(os.path.normpath(self.path.parent / p))

    # -- recordings

    def _recording(self, row: sqlite3.Row) -> Recording:
        return Recording(path=str(self._abs(row["path"])), sha256=row["sha256"],
                         duration=row["duration"], fps=row["fps"], width=row["width"],
                         height=row["height"], id=row["id"])

    def recordings(self) -> list[Recording]:
        return [self._recording(r) for r in self._query("SELECT * FROM recordings ORDER BY id")]

    def recording(self, recording_id: int) -> Recording:
        return self._recording(self._recording_row(recording_id))

    def _recording_row(self, recording_id: int) -> sqlite3.Row:
        rows = self._query("SELECT * FROM recordings WHERE id = ?", (int(recording_id),))
        if not rows:
            raise ProjectError(f"{self.path.name}: no recording {recording_id}")
        return rows[0]

    def find_recording(self, ref: Union[int, str]) -> Recording:
        """A recording by id, file name, path or hash prefix (as a user types it)."""
        text = str(ref).strip()
        if text.isdigit():
            rows = self._query("SELECT * FROM recordings WHERE id = ?", (int(text),))
            if rows:
                return self._recording(rows[0])
        matches = []
        for rec in self.recordings():
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
        raise ProjectError(f"{self.path.name}: no recording '{text}' "
                           "(see: cuewatch consent P show, or the recording ids)")

    def recording_metadata(self, recording_id: int) -> dict[str, Any]:
        row = self._recording_row(recording_id)
        meta = json.loads(row["metadata"])
        meta.update(size_bytes=row["size_bytes"], client_speaker=row["client_speaker"],
                    chosen_speaker=row["chosen_speaker"],
                    client_face=row["client_face"], client_track=row["client_track"],
                    added=row["added"], stored_path=row["path"])
        return meta

    def add_recording(self, video: Union[str, os.PathLike], *,
                      consent: Optional[ConsentInput] = None,
                      transcript: Optional[Union[str, os.PathLike]] = None,
                      mood: Optional[Union[str, os.PathLike]] = None,
                      client_speaker: Optional[str] = None, client_face: str = "auto",
                      settings: AnalysisSettings = AnalysisSettings(),
                      flag_settings: FlagSettings = FlagSettings(),
                      info: Any = None, queue: bool = True,
                      actor: Optional[str] = None) -> Recording:
        """Register a consented video and queue its analysis, in one transaction.

        Consent: ``consent`` if given, else the ``VIDEO.consent.json`` sidecar; it must
        cover training or supervision. ``info`` (a ``VideoInfo``) skips probing.
        """
        video = Path(video).expanduser().absolute()
        if not video.is_file():
            raise ProjectError(f"video not found: {video}")
        self._refuse_project_file(video, "video")
        if consent is None:
            side = sidecar_path(video)
            if not side.is_file():
                raise ConsentError(
                    f"{video.name}: no consent on record; put a consent file at {side} or pass "
                    "--consent (JSON with participants, scopes, obtained)")
            consent = side
        record = _as_consent(consent)
        require_analysis_consent(record, video.name)
        if info is None:
            from cuewatch.media.video import probe_video  # OpenCV only when really probing
            info = probe_video(video)
        sha = content_hash(video)
        extra_files = []
        for kind, f in (("transcript", transcript), ("mood", mood)):
            if f is not None:
                self._refuse_project_file(Path(f).expanduser().absolute(), f"{kind} file")
                fp = _checked_mood_input(kind, f, float(info.duration) or None)
                extra_files.append((kind, fp, content_hash(fp)))
        meta = {"codec": getattr(info, "codec", ""), "rotation": getattr(info, "rotation", 0),
                "frame_count": getattr(info, "frame_count", 0), "absolute_path": str(video)}
        with self._write() as conn:
            dup = conn.execute("SELECT id, path FROM recordings WHERE sha256 = ?", (sha,)).fetchone()
            if dup:
                raise ProjectError(f"{video.name} is already in the project as recording "
                                   f"{dup['id']} ({dup['path']})")
            cur = conn.execute(
                "INSERT INTO recordings(path, sha256, size_bytes, duration, fps, width, height, "
                "metadata, client_speaker, client_face, added) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (self._store_path(video), sha, video.stat().st_size, float(info.duration),
                 float(info.fps), int(info.width), int(info.height), _json(meta),
                 client_speaker, client_face or "auto", _now()))
            rid = int(cur.lastrowid)
            for kind, fp, fsha in extra_files:
                conn.execute("INSERT INTO transcripts(recording_id, kind, path, sha256, added) "
                             "VALUES (?,?,?,?,?)", (rid, kind, self._store_path(fp), fsha, _now()))
            self._insert_consent(conn, rid, record, actor)
            self._log(conn, "add_recording", rid, {
                "path": self._store_path(video), "sha256": sha,
                "transcript": transcript is not None, "mood": mood is not None}, actor)
            if queue:
                self._queue(conn, rid, settings, flag_settings, actor)
        return self.recording(rid)

    def transcripts(self, recording_id: int) -> dict[str, Path]:
        """The transcript and mood files given for a recording: kind -> path."""
        return {r["kind"]: self._abs(r["path"]) for r in self._query(
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
        rec = self.recording(recording_id)
        self._refuse_project_file(Path(path).expanduser().absolute(), f"{kind} file")
        fp = _checked_mood_input(kind, path, rec.duration or None)
        latest = self.latest_analysis(recording_id)
        settings = latest.settings if latest is not None else AnalysisSettings()
        flag_settings = latest.flag_settings if latest is not None else FlagSettings()
        with self._write() as conn:
            old = conn.execute("SELECT path, sha256 FROM transcripts WHERE recording_id = ? AND "
                               "kind = ?", (int(recording_id), kind)).fetchone()
            conn.execute("DELETE FROM transcripts WHERE recording_id = ? AND kind = ?",
                         (int(recording_id), kind))
            sha = content_hash(fp)
            conn.execute("INSERT INTO transcripts(recording_id, kind, path, sha256, added) "
                         "VALUES (?,?,?,?,?)", (int(recording_id), kind, self._store_path(fp),
                                                sha, _now()))
            self._log(conn, f"attach_{kind}", int(recording_id), {
                "path": self._store_path(fp), "sha256": sha,
                "replaced": {"path": old["path"], "sha256": old["sha256"]} if old else None}, actor)
            return self._queue(conn, int(recording_id), settings, flag_settings, actor)

    def set_client(self, recording_id: int, *, speaker: Optional[str] = None,
                   face: Optional[str] = None, track: Optional[int] = None,
                   actor: Optional[str] = None) -> None:
        """Which speaker and which face are the client's. ``speaker``/``face`` are what the
        next analysis is told; ``track`` sets the client's track now (then recompute flags
        and store them with ``replace_flags``)."""
        self._recording_row(recording_id)
        with self._write() as conn:
            if track is not None:
                conn.execute("UPDATE recordings SET client_track = ? WHERE id = ?",
                             (int(track), recording_id))
            if speaker is not None:
                conn.execute("UPDATE recordings SET client_speaker = ? WHERE id = ?",
                             (speaker, recording_id))
            if face is not None:
                conn.execute("UPDATE recordings SET client_face = ? WHERE id = ?",
                             (face, recording_id))
            self._log(conn, "set_client", recording_id,
                      {"speaker": speaker, "face": face, "track": track}, actor)

    def locate(self, recording_id: int) -> Path:
        """The video file now, or a ProjectError that says how to find it again."""
        path, certain = self.locate_unverified(recording_id)
        if certain or content_hash(path) == self._recording_row(recording_id)["sha256"]:
            return path
        raise self._not_located(recording_id)

    def locate_unverified(self, recording_id: int) -> tuple[Path, bool]:
        """Where the video is, without reading it (cheap enough for a UI thread): the path,
        and whether that is certain; an uncertain path (the file at the absolute path it was
        added from) needs its content hash checked, which ``locate`` does. ProjectError when
        no file is there at all."""
        row = self._recording_row(recording_id)
        p = self._abs(row["path"])
        if p.is_file():
            return p, True
        hint = json.loads(row["metadata"]).get("absolute_path")
        if hint and Path(hint).is_file() and not self._is_ours(Path(hint)):
            return Path(hint), False
        raise self._not_located(recording_id)

    def _not_located(self, recording_id: int) -> ProjectError:
        row = self._recording_row(recording_id)
        return ProjectError(f"recording {recording_id} ({Path(row['path']).name}) is not at "
                            f"{self._abs(row['path'])}; "
                            f"find it with: cuewatch project relocate {self.path} FOLDER")

    def missing_recordings(self) -> list[Recording]:
        out = []
        for rec in self.recordings():
            try:
                self.locate(int(rec.id))  # type: ignore[arg-type]
            except ProjectError:
                out.append(rec)
        return out

    def relocate(self, search_dirs: Sequence[Union[str, os.PathLike]], *,
                 actor: Optional[str] = None) -> dict[int, Path]:
        """Find moved recordings again by content hash under ``search_dirs``."""
        missing = {r.sha256: r for r in self.missing_recordings()}
        if not missing:
            return {}
        sizes = {}
        for r in self._query("SELECT sha256, size_bytes FROM recordings"):
            if r["sha256"] in missing:
                sizes.setdefault(r["size_bytes"], set()).add(r["sha256"])
        found: dict[int, Path] = {}
        for d in search_dirs:
            for root, _dirs, files in os.walk(Path(d).expanduser()):
                for name in files:
                    fp = Path(root) / name
                    try:
                        size = fp.stat().st_size
                    except OSError:
                        continue
                    if size not in sizes or self._is_ours(fp):  # never hash a project file
                        continue
                    sha = content_hash(fp)
                    if sha in missing and sizes[size] and sha in sizes[size]:
                        rec = missing.pop(sha)
                        found[int(rec.id)] = fp.absolute()  # type: ignore[arg-type]
                        sizes[size].discard(sha)
                if not missing:
                    break
        if found:
            with self._write() as conn:
                for rid, fp in found.items():
                    row = conn.execute("SELECT metadata FROM recordings WHERE id = ?", (rid,)).fetchone()
                    meta = json.loads(row["metadata"])
                    meta["absolute_path"] = str(fp)
                    conn.execute("UPDATE recordings SET path = ?, metadata = ? WHERE id = ?",
                                 (self._store_path(fp), _json(meta), rid))
                    self._log(conn, "relocate", rid, {"path": self._store_path(fp)}, actor)
        return found

    # -- consent

    def _insert_consent(self, conn: sqlite3.Connection, recording_id: int, record: Consent,
                        actor: Optional[str]) -> None:
        require_obtained(record, f"recording {recording_id}")
        conn.execute("UPDATE consents SET status = 'superseded' "
                     "WHERE recording_id = ? AND status = 'active'", (recording_id,))
        conn.execute(
            "INSERT INTO consents(recording_id, document, scopes, obtained, expires, recorded_by, "
            "source, status, entered, entered_by) VALUES (?,?,?,?,?,?,?, 'active', ?, ?)",
            (recording_id, _json(record.to_dict()), _json(list(record.scopes)),
             record.obtained.isoformat(), record.expires.isoformat() if record.expires else None,
             record.recorded_by, record.source, _now(), actor or self.actor))
        self._log(conn, "set_consent", recording_id, {
            "scopes": list(record.scopes), "obtained": record.obtained.isoformat(),
            "expires": record.expires.isoformat() if record.expires else None,
            "recorded_by": record.recorded_by, "source": record.source}, actor)

    def set_consent(self, recording_id: int, consent: ConsentInput, *,
                    actor: Optional[str] = None) -> Consent:
        """Record (or replace) the consent for a recording; the old one is kept as history."""
        record = _as_consent(consent)
        self._recording_row(recording_id)
        with self._write() as conn:
            self._insert_consent(conn, int(recording_id), record, actor)
        return record

    def consent(self, recording_id: int) -> Optional[Consent]:
        """The consent in force (possibly expired), or None (never given, or revoked)."""
        rows = self._query("SELECT document, source FROM consents "
                           "WHERE recording_id = ? AND status = 'active'", (int(recording_id),))
        if not rows:
            return None
        return consent_from_dict(json.loads(rows[0]["document"]), rows[0]["source"] or "project")

    def consent_status(self, recording_id: int, today: Optional[_dt.date] = None) -> ConsentStatus:
        self._recording_row(recording_id)
        revoked = self._query("SELECT revoked, revoked_by FROM consents WHERE recording_id = ? "
                              "AND status = 'revoked' ORDER BY id DESC LIMIT 1", (int(recording_id),))
        return consent_state(int(recording_id), self.consent(recording_id),
                             revoked[0]["revoked"] if revoked else None, today)

    def consent_history(self, recording_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query(
            "SELECT id, status, scopes, obtained, expires, recorded_by, source, entered, "
            "entered_by, revoked, revoked_by FROM consents WHERE recording_id = ? ORDER BY id",
            (int(recording_id),))]

    def require_analysis(self, recording_id: int, today: Optional[_dt.date] = None) -> Consent:
        rec = self._recording_row(recording_id)
        return require_analysis_consent(self.consent(recording_id), Path(rec["path"]).name, today)

    def require_export(self, recording_id: int, purpose: Optional[str],
                       today: Optional[_dt.date] = None) -> Consent:
        rec = self._recording_row(recording_id)
        return require_export_consent(self.consent(recording_id), purpose,
                                      Path(rec["path"]).name, today)

    def revoke_consent(self, recording_id: int, *, actor: Optional[str] = None) -> RevokeReport:
        """Withdraw consent and delete everything cuewatch derived from the recording.

        Files go first, then the rows, under one write lock: a crash in between leaves
        consent in force, so running revoke again finishes the job.
        """
        rid = int(recording_id)
        self._recording_row(rid)
        report = RevokeReport(recording_id=rid)
        with self._write() as conn:
            dirs = {r["features_dir"] for r in conn.execute(
                "SELECT features_dir FROM analyses WHERE recording_id = ? AND features_dir IS NOT NULL",
                (rid,))}
            for stored in sorted(dirs):
                d = self._data_path(stored)
                if not self.in_data_dir(d):  # never another project's (or anyone's) files
                    report.features_outside.append(str(d))
                elif d.exists():
                    shutil.rmtree(d, ignore_errors=False)
                    report.features_dirs.append(str(d))
            report.interrupted_exports = sorted({r[0] for r in conn.execute(
                "SELECT path FROM exported_files WHERE recording_id = ? AND deleted IS NULL "
                "AND pending = 1", (rid,))})
            exports = conn.execute("SELECT id, path FROM exported_files WHERE recording_id = ? "
                                   "AND deleted IS NULL AND pending = 0", (rid,)).fetchall()
            for r in exports:
                p = Path(r["path"])
                if p.is_dir():
                    shutil.rmtree(p)
                    report.exported_files.append(str(p))
                elif p.exists():
                    p.unlink()
                    report.exported_files.append(str(p))
                else:
                    report.missing_files.append(str(p))
            now = _now()
            conn.execute("UPDATE exported_files SET deleted = ? WHERE recording_id = ? "
                         "AND deleted IS NULL", (now, rid))
            report.reviews = conn.execute(
                "SELECT count(*) FROM reviews WHERE flag_id IN "
                "(SELECT id FROM flags WHERE recording_id = ?)", (rid,)).fetchone()[0]
            for table in ("flags", "gaps", "mood_segments", "tracks", "annotations", "analyses"):
                n = conn.execute(f"DELETE FROM {table} WHERE recording_id = ?", (rid,)).rowcount
                setattr(report, table, n)
            conn.execute("UPDATE recordings SET client_track = NULL, chosen_speaker = NULL "
                         "WHERE id = ?", (rid,))
            conn.execute("UPDATE consents SET status = 'revoked', revoked = ?, revoked_by = ? "
                         "WHERE recording_id = ? AND status = 'active'",
                         (now, actor or self.actor, rid))
            detail = report.to_dict()
            detail.pop("recording_id")
            self._log(conn, "revoke_consent", rid, detail, actor)
        return report

    # -- analyses

    def _queue(self, conn: sqlite3.Connection, recording_id: int, settings: AnalysisSettings,
               flag_settings: FlagSettings, actor: Optional[str]) -> int:
        params = _json({"analysis": settings.to_dict(), "flags": flag_settings.to_dict()})
        same = conn.execute("SELECT id FROM analyses WHERE recording_id = ? AND parameters = ? "
                            "AND state IN ('queued', 'running')", (recording_id, params)).fetchone()
        if same:
            return int(same["id"])
        cur = conn.execute(
            "INSERT INTO analyses(recording_id, state, parameters, cuewatch_version, queued) "
            "VALUES (?, 'queued', ?, ?, ?)", (recording_id, params, __version__, _now()))
        self._log(conn, "queue_analysis", recording_id, {"analysis_id": cur.lastrowid}, actor)
        return int(cur.lastrowid)

    def queue_analysis(self, recording_id: int, *, settings: AnalysisSettings = AnalysisSettings(),
                       flag_settings: FlagSettings = FlagSettings(),
                       actor: Optional[str] = None) -> Analysis:
        """Queue an analysis; refused without consent covering training or supervision."""
        self.require_analysis(recording_id)
        with self._write() as conn:
            aid = self._queue(conn, int(recording_id), settings, flag_settings, actor)
        return self.analysis(aid)

    def _analysis(self, r: sqlite3.Row) -> Analysis:
        params = json.loads(r["parameters"])
        fs = dict(params.get("flags", {}))
        return Analysis(
            id=r["id"], recording_id=r["recording_id"], state=r["state"],
            settings=stored_settings(AnalysisSettings, params.get("analysis"), self.path.name),
            flag_settings=stored_settings(FlagSettings, fs, self.path.name), model_sha256=r["model_sha256"],
            cuewatch_version=r["cuewatch_version"], cache_key=r["cache_key"],
            features_dir=self._data_path(r["features_dir"]) if r["features_dir"] else None,
            progress=r["progress"], message=r["message"], error=r["error"], worker=r["worker"],
            attempts=r["attempts"], warnings=json.loads(r["warnings"]), queued=r["queued"],
            started=r["started"], finished=r["finished"],
            interrupted=r["state"] == "running" and _worker_gone(r["worker"]))

    def analysis(self, analysis_id: int) -> Analysis:
        rows = self._query("SELECT * FROM analyses WHERE id = ?", (int(analysis_id),))
        if not rows:
            raise ProjectError(f"{self.path.name}: no analysis {analysis_id}")
        return self._analysis(rows[0])

    def analyses(self, recording_id: Optional[int] = None,
                 state: Optional[str] = None) -> list[Analysis]:
        where, params = _where(("recording_id = ?", _opt(int, recording_id)), ("state = ?", state))
        return [self._analysis(r) for r in self._query(
            f"SELECT * FROM analyses WHERE 1=1{where} ORDER BY id", params)]

    @property
    def features_cache(self) -> Path:
        """The project's features cache: ``<cache key>/`` per (content, model, settings)."""
        return self.data_dir / "features"

    def requeue_interrupted(self, *, actor: Optional[str] = None) -> list[int]:
        """Put back in the queue analyses whose process died (see ``_worker_gone``)."""
        back = []
        with self._write() as conn:
            for r in conn.execute("SELECT id, recording_id, worker FROM analyses "
                                  "WHERE state = 'running'").fetchall():
                if not _worker_gone(r["worker"]):
                    continue
                conn.execute("UPDATE analyses SET state = 'queued', worker = NULL, "
                             "message = 'interrupted; queued again' WHERE id = ?", (r["id"],))
                self._log(conn, "requeue_analysis", r["recording_id"],
                          {"analysis_id": r["id"], "was": r["worker"]}, actor)
                back.append(int(r["id"]))
        return back

    def requeue_running(self, analysis_ids: Sequence[int], *, actor: Optional[str] = None) -> None:
        """Put back in the queue analyses this process stops running (cancel)."""
        with self._write() as conn:
            for aid in analysis_ids:
                n = conn.execute("UPDATE analyses SET state = 'queued', worker = NULL, "
                                 "message = 'cancelled; queued again' WHERE id = ? "
                                 "AND state = 'running'", (int(aid),)).rowcount
                if n:
                    rid = conn.execute("SELECT recording_id FROM analyses WHERE id = ?",
                                       (int(aid),)).fetchone()[0]
                    self._log(conn, "requeue_analysis", rid, {"analysis_id": int(aid),
                                                              "why": "cancelled"}, actor)

    def requeue_failed(self, *, actor: Optional[str] = None) -> list[int]:
        with self._write() as conn:
            rows = conn.execute("SELECT id, recording_id FROM analyses WHERE state = 'failed'").fetchall()
            for r in rows:
                conn.execute("UPDATE analyses SET state = 'queued', error = NULL, progress = 0 "
                             "WHERE id = ?", (r["id"],))
                self._log(conn, "requeue_analysis", r["recording_id"], {"analysis_id": r["id"]}, actor)
        return [int(r["id"]) for r in rows]

    def claim_analysis(self, model_sha256: str, *, actor: Optional[str] = None) -> Optional[Analysis]:
        """Take the oldest queued analysis whose consent still allows it; mark it running.

        Analyses whose consent no longer allows analysis fail with the consent message.
        """
        worker = f"{socket.gethostname()}:{os.getpid()}"
        while True:
            with self._write() as conn:
                r = conn.execute("SELECT * FROM analyses WHERE state = 'queued' "
                                 "ORDER BY id LIMIT 1").fetchone()
                if r is None:
                    return None
                rid = r["recording_id"]
                try:
                    self.require_analysis(rid)
                except ConsentError as exc:
                    conn.execute("UPDATE analyses SET state = 'failed', error = ?, finished = ? "
                                 "WHERE id = ?", (str(exc), _now(), r["id"]))
                    self._log(conn, "analysis_refused", rid, {"analysis_id": r["id"],
                                                              "reason": str(exc)}, actor)
                    continue
                params = json.loads(r["parameters"])
                key = features_key(
                    conn.execute("SELECT sha256 FROM recordings WHERE id = ?", (rid,)).fetchone()[0],
                    model_sha256, stored_settings(AnalysisSettings, params.get("analysis"), self.path.name))
                fdir = self.features_cache / key
                conn.execute(
                    "UPDATE analyses SET state = 'running', worker = ?, started = ?, "
                    "attempts = attempts + 1, model_sha256 = ?, cache_key = ?, features_dir = ?, "
                    "message = 'started', error = NULL WHERE id = ?",
                    (worker, _now(), model_sha256, key, self._store_data_path(fdir), r["id"]))
                self._log(conn, "start_analysis", rid, {"analysis_id": r["id"],
                                                        "attempt": r["attempts"] + 1}, actor)
            return self.analysis(int(r["id"]))

    def set_analysis_progress(self, analysis_id: int, fraction: float, message: str = "") -> None:
        """Progress of a running analysis (not audited: callers throttle it)."""
        with self._write() as conn:
            conn.execute("UPDATE analyses SET progress = ?, message = ? WHERE id = ? "
                         "AND state = 'running'", (float(fraction), message[:200], int(analysis_id)))

    def finish_analysis(self, analysis_id: int, result: Any, *,
                        actor: Optional[str] = None) -> Analysis:
        """Store a ``PipelineResult``: tracks, mood segments, client track, flags, gaps.

        Refused, with its features deleted, if consent was revoked meanwhile (checked
        under the write lock, so a revoke cannot slip in between).
        """
        try:
            with self._write() as conn:
                row = conn.execute("SELECT recording_id, features_dir FROM analyses WHERE id = ?",
                                   (int(analysis_id),)).fetchone()
                if row is None:
                    raise ConsentError(f"analysis {analysis_id} was withdrawn while it ran "
                                       "(consent revoked?); its results are discarded")
                rid = int(row["recording_id"])
                self.require_analysis(rid)
                self._store_result(conn, int(analysis_id), rid, row["features_dir"], result, actor)
        except ConsentError:
            fdir = Path(result.features_dir) if getattr(result, "features_dir", None) else None
            if fdir is not None and fdir.is_dir() and self.features_cache in fdir.parents:
                shutil.rmtree(fdir, ignore_errors=True)
            raise
        return self.analysis(analysis_id)

    def _store_result(self, conn: sqlite3.Connection, analysis_id: int, rid: int,
                      stored_features: Optional[str], result: Any, actor: Optional[str]) -> None:
        """The rows of a finished analysis, inside the caller's transaction."""
        conn.execute("DELETE FROM tracks WHERE recording_id = ?", (rid,))
        conn.executemany(
            "INSERT INTO tracks(recording_id, track_id, start, end, n_frames, coverage, "
            "mean_bbox) VALUES (?,?,?,?,?,?,?)",
            [(rid, t.track_id, t.start, t.end, t.n_frames, t.coverage,
              _json([float(v) for v in t.mean_bbox])) for t in result.tracks])
        self._replace_segments(conn, rid, result.segments)
        conn.execute("UPDATE recordings SET client_track = ?, chosen_speaker = ? WHERE id = ?",
                     (result.client_track, getattr(result, "client_speaker", None), rid))
        fdir = (self._store_data_path(Path(result.features_dir)) if result.features_dir
                else stored_features)
        stats = self._replace_flags(conn, rid, result.flags, result.gaps)
        conn.execute(
            "UPDATE analyses SET state = 'done', progress = 1, message = 'done', "
            "finished = ?, features_dir = ?, warnings = ?, worker = NULL WHERE id = ?",
            (_now(), fdir, _json(list(result.warnings)), analysis_id))
        self._log(conn, "finish_analysis", rid, {"analysis_id": analysis_id, **stats,
                                                 "client_track": result.client_track}, actor)

    def fail_analysis(self, analysis_id: int, error: str, *, actor: Optional[str] = None) -> None:
        """Mark an analysis failed (if revoking consent removed it meanwhile, only log)."""
        with self._write() as conn:
            row = conn.execute("SELECT recording_id FROM analyses WHERE id = ?",
                               (int(analysis_id),)).fetchone()
            conn.execute("UPDATE analyses SET state = 'failed', error = ?, finished = ?, "
                         "worker = NULL WHERE id = ?", (error[:1000], _now(), int(analysis_id)))
            self._log(conn, "fail_analysis", row[0] if row else None,
                      {"analysis_id": int(analysis_id), "error": error[:300]}, actor)

    def features_dir(self, recording_id: int) -> Optional[Path]:
        """Features of the latest finished analysis, or None."""
        rows = self._query("SELECT features_dir FROM analyses WHERE recording_id = ? AND "
                           "state = 'done' AND features_dir IS NOT NULL ORDER BY finished DESC, "
                           "id DESC LIMIT 1", (int(recording_id),))
        return self._data_path(rows[0]["features_dir"]) if rows else None

    def latest_analysis(self, recording_id: int) -> Optional[Analysis]:
        rows = self._query("SELECT * FROM analyses WHERE recording_id = ? AND state = 'done' "
                           "ORDER BY finished DESC, id DESC LIMIT 1", (int(recording_id),))
        return self._analysis(rows[0]) if rows else None

    # -- tracks and mood segments

    def tracks(self, recording_id: int) -> list[Track]:
        return [Track(track_id=r["track_id"], start=r["start"], end=r["end"],
                      n_frames=r["n_frames"], coverage=r["coverage"],
                      mean_bbox=tuple(json.loads(r["mean_bbox"])))  # type: ignore[arg-type]
                for r in self._query("SELECT * FROM tracks WHERE recording_id = ? "
                                     "ORDER BY track_id", (int(recording_id),))]

    def client_track(self, recording_id: int) -> Optional[int]:
        """The client's face track the last analysis chose (or was told)."""
        return self._recording_row(recording_id)["client_track"]

    def client_speaker(self, recording_id: int) -> Optional[str]:
        """The client's speaker: as the last analysis chose it, else as the user gave it."""
        row = self._recording_row(recording_id)
        return row["chosen_speaker"] or row["client_speaker"]

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
        self._recording_row(recording_id)
        with self._write() as conn:
            self._replace_segments(conn, int(recording_id), segments)
            self._log(conn, "set_mood_segments", int(recording_id), {"n": len(segments)}, actor)

    def mood_segments(self, recording_id: int, speaker: Optional[str] = None) -> list[MoodSegment]:
        where, params = _where(("recording_id = ?", int(recording_id)), ("speaker = ?", speaker))
        sql = f"SELECT * FROM mood_segments WHERE 1=1{where}"
        return [MoodSegment(start=r["start"], end=r["end"], speaker=r["speaker"], text=r["text"],
                            valence=r["valence"], category=r["category"],
                            certainty=r["certainty"], line=r["line"])
                for r in self._query(sql + " ORDER BY start, id", params)]

    # -- flags and gaps

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
            raise ProjectError(f"{self.path} is damaged (a flag's JSON: {exc.msg})") from None
        return [Flag(start=r[2], end=r[3], type=r[4], track=r[5], stated=payload[3 * i],
                     expressed=payload[3 * i + 1], severity=r[6], confidence=r[7],
                     evidence=payload[3 * i + 2], id=r[0], raised=bool(r[11]))
                for i, r in enumerate(rows)]

    def flags(self, recording_id: Optional[int] = None, *, types: Optional[Sequence[str]] = None,
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

    def orphaned_flags(self, recording_id: Optional[int] = None) -> list[Flag]:
        """Moments with a verdict in force whose flag a recompute no longer raises."""
        return [f for f in self.flags(recording_id, orphaned=True) if not f.raised]

    def flags_by_recording(self, **filters: Any) -> dict[int, list[Flag]]:
        """All flags grouped by recording id (same filters as ``flags``)."""
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
        where, params = _where(
            ("f.recording_id = ?", _opt(int, recording_id)),
            ("f.severity >= ?", _opt(float, min_severity)),
            ("f.confidence >= ?", _opt(float, min_confidence)),
            ("f.end >= ?", _opt(float, start)), ("f.start <= ?", _opt(float, end)),
            ("f.id IN (SELECT flag_id FROM reviews WHERE current = 1 AND reviewer = ?)", reviewer),
            ("f.id IN (SELECT flag_id FROM reviews WHERE current = 1 AND verdict = ? "
             "AND (reviewer = ? OR ? IS NULL))", (verdict, reviewer, reviewer)),
            ("f.id NOT IN (SELECT flag_id FROM reviews WHERE current = 1 AND reviewer = ?)",
             unreviewed_by))
        if types:
            where += f" AND f.type IN ({','.join('?' * len(types))})"
            params += list(types)
        raised = f"(f.raised = 1 OR {self._ORPHANED})" if orphaned else "f.raised = 1"
        rows = self._query(f"SELECT {self._FLAG_COLUMNS} FROM flags f WHERE {raised}{where} "
                           "ORDER BY f.recording_id, f.start, f.id", params, plain=True)
        return list(zip((r[1] for r in rows), self._flag_list(rows)))

    def flag(self, flag_id: int) -> Flag:
        rows = self._query(f"SELECT {self._FLAG_COLUMNS} FROM flags WHERE id = ?", (int(flag_id),),
                           plain=True)
        if not rows:
            raise ProjectError(f"{self.path.name}: no flag {flag_id}")
        return self._flag_list(rows)[0]

    def flag_recording(self, flag_id: int) -> int:
        rows = self._query("SELECT recording_id FROM flags WHERE id = ?", (int(flag_id),))
        if not rows:
            raise ProjectError(f"{self.path.name}: no flag {flag_id}")
        return int(rows[0][0])

    def gaps(self, recording_id: int) -> list[Gap]:
        return [Gap(start=r["start"], end=r["end"], track=r["track"], reason=r["reason"])
                for r in self._query("SELECT * FROM gaps WHERE recording_id = ? ORDER BY start, id",
                                     (int(recording_id),))]

    def _replace_flags(self, conn: sqlite3.Connection, rid: int, flags: Sequence[Flag],
                       gaps: Sequence[Gap]) -> dict[str, int]:
        """Store recomputed flags without losing a verdict (``cuewatch.flags.matching``).

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
                      _json(f.stated), _json(f.expressed), _json(f.evidence))
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
                fid = conn.execute(
                    "INSERT INTO flags(recording_id, start, end, type, track, severity, "
                    "confidence, stated, expressed, evidence) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (rid,) + values).lastrowid
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
        return stats

    @staticmethod
    def _current_verdicts(conn: sqlite3.Connection, flag_ids: Sequence[int]) -> int:
        if not flag_ids:
            return 0
        return int(conn.execute(
            f"SELECT count(*) FROM reviews WHERE current = 1 AND flag_id IN "
            f"({','.join('?' * len(flag_ids))})", list(flag_ids)).fetchone()[0])

    def replace_flags(self, recording_id: int, flags: Sequence[Flag], gaps: Sequence[Gap], *,
                      flag_settings: Optional[FlagSettings] = None,
                      actor: Optional[str] = None) -> dict[str, int]:
        """Store recomputed flags; every verdict and note is kept. A flag covering the same
        moment as a stored one keeps its id and verdicts; verdicts on a moment no longer
        flagged stay as orphaned verdicts (``orphaned_flags``) and re-attach when a later
        recompute raises it again. Returns counts (also in the audit log).

        ``flag_settings``: what the flags were cut with; it becomes the flag settings of
        the recording's latest analysis (what the app shows, exports state).
        """
        self._recording_row(recording_id)
        with self._write() as conn:
            stats = self._replace_flags(conn, int(recording_id), flags, gaps)
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
                                 (_json(params), latest["id"]))
            self._log(conn, "replace_flags", int(recording_id), detail, actor)
        return stats

    # -- reviews

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
        with self._write() as conn:
            row = conn.execute("SELECT recording_id FROM flags WHERE id = ?", (int(flag_id),)).fetchone()
            if row is None:
                raise ProjectError(f"{self.path.name}: no flag {flag_id}")
            conn.execute("UPDATE reviews SET current = 0 WHERE flag_id = ? AND reviewer = ? "
                         "AND current = 1", (int(flag_id), reviewer))
            now = _now()
            cur = conn.execute("INSERT INTO reviews(flag_id, reviewer, verdict, note, time, current) "
                               "VALUES (?,?,?,?,?,1)", (int(flag_id), reviewer, verdict, note or "", now))
            self._log(conn, "verdict", row["recording_id"], {
                "flag_id": int(flag_id), "verdict": verdict, "review_id": cur.lastrowid,
                "with_note": bool(note)}, reviewer)
        return Review(flag_id=int(flag_id), reviewer=reviewer, verdict=verdict, note=note or "",
                      time=now, id=int(cur.lastrowid))

    def undo_last_verdict(self, reviewer: str) -> Optional[Review]:
        """Take back the reviewer's latest verdict (Ctrl+Z); their previous verdict on that
        flag, if any, is in force again. Returns the verdict taken back, or None."""
        with self._write() as conn:
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
            self._log(conn, "undo_verdict", rid[0] if rid else None,
                      {"flag_id": last["flag_id"], "review_id": last["id"]}, reviewer)
        return self._review(last)

    def reviews(self, flag_id: Optional[int] = None, *, recording_id: Optional[int] = None,
                reviewer: Optional[str] = None, superseded: bool = False,
                orphaned: Optional[bool] = None) -> list[Review]:
        """Current verdicts (one per reviewer per flag); with ``superseded``, also the
        earlier verdicts they replaced (never the undone ones), oldest first.

        Verdicts on flags no longer raised (orphaned) are listed too; ``orphaned`` True
        keeps only those, False only verdicts on raised flags.
        """
        sql = ("SELECT r.* FROM reviews r JOIN flags f ON f.id = r.flag_id WHERE "
               + ("r.undone = 0" if superseded else "r.current = 1"))
        where, params = _where(("r.flag_id = ?", _opt(int, flag_id)),
                               ("f.recording_id = ?", _opt(int, recording_id)),
                               ("r.reviewer = ?", reviewer),
                               ("f.raised = ?", None if orphaned is None else int(not orphaned)))
        return [self._review(r) for r in self._query(
            sql + where + " ORDER BY r.flag_id, r.reviewer, r.id", params)]

    def review_history(self, flag_id: int, reviewer: Optional[str] = None) -> list[HistoryEntry]:
        """Every verdict given on a flag, oldest first, with whether it still stands."""
        where, params = _where(("flag_id = ?", int(flag_id)), ("reviewer = ?", reviewer))
        out = []
        for r in self._query(f"SELECT * FROM reviews WHERE 1=1{where} ORDER BY id", params):
            status = "undone" if r["undone"] else ("current" if r["current"] else "superseded")
            out.append(HistoryEntry(self._review(r), status))
        return out

    def reviewers(self) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT DISTINCT reviewer FROM reviews WHERE current = 1 ORDER BY reviewer")]

    # -- manual annotations

    def add_annotation(self, recording_id: int, start: float, end: float, label: str,
                       note: str = "", *, reviewer: Optional[str] = None) -> Annotation:
        reviewer = (reviewer or self.actor).strip()
        label = (label or "").strip()
        if not label:
            raise ProjectError("an annotation needs a label")
        if not (0 <= float(start) <= float(end)):
            raise ProjectError(f"annotation span {start}-{end} s: start must be >= 0 and <= end")
        self._recording_row(recording_id)
        now = _now()
        with self._write() as conn:
            aid = conn.execute(
                "INSERT INTO annotations(recording_id, start, end, label, note, reviewer, created) "
                "VALUES (?,?,?,?,?,?,?)",
                (int(recording_id), float(start), float(end), label, note or "", reviewer, now)).lastrowid
            self._log(conn, "add_annotation", int(recording_id),
                      {"annotation_id": aid, "start": start, "end": end, "label": label}, reviewer)
        return Annotation(int(recording_id), float(start), float(end), label, note or "",
                          reviewer, now, int(aid))

    def annotations(self, recording_id: Optional[int] = None,
                    reviewer: Optional[str] = None) -> list[Annotation]:
        where, params = _where(("recording_id = ?", _opt(int, recording_id)),
                               ("reviewer = ?", reviewer))
        return [Annotation(r["recording_id"], r["start"], r["end"], r["label"], r["note"],
                           r["reviewer"], r["created"], r["id"])
                for r in self._query(f"SELECT * FROM annotations WHERE 1=1{where} "
                                     "ORDER BY recording_id, start, id", params)]

    def delete_annotation(self, annotation_id: int, *, actor: Optional[str] = None) -> None:
        with self._write() as conn:
            r = conn.execute("SELECT * FROM annotations WHERE id = ?", (int(annotation_id),)).fetchone()
            if r is None:
                raise ProjectError(f"{self.path.name}: no annotation {annotation_id}")
            conn.execute("DELETE FROM annotations WHERE id = ?", (int(annotation_id),))
            self._log(conn, "delete_annotation", r["recording_id"], {
                "annotation_id": int(annotation_id), "label": r["label"],
                "start": r["start"], "end": r["end"], "by": r["reviewer"]}, actor)

    # -- exports and the audit log

    def begin_export(self, out_dir: Union[str, os.PathLike], *, format: str, purpose: str,
                     recording_ids: Sequence[int], actor: Optional[str] = None) -> list[int]:
        """Note an export about to write into ``out_dir``: if it is killed before
        ``record_export``, revoking consent can at least say where to look."""
        now = _now()
        with self._write() as conn:
            ids = [int(conn.execute(
                "INSERT INTO exported_files(recording_id, path, format, purpose, created, actor, "
                "pending) VALUES (?,?,?,?,?,?,1)",
                (int(rid), str(Path(out_dir).absolute()), format, purpose, now,
                 actor or self.actor)).lastrowid) for rid in recording_ids]
        return ids

    def record_export(self, paths: Sequence[Union[str, os.PathLike]], *, format: str,
                      purpose: str, recording_id: Optional[int] = None,
                      actor: Optional[str] = None, pending: Sequence[int] = ()) -> None:
        """Remember files written out of the project, so revoking consent can delete them;
        ``pending``: the ``begin_export`` notes this completes."""
        now = _now()
        with self._write() as conn:
            for pid in pending:
                conn.execute("DELETE FROM exported_files WHERE id = ? AND pending = 1", (int(pid),))
            conn.executemany(
                "INSERT INTO exported_files(recording_id, path, format, purpose, created, actor) "
                "VALUES (?,?,?,?,?,?)",
                [(recording_id, str(Path(p).absolute()), format, purpose, now, actor or self.actor)
                 for p in paths])
            self._log(conn, "export", recording_id, {"format": format, "purpose": purpose,
                                                     "files": len(paths)}, actor)

    def exported_files(self, recording_id: Optional[int] = None,
                       include_deleted: bool = False) -> list[ExportedFile]:
        where, params = _where(("recording_id = ?", _opt(int, recording_id)))
        if not include_deleted:
            where += " AND deleted IS NULL AND pending = 0"
        return [ExportedFile(r["id"], r["recording_id"], Path(r["path"]), r["format"],
                             r["purpose"], r["created"], r["actor"], r["deleted"])
                for r in self._query(f"SELECT * FROM exported_files WHERE 1=1{where} ORDER BY id",
                                     params)]

    def log(self, action: str, detail: Mapping[str, Any], *, recording_id: Optional[int] = None,
            actor: Optional[str] = None) -> None:
        """Append an entry to the audit log (for actions outside the store, e.g. viewing)."""
        with self._write() as conn:
            self._log(conn, action, recording_id, detail, actor)

    def audit(self, recording_id: Optional[int] = None, *, action: Optional[str] = None,
              limit: Optional[int] = None) -> list[AuditEntry]:
        """The audit log, oldest first (``limit``: the latest N)."""
        where, params = _where(("recording_id = ?", _opt(int, recording_id)), ("action = ?", action))
        rows = self._query(f"SELECT * FROM audit WHERE 1=1{where} ORDER BY id DESC LIMIT ?",
                           params + [-1 if limit is None else int(limit)])[::-1]
        return [AuditEntry(r["id"], r["time"], r["actor"], r["action"], r["recording_id"],
                           json.loads(r["detail"])) for r in rows]


def _where(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``" AND ..."`` for each (clause, value) whose value is not None; a tuple value
    fills several ``?`` and counts as None when its first item is."""
    sql, params = "", []
    for clause, value in conditions:
        values = value if isinstance(value, tuple) else (value,)
        if values[0] is not None:
            sql += f" AND {clause}"
            params += list(values)
    return sql, params


def _opt(kind: Any, value: Any) -> Any:
    """``kind(value)``, or None: ids may come in as numpy integers, which SQLite refuses."""
    return None if value is None else kind(value)


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


def _split_data_path(stored: str) -> Optional[tuple[str, tuple[str, ...]]]:
    """(data folder name, the parts inside it) of a data path as older cuewatch versions
    stored it, through the data folder (``x.cuewatch-data/features/k``, relative to the
    project folder, or absolute); None for a path stored relative to the data folder."""
    parts = Path(stored).parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].endswith(DATA_SUFFIX) and len(parts[i]) > len(DATA_SUFFIX) \
                and (i == 0 or Path(stored).is_absolute()):
            return parts[i], parts[i + 1:]
    return None


def _as_consent(consent: ConsentInput) -> Consent:
    if isinstance(consent, Consent):
        return consent
    if isinstance(consent, Mapping):
        return consent_from_dict(dict(consent), "given")
    return parse_consent(str(consent))
