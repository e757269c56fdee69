"""The test suite's own set-up: markers, the session's feature cache, the synthetic video,
tests that run without ../shared, and no helpers borrowed from benchmarks/."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: test files that must pass without ../shared (the store, exports, agreement, consent).
WITHOUT_SHARED = ("tests/test_project_store.py", "tests/test_exports.py", "tests/test_agreement.py",
                  "tests/test_consent.py", "tests/test_project_cli.py")


def test_markers_are_registered_and_strict() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "--strict-markers" in config["addopts"].split()
    assert {m.split(":")[0] for m in config["markers"]} == {"model", "tuned"}


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, **env))


def test_store_and_export_tests_run_without_shared(tmp_path: Path) -> None:
    """Under CI a missing ../shared fails a test that needs it: every test left after
    ``-m "not model"`` must pass without it."""
    proc = _pytest("-q", "-m", "not model", *WITHOUT_SHARED, CI="true",
                   CUEWATCH_SHARED=str(tmp_path / "no-shared"), CUEWATCH_MODEL=str(tmp_path / "no.task"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    summary = proc.stdout.strip().splitlines()[-1]
    passed = int(re.search(r"(\d+) passed", summary).group(1))  # type: ignore[union-attr]
    assert passed >= 60 and "skipped" not in summary and "failed" not in summary, summary


def test_the_model_marker_follows_the_fixtures() -> None:
    proc = _pytest("-q", "--collect-only", "-m", "model", "tests/test_exports.py", "tests/test_project_cli.py")
    assert proc.returncode == 0, proc.stdout[-2000:]
    selected = proc.stdout
    # the real face (media_dir) and real analyses (model_path) are marked ...
    assert "test_anonymised_clip_blurs_the_face" in selected
    assert "test_analyze_sigkill_then_resume" in selected
    assert "test_project_flags_recompute_keeps_every_verdict_and_note" in selected  # via analysed_demo
    # ... a synthetic file is not
    assert "test_csv_flags_with_verdicts_notes_evidence" not in selected
    assert "test_review_verdicts_undo_and_agreement" not in selected


def test_one_feature_cache_for_the_session_shared_with_subprocesses(feature_cache: Path) -> None:
    assert os.environ["CUEWATCH_CACHE"] == str(feature_cache)
    assert feature_cache.name.startswith("cuewatch-test-cache-") and feature_cache.is_dir()
    code = "from cuewatch.features.keys import cache_root; print(cache_root())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert Path(out.strip()) == feature_cache


def test_synthetic_videos_are_real_distinct_videos(synthetic_video) -> None:
    from cuewatch.features.keys import content_sha256
    from cuewatch.media.video import probe_video

    infos = [probe_video(synthetic_video(k)) for k in range(3)]
    assert all((i.width, i.height) == (480, 360) and 1.8 <= i.duration <= 1.95 for i in infos)
    assert all(i.fps == pytest.approx(29.97, abs=0.01) for i in infos)
    assert len({content_sha256(synthetic_video(k)) for k in range(3)}) == 3
    assert synthetic_video(1) == synthetic_video(1)  # made once per session


def test_tests_take_no_helpers_from_benchmarks() -> None:
    """Shared helpers live in the library (cuewatch.evaluation) or tests/, not benchmarks/."""
    bench = {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    offenders = []
    for py in (ROOT / "tests").glob("*.py"):
        tree = ast.parse(py.read_text(), str(py))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{py.name}: {n}" for n in names if n.split(".")[0] in bench | {"benchmarks"}]
            if (isinstance(node, ast.Call) and ast.unparse(node.func).startswith("sys.path.")
                    and "benchmarks" in ast.unparse(node)):
                offenders.append(f"{py.name}: {ast.unparse(node)}")
    assert offenders == []
