"""Short human-readable texts about flags, moods and verdicts, shared by the exports.

ELAN annotation values, BORIS comments and the HTML report say the same things in the
same words, so a supervisor moving between them reads one vocabulary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, Optional

from cuewatch.attunement.summary import KIND_LABELS, StoredResponse
from cuewatch.domain import Flag, MoodSegment, Review
from cuewatch.formats import FLAGS_EXPORT_RESPONSE_KEYS


def signed(value: Any, digits: int = 2) -> str:
    """A valence as "+0.60" / "-0.40"; "?" when unknown."""
    try:
        return f"{float(value):+.{digits}f}"
    except (TypeError, ValueError):
        return "?"


def mood_text(category: Optional[str], valence: Any) -> str:
    """ "sad (-0.50)", "happy", "-0.30" or "no mood stated"."""
    if category and valence is not None:
        return f"{category} ({signed(valence)})"
    if category:
        return str(category)
    if valence is not None:
        return signed(valence)
    return "no mood stated"


def stated_text(flag: Flag) -> str:
    return mood_text(flag.stated.get("category"), flag.stated.get("valence"))


def expressed_text(flag: Flag) -> str:
    return mood_text(flag.expressed.get("category"), flag.expressed.get("valence"))


def flag_summary(flag: Flag) -> str:
    """ "incongruence, severity 0.72: stated happy (+0.60) vs expressed sad (-0.40)"."""
    return (f"{flag.type}, severity {float(flag.severity):.2f}: "
            f"stated {stated_text(flag)} vs expressed {expressed_text(flag)}")


def segment_mood_text(segment: MoodSegment) -> str:
    text = mood_text(segment.category, segment.valence)
    if segment.valence is not None and segment.certainty < 1.0:
        text += f", certainty {segment.certainty:.2f}"
    return text


def evidence_aus(flag: Flag) -> list[tuple[str, float]]:
    """Action-unit evidence, strongest first."""
    aus = flag.evidence.get("aus") or {}
    if not isinstance(aus, Mapping):
        return []
    pairs = []
    for name, value in aus.items():
        try:
            pairs.append((str(name), float(value)))
        except (TypeError, ValueError):
            continue
    return sorted(pairs, key=lambda p: (-p[1], p[0]))


def peak_time(flag: Flag) -> float:
    """The clearest moment of a flag: its evidence peak, else its middle."""
    peak = flag.evidence.get("peak_time")
    try:
        t = float(peak) if peak is not None else math.nan
    except (TypeError, ValueError):
        t = math.nan  # a malformed peak in stored evidence: fall back to the middle
    if flag.start - 1.0 <= t <= flag.end + 1.0:
        return t
    return (flag.start + flag.end) / 2.0


def verdict_text(review: Review) -> str:
    """ "agree: note" or "unsure"."""
    note = " ".join((review.note or "").split())
    return f"{review.verdict}: {note}" if note else review.verdict


def clock(seconds: float) -> str:
    """ "1:02.35" for people (minutes:seconds)."""
    seconds = max(0.0, float(seconds))
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:05.2f}"


#: What the flag's evidence keys mean, in the words a supervisor reads (not internal keys).
EVIDENCE_LABELS: dict[str, str] = {
    "peak_time": "clearest moment",
    "utterance_start": "the words start",
    "utterance_end": "the words end",
    "face_seen": "face seen during the words",
    "stated_certainty": "certainty of the stated mood",
}
_EVIDENCE_TIMES = ("peak_time", "utterance_start", "utterance_end")
_EVIDENCE_SHARES = ("face_seen", "stated_certainty")


def evidence_items(flag: Flag) -> list[tuple[str, str]]:
    """(label, value) for the evidence other than action units, known keys first, in
    people's words: times as clock times, shares as percentages."""
    out = []
    known = [k for k in EVIDENCE_LABELS if k in flag.evidence]
    other = sorted(k for k in flag.evidence if k not in EVIDENCE_LABELS and k != "aus")
    for key in known + other:
        value = flag.evidence[key]
        label = EVIDENCE_LABELS.get(key) or str(key).replace("_", " ")
        try:
            if key in _EVIDENCE_TIMES:
                text = clock(float(value))
            elif key in _EVIDENCE_SHARES:
                text = f"{100.0 * float(value):.0f}%"
            elif isinstance(value, float):
                text = f"{value:.2f}"
            elif isinstance(value, (str, int)):
                text = str(value)
            else:
                text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
        out.append((label, text))
    return out


def response_record(response: Optional[StoredResponse]) -> Optional[dict[str, Any]]:
    """A flag's attunement as the exports hold it (``FLAGS_EXPORT_RESPONSE_KEYS``): the
    trainee's response kind, its evidence, latency and deciding turn, and the mirroring
    verdict; None for a flag without one (orphaned, or never computed)."""
    if response is None:
        return None
    r = response
    values = (r.kind, r.evidence, r.latency_s, r.turn_start, r.rule, r.reason, r.missed,
              r.mirroring, r.mirroring_reason)
    return dict(zip(FLAGS_EXPORT_RESPONSE_KEYS, values))


def response_text(response: StoredResponse) -> str:
    """ "moved on after 0.5 s: 'How did the interview go?'; face: therapist not on camera"."""
    r = response
    if not r.kind:
        words = f"no response kind ({r.reason})" if r.reason else "no response kind"
    else:
        words = KIND_LABELS.get(r.kind, r.kind)
        if r.latency_s is not None:
            words += f" after {r.latency_s:.1f} s"
        if r.evidence:
            words += f": '{' '.join(r.evidence.split())}'"
    face = r.mirroring or r.mirroring_reason
    return f"{words}; face: {face.replace('_', ' ')}" if face else words
