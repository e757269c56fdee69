"""Response-kind accuracy on the battery of therapist responses (issue 13, section 6).

Two files in benchmarks/data, written for this project: ``response_kinds_tuning.jsonl``
(the rules in ``cuewatch/words/response_rules.py`` were tuned on it) and
``response_kinds_heldout.jsonl`` (a third of the battery, written before any rule and never
read while tuning). One JSON object a line: ``text`` (the therapist's words, "" for no
turn), ``kind`` (named, explored, validated, moved_on, none), ``client`` (the client's
words before it, for the reader; the rules do not use it).

Prints accuracy on each file and a confusion table (rows: truth, columns: read), and with
``--errors`` the misread tuning lines (never the held-out ones: they stay unseen).
Usage: python benchmarks/eval_response_kinds.py [--errors]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from cuewatch.words.response import RESPONSE_KINDS, read_response

DATA = Path(__file__).resolve().parent / "data"
TUNING = DATA / "response_kinds_tuning.jsonl"
HELDOUT = DATA / "response_kinds_heldout.jsonl"


@dataclass
class Score:
    """Accuracy and confusion counts of one battery file."""

    total: int
    correct: int
    confusion: dict[tuple[str, str], int]
    errors: list[tuple[str, str, str]]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def load_battery(path: Path) -> list[dict[str, str]]:
    """The battery's lines; a line with an unknown kind is an error in the file."""
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("kind") not in RESPONSE_KINDS or not isinstance(item.get("text"), str):
            raise ValueError(f"{path.name}:{n}: needs text and a kind in {RESPONSE_KINDS}")
        items.append(item)
    return items


def score(path: Path) -> Score:
    """Read every response of one battery file and compare with its kind."""
    confusion: dict[tuple[str, str], int] = {}
    errors = []
    correct = 0
    items = load_battery(path)
    for item in items:
        got = read_response(item["text"])
        confusion[(item["kind"], got.kind)] = confusion.get((item["kind"], got.kind), 0) + 1
        if got.kind == item["kind"]:
            correct += 1
        else:
            errors.append((item["text"], item["kind"], f"{got.kind} ({got.rule})"))
    return Score(len(items), correct, confusion, errors)


def confusion_table(s: Score) -> str:
    width = max(len(k) for k in RESPONSE_KINDS) + 2
    lines = ["truth \\ read".ljust(width + 2) + "".join(k.rjust(width) for k in RESPONSE_KINDS)]
    for truth in RESPONSE_KINDS:
        row = "".join(str(s.confusion.get((truth, got), 0)).rjust(width) for got in RESPONSE_KINDS)
        lines.append(truth.ljust(width + 2) + row)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the misread TUNING lines")
    args = parser.parse_args()
    for name, path in (("tuning", TUNING), ("held-out", HELDOUT)):
        s = score(path)
        print(f"{name}: {s.correct}/{s.total} = {s.accuracy:.1%}")
        print(confusion_table(s))
        print()
        if args.errors and path == TUNING:
            for text, truth, got in s.errors:
                print(f"  {truth:>9} read as {got}: {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
