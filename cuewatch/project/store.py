"""A review project: one SQLite file (``*.cuewatch``) that survives crashes.

Everything a supervisor, trainee or researcher does to a set of recordings lives in it:
recordings (found again by content hash when moved), consent, analyses and their state,
mood segments, flags, reviewers' verdicts with their history, manual annotations and an
append-only audit log. ``Project`` is the database object: opening, creating and migrating
the file, the write transaction and audit primitives (``_write()``, ``_log()``,
``_query()``), the data folder and read-only state. Each concern is a manager on it, in its
own module: ``project.recordings``, ``.consents``, ``.analyses`` (the job queue and
results), ``.flags``, ``.reviews``, ``.annotations``, ``.exports``, ``.audit``, ``.attunement``. File-system
work is done by services outside the store (``cuewatch.project.revocation``,
``cuewatch.project.relocation``). Every write is one transaction (``BEGIN IMMEDIATE`` ...
``COMMIT``) that also appends its audit entry, so a killed process leaves the file with
everything committed before it. A file from a newer cuewatch, a corrupt file or a file that is not a
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

import logging
import os
import sqlite3
import urllib.parse
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional, Union

from cuewatch import __version__
from cuewatch.errors import ProjectError, ReadOnlyProjectWarning
from cuewatch.project.analyses import Analyses
from cuewatch.project.annotations import Annotations
from cuewatch.project.attunement import AttunementStore
from cuewatch.project.audit import AuditLog
from cuewatch.project.consents import Consents
from cuewatch.project.exports_log import ExportsLog
from cuewatch.project.flags import Flags
from cuewatch.project.recordings import Recordings
from cuewatch.project.reviews import Reviews
from cuewatch.project.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    REQUIRED_TABLES,
    SCHEMA_VERSION,
    Migration,
)
from cuewatch.project.sql import default_actor as _default_actor
from cuewatch.project.sql import now as _now
from cuewatch.project.sql import to_json as _json

log = logging.getLogger(__name__)

PROJECT_SUFFIX = ".cuewatch"
DATA_SUFFIX = "-data"
#: ``meta`` key: the data folder's name when the project was created (found again after a rename).
META_DATA_FOLDER = "data_folder"
#: files SQLite keeps beside a project while it is open (or after a crash).
SQLITE_SIDECARS: tuple[str, ...] = ("-wal", "-shm", "-journal")
#: seconds a writer waits for another process before "project is busy".
DEFAULT_TIMEOUT_S = 10.0


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
        # the managers, one concern each; every one writes through ``_write()``/``_log()``
        self.recordings = Recordings(self)
        self.consents = Consents(self)
        self.analyses = Analyses(self)
        self.flags = Flags(self)
        self.reviews = Reviews(self)
        self.annotations = Annotations(self)
        self.exports = ExportsLog(self)
        self.audit = AuditLog(self)
        self.attunement = AttunementStore(self)

    # -- lifecycle

    @classmethod
    def create(cls, path: Union[str, os.PathLike], *, actor: Optional[str] = None,
               timeout: float = DEFAULT_TIMEOUT_S) -> Project:
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
            except Exception:  # the creation's own error is the one raised
                log.debug("closing the half-created project %s failed", path, exc_info=True)
            for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
                p.unlink(missing_ok=True)
            raise
        return cls(path, conn, actor, timeout)

    @classmethod
    def open(cls, path: Union[str, os.PathLike], *, actor: Optional[str] = None,
             timeout: float = DEFAULT_TIMEOUT_S) -> Project:
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
                        timeout: float) -> Project:
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

    def __enter__(self) -> Project:
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

    def is_ours(self, path: Path) -> bool:
        """``path`` is a project file (this one under any name, or any other) or a side file."""
        return is_project_file(path) or any(
            _same_file(path, Path(str(self.path) + s)) for s in ("",) + SQLITE_SIDECARS)

    def _refuse_project_file(self, path: Path, what: str) -> None:
        if self.is_ours(path):
            raise ProjectError(f"{path} is a cuewatch project file, not a {what}")

    def _abs(self, stored: str) -> Path:
        p = Path(stored)
        return p if p.is_absolute() else Path(os.path.normpath(self.path.parent / p))

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
