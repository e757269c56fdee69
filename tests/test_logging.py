"""Errors the code works around are logged, not dropped: the command line shows warnings on
stderr (debug detail with --verbose)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from cuewatch.cli import main
from cuewatch.cli.demo_cmd import SAMPLE_MEDIA, SAMPLE_VIDEO
from cuewatch.expression.cache import CACHE_DIR, track_expression
from cuewatch.features.folder import load_features


def test_the_command_line_logs_warnings_and_with_verbose_debug(tmp_path: Path, capsys) -> None:
    probe = logging.getLogger("cuewatch.probe")
    assert main(["project", "new", str(tmp_path / "a.cuewatch")]) == 0
    probe.debug("debug detail")
    probe.warning("worked around")
    err = capsys.readouterr().err
    assert "cuewatch: WARNING: worked around" in err and "debug detail" not in err

    assert main(["-v", "project", "new", str(tmp_path / "b.cuewatch")]) == 0
    probe.debug("debug detail")
    err = capsys.readouterr().err
    assert err.count("cuewatch: DEBUG: debug detail") == 1  # one handler, however often main runs


def test_a_damaged_expression_cache_is_logged_and_recomputed(analysed_features, tmp_path, caplog) -> None:
    features_dir = tmp_path / "features"
    shutil.copytree(analysed_features(SAMPLE_MEDIA / SAMPLE_VIDEO), features_dir)
    features = load_features(features_dir)
    track_id = sorted(features.tracks)[0]
    first = track_expression(features, track_id)
    (cached,) = (features_dir / CACHE_DIR).glob(f"track_{track_id}.*.npz")
    cached.write_bytes(b"not an npz file")

    with caplog.at_level(logging.WARNING, logger="cuewatch"):
        again = track_expression(features, track_id)
    assert [r.getMessage() for r in caplog.records] == [f"expression cache {cached} is damaged; recomputing it"]
    assert caplog.records[0].exc_info is not None
    assert (again.valence == first.valence).all()
    assert cached.read_bytes() != b"not an npz file"
