"""Response-kind accuracy on the battery of therapist responses (issue 13, section 6).

Two files in benchmarks/data, written for this project: ``response_kinds_tuning.jsonl``
(the rules in ``cuewatch/words/response_rules.py`` were tuned on it) and
``response_kinds_heldout.jsonl`` (a third of the battery, written before any rule and never
read while tuning). Format: ``cuewatch.evaluation.response_kinds``.

Prints accuracy on each file and a confusion table (rows: truth, columns: read); with
``--errors``, the misread TUNING lines (never the held-out ones: they stay unseen).
Usage: python benchmarks/eval_response_kinds.py [--errors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cuewatch.evaluation.response_kinds import confusion_table, load_battery, score_battery

DATA = Path(__file__).resolve().parent / "data"
TUNING = DATA / "response_kinds_tuning.jsonl"
HELDOUT = DATA / "response_kinds_heldout.jsonl"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--errors", action="store_true", help="list the misread tuning lines")
    args = parser.parse_args()
    for name, path in (("tuning", TUNING), ("held-out", HELDOUT)):
        score = score_battery(load_battery(path))
        print(f"{name}: {score.correct}/{score.total} = {score.accuracy:.1%}")
        print(confusion_table(score))
        print()
        if args.errors and path == TUNING:
            for text, truth, got, rule in score.errors:
                print(f"  {truth:>9} read as {got} ({rule}): {text!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
