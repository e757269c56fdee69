"""The attunement of one recording as stored and summarised: plain frozen records of the
trainee's response to each flag and the session synchrony (what ``project.attunement``
returns and the exports carry), the session summary computed from them (``summarise``:
one rule for the CLI, the app's panel and the HTML report) and that summary in words.
Any thread; no state.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from cuewatch.domain import Flag
from cuewatch.formats import ATTUNEMENT_NOT_COMPUTED, NAMED_OR_EXPLORED_KINDS
from cuewatch.words.response import RESPONSE_KINDS


@dataclass(frozen=True)
class StoredResponse:
    """One flagged moment's trainee response (raised flags only)."""

    flag_id: int                 # the store's flag id (project.flags)
    kind: str                    # one of RESPONSE_KINDS, or "" if none could be read
    reason: str                  # why kind is "" (e.g. NO_SPEAKER_LABELS), else ""
    evidence: str                # the therapist's words that decided it ("" for none)
    latency_s: Optional[float]   # flag end -> deciding turn start
    turn_start: Optional[float]  # the deciding therapist turn's start (the app jumps there)
    mirroring: Optional[str]     # synchrony.flag_mirroring verdict, or None
    mirroring_reason: str        # e.g. formats.THERAPIST_NOT_ON_CAMERA, else ""
    missed: bool                 # kind in formats.MISSED_RESPONSE_KINDS
    rule: str = ""               # the response rule that decided the kind (explainability)


@dataclass(frozen=True)
class StoredSynchrony:
    """One recording's session synchrony."""

    z: Optional[float]
    lag_s: Optional[float]       # positive: the therapist follows
    leader: Optional[str]
    statistic: Optional[float]
    over_time: tuple[tuple[float, float], ...]   # (t seconds, r); r may be nan
    reason: str                  # why z is None (e.g. THERAPIST_NOT_ON_CAMERA), else ""


@dataclass(frozen=True)
class AttunementSummary:
    """What ``cuewatch review P --attunement`` prints and the app's panel shows."""

    recording_id: int
    moments: int                 # raised flags
    by_kind: dict[str, int]      # kind -> count (every kind present, 0 if none)
    #: (named + explored) / moments whose kind could be read; None when none could
    share_named_or_explored: Optional[float]
    median_latency_s: Optional[float]
    synchrony_z: Optional[float]
    synchrony_reason: str        # why synchrony_z is None; ATTUNEMENT_NOT_COMPUTED: never computed
    missed: tuple[int, ...]      # flag ids of missed moments, in time order
    therapist_speaker: Optional[str]
    therapist_track: Optional[int]


def summarise(recording_id: int, flags: Sequence[Flag], responses: Mapping[int, StoredResponse],
              synchrony: Optional[StoredSynchrony], therapist_speaker: Optional[str],
              therapist_track: Optional[int]) -> AttunementSummary:
    """The session summary over the raised ``flags`` (see ``AttunementSummary``): a moment
    without a stored response, or whose kind could not be read, counts as a moment but in
    no kind, and not in the share."""
    by_kind = {k: 0 for k in RESPONSE_KINDS}
    latencies: list[float] = []
    missed: list[int] = []
    raised = [f for f in flags if f.raised]
    for f in sorted(raised, key=lambda f: (f.start, f.id or 0)):
        r = responses.get(int(f.id)) if f.id is not None else None
        if r is None or not r.kind:
            continue
        by_kind[r.kind] = by_kind.get(r.kind, 0) + 1
        if r.latency_s is not None:
            latencies.append(r.latency_s)
        if r.missed:
            missed.append(r.flag_id)
    read = sum(by_kind.values())
    share = sum(by_kind.get(k, 0) for k in NAMED_OR_EXPLORED_KINDS) / read if read else None
    return AttunementSummary(
        recording_id=int(recording_id), moments=len(raised), by_kind=by_kind,
        share_named_or_explored=share,
        median_latency_s=statistics.median(latencies) if latencies else None,
        synchrony_z=synchrony.z if synchrony is not None else None,
        synchrony_reason=synchrony.reason if synchrony is not None else ATTUNEMENT_NOT_COMPUTED,
        missed=tuple(missed), therapist_speaker=therapist_speaker, therapist_track=therapist_track)


# ---------------------------------------------------------------- the summary in words

#: how the summary names each response kind (the CLI, the HTML report).
KIND_LABELS: dict[str, str] = {"named": "named", "explored": "explored", "validated": "validated",
                               "moved_on": "moved on", "none": "none"}


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, float(seconds)), 60.0)
    return f"{int(m)}:{s:04.1f}"


def summary_lines(summary: AttunementSummary, flags: Sequence[Flag],
                  responses: Mapping[int, StoredResponse]) -> list[str]:
    """The session summary as ``cuewatch review P --attunement`` prints it and the HTML
    report shows it: moments flagged, by kind, share named or explored, median latency,
    synchrony z (or why none), the missed moments with their times."""
    s = summary
    by_id = {int(f.id): f for f in flags if f.id is not None}
    lines = [f"moments flagged: {s.moments}"]
    if s.moments:
        lines.append("responses: " + ", ".join(f"{KIND_LABELS.get(k, k)} {n}"
                                              for k, n in s.by_kind.items()))
        unread = s.moments - sum(s.by_kind.values())
        if unread:
            reasons = sorted({r.reason for r in responses.values() if not r.kind and r.reason})
            lines.append(f"no response kind for {unread} moment(s)"
                         + (f": {'; '.join(reasons)}" if reasons else ""))
    share = "-" if s.share_named_or_explored is None else f"{100 * s.share_named_or_explored:.0f}%"
    lines.append(f"named or explored: {share}")
    lines.append("median latency: " + ("-" if s.median_latency_s is None
                                       else f"{s.median_latency_s:.1f} s"))
    if s.synchrony_z is not None:
        lines.append(f"synchrony z: {s.synchrony_z:+.2f}")
    else:
        lines.append(f"synchrony z: none ({s.synchrony_reason or 'not computed'})")
    therapist = s.therapist_speaker or "every speaker but the client"
    camera = f"face track {s.therapist_track}" if s.therapist_track is not None else "not on camera"
    lines.append(f"therapist: {therapist}, {camera}")
    lines.append(f"missed moments: {len(s.missed)}")
    for fid in s.missed:
        f, r = by_id.get(fid), responses.get(fid)
        if f is None or r is None:
            continue
        said = f" ({r.evidence!r})" if r.evidence else ""
        lines.append(f"  flag {fid} at {_clock(f.start)}-{_clock(f.end)}: "
                     f"{KIND_LABELS.get(r.kind, r.kind)}{said}")
    return lines


def summary_dict(summary: AttunementSummary) -> dict[str, Any]:
    """The summary as plain JSON data (``cuewatch review --attunement --json``, the JSON export)."""
    return dict(summary.__dict__, missed=list(summary.missed))
