"""The pinned MediaPipe Face Landmarker bundle: find it, or fetch it once and check it.

Order: ``--model PATH``, then ``$CUEWATCH_MODEL``, then the user cache directory, then a
download from the official address. Whatever the source, the file must have the pinned
SHA-256; any other file is refused. The download is the only network access cuewatch
ever makes.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from platformdirs import user_cache_dir

from cuewatch.errors import ModelError
from cuewatch.features.keys import content_sha256
from cuewatch.files import atomic_path
from cuewatch.progress import Progress

MODEL_URL = ("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
             "face_landmarker/float16/1/face_landmarker.task")
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_FILENAME = "face_landmarker.task"
MODEL_ENV = "CUEWATCH_MODEL"
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ModelLocation:
    path: Path
    source: str  # "--model", "CUEWATCH_MODEL", "cache"
    sha256: str


def cache_path() -> Path:
    return Path(user_cache_dir("cuewatch", appauthor=False)) / "models" / MODEL_FILENAME


def check_model(path: Path, source: str) -> ModelLocation:
    """Accept ``path`` only if it is the pinned model."""
    if not path.is_file():
        raise ModelError(f"face model not found at {path} (from {source})")
    digest = content_sha256(path)
    if digest != MODEL_SHA256:
        raise ModelError(f"{path} (from {source}) is not the pinned face model: SHA-256 {digest[:16]}…, "
                         f"expected {MODEL_SHA256[:16]}…; refusing to use it")
    return ModelLocation(path=path, source=source, sha256=digest)


def find_model(explicit: Optional[str | os.PathLike[str]] = None) -> Optional[ModelLocation]:
    """The model from ``--model``, the environment or the cache, or None if none is there.

    A file that is named but wrong is an error, never silently skipped.
    """
    if explicit:
        return check_model(Path(explicit).expanduser(), "--model")
    env = os.environ.get(MODEL_ENV)
    if env:
        return check_model(Path(env).expanduser(), MODEL_ENV)
    cached = cache_path()
    if cached.is_file():
        return check_model(cached, "cache")
    return None


def fetch_model(url: str = MODEL_URL, dest: Optional[Path] = None,
                progress: Optional[Progress] = None) -> ModelLocation:
    """Download the model, check its hash, and move it into place atomically."""
    dest = dest or cache_path()
    progress = progress or Progress()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:  # a failed download leaves no file behind
        h = hashlib.sha256()
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                total = int(resp.headers.get("Content-Length") or 0)
                done = 0
                while True:
                    progress.check()
                    block = resp.read(1 << 16)
                    if not block:
                        break
                    out.write(block)
                    h.update(block)
                    done += len(block)
                    progress.report(done / total if total else 0.0, "downloading face model")
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(
                f"cannot download the face model from {url} ({reason}); download it by hand "
                f"and set {MODEL_ENV}=/path/to/{MODEL_FILENAME}, or pass --model PATH") from None
        if h.hexdigest() != MODEL_SHA256:
            raise ModelError(f"the downloaded model from {url} has SHA-256 {h.hexdigest()[:16]}…, "
                             f"expected {MODEL_SHA256[:16]}…; not installed")
    return check_model(dest, "cache")


def resolve_model(explicit: Optional[str | os.PathLike[str]] = None,
                  progress: Optional[Progress] = None) -> ModelLocation:
    """The model to use, downloading it on first use if it is nowhere on this machine."""
    found = find_model(explicit)
    if found is not None:
        return found
    return fetch_model(progress=progress)
