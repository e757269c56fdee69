"""The by-person report as text: which people each figure covers, per reading, per class."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from cuewatch.evaluation.by_person import Evaluated
from cuewatch.evaluation.items import SEVEN_CLASSES
from cuewatch.evaluation.metrics import score
from cuewatch.formats import EXPRESSION_CATEGORIES

_SHORT = {"neutral": "neu", "happy": "hap", "sad": "sad", "angry": "ang", "fearful": "fea",
          "surprised": "sur", "disgusted": "dis", "contempt": "con"}


def _pct(x: float) -> str:
    return "   -" if x != x else f"{x:4.0%}"


def covers(ev: Evaluated) -> str:
    """Who a block's figures cover: people and items per source."""
    by_source: dict[str, set] = defaultdict(set)
    items: dict[str, int] = defaultdict(int)
    for r in ev.readings:
        by_source[r.item.source].add(r.item.person)
        items[r.item.source] += 1
    return "; ".join(f"{s}: {len(p)} people, {items[s]} items" for s, p in sorted(by_source.items()))


def block(ev: Evaluated) -> list[str]:
    """One condition and subset: the figures of every reading, recall and confusion."""
    lines = [f"== {ev.condition} neutral / {ev.subset}: {len(ev.people)} people, {len(ev.readings)} items",
             f"   covers: {covers(ev) or 'nothing'}"]
    if not ev.readings:
        return lines
    head = (f"   {'reading':10s} {'7-acc':>5s} {'8-acc':>5s} {'F1-7':>5s} {'val':>5s} {'ECE':>5s} "
            f"{'folds (min-max 7-acc)':>22s}  recall % " + " ".join(_SHORT[c] for c in SEVEN_CLASSES))
    lines.append(head)
    for name in ev.proba:
        s7 = ev.scores(name, SEVEN_CLASSES)
        s8 = ev.scores(name, EXPRESSION_CATEGORIES)
        spread = s7.fold_spread
        folds = f"{spread[0]:.0%}-{spread[1]:.0%} ({len(s7.fold_accuracy)})" if spread else "-"
        rec = " ".join(f"{100 * s7.recall[c]:3.0f}" if c in s7.recall else "  -"
                       for c in SEVEN_CLASSES)
        lines.append(f"   {name:10s} {_pct(s7.accuracy)} {_pct(s8.accuracy)} {_pct(s7.macro_f1)} "
                     f"{_pct(s7.valence_accuracy)} {s7.ece:5.2f} {folds:>22s}  recall {rec}")
    for name in ev.proba:
        s7 = ev.scores(name, SEVEN_CLASSES)
        lines.append(f"   confusion ({name}; rows truth, cols said: "
                     f"{' '.join(_SHORT[c] for c in SEVEN_CLASSES)})")
        for c, row in zip(SEVEN_CLASSES, s7.confusion):
            if row.sum():
                lines.append(f"     {_SHORT[c]} " + " ".join(f"{v:3d}" for v in row))
    return lines


def per_person(ev: Evaluated, min_items: int = 4, most: int = 12) -> list[str]:
    """Per person with at least ``min_items`` items: 7-class accuracy of every reading."""
    by: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(ev.readings):
        by[r.item.person].append(i)
    rows = sorted((p for p, idx in by.items() if len(idx) >= min_items), key=lambda p: -len(by[p]))
    if not rows:
        return []
    out = [f"   per person ({ev.condition}/{ev.subset}, >= {min_items} items; 7-class accuracy):"]
    for p in rows[:most]:
        idx = np.array(by[p])
        labels = [ev.readings[i].item.label for i in idx]
        figs = []
        for name in ev.proba:
            s = score(labels, ev.proba[name][idx], ev.valence[name][idx], SEVEN_CLASSES)
            figs.append(f"{name} {_pct(s.accuracy)} val {_pct(s.valence_accuracy)}")
        out.append(f"     {p:34s} n={len(idx):3d}  " + "; ".join(figs))
    if len(rows) > most:
        out.append(f"     ... and {len(rows) - most} more people")
    return out


def report(results: list[Evaluated]) -> str:
    lines: list[str] = []
    for ev in results:
        lines += block(ev) + per_person(ev) + [""]
    return "\n".join(lines)
