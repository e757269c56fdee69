"""Build or rebuild the public labelled faces the by-person evaluation uses.

  python scripts/eval_data.py build --repo CLONE [--cap 400]   # once: select, hash, write the manifest
  python scripts/eval_data.py build-people --repo CLONE [--cap 4]  # once: the people selection
  python scripts/eval_data.py rebuild [--repo CLONE]           # anywhere: files from the manifests

CLONE is a clone of https://github.com/muxspace/facial_expressions (a bare git dir works);
without --repo, rebuild clones it into the data folder. Files go under
$CUEWATCH_EVAL_DATA (default: the user cache dir's cuewatch/eval-data), never into the repo.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from cuewatch.errors import CuewatchError
from cuewatch.evaluation import data

MANIFEST = data.MANIFEST_DIR / f"{data.MUXSPACE}.json"
PEOPLE_MANIFEST = data.MANIFEST_DIR / f"{data.MUXSPACE_PEOPLE}.json"
COMMIT = "5fb9c13afac07c55eae8d25eb6b50af344ad60c9"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=("build", "build-people", "rebuild"))
    ap.add_argument("--repo", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="data folder (default: eval_data_root())")
    ap.add_argument("--cap", type=int, default=400, help="build: most photos per class (build-people: per person and class; default 4)")
    args = ap.parse_args(argv)
    out = args.out or data.eval_data_root()
    try:
        repo = args.repo
        if repo is None:
            repo = out / "sources" / "facial_expressions.git"
            if not repo.exists():
                subprocess.run(["git", "clone", "--bare", data.MUXSPACE_URL, str(repo)], check=True)
        if args.action == "build":
            doc = data.build_manifest(repo, COMMIT, args.cap, out, MANIFEST)
            print(f"{len(doc['files'])} files -> {out / data.MUXSPACE}; manifest {MANIFEST}")
        elif args.action == "build-people":
            first = {f["path"] for f in data.load_manifest(MANIFEST)["files"]}
            cap = 4 if args.cap == 400 else args.cap
            doc = data.build_manifest(repo, COMMIT, cap, out, PEOPLE_MANIFEST, people=True, exclude=first)
            print(f"{len(doc['files'])} files -> {out / data.MUXSPACE_PEOPLE}; manifest {PEOPLE_MANIFEST}")
        else:
            for manifest in (MANIFEST, PEOPLE_MANIFEST):
                if manifest.is_file():
                    n = data.rebuild(manifest, repo, out)
                    print(f"{manifest.name}: {n} files written under {out} (hashes checked)")
    except CuewatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
