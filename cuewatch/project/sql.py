"""What the project store and its managers share: the manager base (a reference to the
open ``Project`` for ``_write()``/``_query()``/``_log()``), row values (timestamps, JSON
columns) and ``WHERE`` building. No SQL of a table lives here: each table's is in its
manager."""

from __future__ import annotations

import datetime as _dt
import getpass
import json
import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cuewatch.project.store import Project


class Manager:
    """One concern of a project (``project.recordings``, ``project.flags``, ...). It holds no
    state of its own: every read and write goes through the project's connection, every
    write in one ``db._write()`` transaction with its ``db._log`` audit entry."""

    def __init__(self, db: Project) -> None:
        self.db = db


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The row id an ``INSERT`` just made (sqlite3 types it Optional; after an insert it is set)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("INSERT made no row")
    return int(rowid)


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name on this system (containers)
        return "unknown"


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def where_clause(*conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``" AND ..."`` for each (clause, value) whose value is not None; a tuple value
    fills several ``?`` and counts as None when its first item is."""
    sql, params = "", []
    for clause, value in conditions:
        values = value if isinstance(value, tuple) else (value,)
        if values[0] is not None:
            sql += f" AND {clause}"
            params += list(values)
    return sql, params


def optional(kind: Any, value: Any) -> Any:
    """``kind(value)``, or None: ids may come in as numpy integers, which SQLite refuses."""
    return None if value is None else kind(value)
