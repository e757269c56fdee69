"""What consent allows, decided in the core so no front end can skip it.

- Analysis needs consent that covers training or supervision.
- An export for a purpose needs that purpose's scope (``research`` for research: clips,
  per-frame data and flags).
- An export must state its purpose (``require_purpose``), except in a format listed in
  ``PURPOSE_OPTIONAL_FORMATS``; such an export needs what analysis needs.
- Expired consent counts as none, and so does consent dated in the future; revoked
  consent is none.
- The therapist's own part of a recording (``THERAPIST_OWN_PARTS``: their congruence
  flags, their face in the per-frame data, and what is read from their face: the synchrony
  of the two faces and the mirroring after each flag) is about the therapist, not the
  client: a research export carries it only when every participant in the therapist's
  role lists research in their own scopes (``therapist_flags_allowed``). Training and
  supervision exports show it, as the app does: that is what it is for.
- The trainee's word-based response to each flag (kind, evidence, latency, deciding turn)
  is not part of it: it is read from the transcript's therapist turns, and the transcript
  (every speaker's words) goes out under the record's own scopes, which every participant
  the record names gave. It describes what happened at the client's moment; withholding it
  while the same words go out would protect no one.

The rules for one consent record live in ``cuewatch.consent.record``; this module applies them
to what a project holds (where a recording may have no consent, or a revoked one).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Optional

from cuewatch.consent.record import ANALYSIS_SCOPES, Consent, require_analysis, require_scope
from cuewatch.domain import THERAPIST_ROLE_NAMES, role_word
from cuewatch.errors import ConsentError
from cuewatch.formats import CONSENT_SCOPES

#: export purposes a user can state (``--purpose``); each needs the scope of that name.
EXPORT_PURPOSES: tuple[str, ...] = CONSENT_SCOPES

#: Export formats harmless enough to go out with no stated purpose. The rule: a format
#: qualifies only if it is an aggregate with no per-frame data, no video or images of a
#: face, and no text (no stated words, transcript lines, notes or names). None of today's
#: formats does: ``frames`` holds per-frame face data, ``clips`` video, ``html`` images and
#: text, and ``csv``, ``json``, ``eaf`` and ``boris`` carry the client's words and the
#: reviewers' notes. So every export states its purpose; a new format that meets the rule
#: is added here, and nowhere else.
PURPOSE_OPTIONAL_FORMATS: tuple[str, ...] = ()


def require_purpose(fmt: str, purpose: Optional[str]) -> None:
    """Refuse an export that leaves its purpose out (unless ``fmt`` needs none)."""
    if purpose is None and fmt not in PURPOSE_OPTIONAL_FORMATS:
        raise ConsentError(f"export {fmt}: state what it is for, consent must cover it: "
                           f"--purpose {' | '.join(EXPORT_PURPOSES)}")


@dataclass
class ConsentStatus:
    """Where a recording's consent stands today, for ``consent show`` and the app."""

    recording_id: int
    state: str  # none | active | expired | future | revoked
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
        recording_id, "expired" if consent.is_expired(today)
        else "future" if consent.is_future(today) else "active",
        scopes=tuple(consent.scopes), obtained=consent.obtained.isoformat(),
        expires=consent.expires.isoformat() if consent.expires else None,
        recorded_by=consent.recorded_by,
        participants=[p.to_dict() for p in consent.participants],
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


#: What the therapist's own consent decides in a research export (``therapist_flags_allowed``):
#: the parts of an export that judge the therapist or read the therapist's face. The
#: export (``cuewatch.project.export.therapist_part_for``) leaves out exactly these and
#: names them, with the reason, in the export's provenance and report.
THERAPIST_OWN_PARTS: tuple[str, ...] = (
    "the therapist's own congruence flags (therapist_incongruence) and their verdicts",
    "the therapist's face track in the per-frame data (frames)",
    "the synchrony of the two faces (over time, z, lag, who leads)",
    "whether the therapist's face mirrored the client's after each flag",
)


def therapist_flags_allowed(consent: Optional[Consent], purpose: Optional[str],
                            today: Optional[_dt.date] = None) -> tuple[bool, str]:
    """Whether an export for ``purpose`` may carry the therapist's own part
    (``THERAPIST_OWN_PARTS``: their congruence flags and face data), and if not, why (one
    line, for the export's provenance and report).

    The one rule: any purpose but research may (training and supervision are the trainee's
    own learning). Research needs the therapist's own consent to research: every
    participant whose role names the therapist's chair (``THERAPIST_ROLE_NAMES``: therapist,
    trainee, ...) lists ``research`` in their own ``scopes``. The record's scopes do not
    stand in for it (they say what may be done with the recording, mostly the client's
    part), and a record naming no therapist gives no one's consent.
    """
    if purpose != "research":
        return True, ""
    if consent is None or not consent.covers("research", today):
        return False, "the recording's consent does not cover research"
    therapists = [p for p in consent.participants if role_word(p.role) in THERAPIST_ROLE_NAMES]
    if not therapists:
        return False, ("the consent record names no therapist, so no therapist consented to "
                       "research on their own part")
    if any("research" not in p.scopes for p in therapists):  # no names: exports may be anonymised
        return False, "the therapist's own consent scopes do not include research"
    return True, ""
