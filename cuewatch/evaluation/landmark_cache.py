"""Landmarks per labelled item, computed once and cached on disk.

Keyed by the file's content hash, the model's hash, the frame rate and this module's
revision, so a renamed file is still found and a new model recomputes. Under
``$CUEWATCH_EVAL_CACHE`` or the user cache dir's ``eval-landmarks``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Optional

import numpy as np
from platformdirs import user_cache_dir

from cuewatch.errors import CuewatchError
from cuewatch.evaluation.items import LabelledItem
from cuewatch.evaluation.landmarks import FACE_ARRAYS, LandmarkedFace, landmark_images, landmark_video
from cuewatch.features.keys import content_sha256
from cuewatch.files import write_bytes_atomic
from cuewatch.progress import Progress

CACHE_ENV = "CUEWATCH_EVAL_CACHE"
#: bump when what is cached per item changes.
LANDMARK_CACHE_REVISION = 1


def eval_cache_root() -> Path:
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(user_cache_dir("cuewatch", appauthor=False)) / "eval-landmarks"


def _key(path: Path, model_sha256: str, fps: Optional[float]) -> str:
    return f"{content_sha256(path)[:20]}-{model_sha256[:12]}-{fps or 'all'}-r{LANDMARK_CACHE_REVISION}"


def _read(file: Path) -> Optional[LandmarkedFace] | bool:
    """The cached face, None for "no face found", False when nothing is cached."""
    if not file.is_file():
        return False
    with np.load(file) as z:
        if "none" in z.files:
            return None
        return LandmarkedFace(*(z[f] for f in FACE_ARRAYS))


def _write(file: Path, face: Optional[LandmarkedFace]) -> None:
    buf = io.BytesIO()
    if face is None:
        np.savez(buf, none=np.zeros(0))
    else:
        np.savez(buf, **{f: getattr(face, f) for f in FACE_ARRAYS})
    file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(file, buf.getvalue())


def cached_faces(items: list[LabelledItem], model: Path, fps: Optional[float] = 15.0,
                 cache_dir: Optional[Path] = None,
                 progress: Optional[Progress] = None) -> dict[Path, Optional[LandmarkedFace]]:
    """Per distinct file of ``items``: its landmarked face (None: no face found)."""
    root = Path(cache_dir or eval_cache_root())
    model_sha = content_sha256(Path(model))
    paths = sorted({it.path for it in items})
    kind = {it.path: it.kind for it in items}
    out: dict[Path, Optional[LandmarkedFace]] = {}
    todo_images: list[Path] = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress.check()
            progress.report(i / max(len(paths), 1), f"landmarks {path.name}")
        if not path.is_file():
            raise CuewatchError(f"labelled item missing: {path}")
        file = root / f"{_key(path, model_sha, fps)}.npz"
        got = _read(file)
        if got is None or isinstance(got, LandmarkedFace):
            out[path] = got
        elif kind[path] == "image":
            todo_images.append(path)
        else:
            try:
                face: Optional[LandmarkedFace] = landmark_video(path, Path(model), fps)
            except CuewatchError:
                face = None
            _write(file, face)
            out[path] = face
    for a in range(0, len(todo_images), 200):
        if progress is not None:
            progress.check()
        batch = todo_images[a:a + 200]
        try:
            faces, found = landmark_images(batch, Path(model))
        except CuewatchError:
            faces, found = None, []
        row = {p: i for i, p in enumerate(found)}
        for path in batch:
            face = None
            if path in row:
                i = row[path]
                face = LandmarkedFace(*(getattr(faces, f)[i:i + 1] for f in FACE_ARRAYS))
                face.timestamps = np.zeros(1)
            _write(root / f"{_key(path, model_sha, fps)}.npz", face)
            out[path] = face
    return out
