"""The automatic neutral on sequences where a person's neutral is a quarter of their items.

  python benchmarks/eval_neutral.py [--data DIR ...] [--media DIR]

Builds, per person with a neutral item and at least three others, one track from their
labelled items (cuewatch.evaluation.neutral_sequences: a quarter neutral, shuffled, photos
held 1 s) and reports per set of people (dev: tuned on; held-out: never read while tuning;
measure-only): whether a resting face was found or none said so, its purity, and valence
sign and 7-class accuracy with the automatic neutral, with a neutral marked, and for the
fitted reading (relative to the found neutral, person-independent when none is found).
Landmarks come from the by-person evaluation's cache (run benchmarks/eval_by_person.py once).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.data import labelled_items
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.evaluation.neutral_sequences import build_sequences, read_sequence, summarise
from cuewatch.expression import fitted

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=None)
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        items = labelled_items(args.media, args.data)
        faces = cached_faces(items, args.model, 15.0)
        model = fitted.load_model() if fitted.WEIGHTS_PATH.is_file() else None
        seqs = build_sequences(items, faces)
        results = [read_sequence(s, model=model) for s in seqs]
    except CuewatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    fit_ok = {i.person: i.fit_ok for i in items}
    for subset, pick in (("dev", lambda r: fit_ok[r.person] and not r.held_out),
                         ("held-out", lambda r: fit_ok[r.person] and r.held_out),
                         ("measure-only", lambda r: not fit_ok[r.person])):
        print("\n".join(summarise([r for r in results if pick(r)], subset)))
    print(f"{len(seqs)} sequences in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
