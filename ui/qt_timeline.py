"""QtTimeline: paints a ``Timeline`` in lanes, like a video-annotation tool's tier view.

Lanes, top to bottom: time ruler; one lane per speaker (utterances coloured by stated
mood); the client's valence curve; the client's dominant expression band; the therapist's
dominant expression band ("therapist not on camera" when there is no therapist face); the
two faces' synchrony (windowed correlation over time); flags (colour by type, height by
severity, fainter when confidence is low); the trainee's responses (from each flag's end
to the therapist turn that decided it, coloured by kind, missed moments outlined);
face-not-visible gaps; reviewer verdicts; manual annotations. Mouse wheel zooms around the pointer, Shift+wheel or the
scroll bar scrolls, a click seeks, hovering explains, a drag on the annotation lane marks
a span to label, and the context menu marks an annotation's span (the one under the
pointer, else the one at the playhead) as where the client's face is neutral. Per-frame series are drawn per pixel column from ``Envelope`` buckets.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QHelpEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import QInputDialog, QMenu, QScrollBar, QToolTip, QVBoxLayout, QWidget

from cuewatch.domain import Flag
from cuewatch.formats import COLOURS, EXPRESSION_CATEGORIES, FLAG_TYPES
from cuewatch_ui.timeline import CategoryRuns, Envelope, Timeline

LABEL_WIDTH = 92

#: stated/expressed mood colours (valence -1 .. +1): a diverging red-grey-green. Every
#: colour comes from the core's one table (``cuewatch.formats.COLOURS``), which the
#: exported timeline picture and HTML report read too.
NEGATIVE = QColor(COLOURS["stated_negative"])
NEUTRAL = QColor(COLOURS["stated_neutral"])
POSITIVE = QColor(COLOURS["stated_positive"])
NO_MOOD = QColor(COLOURS["no_mood"])
VALENCE_CURVE = QColor(COLOURS["expressed_valence"])

EXPRESSION_COLOURS = {c: QColor(COLOURS[f"expression_{c}"]) for c in EXPRESSION_CATEGORIES}
FLAG_COLOURS = {kind: QColor(COLOURS[kind]) for kind in FLAG_TYPES}
VERDICT_COLOURS = {v: QColor(COLOURS[f"verdict_{v}"]) for v in ("agree", "disagree", "unsure")}
ANNOTATION_COLOUR = QColor(COLOURS["annotation"])
GAP_COLOUR = QColor(COLOURS["face_not_seen"])
#: the trainee's response kinds (cuewatch.words.response.RESPONSE_KINDS): turning toward
#: the moment in greens and blue, the missed moments (moved on, none) in amber and red.
RESPONSE_COLOURS = {"named": QColor("#2e9e5b"), "explored": QColor("#2a84c0"),
                    "validated": QColor("#86b94a"), "moved_on": QColor("#e08a2c"),
                    "none": QColor("#c94040")}
UNREAD_RESPONSE = QColor(170, 170, 170)
SYNCHRONY_CURVE = QColor(120, 70, 170)
#: what a lane with nothing to draw says, in its own colour
NOTE_COLOUR = QColor(120, 120, 120)


def response_colour(kind: str) -> QColor:
    return RESPONSE_COLOURS.get(kind, UNREAD_RESPONSE)


def response_label(kind: str) -> str:
    """A response kind as people read it ("moved_on" -> "moved on"; "" -> "unread")."""
    return kind.replace("_", " ") if kind else "unread"


def response_text(response: Any) -> str:
    """One stored response as a line: kind, latency, the deciding words (or why unread)."""
    text = response_label(response.kind) + (" (missed moment)" if response.missed else "")
    if response.latency_s is not None:
        text += f", {response.latency_s:.1f} s after the moment"
    if response.evidence:
        text += f": \u201c{response.evidence}\u201d"
    elif response.reason:
        text += f": {response.reason}"
    return text


def valence_colour(valence: Optional[float]) -> QColor:
    """Diverging colour for a valence in [-1, 1]; a light grey when no mood is stated."""
    if valence is None or (isinstance(valence, float) and math.isnan(valence)):
        return NO_MOOD
    return _valence_colour(round(max(-1.0, min(1.0, float(valence))), 2))


@lru_cache(maxsize=256)
def _valence_colour(v: float) -> QColor:
    a, b = (NEUTRAL, POSITIVE) if v >= 0 else (NEUTRAL, NEGATIVE)
    f = min(1.0, abs(v) * 1.6)
    return QColor(int(a.red() + (b.red() - a.red()) * f), int(a.green() + (b.green() - a.green()) * f),
                  int(a.blue() + (b.blue() - a.blue()) * f))


def flag_colour(flag: Flag) -> QColor:
    """Type colour, with opacity from confidence: a weak flag is visibly weaker."""
    c = QColor(FLAG_COLOURS.get(flag.type, QColor(120, 120, 120)))
    c.setAlphaF(0.25 + 0.75 * max(0.0, min(1.0, float(flag.confidence))))
    return c


@dataclass
class Lane:
    key: str
    label: str
    top: float
    height: float

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def contains(self, y: float) -> bool:
        return self.top <= y < self.bottom


class _Canvas(QWidget):
    """The painted area of the timeline (lanes); the scroll bar sits under it."""

    def __init__(self, owner: QtTimeline) -> None:
        super().__init__(owner)
        self.owner = owner
        self.setMouseTracking(True)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def paintEvent(self, event: QPaintEvent) -> None:
        self.owner.paint(self)

    def wheelEvent(self, event: QWheelEvent) -> None:
        self.owner.wheel(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self.owner.press(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.owner.drag(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.owner.release(event)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        menu = self.owner.context_menu(event.pos().x(), event.pos().y())
        if menu.actions():
            menu.exec(event.globalPos())

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            help_event: QHelpEvent = event  # type: ignore[assignment]
            text = self.owner.tooltip_at(help_event.pos().x(), help_event.pos().y())
            if text:
                QToolTip.showText(help_event.globalPos(), text, self)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().event(event)


class QtTimeline(QWidget):
    """View of a ``Timeline``. Main thread.

    Signals: ``seekRequested(t)`` on a click, ``flagClicked(index)`` on a flag,
    ``annotationRequested(start, end, label)`` after a drag on the annotation lane,
    ``neutralRequested(start, end)`` and ``neutralClearRequested()`` from the context menu.
    """

    seekRequested = Signal(float)
    flagClicked = Signal(int)
    annotationRequested = Signal(float, float, str)
    neutralRequested = Signal(float, float)
    neutralClearRequested = Signal()

    #: the context menu's entries
    MARK_NEUTRAL = "Mark as neutral (client's face)"
    CLEAR_NEUTRAL = "Forget the marked neutral"

    RULER = 20
    LANE = 18

    def __init__(self, timeline: Timeline, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.timeline = timeline
        self.canvas = _Canvas(self)
        self.scrollbar = QScrollBar(Qt.Orientation.Horizontal)
        self.scrollbar.setToolTip("Scroll the timeline (Shift + wheel); wheel zooms")
        self.scrollbar.valueChanged.connect(self._scrolled)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(self.scrollbar)
        self.lanes: list[Lane] = []
        self._drag: Optional[tuple[float, float, str]] = None  # (x0, x1, lane key)
        self._press_pos: Optional[QPointF] = None
        self.ask_label = self._ask_label  # replaceable in tests: (start, end) -> label or None
        #: the client's marked neutral span of the recording shown (None: found automatically)
        self.marked_neutral: Optional[tuple[float, float]] = None
        timeline.dataChanged.connect(self._relayout)
        timeline.viewChanged.connect(self._view_changed)
        timeline.playheadChanged.connect(self._playhead_moved)
        self._relayout()

    # -- geometry ---------------------------------------------------------------------
    def _relayout(self) -> None:
        data = self.timeline.data
        lanes: list[Lane] = []
        y = float(self.RULER)

        def add(key: str, label: str, h: float) -> None:
            nonlocal y
            lanes.append(Lane(key, label, y, h))
            y += h + 2

        for name in data.speakers or ["Transcript"]:
            label = f"{name} (client)" if data.is_client_lane(name) else name
            add(f"speaker:{name}", label, self.LANE)
        add("valence", "Face valence", 40)
        add("expression", "Expression", 14)
        add("therapist", "Therapist face", 14)
        add("synchrony", "Synchrony", 26)
        add("flags", "Flags", 22)
        add("responses", "Responses", 16)
        add("gaps", "Face not seen", 14)
        add("verdicts", "Verdicts", 14)
        add("annotations", "Annotations", 22)
        self.lanes = lanes
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.canvas.setMinimumHeight(int(y + 2))
        # no empty band under the last lane: the video above gets the room
        self.setMaximumHeight(int(y + 2) + self.scrollbar.sizeHint().height() + 40)
        self._view_changed(self.timeline.start, self.timeline.end)
        self.canvas.update()

    def lane(self, key: str) -> Optional[Lane]:
        for lane in self.lanes:
            if lane.key == key:
                return lane
        return None

    def lane_at(self, y: float) -> Optional[Lane]:
        for lane in self.lanes:
            if lane.contains(y):
                return lane
        return None

    @property
    def plot_width(self) -> float:
        return max(1.0, self.canvas.width() - LABEL_WIDTH)

    def x_of(self, t: float) -> float:
        tl = self.timeline
        return LABEL_WIDTH + (t - tl.start) / tl.span * self.plot_width

    def t_of(self, x: float) -> float:
        tl = self.timeline
        return tl.start + (x - LABEL_WIDTH) / self.plot_width * tl.span

    # -- model signals ----------------------------------------------------------------
    _SCROLL_STEPS = 10000

    def _view_changed(self, start: float, end: float) -> None:
        tl = self.timeline
        hidden = max(0.0, tl.duration - tl.span)
        sb = self.scrollbar
        sb.blockSignals(True)
        sb.setRange(0, self._SCROLL_STEPS if hidden > 0 else 0)
        sb.setPageStep(int(self._SCROLL_STEPS * tl.span / max(hidden, 1e-9)) if hidden > 0 else 1)
        sb.setValue(int(round(start / hidden * self._SCROLL_STEPS)) if hidden > 0 else 0)
        sb.blockSignals(False)
        self.canvas.update()

    def _scrolled(self, value: int) -> None:
        tl = self.timeline
        hidden = max(0.0, tl.duration - tl.span)
        start = value / self._SCROLL_STEPS * hidden
        tl.set_view(start, start + tl.span)

    def _playhead_moved(self, t: float) -> None:
        self.canvas.update()

    # -- painting ---------------------------------------------------------------------
    def paint(self, canvas: QWidget) -> None:
        tl = self.timeline
        data = tl.data
        p = QPainter(canvas)
        pal = canvas.palette()
        p.fillRect(canvas.rect(), pal.base())
        w = self.plot_width
        n = int(w)
        p.save()
        p.setClipRect(QRectF(LABEL_WIDTH, 0, w, canvas.height()))
        self._paint_ruler(p)
        for lane in self.lanes:
            p.fillRect(QRectF(LABEL_WIDTH, lane.top, w, lane.height), pal.alternateBase())
            if lane.key.startswith("speaker:"):
                self._paint_utterances(p, lane, lane.key.split(":", 1)[1])
            elif lane.key == "valence" and data.valence is not None:
                self._paint_curve(p, lane, n, data.valence, VALENCE_CURVE, (40, 90, 160, 220))
            elif lane.key == "expression" and data.expression is not None:
                self._paint_expression(p, lane, n, data.expression)
            elif lane.key == "therapist":
                if data.therapist_expression is not None:
                    self._paint_expression(p, lane, n, data.therapist_expression)
                else:
                    self._paint_note(p, lane, data.therapist_note)
            elif lane.key == "synchrony":
                if data.synchrony is not None:
                    self._paint_curve(p, lane, n, data.synchrony, SYNCHRONY_CURVE, (120, 70, 170, 200))
                else:
                    self._paint_note(p, lane, data.synchrony_note)
            elif lane.key == "flags":
                self._paint_flags(p, lane)
            elif lane.key == "responses":
                self._paint_responses(p, lane)
            elif lane.key == "gaps":
                gaps = [data.gaps[i] for i in data.span_index("gaps").visible(tl.start, tl.end, n)]
                self._paint_spans(p, lane, [(g.start, g.end) for g in gaps],
                                  QBrush(GAP_COLOUR, Qt.BrushStyle.BDiagPattern))
            elif lane.key == "verdicts":
                self._paint_verdicts(p, lane)
            elif lane.key == "annotations":
                self._paint_annotations(p, lane)
        if self._drag is not None and self._drag[2] == "annotations":
            drag_lane = self.lane("annotations")
            if drag_lane is not None:
                x0, x1 = sorted(self._drag[:2])
                c = QColor(ANNOTATION_COLOUR)
                c.setAlpha(90)
                p.fillRect(QRectF(x0, drag_lane.top, max(1.0, x1 - x0), drag_lane.height), c)
        if tl.selected >= 0 and tl.selected < len(data.flags):
            f = data.flags[tl.selected]
            x0, x1 = self.x_of(f.start), self.x_of(f.end)
            sel = QColor(pal.highlight().color())
            sel.setAlpha(45)
            p.fillRect(QRectF(x0, self.RULER, max(2.0, x1 - x0), canvas.height()), sel)
        x = self.x_of(tl.playhead)
        p.setPen(QPen(QColor(220, 30, 30), 1.5))
        p.drawLine(QPointF(x, 0), QPointF(x, canvas.height()))
        p.restore()
        # lane labels last, over a solid column
        p.fillRect(QRectF(0, 0, LABEL_WIDTH, canvas.height()), pal.window())
        p.setPen(pal.windowText().color())
        font = p.font()
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        for lane in self.lanes:
            p.drawText(QRectF(4, lane.top, LABEL_WIDTH - 8, lane.height),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                       p.fontMetrics().elidedText(lane.label, Qt.TextElideMode.ElideRight,
                                                  LABEL_WIDTH - 8))
        p.end()

    def _paint_ruler(self, p: QPainter) -> None:
        tl = self.timeline
        steps = (0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
        target = tl.span / max(1.0, self.plot_width / 90.0)
        step = next((s for s in steps if s >= target), steps[-1])
        p.setPen(self.palette().windowText().color())
        first = math.ceil(tl.start / step) * step
        t = first
        while t <= tl.end + 1e-9:
            x = self.x_of(t)
            p.drawLine(QPointF(x, self.RULER - 6), QPointF(x, self.RULER))
            if step >= 1:
                m, s = divmod(int(round(t)), 60)
                label = f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"
            else:
                label = f"{t:.2f}s"
            p.drawText(QPointF(x + 3, self.RULER - 7), label)
            t += step

    def _raster(self, p: QPainter, lane: Lane, rgba: np.ndarray) -> None:
        """Draw an (h, n, 4) or (1, n, 4) RGBA array over the lane: one call for a whole lane."""
        rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
        h, n = rgba.shape[:2]
        image = QImage(rgba.data, n, h, n * 4, QImage.Format.Format_RGBA8888)
        p.drawImage(QRectF(LABEL_WIDTH, lane.top, n, lane.height), image)

    def _span_columns(self, starts: np.ndarray, ends: np.ndarray, rgba: np.ndarray, n: int) -> np.ndarray:
        """Per-pixel colours of many narrow spans (later spans over earlier): (1, n, 4)."""
        tl = self.timeline
        scale = n / tl.span
        x0 = np.clip(np.floor((starts - tl.start) * scale), 0, n - 1).astype(np.int64)
        x1 = np.clip(np.ceil((ends - tl.start) * scale), 0, n).astype(np.int64)
        x1 = np.maximum(x1, x0 + 1)
        row = np.zeros((1, n, 4), dtype=np.uint8)
        for a, b, c in zip(x0, x1, rgba):
            row[0, a:b] = c
        return row

    def _lane_arrays(self, key: str, items: Sequence[Any], colour: Callable[[Any], QColor]
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start, end and RGBA arrays of a lane's items, cached until the data changes."""
        cached = self._arrays.get(key)
        if cached is None:
            starts = np.array([it.start for it in items], dtype=np.float64)
            ends = np.array([it.end for it in items], dtype=np.float64)
            rgba = np.array([colour(it).getRgb() for it in items], dtype=np.uint8).reshape(-1, 4)
            cached = self._arrays[key] = (starts, ends, rgba)
        return cached

    def _paint_utterances(self, p: QPainter, lane: Lane, speaker: str) -> None:
        tl = self.timeline
        n = int(self.plot_width)
        segments = tl.data.segments_of(None if speaker == "Transcript" else speaker)
        visible = tl.data.span_index(lane.key).visible(tl.start, tl.end, n)
        if len(visible) > n // 6:  # zoomed out: one image for the lane
            starts, ends, rgba = self._lane_arrays(lane.key, segments,
                                                   lambda s: valence_colour(s.valence))
            self._raster(p, lane, self._span_columns(starts[visible], ends[visible], rgba[visible], n))
            return
        p.setPen(QPen(QColor(0, 0, 0, 60), 0.5))
        metrics = p.fontMetrics()
        text_pen = QColor(20, 20, 20)
        for i in visible:
            s = segments[i]
            x0, x1 = self.x_of(s.start), self.x_of(s.end)
            rect = QRectF(x0, lane.top + 1, max(1.0, x1 - x0), lane.height - 2)
            p.setBrush(valence_colour(s.valence))
            p.drawRect(rect)
            if rect.width() > 30 and s.text:
                p.save()
                p.setPen(text_pen)
                p.drawText(rect.adjusted(3, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter,
                           metrics.elidedText(s.text, Qt.TextElideMode.ElideRight, int(rect.width() - 5)))
                p.restore()

    def _paint_note(self, p: QPainter, lane: Lane, note: str) -> None:
        """A lane with no values says why, in grey, where the values would be."""
        if not note:
            return
        p.save()
        p.setPen(NOTE_COLOUR)
        font = p.font()
        font.setItalic(True)
        p.setFont(font)
        p.drawText(QRectF(LABEL_WIDTH + 6, lane.top, self.plot_width - 8, lane.height),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, note)
        p.restore()

    def _paint_curve(self, p: QPainter, lane: Lane, n: int, env: Envelope, curve: QColor,
                     band: tuple[int, int, int, int]) -> None:
        """A series in [-1, 1] (face valence, synchrony r): lines when zoomed in, else the
        min/max band per pixel column as one image."""
        tl = self.timeline
        h = int(lane.height)
        p.setPen(QPen(QColor(0, 0, 0, 50), 0.5, Qt.PenStyle.DashLine))
        p.drawLine(QPointF(LABEL_WIDTH, lane.top + lane.height / 2),
                   QPointF(LABEL_WIDTH + self.plot_width, lane.top + lane.height / 2))
        times, values = env.window(tl.start, tl.end)
        if 0 < len(times) <= n:  # zoomed in: fewer samples than pixels, so draw them as lines
            scale = (lane.height / 2 - 1)
            mid_y = lane.top + lane.height / 2
            xs = LABEL_WIDTH + (times - tl.start) / tl.span * self.plot_width
            ys = mid_y - values * scale
            path = QPainterPath()
            pen_down = False
            for x, y in zip(xs.tolist(), ys.tolist()):
                if y != y:  # NaN: the face was not seen, lift the pen
                    pen_down = False
                elif pen_down:
                    path.lineTo(x, y)
                else:
                    path.moveTo(x, y)
                    pen_down = True
            p.setPen(QPen(curve, 1.5))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawPath(path)
            return
        lo, hi = env.buckets(tl.start, tl.end, n)
        mid = (h - 1) / 2.0
        ok = ~np.isnan(lo)
        if not ok.any():
            return
        y_top = np.where(ok, np.floor(mid - np.nan_to_num(hi) * mid), h)       # (n,)
        y_bot = np.where(ok, np.ceil(mid - np.nan_to_num(lo) * mid), -1)
        # join neighbouring columns so a steep curve stays connected
        y_top_j = np.minimum(y_top, np.minimum(np.r_[y_top[:1], y_top[:-1]], np.r_[y_top[1:], y_top[-1:]]) + 1)
        y_bot_j = np.maximum(y_bot, np.maximum(np.r_[y_bot[:1], y_bot[:-1]], np.r_[y_bot[1:], y_bot[-1:]]) - 1)
        y_top = np.where(ok, np.minimum(y_top, np.where(ok, y_top_j, y_top)), y_top)
        y_bot = np.where(ok, np.maximum(y_bot, np.where(ok, y_bot_j, y_bot)), y_bot)
        rows = np.arange(h)[:, None]
        inside = (rows >= y_top[None, :]) & (rows <= y_bot[None, :])
        rgba = np.zeros((h, n, 4), dtype=np.uint8)
        rgba[inside] = band
        self._raster(p, lane, rgba)

    def _paint_expression(self, p: QPainter, lane: Lane, n: int, runs: CategoryRuns) -> None:
        tl = self.timeline
        cats = runs.buckets(tl.start, tl.end, n)
        if len(cats) == 0:
            return
        lut = np.array([EXPRESSION_COLOURS.get(name, QColor(150, 150, 150)).getRgb()
                        for name in runs.names] + [(0, 0, 0, 0)], dtype=np.uint8)
        self._raster(p, lane, lut[cats][None, :, :])  # -1 picks the transparent last row

    def _paint_flags(self, p: QPainter, lane: Lane) -> None:
        tl = self.timeline
        n = int(self.plot_width)
        visible = tl.data.span_index("flags").visible(tl.start, tl.end, n)
        if len(visible) > n // 6:
            starts, ends, rgba = self._lane_arrays("flags", tl.data.flags, flag_colour)
            self._raster(p, lane, self._span_columns(starts[visible], ends[visible], rgba[visible], n))
            visible = visible[visible == tl.selected]
        for i in visible:
            f = tl.data.flags[i]
            x0, x1 = self.x_of(f.start), self.x_of(f.end)
            h = lane.height * (0.45 + 0.55 * max(0.0, min(1.0, float(f.severity))))
            rect = QRectF(x0, lane.bottom - h, max(3.0, x1 - x0), h)
            p.setBrush(flag_colour(f))
            p.setPen(QPen(QColor(0, 0, 0), 2.0) if i == tl.selected else QPen(QColor(0, 0, 0, 80), 0.5))
            p.drawRect(rect)

    def _paint_responses(self, p: QPainter, lane: Lane) -> None:
        """Each response: a thin line over its latency (flag end to the deciding turn) and
        a chip at the turn, coloured by kind; a missed moment's chip is outlined in black."""
        tl = self.timeline
        n = int(self.plot_width)
        metrics = p.fontMetrics()
        selected = tl.data.flags[tl.selected].id if 0 <= tl.selected < len(tl.data.flags) else None
        mid = lane.top + lane.height / 2
        for i in tl.data.span_index("responses").visible(tl.start, tl.end, n):
            r = tl.data.responses[i]
            colour = response_colour(r.kind)
            x0, x_at = self.x_of(r.start), self.x_of(r.at)
            if x_at - x0 > 1:
                p.setPen(QPen(colour, 1.5))
                p.drawLine(QPointF(x0, mid), QPointF(x_at, mid))
            label = response_label(r.kind)
            width = max(8.0, min(float(metrics.horizontalAdvance(label) + 8), 90.0))
            # at the view's right edge the chip stays in view, ending at its turn
            x_chip = x_at if x_at + width <= LABEL_WIDTH + self.plot_width else x_at - width
            rect = QRectF(x_chip, lane.top + 1, width, lane.height - 2)
            p.setBrush(colour)
            if r.flag_id == selected:
                p.setPen(QPen(QColor(0, 0, 0), 2.0))
            elif r.missed:
                p.setPen(QPen(QColor(0, 0, 0, 170), 1.0, Qt.PenStyle.DashLine))
            else:
                p.setPen(QPen(colour.darker(140), 0.5))
            p.drawRoundedRect(rect, 3, 3)
            if rect.width() > 20 and tl.span / self.plot_width < 0.2:
                p.setPen(QColor(255, 255, 255))
                p.drawText(rect.adjusted(4, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter,
                           metrics.elidedText(label, Qt.TextElideMode.ElideRight, int(rect.width() - 6)))

    def _paint_spans(self, p: QPainter, lane: Lane, spans: list[tuple[float, float]], brush: QBrush) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        for a, b in spans:
            x0, x1 = self.x_of(a), self.x_of(b)
            p.fillRect(QRectF(x0, lane.top, max(1.0, x1 - x0), lane.height), brush)

    def _paint_verdicts(self, p: QPainter, lane: Lane) -> None:
        tl = self.timeline
        for i in tl.data.span_index("flags").visible(tl.start, tl.end, int(self.plot_width)):
            f = tl.data.flags[i]
            verdict = tl.data.verdicts.get(f.id) if f.id is not None else None
            if verdict is None:
                continue
            x0, x1 = self.x_of(f.start), self.x_of(f.end)
            p.fillRect(QRectF(x0, lane.top + 1, max(3.0, x1 - x0), lane.height - 2),
                       VERDICT_COLOURS.get(verdict, NEUTRAL))

    def _paint_annotations(self, p: QPainter, lane: Lane) -> None:
        tl = self.timeline
        metrics = p.fontMetrics()
        for i in tl.data.span_index("annotations").visible(tl.start, tl.end, int(self.plot_width)):
            a = tl.data.annotations[i]
            x0, x1 = self.x_of(a.start), self.x_of(a.end)
            rect = QRectF(x0, lane.top + 1, max(2.0, x1 - x0), lane.height - 2)
            p.setPen(QPen(ANNOTATION_COLOUR.darker(130), 1))
            p.setBrush(QColor(ANNOTATION_COLOUR.red(), ANNOTATION_COLOUR.green(), ANNOTATION_COLOUR.blue(), 150))
            p.drawRect(rect)
            if rect.width() > 20:
                p.setPen(QColor(255, 255, 255))
                p.drawText(rect.adjusted(3, 0, -2, 0), Qt.AlignmentFlag.AlignVCenter,
                           metrics.elidedText(a.label, Qt.TextElideMode.ElideRight, int(rect.width() - 5)))

    # -- interaction ------------------------------------------------------------------
    def wheel(self, event: QWheelEvent) -> None:
        tl = self.timeline
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta == 0:
            return
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            tl.scroll(-delta / 120.0 * tl.span * 0.1)
        else:
            anchor = self.t_of(event.position().x()) if event.position().x() >= LABEL_WIDTH else None
            tl.zoom(0.8 ** (delta / 120.0), anchor)
        event.accept()

    def press(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or event.position().x() < LABEL_WIDTH:
            return
        self._press_pos = event.position()
        lane = self.lane_at(event.position().y())
        x = event.position().x()
        self._drag = (x, x, lane.key if lane else "")

    def drag(self, event: QMouseEvent) -> None:  # not move(): that is QWidget's
        if self._drag is not None and event.buttons() & Qt.MouseButton.LeftButton:
            x0, _x1, key = self._drag
            self._drag = (x0, max(LABEL_WIDTH, event.position().x()), key)
            if key != "annotations":  # scrubbing: seek as the pointer moves
                self.seekRequested.emit(max(0.0, self.t_of(self._drag[1])))
            self.canvas.update()

    def release(self, event: QMouseEvent) -> None:
        if self._drag is None or event.button() != Qt.MouseButton.LeftButton:
            return
        x0, _x, key = self._drag
        x1 = max(LABEL_WIDTH, event.position().x())
        self._drag = None
        self.canvas.update()
        if key == "annotations" and abs(x1 - x0) >= 4:
            a, b = sorted((self.t_of(x0), self.t_of(x1)))
            a, b = max(0.0, a), min(self.timeline.duration, b)
            label = self.ask_label(a, b)
            if label:
                self.annotationRequested.emit(a, b, label)
            return
        t = max(0.0, self.t_of(x1))
        if key == "flags":
            hits = self.timeline.flags_at(t, tolerance=2 * self.timeline.span / self.plot_width)
            if hits:
                self.flagClicked.emit(hits[0])
                return
        if key == "responses":
            response = self.timeline.response_at(t, tolerance=4 * self.timeline.span / self.plot_width)
            index = self.timeline.flag_index(response.flag_id) if response is not None else -1
            if index >= 0:
                self.flagClicked.emit(index)
                return
        self.seekRequested.emit(t)

    def neutral_candidate(self, x: float, y: float) -> Optional[tuple[float, float]]:
        """The span "Mark as neutral" would mark: the annotation under the pointer on the
        annotation lane, else the one at the playhead (the current annotation)."""
        tl = self.timeline
        lane = self.lane_at(y)
        hit = tl.annotation_at(self.t_of(x)) if lane is not None and lane.key == "annotations" \
            and x >= LABEL_WIDTH else None
        hit = hit or tl.annotation_at(tl.playhead)
        return (float(hit.start), float(hit.end)) if hit is not None else None

    def context_menu(self, x: float, y: float) -> QMenu:
        """The timeline's context menu at (x, y): mark the span as the client's neutral
        face, or forget the marked one (``marked_neutral``: what the recording has now)."""
        menu = QMenu(self)
        span = self.neutral_candidate(x, y)
        if span is not None:
            act = menu.addAction(f"{self.MARK_NEUTRAL}: {span[0]:.2f} - {span[1]:.2f} s")
            act.triggered.connect(lambda: self.neutralRequested.emit(*span))
        if self.marked_neutral is not None:
            act = menu.addAction(f"{self.CLEAR_NEUTRAL} ({self.marked_neutral[0]:.2f} - "
                                 f"{self.marked_neutral[1]:.2f} s)")
            act.triggered.connect(self.neutralClearRequested.emit)
        return menu

    def _ask_label(self, start: float, end: float) -> Optional[str]:
        text, ok = QInputDialog.getText(self, "Annotate span",
                                        f"Label for {start:.2f} s - {end:.2f} s:")
        return text.strip() if ok and text.strip() else None

    def tooltip_at(self, x: float, y: float) -> str:
        if x < LABEL_WIDTH:
            lane = self.lane_at(y)
            return lane.label if lane else ""
        lane = self.lane_at(y)
        if lane is None:
            return ""
        tl = self.timeline
        t = self.t_of(x)
        stamp = f"{int(t // 60)}:{t % 60:05.2f}"
        if lane.key.startswith("speaker:"):
            name = lane.key.split(":", 1)[1]
            s = tl.segment_at(t, None if name == "Transcript" else name)
            if s is None:
                return ""
            mood = s.category or "no mood stated"
            val = "" if s.valence is None else f", valence {s.valence:+.2f}"
            return f"<b>{s.speaker or ''}</b> {s.start:.2f}-{s.end:.2f} s<br>\u201c{s.text}\u201d<br>stated: {mood}{val}"
        if lane.key == "valence" and tl.data.valence is not None:
            v = tl.data.valence.value_at(t)
            return f"{stamp}  face valence " + ("not seen" if math.isnan(v) else f"{v:+.2f}")
        if lane.key == "expression" and tl.data.expression is not None:
            c = tl.data.expression.at(t)
            return f"{stamp}  expression (prototype match): " + (tl.data.expression.names[c] if c >= 0 else "none")
        if lane.key == "therapist":
            runs = tl.data.therapist_expression
            if runs is None:
                return tl.data.therapist_note
            c = runs.at(t)
            return f"{stamp}  therapist's expression (prototype match): " + (runs.names[c] if c >= 0 else "none")
        if lane.key == "synchrony":
            if tl.data.synchrony is None:
                return tl.data.synchrony_note
            r = tl.data.synchrony.value_at(t)
            return (f"{stamp}  synchrony of the two faces (windowed correlation): "
                    + ("no value" if math.isnan(r) else f"r = {r:+.2f}"))
        if lane.key == "responses":
            resp = tl.response_at(t, tolerance=4 * tl.span / self.plot_width)
            if resp is None:
                return ""
            return f"<b>response: {html.escape(response_text(resp))}</b>"
        if lane.key in ("flags", "verdicts"):
            hits = tl.flags_at(t, tolerance=2 * tl.span / self.plot_width)
            if not hits:
                return ""
            f = tl.data.flags[hits[0]]
            verdict = tl.data.verdicts.get(f.id) if f.id is not None else None
            return (f"<b>{f.type}</b> {f.start:.2f}-{f.end:.2f} s<br>"
                    f"said: \u201c{f.stated.get('words', '')}\u201d ({f.stated.get('category') or 'no mood'})<br>"
                    f"face: {f.expressed.get('category', '?')}<br>"
                    f"severity {f.severity:.2f}, confidence {f.confidence:.2f}"
                    + (f"<br>verdict: {verdict}" if verdict else ""))
        if lane.key == "gaps":
            g = tl.gap_at(t)
            return f"{g.reason}: {g.start:.2f}-{g.end:.2f} s" if g else ""
        if lane.key == "annotations":
            a = tl.annotation_at(t)
            if a:
                return f"<b>{a.label}</b> {a.start:.2f}-{a.end:.2f} s" + (f" ({a.reviewer})" if a.reviewer else "")
            return "Drag here to mark a span and label it"
        return ""
