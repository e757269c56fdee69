"""Which stored flag a recomputed flag is: how a verdict stays with its moment.

A verdict belongs to a moment of the recording (its type, face track and span), not to a
row id. When flags are recomputed (another sensitivity, other thresholds, a re-analysis)
each new flag takes over the stored flag that covers the same moment, so the verdicts
and notes on it carry over; a stored flag nobody covers any more keeps its moment as an
orphaned verdict ("flag no longer raised at this sensitivity") and comes back with its
verdicts when a later recompute covers that moment again. This module holds the rule,
in one place: ``match_flags``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

#: a new flag takes over a stored flag of the same type and track when their spans'
#: intersection over union is at least this. 0.3 keeps a verdict on 10-14 s with the
#: 11-13 s (IoU 0.5) or 9-16 s (0.57) flag a stricter or looser sensitivity cuts from the
#: same moment, and never moves it to a flag that shares less than a third of their
#: joint span (a neighbouring moment).
REATTACH_MIN_IOU = 0.3

#: how the app, ``cuewatch review`` and the exports mark a verdict whose flag a recompute
#: no longer raises (an orphaned verdict).
ORPHANED_STATUS = "flag no longer raised at this sensitivity"


@dataclass(frozen=True)
class Moment:
    """What a verdict is about: a span of one face track, for one kind of flag."""

    start: float
    end: float
    type: str
    track: Optional[int]


@dataclass(frozen=True)
class StoredMoment(Moment):
    """A stored flag's moment and what makes it worth keeping: verdicts, being raised."""

    id: int = 0
    reviewed: bool = False
    raised: bool = True


def span_iou(a: Moment, b: Moment) -> float:
    """Intersection over union of two spans (1 for identical spans, even zero-length)."""
    if round(a.start, 2) == round(b.start, 2) and round(a.end, 2) == round(b.end, 2):
        return 1.0
    inter = min(a.end, b.end) - max(a.start, b.start)
    if inter <= 0:
        return 0.0
    union = max(a.end, b.end) - min(a.start, b.start)
    return inter / union if union > 0 else 0.0


def match_flags(stored: Sequence[StoredMoment], new: Sequence[Moment],
                min_iou: float = REATTACH_MIN_IOU) -> dict[int, int]:
    """new index -> stored flag id, one to one.

    Same type and track, IoU at least ``min_iou``; the best overlaps are paired first,
    and among equal overlaps a stored flag with verdicts, then a raised one, then the
    older id wins (so a verdict is never left behind for an unreviewed twin).
    """
    by_key: dict[tuple[str, Optional[int]], list[StoredMoment]] = {}
    for s in stored:
        by_key.setdefault((s.type, s.track), []).append(s)
    starts: dict[tuple[str, Optional[int]], list[float]] = {}
    longest: dict[tuple[str, Optional[int]], float] = {}
    for key, group in by_key.items():
        group.sort(key=lambda s: s.start)
        starts[key] = [s.start for s in group]
        longest[key] = max(s.end - s.start for s in group)
    pairs: list[tuple[float, bool, bool, int, int]] = []
    for i, f in enumerate(new):
        key = (f.type, f.track)
        if key not in by_key:
            continue
        first = bisect.bisect_left(starts[key], f.start - longest[key] - 0.01)
        for s in by_key[key][first:]:
            if s.start > f.end + 0.01:
                break
            iou = span_iou(f, s)
            if iou >= min_iou - 1e-9:  # a span on the limit counts
                pairs.append((iou, s.reviewed, s.raised, -s.id, i))
    pairs.sort(reverse=True)
    out: dict[int, int] = {}
    taken: set[int] = set()
    for _iou, _reviewed, _raised, neg_id, i in pairs:
        if i in out or -neg_id in taken:
            continue
        out[i] = -neg_id
        taken.add(-neg_id)
    return out
