"""Consent records: who agreed to what, until when.

A recording is analysed only with consent on record: a sidecar ``VIDEO.consent.json``
next to the video, or ``--consent`` (JSON text or a file). Expired consent counts as none,
and so does consent dated in the future (``obtained`` after today: a typo, or a form not yet
signed): it is refused wherever consent comes in (``require_obtained``).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from cuewatch.errors import ConsentError
from cuewatch.formats import CONSENT_SCOPES

SIDECAR_SUFFIX = ".consent.json"
#: scopes that allow analysis at all (research alone does not cover showing it to a trainee).
ANALYSIS_SCOPES: tuple[str, ...] = ("training", "supervision")


@dataclass
class Participant:
    name: str
    role: str
    #: what this person agreed to for their own part, when it differs from the record's
    #: ``scopes`` (empty: not stated). The trainee's own congruence flags go into a research
    #: export only if the therapist's own scopes list research (``cuewatch.consent.policy``).
    scopes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "role": self.role}
        if self.scopes:
            d["scopes"] = list(self.scopes)
        return d


@dataclass
class Consent:
    participants: list[Participant]
    scopes: tuple[str, ...]
    obtained: _dt.date
    expires: Optional[_dt.date] = None
    recorded_by: Optional[str] = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def is_expired(self, today: Optional[_dt.date] = None) -> bool:
        today = today or _dt.date.today()
        return self.expires is not None and self.expires < today

    def is_future(self, today: Optional[_dt.date] = None) -> bool:
        """Obtained after ``today``: not consent (yet)."""
        return self.obtained > (today or _dt.date.today())

    def covers(self, scope: str, today: Optional[_dt.date] = None) -> bool:
        return not self.is_expired(today) and not self.is_future(today) and scope in self.scopes

    def allows_analysis(self, today: Optional[_dt.date] = None) -> bool:
        return any(self.covers(s, today) for s in ANALYSIS_SCOPES)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "participants": [p.to_dict() for p in self.participants],
            "scopes": list(self.scopes),
            "obtained": self.obtained.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "recorded_by": self.recorded_by,
        }
        d.update(self.extra)
        return d


def _date(value: Any, what: str, source: str) -> _dt.date:
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConsentError(f"consent {source}: '{what}' is not a date (YYYY-MM-DD): {value!r}") from None


def _scopes(value: Any, what: str, source: str) -> tuple[str, ...]:
    """A list of consent scopes (one name alone is a list of one), checked."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConsentError(f"consent {source}: {what} must list any of {', '.join(CONSENT_SCOPES)}")
    unknown = [s for s in value if s not in CONSENT_SCOPES]
    if unknown:
        raise ConsentError(f"consent {source}: unknown scope {unknown[0]!r} "
                           f"(allowed: {', '.join(CONSENT_SCOPES)})")
    return tuple(dict.fromkeys(value))


def consent_from_dict(data: Any, source: str = "record") -> Consent:
    """Validate a consent JSON object."""
    if not isinstance(data, dict):
        raise ConsentError(f"consent {source}: expected a JSON object with participants, scopes, obtained")
    missing = [k for k in ("participants", "scopes", "obtained") if k not in data]
    if missing:
        raise ConsentError(f"consent {source}: missing {', '.join(missing)}")
    people = data["participants"]
    if not isinstance(people, list) or not people:
        raise ConsentError(f"consent {source}: 'participants' must be a non-empty list of {{name, role}}")
    participants = []
    for p in people:
        if not isinstance(p, dict) or not p.get("name"):
            raise ConsentError(f"consent {source}: each participant needs a name and a role")
        own = (_scopes(p["scopes"], f"participant {p['name']!r}'s 'scopes'", source)
               if p.get("scopes") else ())
        participants.append(Participant(name=str(p["name"]), role=str(p.get("role", "")),
                                        scopes=own))
    scopes = _scopes(data["scopes"], "'scopes'", source)
    extra = {k: v for k, v in data.items()
             if k not in ("participants", "scopes", "obtained", "expires", "recorded_by")}
    return Consent(participants=participants, scopes=scopes,
                   obtained=_date(data["obtained"], "obtained", source),
                   expires=_date(data["expires"], "expires", source) if data.get("expires") else None,
                   recorded_by=data.get("recorded_by"), source=source, extra=extra)


def parse_consent(text_or_path: str) -> Consent:
    """Read consent from JSON text or from a file path."""
    text = text_or_path.strip()
    if text.startswith("{"):
        source = "given on the command line"
    else:
        path = Path(text_or_path)
        if not path.is_file():
            raise ConsentError(f"consent file not found: {path}")
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConsentError(f"consent file {path} cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConsentError(f"consent {source}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return consent_from_dict(data, source)


def sidecar_path(video: os.PathLike[str] | str) -> Path:
    p = Path(video)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def consent_for_video(video: os.PathLike[str] | str, given: Optional[str] = None,
                      today: Optional[_dt.date] = None) -> Consent:
    """The consent that lets ``video`` be analysed: ``given`` first, else the sidecar."""
    if given:
        consent = parse_consent(given)
    else:
        side = sidecar_path(video)
        if not side.is_file():
            raise ConsentError(
                f"{video}: no consent on record; put a consent file at {side} or pass --consent "
                "(JSON with participants, scopes, obtained)")
        consent = parse_consent(str(side))
    require_analysis(consent, video, today)
    return consent


def require_obtained(consent: Consent, what: Any = "recording",
                     today: Optional[_dt.date] = None) -> None:
    """Refuse consent dated in the future: it cannot have been given yet."""
    if consent.is_future(today):
        raise ConsentError(f"{what}: consent is dated {consent.obtained}, in the future "
                           f"(today is {today or _dt.date.today()}); enter the date it was "
                           "actually obtained")


def require_analysis(consent: Consent, video: Any = "recording",
                     today: Optional[_dt.date] = None) -> None:
    require_obtained(consent, video, today)
    if consent.is_expired(today):
        raise ConsentError(f"{video}: consent expired on {consent.expires}; it cannot be analysed")
    if not consent.allows_analysis(today):
        raise ConsentError(f"{video}: consent does not cover training or supervision "
                           f"(scopes: {', '.join(consent.scopes)})")


def require_scope(consent: Optional[Consent], scope: str, what: Any = "recording",
                  today: Optional[_dt.date] = None) -> None:
    """Refuse, with one clear line, anything the consent does not cover."""
    if consent is None:
        raise ConsentError(f"{what}: no consent on record")
    require_obtained(consent, what, today)
    if consent.is_expired(today):
        raise ConsentError(f"{what}: consent expired on {consent.expires}")
    if scope not in consent.scopes:
        raise ConsentError(f"{what}: consent does not cover {scope} "
                           f"(scopes: {', '.join(consent.scopes)})")
