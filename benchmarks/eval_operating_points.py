#!/usr/bin/env python3
"""Operating points: the flag curve over the threshold grid, and the chosen low/medium/high.

Selection cases: ../shared/eval (development) and the cases of the same people among
--cases folders (benchmarks/build_cases.py output); held out: the built cases of every
other person, scored only at the end (see cuewatch.evaluation.operating_points). Features
come from the feature cache (the face pass runs once per case); the sweep cuts flags only.

Usage: python benchmarks/eval_operating_points.py [--eval ../shared/eval] [--cases DIR ...]
       [--write]
Prints the curve on the selection cases (best recall at each false-alarm rate; the Pareto
front with its held-out figures), where today's presets sit, and per sensitivity the
cross-validated estimate with its spread across folds, the held-out figures and the
choice. --write puts the points into cuewatch/flags/operating_points.json.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

from cuewatch.evaluation.operating_points import (
    GRID,
    Score,
    derive,
    load_scorer,
    operating_points_document,
    pareto_front,
    people,
    prepare_cases,
    role_play_cases,
    split_by_person,
    write_operating_points,
)
from cuewatch.faces.model import resolve_model
from cuewatch.flags.incongruence import PRESETS

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))


def _fmt(s: Score) -> str:
    return (f"recall {s.recall:.2f} precision {s.precision:.2f} F1 {s.f1:.2f} "
            f"FA/min {s.fa_per_min:.2f}")


def _axes(th) -> str:
    return " ".join(f"{n}={getattr(th, n):g}" for n in GRID)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", type=Path, default=SHARED / "eval")
    ap.add_argument("--cases", type=Path, nargs="*", default=[])
    ap.add_argument("--write", action="store_true",
                    help="write the chosen points to cuewatch/flags/operating_points.json")
    args = ap.parse_args()
    scorer = load_scorer(args.eval / "score_flags.py")
    dev = role_play_cases(args.eval)
    built = [c for folder in args.cases for c in role_play_cases(folder)]
    selection, held_out = split_by_person(dev, built)
    print(f"selection: {len(selection)} cases, people: {', '.join(people(selection))}")
    print(f"held out:  {len(held_out)} cases, people: {', '.join(people(held_out)) or 'none'}")
    if args.write and not held_out:
        print("--write needs held-out cases (people the selection cases do not show): pass "
              "--cases DIR built by benchmarks/build_cases.py --out DIR --pyfame ...",
              file=sys.stderr)
        return 2
    model = resolve_model()
    sel = prepare_cases(selection, model.path, model.sha256)
    ho = prepare_cases(held_out, model.path, model.sha256)
    d = derive(sel, ho, PRESETS, scorer)
    scores = [Score.of(d.selection_counts[i]) for i in range(len(d.settings))]
    held = [Score.of(d.held_out_counts[i]) for i in range(len(d.settings))]
    print(f"\n== curve on the selection cases ({len(d.settings)} settings): best recall at "
          "each false-alarm rate")
    for cap in (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0):
        ok = [s for s in scores if s.fa_per_min <= cap + 1e-9]
        if ok:
            b = max(ok, key=lambda s: (s.recall, s.precision))
            print(f"  FA/min <= {cap:<4g}: recall {b.recall:.2f} precision {b.precision:.2f} "
                  f"({len(ok)} settings)")
    print("\n== Pareto front (selection), with the same setting on the held-out cases")
    for i in pareto_front(scores):
        print(f"  {_fmt(scores[i])}  | held out {_fmt(held[i])}  | {_axes(d.settings[i])}")
    print("\n== today's presets")
    for name, th in PRESETS.items():
        i = d.settings.index(th)
        print(f"  {name:<6} selection {_fmt(scores[i])}  | held out {_fmt(held[i])}")
    print("\n== operating points")
    for name, r in d.report.items():
        cv = r["cross_validation"]
        e = cv["estimate"]
        print(f"  {name} (target <= {r['target_fa_per_min']:g} FA/min): {r['source']}")
        print(f"    leave-one-case-out over {cv['folds']} selection cases: recall {e['recall']:.2f} "
              f"precision {e['precision']:.2f} F1 {e['f1']:.2f} FA/min {e['fa_per_min']:.2f}; "
              f"folds: FA/min {cv['fold_fa_per_min']['min']:.2f}..{cv['fold_fa_per_min']['max']:.2f} "
              f"(sd {cv['fold_fa_per_min']['std']:.2f}), recall "
              f"{cv['fold_recall']['min']}..{cv['fold_recall']['max']} (sd {cv['fold_recall']['std']}), "
              f"{cv['distinct_settings_chosen']} distinct settings chosen")
        c = r["chosen_on_held_out"]
        t = r["today_on_held_out"]
        if c is not None:
            print(f"    held out ({', '.join(people(held_out))}): choice recall {c['recall']:.2f} "
                  f"F1 {c['f1']:.2f} FA/min {c['fa_per_min']:.2f}; today's recall "
                  f"{t['recall']:.2f} F1 {t['f1']:.2f} FA/min {t['fa_per_min']:.2f}")
        print(f"    point: {_axes(d.points[name])}")
    if args.write:
        command = ("python benchmarks/eval_operating_points.py --write"
                   + (f" --cases {' '.join('DIR' for _ in args.cases)} (DIR: python "
                      "benchmarks/build_cases.py --out DIR --pyfame "
                      "pyfame-1.0.10/src/pyfame/data/sample)" if args.cases else ""))
        doc = operating_points_document(d, selection, held_out, command,
                                        datetime.date.today().isoformat())
        print(f"\nwrote {write_operating_points(doc)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
