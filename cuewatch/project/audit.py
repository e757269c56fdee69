"""The project's append-only audit log: every write adds its entry in its own
transaction (``Project._log``); this reads it, and logs actions outside the store."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Optional

from cuewatch.project.sql import Manager, optional, where_clause


@dataclass
class AuditEntry:
    id: int
    time: str
    actor: str
    action: str
    recording_id: Optional[int]
    detail: dict[str, Any]


class AuditLog(Manager):
    """``project.audit`` (same thread as the project)."""

    def log(self, action: str, detail: Mapping[str, Any], *, recording_id: Optional[int] = None,
            actor: Optional[str] = None) -> None:
        """Append an entry to the audit log (for actions outside the store, e.g. viewing)."""
        with self.db._write() as conn:
            self.db._log(conn, action, recording_id, detail, actor)

    def all(self, recording_id: Optional[int] = None, *, action: Optional[str] = None,
            limit: Optional[int] = None) -> list[AuditEntry]:
        """The audit log, oldest first (``limit``: the latest N)."""
        where, params = where_clause(("recording_id = ?", optional(int, recording_id)), ("action = ?", action))
        rows = self.db._query(f"SELECT * FROM audit WHERE 1=1{where} ORDER BY id DESC LIMIT ?",
                              params + [-1 if limit is None else int(limit)])[::-1]
        return [AuditEntry(r["id"], r["time"], r["actor"], r["action"], r["recording_id"],
                           json.loads(r["detail"])) for r in rows]
