"""Shared fixtures: where the model and the real media are.

Under CI (``CI=true``) a missing model or media directory is a failure, not a skip: a
green run must mean the real thing was tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CUEWATCH_SHARED", ROOT.parent / "shared"))


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
