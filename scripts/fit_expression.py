"""Fit the expression stage's fitted reading and write cuewatch/expression/model_weights.json.

  python scripts/fit_expression.py [--data DIR] [--media DIR]

Fits on the dev people only: items whose licence allows fitting weights that ship
(muxspace Apache-2.0, CREMA-D ODbL with attribution) and whose person is not held out
(cuewatch.evaluation.by_person.held_out); research-only and NC data (RAVDESS, pexels, the
repository photos of unstated origin) never enter. Needs the eval extra (scikit-learn).
The file records the manifests' SHA-256, the people and items per reading, and its own
weights' SHA-256, which provenance and the expression cache key carry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.evaluation import by_person, data, fit
from cuewatch.evaluation.landmark_cache import cached_faces
from cuewatch.expression import fitted
from cuewatch.files import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, action="append", default=None)
    ap.add_argument("--media", type=Path, default=SHARED / "media")
    ap.add_argument("--model", type=Path, default=SHARED / "models" / "face_landmarker.task")
    ap.add_argument("--out", type=Path, default=fitted.WEIGHTS_PATH)
    args = ap.parse_args(argv)
    try:
        import sklearn

        items = data.labelled_items(args.media, args.data)
        faces = cached_faces(items, args.model)
        readings = by_person.read_items(items, faces)
        models, counts = {}, {}
        for condition in by_person.CONDITIONS:
            reading = by_person.READING_OF[condition]
            dev = by_person.split([r for r in readings if r.condition == condition])["dev"]
            models[reading] = fit.fit_reading(np.array([r.x for r in dev]), [r.item.label for r in dev],
                                              reading, [r.item.person for r in dev])
            counts[reading] = {"items": len(dev), "people": len({r.item.person for r in dev}),
                               "sources": sorted({r.item.source for r in dev}),
                               "chosen_by_leave_person_out_cv": models[reading].info}
    except (CuewatchError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    doc_readings = {name: {"categories": m.readings[name].to_dict(), "valence": m.valence[name].to_dict()}
                    for name, m in sorted(models.items())}
    doc = {"format": fitted.WEIGHTS_FORMAT,
           "sha256": fitted.weights_digest(doc_readings),
           "training": {"script": "scripts/fit_expression.py", "manifests": data.manifest_digests(),
                        "shared_media": "crema_d (ODbL-1.0, fit allowed); the rest measures only",
                        "fit_on": counts, "held_out": f"sha256(person) % {by_person.HELD_OUT_EVERY} == 0",
                        "model": "multinomial logistic regression, categories with balanced class weights "
                                 f"(negatives x {fit.NEGATIVE_WEIGHT}), and the valence sign apart "
                                 f"({'balanced' if fit.BALANCE_SIGN_CLASSES else 'unweighted'}); C from "
                                 f"{list(fit.C_GRID)} and a temperature chosen by leave-person-out CV on the fit set",
                        "scikit_learn": sklearn.__version__},
           "readings": doc_readings}
    write_text_atomic(args.out, json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out} (sha256 {doc['sha256'][:16]}): " +
          "; ".join(f"{k}: {v['items']} items, {v['people']} people" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
