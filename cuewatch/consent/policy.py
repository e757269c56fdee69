"""What consent allows, decided in the core so no front end can skip it.

- Analysis needs consent that covers training or supervision.
- An export for a purpose needs that purpose's scope (``research`` for research: clips,
  per-frame data and flags); an export with no stated purpose needs what analysis needs.
- Expired consent counts as none; revoked consent is none.

The rules for one consent record live in ``cuewatch.consent.record``; this module applies them
to what a project holds (where a recording may have no consent, or a revoked one).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Optional

from cuewatch.consent.record import ANALYSIS_SCOPES, Consent, require_analysis, require_scope
from cuewatch.errors import ConsentError
from cuewatch.formats import CONSENT_SCOPES

#: export purposes a user can state (``--purpose``); each needs the scope of that name.
EXPORT_PURPOSES: tuple[str, ...] = CONSENT_SCOPES


@dataclass
class ConsentStatus:
    """Where a recording's consent stands today, for ``consent show`` and the app."""

    recording_id: int
    state: str  # none | active | expired | revoked
    scopes: tuple[str, ...] = ()
    obtained: Optional[str] = None
    expires: Optional[str] = None
    recorded_by: Optional[str] = None
    participants: list[dict[str, str]] = field(default_factory=list)
    revoked: Optional[str] = None
    #: scope -> allowed today
    allowed: dict[str, bool] = field(default_factory=dict)

    @property
    def allows_analysis(self) -> bool:
        return any(self.allowed.get(s, False) for s in ANALYSIS_SCOPES)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["scopes"] = list(self.scopes)
        d["allows_analysis"] = self.allows_analysis
        return d


def consent_state(recording_id: int, consent: Optional[Consent], revoked: Optional[str] = None,
                  today: Optional[_dt.date] = None) -> ConsentStatus:
    """Summarise the consent in force (``consent``), or its absence."""
    if consent is None:
        return ConsentStatus(recording_id, "revoked" if revoked else "none", revoked=revoked,
                             allowed={s: False for s in CONSENT_SCOPES})
    return ConsentStatus(
        recording_id, "expired" if consent.is_expired(today) else "active",
        scopes=tuple(consent.scopes), obtained=consent.obtained.isoformat(),
        expires=consent.expires.isoformat() if consent.expires else None,
        recorded_by=consent.recorded_by,
        participants=[{"name": p.name, "role": p.role} for p in consent.participants],
        allowed={s: consent.covers(s, today) for s in CONSENT_SCOPES})


def require_analysis_consent(consent: Optional[Consent], what: Any = "recording",
                             today: Optional[_dt.date] = None) -> Consent:
    """The consent, if it lets the recording be analysed; else ConsentError."""
    if consent is None:
        raise ConsentError(f"{what}: no consent on record (never given, or revoked); "
                           "it cannot be analysed")
    require_analysis(consent, what, today)
    return consent


def require_export_consent(consent: Optional[Consent], purpose: Optional[str],
                           what: Any = "recording", today: Optional[_dt.date] = None) -> Consent:
    """The consent, if it covers exporting for ``purpose``; else ConsentError."""
    if purpose is None:
        return require_analysis_consent(consent, what, today)
    if purpose not in EXPORT_PURPOSES:
        raise ConsentError(f"unknown export purpose {purpose!r} "
                           f"(use {', '.join(EXPORT_PURPOSES)})")
    require_scope(consent, purpose, what, today)
    return consent  # type: ignore[return-value]
