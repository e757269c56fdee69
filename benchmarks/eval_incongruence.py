#!/usr/bin/env python3
"""Incongruence accuracy: run ``cuewatch analyze`` on every evaluation case and score it.

Each case is VIDEO, VIDEO-stem.vtt and VIDEO-stem.truth.json, in ../shared/eval and in any
folder given with --cases (e.g. cases built by benchmarks/build_cases.py). The command line
runs exactly as a user would run it (default settings, ``--client-face auto``); the flags
are scored by the evaluation set's own scorer (score_flags.py): an event is found when a
flag overlaps 40% of it; a flag matching no event outside don't-care spans is a false alarm.
The truth is the client's: the scorer is given the client's flags only (``CLIENT_FLAG_TYPES``,
written to ``flags.client.json``), so the therapist's own congruence flags
(``therapist_incongruence``) never count as client false alarms; they are counted apart.
``--reading fitted`` analyses as if ``ExpressionSettings.reading`` defaulted to the fitted
reading (the default stays the hand-set prototypes; the rules hash in provenance, the
expression cache key and the reading hash move with it, so these runs are told apart; the
sensitivity presets stay those derived for the default reading).

Usage: python benchmarks/eval_incongruence.py [--eval ../shared/eval] [--cases DIR ...]
       [--sensitivity medium] [--out DIR] [--engine litert|mediapipe]
       [--reading prototypes|fitted]
Prints per case the scorer's line, then precision, recall, F1 and false alarms per minute.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cuewatch.evaluation.operating_points import role_play_cases
from cuewatch.expression.series import READINGS
from cuewatch.formats import CLIENT_FLAG_TYPES

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))
#: the evaluation media are licensed research material; this states it for the run.
EVAL_CONSENT = json.dumps({
    "participants": [{"name": "evaluation actors", "role": "client"}],
    "scopes": ["training", "supervision", "research"], "obtained": "2014-01-01",
    "recorded_by": "dataset publishers (see ../shared/media/README.md)"})
#: ``--reading``: the child runs ``cuewatch`` with ExpressionSettings' default reading set to
#: its first argument (no command-line option sets it: the reading is not a user choice).
WITH_READING = """
import sys
from cuewatch.expression import series
reading = sys.argv.pop(1)
init = series.ExpressionSettings.__init__
names = init.__code__.co_varnames[1:init.__code__.co_argcount]
defaults = list(init.__defaults__)
defaults[names.index("reading") - (len(names) - len(defaults))] = reading
init.__defaults__ = tuple(defaults)
if series.ExpressionSettings().reading != reading:
    sys.exit("could not set the expression reading")
from cuewatch.cli import main
sys.argv[0] = "cuewatch"
sys.exit(main())
"""


def cases_in(folder: Path) -> list[tuple[Path, Path, Path]]:
    return [(c.video, c.transcript, c.truth) for c in role_play_cases(folder)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", type=Path, default=SHARED / "eval")
    ap.add_argument("--cases", type=Path, nargs="*", default=[])
    ap.add_argument("--sensitivity", default="medium")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--engine", help="the face engine (cuewatch analyze --engine; default: its default)")
    ap.add_argument("--reading", choices=READINGS, default=None,
                    help="the expression reading (default: ExpressionSettings' own)")
    args = ap.parse_args()
    scorer = args.eval / "score_flags.py"
    if not scorer.is_file():
        print(f"scorer not found: {scorer}", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="cuewatch-eval-"))
    groups = [("dev", cases_in(args.eval))] + [(str(c), cases_in(c)) for c in args.cases]
    failed = 0
    for label, cases in groups:
        pairs: list[str] = []
        print(f"== {label}: {len(cases)} cases")
        for video, vtt, truth in cases:
            t0 = time.time()
            cuewatch = [sys.executable, "-m", "cuewatch"] if args.reading is None else \
                [sys.executable, "-c", WITH_READING, args.reading]
            proc = subprocess.run(
                cuewatch + ["analyze", str(video), "--transcript", str(vtt),
                 "--out", str(out / label.replace("/", "_")), "--consent", EVAL_CONSENT, "--quiet",
                 "--sensitivity", args.sensitivity] + (["--engine", args.engine] if args.engine else []),
                capture_output=True, text=True)
            flags = out / label.replace("/", "_") / video.stem / "flags.json"
            if proc.returncode != 0:
                # scored as no flags, so its events count as missed, not as absent
                print(f"{video.name}: cuewatch failed ({proc.returncode}): {proc.stderr.strip()}")
                failed += 1
                flags.parent.mkdir(parents=True, exist_ok=True)
                flags.write_text(json.dumps({"flags": []}))
                pairs += [str(truth), str(flags)]
                continue
            doc = json.loads(flags.read_text())
            kinds = {}
            for f in doc["flags"]:
                kinds[f["type"]] = kinds.get(f["type"], 0) + 1
            print(f"{video.name}: {len(doc['flags'])} flags {kinds}, {len(doc['gaps'])} gaps, "
                  f"{time.time() - t0:.1f} s")
            client = flags.with_name("flags.client.json")
            client.write_text(json.dumps({"flags": [f for f in doc["flags"]
                                                    if f["type"] in CLIENT_FLAG_TYPES]}))
            pairs += [str(truth), str(client)]
        if pairs:
            subprocess.run([sys.executable, str(scorer), *pairs], check=False)
    print(f"outputs in {out}")
    if failed:
        print(f"{failed} case(s) failed to analyse; their events were scored as missed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
