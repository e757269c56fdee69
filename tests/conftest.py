"""Shared fixtures: where the model and the real media are, one feature cache per session,
the analysed sample project, and small synthetic videos for tests that need only a file.

Under CI (``CI=true``) a missing model or media directory is a failure, not a skip: a
green run must mean the real thing was tested.

Markers (registered in pyproject.toml, ``--strict-markers``):
- ``model``: needs the face model or the real media in ../shared. Added automatically to
  every test that uses one of ``MODEL_FIXTURES`` (directly or through another fixture).
- ``tuned``: pinned to tuned accuracy figures on real faces; a rule change may move them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))

#: fixtures that bring the model or the real media: a test using one is marked ``model``.
MODEL_FIXTURES = frozenset({"model_path", "media_dir", "eval_dir", "shared_dir"})

#: one synthetic clip: 480x360 at 29.97 fps for 1.87 s with a tone, like the CREMA-D clips
#: (so the same assertions hold), in a few kilobytes and well under a second to make.
SYNTHETIC_SIZE = (480, 360)
SYNTHETIC_RATE = "30000/1001"
SYNTHETIC_DURATION_S = 1.87
#: distinct pictures, so that every synthetic clip has its own content hash.
SYNTHETIC_PATTERNS = ("testsrc", "testsrc2", "smptebars", "rgbtestsrc", "smptehdbars")

_SESSION_CACHE: tempfile.TemporaryDirectory | None = None


def pytest_configure(config: pytest.Config) -> None:
    """One feature cache for the whole session, in the environment so subprocesses share it.

    Features are keyed by content and settings, so a clip analysed by one module is reused
    by the next, and nothing leaks in from (or out to) the user's own cache.
    """
    global _SESSION_CACHE
    if _SESSION_CACHE is None and not hasattr(config, "workerinput"):
        _SESSION_CACHE = tempfile.TemporaryDirectory(prefix="cuewatch-test-cache-")
        os.environ["CUEWATCH_CACHE"] = _SESSION_CACHE.name


def pytest_unconfigure(config: pytest.Config) -> None:
    global _SESSION_CACHE
    if _SESSION_CACHE is not None:
        _SESSION_CACHE.cleanup()
        _SESSION_CACHE = None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


def _need(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = f"{what} not found at {path}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: tests needing it must not skip)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED, "shared material")


@pytest.fixture(scope="session")
def media_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "media", "shared media")


@pytest.fixture(scope="session")
def eval_dir(shared_dir: Path) -> Path:
    return _need(shared_dir / "eval", "shared eval set")


@pytest.fixture(scope="session")
def model_path() -> Path:
    env = os.environ.get("CUEWATCH_MODEL")
    path = Path(env) if env else SHARED / "models" / "face_landmarker.task"
    return _need(path.resolve(), "face landmarker model (set CUEWATCH_MODEL)")


@pytest.fixture(scope="session")
def feature_cache() -> Path:
    """The session's feature cache (``CUEWATCH_CACHE``): each clip is analysed once per run."""
    return Path(os.environ["CUEWATCH_CACHE"])


@pytest.fixture(scope="session")
def analysed_features(feature_cache: Path, model_path: Path) -> Callable[..., Path]:
    """``analysed_features(video, settings)``: the features folder of a clip, from the real
    face pass, once per session: into the session cache, keyed by content and settings
    (``compute_features``), so every module asking for the same clip and settings shares it."""
    from cuewatch.faces.model import MODEL_SHA256
    from cuewatch.options import AnalysisSettings
    from cuewatch.recording.analyse import compute_features

    done: dict[tuple[str, str], Path] = {}

    def get(video: Path, settings: AnalysisSettings = AnalysisSettings()) -> Path:
        key = (str(Path(video).resolve()), repr(settings))
        if key not in done:
            done[key] = compute_features(Path(video), settings, model_path, MODEL_SHA256,
                                         cache_dir=feature_cache)
        return done[key]

    return get


# ---------------------------------------------------------------- synthetic video


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """``synthetic_video(k)``: the k-th synthetic clip (made once per session with the real
    ffmpeg of imageio-ffmpeg): H.264 + AAC in MP4, no face. For tests that need a real
    video file but no inference (the store, exports, the CLI on stored results)."""
    import imageio_ffmpeg

    folder = tmp_path_factory.mktemp("synthetic")
    made: dict[int, Path] = {}

    def make(k: int = 0) -> Path:
        if k not in made:
            path = folder / f"synthetic_{k}.mp4"
            w, h = SYNTHETIC_SIZE
            picture = (f"{SYNTHETIC_PATTERNS[k % len(SYNTHETIC_PATTERNS)]}=size={w}x{h}"
                       f":rate={SYNTHETIC_RATE}:duration={SYNTHETIC_DURATION_S}")
            tone = f"sine=frequency={440 + 110 * k}:duration={SYNTHETIC_DURATION_S}"
            subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y",
                            "-f", "lavfi", "-i", picture, "-f", "lavfi", "-i", tone,
                            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
                            "-c:a", "aac", "-shortest", str(path)], check=True, timeout=60)
            made[k] = path
        return made[k]

    return make


STORE_CONSENT = {"participants": [{"name": "Ana", "role": "client"}, {"name": "Ben", "role": "therapist"}],
                 "scopes": ["training", "supervision"], "obtained": "2026-01-10", "recorded_by": "Dr C"}


def link_clips(folder: Path, sources: dict[str, Path], suffix: str) -> dict[str, Path]:
    """Links HAP, SAD, NEU in ``folder``, with a consent sidecar for HAP and SAD."""
    out = {}
    for code, source in sources.items():
        link = folder / f"{code.lower()}{suffix}"
        link.symlink_to(source)
        out[code] = link
    for code in ("HAP", "SAD"):
        (folder / f"{code.lower()}{suffix}.consent.json").write_text(json.dumps(STORE_CONSENT))
    return out


@pytest.fixture
def clips(synthetic_video: Callable[[int], Path], tmp_path: Path) -> dict[str, Path]:
    """Three distinct synthetic clips in tmp_path, with a consent sidecar for HAP and SAD
    (the store and the CLI on stored results: a real video file, no inference)."""
    return link_clips(tmp_path, {code: synthetic_video(k) for k, code in
                                 enumerate(("HAP", "SAD", "NEU"))}, ".mp4")


@pytest.fixture
def crema_clips(media_dir: Path, tmp_path: Path) -> dict[str, Path]:
    """Links to real CREMA-D clips of one actor, for tests that run the real analysis."""
    return link_clips(tmp_path, {code: media_dir / "crema_d" / f"1001_DFA_{code}_XX.flv"
                                 for code in ("HAP", "SAD", "NEU")}, ".flv")


# ---------------------------------------------------------------- the analysed sample


@pytest.fixture(scope="session")
def analysed_demo(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Path:
    """The sample role-play project, analysed once per session with the real model (as
    ``cuewatch demo`` does). Read-only: tests that write use ``copy_project`` first."""
    from cuewatch.cli.demo_cmd import SAMPLE_MEDIA, SAMPLE_VIDEO, ensure_demo_project

    if not (SAMPLE_MEDIA / SAMPLE_VIDEO).is_file():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"sample media missing at {SAMPLE_MEDIA}")
        pytest.skip("sample media not built")
    path = tmp_path_factory.mktemp("demo") / "demo.cuewatch"
    return ensure_demo_project(path, SAMPLE_MEDIA, model=str(model_path), quiet=True)


def copy_project(src: Path, dst_dir: Path) -> Path:
    """A private copy of a project file with its WAL and its data folder."""
    from cuewatch.project.store import DATA_SUFFIX

    dst = dst_dir / src.name
    for suffix in ("", "-wal", "-shm"):
        if Path(str(src) + suffix).exists():
            shutil.copy2(str(src) + suffix, str(dst) + suffix)
    shutil.copytree(str(src) + DATA_SUFFIX, str(dst) + DATA_SUFFIX)
    return dst


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real Dask LocalCluster of two worker processes (one per module), reached by its
    address as a remote one is. ``distributed`` comes with the test extra: missing fails."""
    import distributed

    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None, host="127.0.0.1")
    try:
        yield c
    finally:
        c.close()
