"""The recording's timeline as a picture (numpy + OpenCV, no plotting library).

Top band: the client's stated mood per utterance (green positive, red negative, grey
neutral or none). Middle: the client's expressed valence curve around a zero line.
Flags are shaded across the whole height and numbered; gaps (face not seen) hatched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import cv2
import numpy as np

from cuewatch.domain import Flag, Gap, MoodSegment
from cuewatch.formats import FLAG_TYPES, colour_rgb
from cuewatch.words.stated_mood import polarity

WIDTH, HEIGHT = 1000, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 60, 16, 8, 28
_MOOD_H = 34
_FONT = cv2.FONT_HERSHEY_SIMPLEX



def _bgr(name: str) -> tuple[int, int, int]:
    """A colour of the one table (``cuewatch.formats.COLOURS``) in OpenCV's BGR order."""
    r, g, b = colour_rgb(name)
    return b, g, r


_POS, _NEG, _NEU = _bgr("stated_positive"), _bgr("stated_negative"), _bgr("stated_neutral")
_FLAG = {kind: _bgr(kind) for kind in FLAG_TYPES}
_CURVE, _HATCH = _bgr("expressed_valence"), _bgr("face_not_seen")
_GRID, _TEXT = (220, 220, 220), (40, 40, 40)


def _ascii(text: str) -> str:
    """Hershey fonts draw ASCII only."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _mood_colour(valence: Optional[float]) -> tuple[int, int, int]:
    side = polarity(valence)
    return _POS if side == "pos" else _NEG if side == "neg" else _NEU


def render_timeline(duration: float, *, client_segments: Sequence[MoodSegment] = (),
                    flags: Sequence[Flag] = (), flag_labels: Sequence[str] = (),
                    gaps: Sequence[Gap] = (), valence_curve: Optional[tuple] = None,
                    width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """The timeline as a BGR uint8 image of ``width`` x ``height``."""
    ends = [duration] + [s.end for s in client_segments] + [f.end for f in flags] + [g.end for g in gaps]
    if valence_curve is not None and len(valence_curve[0]):
        ends.append(float(np.max(valence_curve[0])))
    span = max(1e-3, max(float(e) for e in ends))
    img: np.ndarray = np.full((height, width, 3), 255, np.uint8)
    x0, x1 = _LEFT, width - _RIGHT
    mood_top, mood_bot = _TOP, _TOP + _MOOD_H
    curve_top, curve_bot = mood_bot + 10, height - _BOTTOM

    def x_of(t: float) -> int:
        return int(round(x0 + (x1 - x0) * min(max(t, 0.0), span) / span))

    def y_of(v: float) -> int:
        v = min(1.0, max(-1.0, v))
        return int(round(curve_top + (curve_bot - curve_top) * (1.0 - v) / 2.0))

    # flags first, so everything else is drawn over their shading
    overlay = img.copy()
    for f in flags:
        cv2.rectangle(overlay, (x_of(f.start), _TOP), (max(x_of(f.end), x_of(f.start) + 2), curve_bot),
                      _FLAG.get(f.type, _FLAG["incongruence"]), -1)
    img = cv2.addWeighted(overlay, 0.28, img, 0.72, 0)
    for g in gaps:
        a, b = x_of(g.start), max(x_of(g.end), x_of(g.start) + 1)
        roi = img[curve_top:curve_bot, a:b]  # a view: drawing on it draws on img, clipped
        roi[:] = (235, 235, 235)
        h = curve_bot - curve_top
        for x in range(-h, b - a, 8):
            cv2.line(roi, (x, h), (x + h, 0), _HATCH, 1)

    # stated mood band
    cv2.rectangle(img, (x0, mood_top), (x1, mood_bot), (245, 245, 245), -1)
    for s in client_segments:
        a, b = x_of(s.start), max(x_of(s.end), x_of(s.start) + 1)
        cv2.rectangle(img, (a, mood_top + 2), (b, mood_bot - 2), _mood_colour(s.valence), -1)
        label = _ascii(s.category or "")
        if label:
            (tw, th), _ = cv2.getTextSize(label, _FONT, 0.4, 1)
            if tw + 4 < b - a:
                cv2.putText(img, label, (a + 2, mood_bot - 10), _FONT, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(img, "stated", (4, mood_bot - 12), _FONT, 0.4, _TEXT, 1, cv2.LINE_AA)

    # valence axis and curve
    for v in (-1.0, 0.0, 1.0):
        cv2.line(img, (x0, y_of(v)), (x1, y_of(v)), (150, 150, 150) if v == 0 else _GRID, 1)
        cv2.putText(img, f"{v:+.0f}" if v else "0", (x0 - 26, y_of(v) + 4), _FONT, 0.4, _TEXT, 1, cv2.LINE_AA)
    cv2.putText(img, "face", (4, (curve_top + curve_bot) // 2 + 4), _FONT, 0.4, _TEXT, 1, cv2.LINE_AA)
    if valence_curve is not None and len(valence_curve[0]) > 0:
        times = np.asarray(valence_curve[0], dtype=np.float64)
        vals = np.asarray(valence_curve[1], dtype=np.float64)
        ok = np.isfinite(times) & np.isfinite(vals)
        times, vals = times[ok], vals[ok]
        order = np.argsort(times)
        times, vals = times[order], vals[order]
        if times.size:
            # break the line where the face was not seen for a while
            breaks = np.flatnonzero(np.diff(times) > 1.0) + 1
            for part_t, part_v in zip(np.split(times, breaks), np.split(vals, breaks)):
                pts = np.array([[x_of(a), y_of(b)] for a, b in zip(part_t, part_v)], np.int32)
                if len(pts) == 1:
                    cv2.circle(img, tuple(int(c) for c in pts[0]), 2, _CURVE, -1)
                else:
                    cv2.polylines(img, [pts], False, _CURVE, 2, cv2.LINE_AA)

    # flag numbers and borders
    for f, label in zip(flags, list(flag_labels) + [""] * len(flags)):
        a, b = x_of(f.start), x_of(f.end)
        colour = _FLAG.get(f.type, _FLAG["incongruence"])
        cv2.rectangle(img, (a, _TOP), (max(b, a + 2), curve_bot), colour, 1)
        if label:
            cv2.putText(img, _ascii(label), (a + 2, curve_top + 12), _FONT, 0.4, colour, 1, cv2.LINE_AA)

    # time axis
    cv2.line(img, (x0, curve_bot), (x1, curve_bot), _TEXT, 1)
    step = next(s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
                if span / s <= 12)
    t = 0.0
    while t <= span + 1e-9:
        x = x_of(t)
        cv2.line(img, (x, curve_bot), (x, curve_bot + 4), _TEXT, 1)
        text = f"{int(t // 60)}:{int(t % 60):02d}" if step >= 1 else f"{t:.1f}s"
        (tw, _), _ = cv2.getTextSize(text, _FONT, 0.38, 1)
        cv2.putText(img, text, (min(max(0, x - tw // 2), width - tw), height - 8), _FONT, 0.38, _TEXT, 1, cv2.LINE_AA)
        t += step
    return img
