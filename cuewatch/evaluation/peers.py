"""Peer readings on the same items: ``fer`` in its own Python (see ``fer_peer``), cached.

Each item's peer result is cached as JSON under the landmark cache, keyed by the file's
content hash, the span and the peer's revision, so a rerun only runs new items.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.items import LabelledItem
from cuewatch.evaluation.landmark_cache import eval_cache_root
from cuewatch.features.keys import content_sha256
from cuewatch.files import write_text_atomic
from cuewatch.formats import CATEGORY_POLARITY, EXPRESSION_CATEGORIES

FER_SCRIPT = Path(__file__).resolve().parent / "fer_peer.py"
#: bump when what fer_peer computes changes.
FER_REVISION = 1
#: fer's labels as cuewatch categories (fer has no contempt).
FER_LABELS = {"angry": "angry", "disgust": "disgusted", "fear": "fearful", "happy": "happy",
              "sad": "sad", "surprise": "surprised", "neutral": "neutral"}


def _key(item: LabelledItem) -> str:
    span = "all" if item.span is None else f"{item.span[0]:g}-{item.span[1]:g}"
    return f"fer-r{FER_REVISION}-{content_sha256(item.path)[:20]}-{span}"


def fer_proba(result: dict) -> Optional[np.ndarray]:
    """(8,) probabilities from fer's mean scores, None when fer found no face."""
    if not result.get("frames"):
        return None
    p = np.zeros(len(EXPRESSION_CATEGORIES))
    for k, v in result["scores"].items():
        p[EXPRESSION_CATEGORIES.index(FER_LABELS[k])] += v
    return p / p.sum() if p.sum() > 0 else None


def run_fer(items: list[LabelledItem], python: Path, cache_dir: Optional[Path] = None,
            timeout_s: float = 7200) -> dict[str, Optional[np.ndarray]]:
    """Per item id: fer's probabilities (None: no face), running only uncached items."""
    root = Path(cache_dir or eval_cache_root()) / "peers"
    results: dict[str, dict] = {}
    todo = []
    for it in items:
        file = root / f"{_key(it)}.json"
        if file.is_file():
            results[it.item_id] = json.loads(file.read_text())
        else:
            todo.append(it)
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            spec = Path(tmp) / "items.json"
            out = Path(tmp) / "out.json"
            spec.write_text(json.dumps([{"id": it.item_id, "path": str(it.path), "kind": it.kind,
                                         "span": list(it.span) if it.span else None} for it in todo]))
            proc = subprocess.run([str(python), str(FER_SCRIPT), str(spec), str(out)],
                                  capture_output=True, text=True, timeout=timeout_s)
            if proc.returncode != 0 or not out.is_file():
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                raise CuewatchError(f"fer peer failed: {tail[0]}")
            got = json.loads(out.read_text())
        root.mkdir(parents=True, exist_ok=True)
        for it in todo:
            write_text_atomic(root / f"{_key(it)}.json", json.dumps(got[it.item_id]))
            results[it.item_id] = got[it.item_id]
    return {k: fer_proba(v) for k, v in results.items()}


def peer_predictions(readings_items: list[LabelledItem],
                     answers: dict[str, Optional[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(N, 8) probabilities and (N,) valence of a peer for these items. No face found reads
    as neutral (the peer gave no answer); valence is the polarity-weighted probability."""
    neutral = np.eye(len(EXPRESSION_CATEGORIES))[EXPRESSION_CATEGORIES.index("neutral")]
    p = np.array([answers.get(it.item_id) if answers.get(it.item_id) is not None else neutral
                  for it in readings_items]).reshape(-1, len(EXPRESSION_CATEGORIES))
    polarity = np.array([CATEGORY_POLARITY[c] for c in EXPRESSION_CATEGORIES], np.float64)
    return p, np.clip(p @ polarity, -1.0, 1.0)
