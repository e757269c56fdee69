"""Public labelled faces rebuilt by script from a committed manifest (source, licence, SHA-256).

The data stays outside the repository (``eval_data_root()``: ``$CUEWATCH_EVAL_DATA`` or the
user cache dir's ``eval-data``); only the manifests (``cuewatch/evaluation/manifests``) are
committed. ``scripts/eval_data.py`` makes a manifest once (``build``) and rebuilds the files
from the pinned source commit on any machine (``rebuild``), checking every file's hash.

muxspace/facial_expressions (Apache-2.0): web photos with 8 labels in data/legend.csv.
Person ids are not given; most file names are LFW's ``First_Last_NNNN.jpg``, so the stem
without its number is the person (the same person's photos never split across folds);
every other file (``facial-expressions_2868588k.jpg`` ...) counts as its own person.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from platformdirs import user_cache_dir

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.items import LabelledItem, canonical_label
from cuewatch.files import write_bytes_atomic, write_text_atomic

DATA_ENV = "CUEWATCH_EVAL_DATA"
MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
MANIFEST_FORMAT = 1

MUXSPACE = "muxspace_facial_expressions"
#: the second selection from the same repository: more photos of people who have a neutral one.
MUXSPACE_PEOPLE = "muxspace_people"
MUXSPACE_URL = "https://github.com/muxspace/facial_expressions"
MUXSPACE_LICENCE = "Apache-2.0"
_LFW_STEM = re.compile(r"^(?P<person>.+?)_\d+$")


def eval_data_root() -> Path:
    """Where fetched evaluation data lives: ``$CUEWATCH_EVAL_DATA`` or the user cache dir."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path(user_cache_dir("cuewatch", appauthor=False)) / "eval-data"


@dataclass(frozen=True)
class ManifestEntry:
    path: str       # inside the source repository
    sha256: str
    label: str      # cuewatch category
    person: str


def muxspace_person(file_name: str) -> str:
    """The person of a muxspace photo: the LFW name stem, else the photo itself."""
    stem = Path(file_name).stem
    m = _LFW_STEM.match(stem)
    return f"muxspace/{m.group('person') if m else stem}"


def _git_show(repo: Path, commit: str, path: str) -> bytes:
    out = subprocess.run(["git", "--git-dir", str(repo), "show", f"{commit}:{path}"],
                         capture_output=True, check=False)
    if out.returncode != 0:
        raise CuewatchError(f"{path} not in {repo} at {commit[:12]}: {out.stderr.decode().strip()}")
    return out.stdout


def _git_dir(repo: Path) -> Path:
    repo = Path(repo)
    return repo / ".git" if (repo / ".git").is_dir() else repo


def select_muxspace(legend_csv: str, cap_per_class: int, seed: int = 0) -> list[ManifestEntry]:
    """A stratified selection: every photo of the rare classes, at most ``cap_per_class`` of
    each; neutral photos of people already selected first (they give those people a neutral
    face), then random ones. Hashes are filled in by :func:`build_manifest`."""
    rows = list(csv.reader(io.StringIO(legend_csv)))[1:]
    by_class: dict[str, list[str]] = {}
    for row in rows:
        if len(row) < 3:
            continue
        by_class.setdefault(canonical_label(row[2]), []).append(row[1])
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[str]] = {}
    for label in sorted(by_class):
        if label == "neutral":
            continue
        names = sorted(set(by_class[label]))
        if len(names) > cap_per_class:
            names = sorted(rng.choice(names, cap_per_class, replace=False).tolist())
        chosen[label] = names
    people = {muxspace_person(n) for names in chosen.values() for n in names}
    neutral = sorted(set(by_class.get("neutral", [])))
    first = [n for n in neutral if muxspace_person(n) in people]
    own: list[str] = []
    seen: set[str] = set()
    for n in first:  # each person's first neutral photo
        if muxspace_person(n) not in seen:
            seen.add(muxspace_person(n))
            own.append(n)
    rest = [n for n in neutral if n not in set(own)]
    extra = max(0, cap_per_class - len(own))
    pick = own[:cap_per_class] + (rng.choice(rest, min(extra, len(rest)), replace=False).tolist()
                                   if extra and rest else [])
    chosen["neutral"] = sorted(pick)
    return [ManifestEntry(f"images/{n}", "", label, muxspace_person(n))
            for label, names in sorted(chosen.items()) for n in names]


def select_muxspace_people(legend_csv: str, exclude: set[str], cap_per_class: int,
                           min_others: int = 3) -> list[ManifestEntry]:
    """People with a neutral photo and at least ``min_others`` photos of other classes
    (LFW-named people only: a photo that is its own person has no neutral to read it
    against): up to ``cap_per_class`` of each class per person, first by file name,
    leaving out the ``exclude`` paths (the first selection's). They make the neutral-known
    condition and the automatic-neutral sequences (a person's neutral a quarter of them)."""
    rows = list(csv.reader(io.StringIO(legend_csv)))[1:]
    by_person: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        if len(row) < 3 or not _LFW_STEM.match(Path(row[1]).stem):
            continue
        label = canonical_label(row[2])
        by_person.setdefault(muxspace_person(row[1]), {}).setdefault(label, []).append(row[1])
    out: list[ManifestEntry] = []
    for person, classes in sorted(by_person.items()):
        others = sum(len(v) for k, v in classes.items() if k != "neutral")
        if not classes.get("neutral") or others < min_others:
            continue
        for label, names in sorted(classes.items()):
            for n in sorted(set(names))[:cap_per_class]:
                if f"images/{n}" not in exclude:
                    out.append(ManifestEntry(f"images/{n}", "", label, person))
    return out


def build_manifest(repo: Path, commit: str, cap_per_class: int, out_dir: Path,
                   manifest: Path, seed: int = 0, people: bool = False,
                   exclude: Optional[set[str]] = None) -> dict:
    """Select, copy into ``out_dir`` and hash the photos; write the manifest atomically.
    ``people``: the second selection (:func:`select_muxspace_people`, ``cap_per_class``
    per person and class, leaving out ``exclude``)."""
    git = _git_dir(repo)
    legend = _git_show(git, commit, "data/legend.csv").decode("utf-8", "replace")
    name = MUXSPACE_PEOPLE if people else MUXSPACE
    chosen = (select_muxspace_people(legend, exclude or set(), cap_per_class) if people
              else select_muxspace(legend, cap_per_class, seed))
    entries = []
    for e in chosen:
        data = _git_show(git, commit, e.path)
        target = Path(out_dir) / name / e.path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
        entries.append(ManifestEntry(e.path, hashlib.sha256(data).hexdigest(), e.label, e.person))
    selection = ({"people": "LFW-named, a neutral photo and >= 3 of other classes",
                  "cap_per_person_and_class": cap_per_class, "excludes": "the first selection's files"}
                 if people else {"cap_per_class": cap_per_class, "seed": seed})
    doc = {"format": MANIFEST_FORMAT, "name": name, "source": MUXSPACE_URL, "commit": commit,
           "licence": MUXSPACE_LICENCE, "fit_ok": True,
           "persons": "LFW name stem (First_Last of First_Last_NNNN.jpg); other files: each its own person",
           "selection": selection,
           "files": [e.__dict__ for e in entries]}
    write_text_atomic(manifest, json.dumps(doc, indent=1) + "\n")
    return doc


def load_manifest(manifest: Path) -> dict:
    try:
        doc = json.loads(Path(manifest).read_text())
    except (OSError, ValueError) as exc:
        raise CuewatchError(f"cannot read manifest {manifest}: {exc}") from None
    if doc.get("format") != MANIFEST_FORMAT:
        raise CuewatchError(f"{manifest}: manifest format {doc.get('format')!r}, expected {MANIFEST_FORMAT}")
    return doc


def rebuild(manifest: Path, repo: Path, out_dir: Path) -> int:
    """Write every file of ``manifest`` from a clone of its source at its commit, checking
    each SHA-256; returns how many were written (files already right are kept)."""
    doc = load_manifest(manifest)
    git = _git_dir(repo)
    written = 0
    for f in doc["files"]:
        target = Path(out_dir) / doc["name"] / f["path"]
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == f["sha256"]:
            continue
        data = _git_show(git, doc["commit"], f["path"])
        if hashlib.sha256(data).hexdigest() != f["sha256"]:
            raise CuewatchError(f"{f['path']}: SHA-256 differs from the manifest")
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(target, data)
        written += 1
    return written


def manifest_items(manifest: Path, data_dir: Optional[Path] = None,
                   limit: Optional[int] = None) -> list[LabelledItem]:
    """The manifest's photos as labelled items (files that are missing are an error)."""
    doc = load_manifest(manifest)
    root = Path(data_dir or eval_data_root()) / doc["name"]
    files = doc["files"] if limit is None else doc["files"][:limit]
    missing = [f["path"] for f in files if not (root / f["path"]).is_file()]
    if missing:
        raise CuewatchError(f"{len(missing)} files of {doc['name']} missing under {root}: "
                            f"run python scripts/eval_data.py rebuild")
    return [LabelledItem(f"{doc['name']}/{Path(f['path']).name}", root / f["path"], "image",
                         f["label"], f["person"], doc["name"], doc["licence"], bool(doc["fit_ok"]))
            for f in files]


def labelled_items(media: Path, data_dirs: Optional[list[Path]] = None,
                   limit: Optional[int] = None) -> list[LabelledItem]:
    """Every labelled item: ../shared/media and each committed manifest's rebuilt files."""
    from cuewatch.evaluation.items import shared_media_items

    items = shared_media_items(media)
    for data in data_dirs or [eval_data_root()]:
        for manifest in sorted(MANIFEST_DIR.glob("*.json")):
            items += manifest_items(manifest, data, limit)
    return items


def manifest_digests() -> dict[str, str]:
    """SHA-256 of each committed manifest (what a fit records it was made from)."""
    return {m.name: hashlib.sha256(m.read_bytes()).hexdigest() for m in sorted(MANIFEST_DIR.glob("*.json"))}
