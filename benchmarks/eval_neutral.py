"""The automatic neutral on sequences where a person's neutral is a quarter of their items.

  python benchmarks/eval_neutral.py [--data DIR ...] [--media DIR] [--rest-search NAME]
                                    [--subset NAME ...] [--committed-rest]

Builds, per person with a neutral item and at least three others, one track from their
labelled items (cuewatch.evaluation.neutral_sequences: a quarter neutral, shuffled, photos
held 1 s) and reports per set of people (dev: tuned on; held-out: never read while tuning;
measure-only): whether a resting face was found or none said so, its purity, and valence
sign and 7-class accuracy with the automatic neutral, with a neutral marked, and for the
fitted reading (relative to the found neutral, person-independent when none is found).
Then the same for sequences of a person's items with the neutral ones left out (the right
answer is "none found": a rest found there is a false rest).

``--rest-search`` overrides ``[neutral] rest_search`` (regions, whole_face, fitted,
screened). The "fitted" and "screened" searches score a dev person's frames with weights
fitted without their fold (``neutral_sequences.fold_models``; the eval extra's
scikit-learn), a held-out person's with the committed ones (never fitted on them);
``--committed-rest`` uses the committed weights for everyone. Choose thresholds with ``--subset dev``; run held-out once at the end.
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
from cuewatch.evaluation.by_person import fold_of, held_out
from cuewatch.evaluation.data import labelled_items
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.evaluation.neutral_sequences import (
    NEUTRAL_SHARE,
    build_sequences,
    fold_models,
    read_sequence,
    summarise,
)
from cuewatch.expression import fitted
from cuewatch.expression.action_units import AUSettings
from cuewatch.expression.series import ExpressionSettings
from cuewatch.rule_numbers import REST_SEARCHES

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))
SUBSETS = ("dev", "held-out", "measure-only")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=None)
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    ap.add_argument("--rest-search", choices=REST_SEARCHES, default=None,
                    help="how the resting face is searched (default: the rules file's)")
    ap.add_argument("--subset", choices=SUBSETS, action="append", default=None,
                    help="sets of people to read (default: all; tune on dev alone)")
    ap.add_argument("--committed-rest", action="store_true",
                    help="score every person's fitted rest search with the committed weights")
    args = ap.parse_args(argv)
    subsets = args.subset or list(SUBSETS)
    try:
        t0 = time.perf_counter()
        items = labelled_items(args.media, args.data)
        faces = cached_faces(items, args.model, 15.0)
        model = fitted.load_model() if fitted.WEIGHTS_PATH.is_file() else None
        au = AUSettings() if args.rest_search is None else AUSettings(rest_search=args.rest_search)
        settings = ExpressionSettings(au=au)
        folds = (fold_models(items, faces) if au.rest_search in ("fitted", "screened") and not args.committed_rest
                 and "dev" in subsets else {})
        fit_ok = {i.person: i.fit_ok for i in items}

        def subset_of(person: str) -> str:
            return "measure-only" if not fit_ok[person] else "held-out" if held_out(person) else "dev"

        n = 0
        for share in (NEUTRAL_SHARE, 0.0):
            seqs = [q for q in build_sequences(items, faces, share) if subset_of(q.person) in subsets]
            n += len(seqs)
            results = [read_sequence(q, settings, model,
                                     folds.get(fold_of(q.person)) if subset_of(q.person) == "dev" else None)
                       for q in seqs]
            for subset in subsets:
                print("\n".join(summarise([r for r in results if subset_of(r.person) == subset], subset)))
    except (CuewatchError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"rest search {au.rest_search}; {n} sequences in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
