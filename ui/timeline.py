"""The timeline model: what the timeline shows and which stretch of it is in view.

``Timeline`` holds one recording's review data (utterances, the client's valence and
dominant expression, the therapist's dominant expression, the two faces' synchrony over
time, flags, the trainee's responses, gaps, verdicts, annotations), the visible time window and
the playhead. Per-frame series are kept as ``Envelope`` pyramids of min/max, so a view
of any width over any stretch costs O(pixels), not O(frames): an hour at 30 fps is
108,000 samples, and no paint ever walks them all. ``QtTimeline`` draws it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, Signal

from cuewatch.domain import Annotation, Flag, Gap, MoodSegment, is_client_speaker

#: the closest zoom: seconds across the whole view.
MIN_SPAN_S = 0.5


class Envelope:
    """Min/max pyramid of a sampled series (NaN = no value) for per-pixel drawing.

    Level k holds the min and max of blocks of 2**k consecutive samples, with each
    block's first and last time. Built once (O(n)); ``buckets`` answers in O(pixels).
    """

    def __init__(self, t: np.ndarray, v: np.ndarray) -> None:
        t = np.asarray(t, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        self.levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [(t, t, v, v)]
        while len(self.levels[-1][0]) > 64:
            t0, t1, lo, hi = self.levels[-1]
            n = len(t0) // 2 * 2
            nt0 = t0[:n:2]
            nt1 = t1[1:n:2]
            nlo = np.fmin(lo[:n:2], lo[1:n:2])
            nhi = np.fmax(hi[:n:2], hi[1:n:2])
            if len(t0) % 2:  # keep the odd last sample as its own block
                nt0, nt1 = np.append(nt0, t0[-1]), np.append(nt1, t1[-1])
                nlo, nhi = np.append(nlo, lo[-1]), np.append(nhi, hi[-1])
            self.levels.append((nt0, nt1, nlo, nhi))

    def __len__(self) -> int:
        return len(self.levels[0][0])

    def buckets(self, start: float, end: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Min and max per bucket of ``n`` equal buckets over [start, end); NaN where empty."""
        lo_out = np.full(n, np.nan)
        hi_out = np.full(n, np.nan)
        if n <= 0 or end <= start or len(self) == 0:
            return lo_out, hi_out
        t_all = self.levels[0][0]
        i0, i1 = np.searchsorted(t_all, [start, end])
        per_bucket = (i1 - i0) / n
        # blocks of at most 1/16 bucket: O(16 n) work, and a bucket is hardly wider than true
        level = 0 if per_bucket < 32 else min(len(self.levels) - 1, int(math.log2(per_bucket / 16)))
        t0, t1, lo, hi = self.levels[level]
        j0 = max(0, int(np.searchsorted(t1, start)))
        j1 = int(np.searchsorted(t0, end))
        if j1 <= j0:
            return lo_out, hi_out
        seg_lo, seg_hi = lo[j0:j1], hi[j0:j1]
        # a block goes into the bucket of its first and of its last sample, so a bucket
        # never shows less than its samples span (at most one block more)
        for edge in (t0[j0:j1], t1[j0:j1]):
            idx = np.clip(((edge - start) / (end - start) * n).astype(np.int64), 0, n - 1)
            inside = (edge >= start) & (edge < end)
            if not inside.any():
                continue
            idx, b_lo, b_hi = idx[inside], seg_lo[inside], seg_hi[inside]
            starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
            cells = idx[starts]
            lo_out[cells] = np.fmin(lo_out[cells], np.fmin.reduceat(b_lo, starts))
            hi_out[cells] = np.fmax(hi_out[cells], np.fmax.reduceat(b_hi, starts))
        return lo_out, hi_out

    def window(self, start: float, end: float, pad: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """The raw samples in [start, end] plus ``pad`` on each side (for lines off-screen)."""
        t, _, v, _ = self.levels[0]
        i0, i1 = np.searchsorted(t, [start, end])
        i0, i1 = max(0, int(i0) - pad), min(len(t), int(i1) + pad)
        return t[i0:i1], v[i0:i1]

    def value_at(self, t: float) -> float:
        """The sample nearest before ``t`` (NaN if none)."""
        times, _, values, _ = self.levels[0]
        i = int(np.searchsorted(times, t, side="right")) - 1
        return float(values[i]) if i >= 0 else math.nan


@dataclass
class CategoryRuns:
    """A categorical series as runs: [start, end) with a category index (-1 = none)."""

    start: np.ndarray
    end: np.ndarray
    category: np.ndarray
    names: tuple[str, ...]

    @classmethod
    def from_samples(cls, t: np.ndarray, category: np.ndarray, names: Sequence[str],
                     max_step: float) -> CategoryRuns:
        """Collapse per-frame categories into runs; a sample lasts until the next (or
        ``max_step``), so missing frames show as gaps."""
        t = np.asarray(t, dtype=np.float64)
        c = np.asarray(category, dtype=np.int64)
        if len(t) == 0:
            e = np.zeros(0)
            return cls(e, e, np.zeros(0, dtype=np.int64), tuple(names))
        nxt = np.r_[t[1:], t[-1] + max_step]
        end = np.minimum(nxt, t + max_step)
        brk = np.r_[True, (c[1:] != c[:-1]) | (t[1:] - end[:-1] > 1e-9)]
        first = np.flatnonzero(brk)
        last = np.r_[first[1:] - 1, len(t) - 1]
        return cls(t[first], end[last], c[first], tuple(names))

    def at(self, t: float) -> int:
        i = int(np.searchsorted(self.start, t, side="right")) - 1
        if i >= 0 and t < self.end[i]:
            return int(self.category[i])
        return -1

    def buckets(self, start: float, end: float, n: int) -> np.ndarray:
        """The category covering each bucket's centre (-1 where none): O(n log runs)."""
        if n <= 0 or len(self.start) == 0:
            return np.full(max(n, 0), -1, dtype=np.int64)
        centres = start + (np.arange(n) + 0.5) * (end - start) / n
        i = np.searchsorted(self.start, centres, side="right") - 1
        ok = (i >= 0) & (centres < self.end[np.clip(i, 0, None)])
        out = np.where(ok, self.category[np.clip(i, 0, None)], -1)
        return out.astype(np.int64)


class SpanIndex:
    """Spans (start, end) sorted by start, for drawing many of them per pixel column.

    ``visible`` returns the indices to draw over [start, end) at ``n`` pixels: only the
    spans in view, and of those sharing a pixel column only the longest, so an hour of
    utterances costs at most one rectangle per column.
    """

    def __init__(self, spans: Sequence[tuple[float, float]]) -> None:
        arr = np.asarray(list(spans), dtype=np.float64).reshape(-1, 2)
        self.order = np.argsort(arr[:, 0], kind="stable")
        self.start = arr[self.order, 0]
        self.end = arr[self.order, 1]
        self.max_len = float((self.end - self.start).max()) if len(arr) else 0.0

    def __len__(self) -> int:
        return len(self.start)

    def visible(self, start: float, end: float, n: int) -> np.ndarray:
        """Original indices of the spans to draw, in start order."""
        if len(self.start) == 0 or end <= start or n <= 0:
            return np.zeros(0, dtype=np.int64)
        i0 = int(np.searchsorted(self.start, start - self.max_len))
        i1 = int(np.searchsorted(self.start, end, side="right"))
        idx = np.arange(i0, i1)
        idx = idx[self.end[idx] >= start]
        if len(idx) > n // 2:
            px = ((self.start[idx] - start) / (end - start) * n).astype(np.int64)
            length = self.end[idx] - self.start[idx]
            # per pixel column keep the longest span
            order = np.lexsort((-length, px))
            keep = order[np.r_[True, px[order][1:] != px[order][:-1]]]
            idx = np.sort(idx[keep])
        return self.order[idx]


@dataclass(frozen=True)
class ResponseMark:
    """The trainee's response to one flag, as the responses lane draws it: from the flag's
    end to the deciding therapist turn (``at``; the flag's end when no turn decided)."""

    flag_id: int
    start: float          # the flag's end
    at: float             # the deciding turn's start, or ``start`` when there is none
    kind: str             # a RESPONSE_KINDS entry, or "" (unread: ``reason`` says why)
    evidence: str
    latency_s: Optional[float]
    missed: bool
    reason: str = ""

    @property
    def end(self) -> float:
        return max(self.at, self.start)


@dataclass
class TimelineData:
    """Everything one recording's timeline shows; built by the document from the core."""

    duration: float = 0.0
    segments: list[MoodSegment] = field(default_factory=list)
    client_speaker: Optional[str] = None
    valence: Optional[Envelope] = None
    expression: Optional[CategoryRuns] = None
    flags: list[Flag] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    verdicts: dict[int, str] = field(default_factory=dict)  # flag id -> verdict
    annotations: list[Annotation] = field(default_factory=list)
    #: the therapist's dominant expression (the same core path as the client's), or None
    #: with ``therapist_note`` saying why (e.g. "therapist not on camera")
    therapist_expression: Optional[CategoryRuns] = None
    therapist_note: str = ""
    #: the two faces' windowed synchrony r over time (NaN: no value), or None with
    #: ``synchrony_note`` saying why
    synchrony: Optional[Envelope] = None
    synchrony_note: str = ""
    responses: list[ResponseMark] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index: dict[str, SpanIndex] = {}

    def segments_of(self, speaker: Optional[str]) -> list[MoodSegment]:
        """The utterances of one speaker (None: all)."""
        if speaker is None:
            return self.segments
        return [s for s in self.segments if (s.speaker or "Speaker") == speaker]

    def span_index(self, key: str) -> SpanIndex:
        """Cached ``SpanIndex`` of "flags", "gaps", "annotations" or "speaker:NAME"."""
        if key not in self._index:
            if key == "flags":
                spans = [(f.start, f.end) for f in self.flags]
            elif key == "gaps":
                spans = [(g.start, g.end) for g in self.gaps]
            elif key == "annotations":
                spans = [(a.start, a.end) for a in self.annotations]
            elif key == "responses":
                spans = [(r.start, r.end) for r in self.responses]
            else:
                name = key.split(":", 1)[1]
                spans = [(s.start, s.end) for s in self.segments_of(None if name == "Transcript" else name)]
            self._index[key] = SpanIndex(spans)
        return self._index[key]

    def invalidate(self, *keys: str) -> None:
        for key in keys or tuple(self._index):
            self._index.pop(key, None)

    @property
    def speakers(self) -> list[str]:
        seen: list[str] = []
        for s in self.segments:
            name = s.speaker or "Speaker"
            if name not in seen:
                seen.append(name)
        client = [name for name in seen if self.is_client_lane(name)]
        if client:  # the client first: that is whose face we read
            seen.remove(client[0])
            seen.insert(0, client[0])
        return seen

    def is_client_lane(self, name: str) -> bool:
        """Whether the speaker lane ``name`` is the client's (once a client is known)."""
        return self.client_speaker is not None and is_client_speaker(name, self.client_speaker)


class Timeline(QObject):
    """Data, view window and playhead of the timeline. Main thread (emits Qt signals)."""

    dataChanged = Signal()
    viewChanged = Signal(float, float)
    playheadChanged = Signal(float)
    selectionChanged = Signal(int)      # flag index in data.flags, -1 for none

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.data = TimelineData()
        self.start = 0.0
        self.end = 1.0
        self.playhead = 0.0
        self.selected = -1

    # -- data -------------------------------------------------------------------------
    def set_data(self, data: TimelineData, keep_view: bool = False) -> None:
        self.data = data
        if not keep_view or self.end > max(data.duration, MIN_SPAN_S) + 1e-9:
            self.start, self.end = 0.0, max(data.duration, MIN_SPAN_S)
        self.selected = -1
        self.dataChanged.emit()
        self.viewChanged.emit(self.start, self.end)

    def set_flags(self, flags: list[Flag], gaps: list[Gap]) -> None:
        """New flags from a recompute; keeps the view so the reviewer stays in place."""
        self.data.flags = flags
        self.data.gaps = gaps
        self.data.invalidate("flags", "gaps")
        self.selected = -1
        self.dataChanged.emit()

    def set_attunement(self, responses: list[ResponseMark], synchrony: Optional[Envelope],
                       synchrony_note: str) -> None:
        """The trainee's responses and the synchrony as stored now (after a recompute)."""
        self.data.responses = list(responses)
        self.data.synchrony = synchrony
        self.data.synchrony_note = synchrony_note
        self.data.invalidate("responses")
        self.dataChanged.emit()

    def set_verdicts(self, verdicts: dict[int, str]) -> None:
        self.data.verdicts = dict(verdicts)
        self.dataChanged.emit()

    def set_annotations(self, annotations: list[Annotation]) -> None:
        self.data.annotations = list(annotations)
        self.data.invalidate("annotations")
        self.dataChanged.emit()

    def select(self, index: int) -> None:
        if index != self.selected:
            self.selected = index
            self.selectionChanged.emit(index)
            self.dataChanged.emit()

    # -- view -------------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return max(self.data.duration, MIN_SPAN_S)

    @property
    def span(self) -> float:
        return self.end - self.start

    def set_view(self, start: float, end: float) -> None:
        span = min(max(end - start, MIN_SPAN_S), self.duration)
        start = min(max(0.0, start), self.duration - span)
        if abs(start - self.start) > 1e-12 or abs(start + span - self.end) > 1e-12:
            self.start, self.end = start, start + span
            self.viewChanged.emit(self.start, self.end)

    def zoom(self, factor: float, anchor: Optional[float] = None) -> None:
        """Zoom in (factor < 1) or out (> 1), keeping ``anchor`` (s) where it is on screen."""
        anchor = self.start + self.span / 2 if anchor is None else anchor
        new_span = min(max(self.span * factor, MIN_SPAN_S), self.duration)
        frac = (anchor - self.start) / self.span if self.span > 0 else 0.5
        self.set_view(anchor - frac * new_span, anchor - frac * new_span + new_span)

    def scroll(self, seconds: float) -> None:
        self.set_view(self.start + seconds, self.end + seconds)

    def show_all(self) -> None:
        self.set_view(0.0, self.duration)

    def ensure_visible(self, t: float, margin: float = 0.1) -> None:
        """Scroll so ``t`` is in view (page-wise, like a DAW following the playhead)."""
        if t < self.start or t > self.end:
            self.scroll(t - self.start - margin * self.span)

    def set_playhead(self, t: float, follow: bool = True) -> None:
        self.playhead = t
        if follow:
            self.ensure_visible(t)
        self.playheadChanged.emit(t)

    # -- look-ups for hover and clicks ----------------------------------------------
    def flags_at(self, t: float, tolerance: float = 0.0) -> list[int]:
        return [i for i, f in enumerate(self.data.flags)
                if f.start - tolerance <= t <= f.end + tolerance]

    def segment_at(self, t: float, speaker: Optional[str] = None) -> Optional[MoodSegment]:
        for s in self.data.segments:
            if s.start <= t < s.end and (speaker is None or (s.speaker or "Speaker") == speaker):
                return s
        return None

    def response_at(self, t: float, tolerance: float = 0.0) -> Optional[ResponseMark]:
        """The response whose span (flag end to deciding turn) or marker covers ``t``."""
        hits = [r for r in self.data.responses
                if r.start - tolerance <= t <= r.end + tolerance]
        return min(hits, key=lambda r: abs(r.at - t)) if hits else None

    def flag_index(self, flag_id: int) -> int:
        """Index in ``data.flags`` of the flag with this id (-1: not shown)."""
        return next((i for i, f in enumerate(self.data.flags) if f.id == flag_id), -1)

    def gap_at(self, t: float) -> Optional[Gap]:
        for g in self.data.gaps:
            if g.start <= t < g.end:
                return g
        return None

    def annotation_at(self, t: float) -> Optional[Annotation]:
        for a in self.data.annotations:
            if a.start <= t < a.end:
                return a
        return None
