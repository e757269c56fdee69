"""The project store stays small: a database object with one manager per concern, and
stored settings that an older or newer cuewatch wrote stay readable."""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import pytest

from cuewatch.errors import StoredSettingsWarning
from cuewatch.options import AnalysisSettings, FlagSettings
from cuewatch.project.sql import Manager
from cuewatch.project.store import Project

PROJECT_DIR = Path(__file__).resolve().parents[1] / "cuewatch" / "project"
#: the managers (``project.<name>``) and the module each lives in
MANAGERS = {"recordings": "recordings.py", "consents": "consents.py", "analyses": "analyses.py",
            "flags": "flags.py", "reviews": "reviews.py", "annotations": "annotations.py",
            "exports": "exports_log.py", "audit": "audit.py"}
#: the services that do the file-system work outside the store
SERVICES = ("revocation.py", "relocation.py")
MAX_PUBLIC = 25
MAX_MODULE_LINES = 400


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project.create(tmp_path / "study.cuewatch", actor="supervisor")
    yield p
    p.close()


def test_the_project_is_a_database_object_with_managers(project: Project) -> None:
    public = [n for n in dir(project) if not n.startswith("_")]
    assert len(public) <= MAX_PUBLIC, f"Project has {len(public)} public names: {public}"
    for name, module in MANAGERS.items():
        manager = getattr(project, name)
        assert isinstance(manager, Manager) and manager.db is project, name
        assert type(manager).__module__ == "cuewatch.project." + module[:-3], name


@pytest.mark.parametrize("module", sorted(MANAGERS.values()) + list(SERVICES))
def test_each_manager_module_stays_small(module: str) -> None:
    lines = len((PROJECT_DIR / module).read_text(encoding="utf-8").splitlines())
    assert lines < MAX_MODULE_LINES, f"cuewatch/project/{module} has {lines} lines"


def test_stored_settings_keep_known_fields_and_report_unknown_ones() -> None:
    old = {"fps": 5.0, "max_faces": 2, "face_detector": "blazeface"}  # a field since removed
    with pytest.warns(StoredSettingsWarning, match="AnalysisSettings.*face_detector"):
        settings = AnalysisSettings.from_stored(old)
    assert settings == AnalysisSettings(fps=5.0, max_faces=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a dict of today's fields reads back without a word
        assert FlagSettings.from_stored(FlagSettings(sensitivity="high").to_dict()) == \
            FlagSettings(sensitivity="high")
        assert AnalysisSettings.from_stored({}) == AnalysisSettings()


def test_a_renamed_stored_field_is_read_under_its_new_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FlagSettings, "RENAMED", {"min_length_s": "min_duration_s"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert FlagSettings.from_stored({"min_length_s": 1.5}).min_duration_s == 1.5
        # both stored: the new name wins, in either order
        assert FlagSettings.from_stored({"min_length_s": 1.5, "min_duration_s": 2.0}).min_duration_s == 2.0
        assert FlagSettings.from_stored({"min_duration_s": 2.0, "min_length_s": 1.5}).min_duration_s == 2.0


def test_a_project_with_settings_from_another_version_still_opens(tmp_path: Path, clips) -> None:
    """An analysis row whose stored settings carry a field this cuewatch does not know
    (renamed or removed since) is listed, shown and run, not a TypeError."""
    path = tmp_path / "old.cuewatch"
    with Project.create(path, actor="supervisor") as p:
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
    conn = sqlite3.connect(path)
    params = json.loads(conn.execute("SELECT parameters FROM analyses").fetchone()[0])
    params["analysis"]["face_detector"] = "blazeface"
    params["flags"]["sensitivity_curve"] = "steep"
    conn.execute("UPDATE analyses SET parameters = ?", (json.dumps(params),))
    conn.commit()
    conn.close()
    with Project.open(path, actor="supervisor") as p:
        with pytest.warns(StoredSettingsWarning):
            [queued] = p.analyses.all(rid)
        assert queued.settings == AnalysisSettings() and queued.flag_settings == FlagSettings()
        with pytest.warns(StoredSettingsWarning):
            claimed = p.analyses.claim("0" * 64)
        assert claimed is not None and claimed.state == "running" and claimed.cache_key
