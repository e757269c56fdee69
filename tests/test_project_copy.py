"""A project copied, moved or renamed with its data folder keeps its features; revoking
consent in a copy deletes exactly the copy's. Real analysis with the real model, real
SQLite, real files; the app's own loader for the lanes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_project_cli import VTT
from test_project_store import CONSENT

from cuewatch.features.folder import is_complete
from cuewatch.project.export import export_project
from cuewatch.project.revocation import revoke_consent
from cuewatch.project.store import DATA_SUFFIX, Project

NAME = "course.cuewatch"


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, media_dir: Path, model_path: Path) -> Path:
    """``orig/course.cuewatch``: one CREMA-D clip, analysed once for the module."""
    from cuewatch.project.queue import run_queued

    folder = tmp_path_factory.mktemp("orig")
    clip = folder / "hap.flv"
    clip.symlink_to(media_dir / "crema_d" / "1001_DFA_HAP_XX.flv")
    (folder / "hap.flv.consent.json").write_text(json.dumps(CONSENT))
    transcript = folder / "hap.vtt"
    transcript.write_text(VTT)
    path = folder / NAME
    with Project.create(path) as p:
        p.recordings.add(clip, transcript=transcript)
    summary = run_queued(path, model=str(model_path))
    assert summary.done and not summary.failed, summary.failed
    with Project.open(path) as p:
        assert p.recordings.client_track(1) is not None
    return path


def _copy_project(src: Path, dest: Path, data_name: str | None = None) -> Path:
    """Copy the project file and (unless ``data_name`` is "") its data folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    if data_name != "":
        shutil.copytree(str(src) + DATA_SUFFIX, dest.with_name(data_name or dest.name + DATA_SUFFIX))
    return dest


def _features(path: Path) -> Path:
    with Project.open(path) as p:
        fdir = p.analyses.features_dir(1)
    assert fdir is not None
    return fdir


def _assert_loads(path: Path, tmp_path: Path) -> None:
    """Lanes (the app's loader) and a frames export work from ``path``'s own data folder."""
    from cuewatch_ui.document import load_recording

    fdir = _features(path)
    assert is_complete(fdir)
    with Project.open(path) as p:
        assert p.in_data_dir(fdir)
    data = load_recording(path, 1)
    assert data.features_dir == fdir
    assert data.timeline.valence is not None and data.timeline.expression is not None
    files = export_project(path, "frames", tmp_path / f"frames-{path.stem}", purpose="training")
    assert files and all(f.stat().st_size > 0 for f in files)


def test_feature_paths_are_stored_relative_to_the_data_folder(analysed: Path) -> None:
    with Project.open(analysed) as p:
        stored = p._conn.execute("SELECT features_dir FROM analyses").fetchone()[0]
        assert stored.startswith("features/") and NAME not in stored
        assert p.analyses.features_dir(1) == p.data_dir / stored


def test_copied_elsewhere_and_renamed_loads_and_exports(analysed: Path, tmp_path: Path) -> None:
    copy = _copy_project(analysed, tmp_path / "elsewhere" / "deeper" / "renamed.cuewatch")
    shutil.copy2(analysed.with_name("hap.flv.consent.json"), copy.parent)  # not needed to open
    fdir = _features(copy)
    assert fdir.is_relative_to(copy.with_name("renamed.cuewatch" + DATA_SUFFIX))
    _assert_loads(copy, tmp_path)


def test_renamed_project_finds_its_data_folder_under_the_old_name(analysed: Path,
                                                                  tmp_path: Path) -> None:
    # the project file renamed, its data folder not (it still says course.cuewatch-data)
    moved = _copy_project(analysed, tmp_path / "moved" / "renamed.cuewatch",
                          data_name=NAME + DATA_SUFFIX)
    with Project.open(moved) as p:
        assert p.data_dir == moved.with_name(NAME + DATA_SUFFIX)
    _assert_loads(moved, tmp_path)


def test_a_copy_beside_its_original_never_takes_the_originals_data(analysed: Path,
                                                                   tmp_path: Path) -> None:
    folder = tmp_path / "side"
    orig = _copy_project(analysed, folder / NAME)
    bare = _copy_project(orig, folder / "bare.cuewatch", data_name="")  # the file alone
    with Project.open(bare) as p:
        assert p.data_dir == folder / ("bare.cuewatch" + DATA_SUFFIX)
        assert not p.in_data_dir(_features(orig))
        report = revoke_consent(p, 1)
    assert report.features_dirs == [] and is_complete(_features(orig))


def test_revoke_in_a_copy_deletes_the_copys_features_only(analysed: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pair"
    orig = _copy_project(analysed, folder / NAME)
    copy = _copy_project(orig, folder / "copy.cuewatch")
    orig_features, copy_features = _features(orig), _features(copy)
    assert orig_features != copy_features and is_complete(copy_features)
    with Project.open(copy) as p:
        report = revoke_consent(p, 1)
    assert report.features_dirs == [str(copy_features)] and not copy_features.exists()
    assert is_complete(orig_features)
    _assert_loads(orig, tmp_path)


def test_old_stored_paths_are_read_inside_the_current_data_folder(analysed: Path,
                                                                 tmp_path: Path) -> None:
    """Projects written before: feature paths relative to the project folder, or absolute
    into the original's data folder. Copied and renamed, they load from the copy's folder;
    revoking deletes the copy's features, and nothing outside its data folder."""
    orig = _copy_project(analysed, tmp_path / "old" / NAME)
    key = _features(orig).name
    foreign = tmp_path / "someone_elses" / "features" / "k"
    foreign.mkdir(parents=True)
    (foreign / "meta.json").write_text("{}")
    for n, stored in enumerate([f"{NAME}{DATA_SUFFIX}/features/{key}",
                                str(orig.with_name(NAME + DATA_SUFFIX) / "features" / key)]):
        with Project.open(orig) as p:
            p._conn.execute("UPDATE analyses SET features_dir = ?", (stored,))
            p._conn.execute("DELETE FROM meta WHERE key = 'data_folder'")
        for data_name in (None, NAME + DATA_SUFFIX):  # data folder renamed too, or not
            copy = _copy_project(orig, tmp_path / f"new{n}{data_name is None}" / "renamed.cuewatch",
                                 data_name=data_name)
            _assert_loads(copy, tmp_path)
            with Project.open(copy) as p:
                copy_features = p.analyses.features_dir(1)
                assert copy_features == p.data_dir / "features" / key
                assert copy_features.is_relative_to(copy.parent)
                p._conn.execute("INSERT INTO analyses(recording_id, state, parameters, "
                                "cuewatch_version, queued, features_dir) VALUES "
                                "(1, 'failed', '{}', 'x', 'x', ?)", (str(foreign),))
                report = revoke_consent(p, 1)
            assert report.features_dirs == [str(copy_features)] and not copy_features.exists()
            assert report.features_outside == [str(foreign)] and foreign.is_dir()
            assert any("outside this project's data folder" in line for line in report.lines())
    assert is_complete(_features(orig))
