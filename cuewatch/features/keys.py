"""Where a face pass's features are cached, and under which key.

The key is made of the video's content hash, the model's hash, the analysis settings, the
features format and the face-pass revision. Kept apart from the face pass itself so that
the project store can compute it without importing OpenCV or MediaPipe.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from platformdirs import user_cache_dir

from cuewatch.formats import FACE_PASS_REVISION, FEATURES_FORMAT_VERSION
from cuewatch.options import AnalysisSettings
from cuewatch.progress import Progress

CACHE_ENV = "CUEWATCH_CACHE"


def cache_root() -> Path:
    """Where features are cached: ``$CUEWATCH_CACHE`` or the user cache directory."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(user_cache_dir("cuewatch", appauthor=False)) / "features"


#: digests already computed in this process, by (resolved path, size, mtime).
_known_digests: dict[tuple[str, int, int], str] = {}


def content_sha256(path: Path, progress: Optional[Progress] = None) -> str:
    """SHA-256 of a file's bytes: a recording's identity wherever it is moved, and the face
    model's pin. The one file hash of cuewatch; remembered per (path, size, mtime) within
    the process, so hashing the same unchanged file again is free."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _known_digests:
        if progress is not None:
            progress.check()
            progress.report(1.0, "hashing")
        return _known_digests[key]
    h = hashlib.sha256()
    size = max(1, st.st_size)
    done = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
            done += len(block)
            if progress is not None:
                progress.check()
                progress.report(done / size, "hashing")
    _known_digests[key] = h.hexdigest()
    return _known_digests[key]


def features_key(video_sha256: str, model_sha256: str, settings: AnalysisSettings) -> str:
    token = json.dumps({"video": video_sha256, "model": model_sha256,
                        "settings": settings.to_dict(), "format": FEATURES_FORMAT_VERSION,
                        "face_pass": FACE_PASS_REVISION}, sort_keys=True)
    return hashlib.sha256(token.encode()).hexdigest()[:32]
