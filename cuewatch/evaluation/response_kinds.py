"""Scoring the response-kind rules on a battery of therapist responses.

Shared by ``benchmarks/eval_response_kinds.py`` (which prints the figures) and
``tests/test_response.py`` (which pins them). A battery file is JSON lines: ``text`` (the
therapist's words, "" for no turn), ``kind`` (one of ``RESPONSE_KINDS``) and optionally
``client`` (the client's words before it, for the reader; the rules do not use it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cuewatch.errors import CuewatchError
from cuewatch.words.response import RESPONSE_KINDS, read_response


@dataclass(frozen=True)
class BatteryItem:
    """One therapist response with the kind a reader gives it."""

    text: str
    kind: str
    client: str = ""


@dataclass
class BatteryScore:
    """Accuracy and confusion counts of the rules on one battery file."""

    total: int = 0
    correct: int = 0
    #: (truth, read) -> count
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (text, truth, read kind, rule) of every misread response
    errors: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def load_battery(path: Path) -> list[BatteryItem]:
    """The battery's responses; a line without text or with an unknown kind is refused."""
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CuewatchError(f"{path.name}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or row.get("kind") not in RESPONSE_KINDS \
                or not isinstance(row.get("text"), str):
            raise CuewatchError(f"{path.name}:{n}: needs a text and a kind in {', '.join(RESPONSE_KINDS)}")
        items.append(BatteryItem(row["text"], row["kind"], str(row.get("client", ""))))
    return items


def score_battery(items: list[BatteryItem]) -> BatteryScore:
    """Read every response and compare the kind with the reader's."""
    score = BatteryScore()
    for item in items:
        got = read_response(item.text)
        key = (item.kind, got.kind)
        score.confusion[key] = score.confusion.get(key, 0) + 1
        score.total += 1
        if got.kind == item.kind:
            score.correct += 1
        else:
            score.errors.append((item.text, item.kind, got.kind, got.rule))
    return score


def confusion_table(score: BatteryScore) -> str:
    """Rows: the reader's kind; columns: the rules' kind."""
    width = max(len(k) for k in RESPONSE_KINDS) + 2
    head = "truth \\ read".ljust(width + 2) + "".join(k.rjust(width) for k in RESPONSE_KINDS)
    rows = [
        truth.ljust(width + 2)
        + "".join(str(score.confusion.get((truth, got), 0)).rjust(width) for got in RESPONSE_KINDS)
        for truth in RESPONSE_KINDS
    ]
    return "\n".join([head, *rows])
