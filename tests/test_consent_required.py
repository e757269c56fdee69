"""Consent cannot be skipped by leaving something out: an export states its purpose, and
consent dated in the future is refused on every way in. Real files, real SQLite, the real
command line."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_project_store import CONSENT, _fake_run

from cuewatch.cli import main
from cuewatch.consent.policy import EXPORT_PURPOSES, PURPOSE_OPTIONAL_FORMATS, require_purpose
from cuewatch.consent.record import parse_consent, require_analysis, require_scope
from cuewatch.errors import ConsentError
from cuewatch.exports import EXPORT_FORMATS
from cuewatch.project.export import export_project
from cuewatch.project.store import Project

ROOT = Path(__file__).resolve().parents[1]
FUTURE = dict(CONSENT, obtained="2099-01-01")


def _cli(capsys: pytest.CaptureFixture, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _analysed(tmp_path: Path, clips: dict[str, Path]) -> Path:
    path = tmp_path / "study.cuewatch"
    with Project.create(path) as p:  # training and supervision only
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
        _fake_run(p, rid, tmp_path, n_flags=2)
    return path


# ---------------------------------------------------------------- 4a: the purpose

@pytest.mark.parametrize("fmt", ["clips", "frames", "csv"])
def test_cli_export_without_purpose_is_refused(capsys, tmp_path: Path, clips: dict[str, Path],
                                               fmt: str) -> None:
    path = _analysed(tmp_path, clips)
    out_dir = tmp_path / "out"
    code, out, err = _cli(capsys, "export", path, "--format", fmt, "--out", out_dir, "--quiet")
    line = _one_line(err)
    assert code == 2 and out == ""
    assert "--purpose" in line and all(p in line for p in EXPORT_PURPOSES)
    assert not out_dir.exists()
    with Project.open(path) as p:
        assert p.exports.files(include_deleted=True) == []
        assert p.audit.all(action="export_done") == []


def test_every_format_that_carries_personal_data_needs_a_purpose(tmp_path: Path,
                                                                  clips: dict[str, Path]) -> None:
    path = _analysed(tmp_path, clips)
    needing = [f for f in EXPORT_FORMATS if f not in PURPOSE_OPTIONAL_FORMATS]
    assert {"clips", "frames", "csv", "json", "html"} <= set(needing)
    for fmt in needing:
        with pytest.raises(ConsentError, match="--purpose"):
            export_project(path, fmt, tmp_path / fmt)
        assert not (tmp_path / fmt).exists()
        require_purpose(fmt, "training")  # stated: consent decides from here
    for fmt in PURPOSE_OPTIONAL_FORMATS:
        require_purpose(fmt, None)


# ---------------------------------------------------------------- 4b: consent from the future

def test_future_consent_covers_nothing() -> None:
    c = parse_consent(json.dumps(FUTURE))
    assert c.is_future() and not c.allows_analysis() and not c.covers("training")
    with pytest.raises(ConsentError, match="in the future"):
        require_analysis(c, "v.mp4")
    with pytest.raises(ConsentError, match="in the future"):
        require_scope(c, "training", "v.mp4")
    today = dt.date(2026, 1, 10)  # obtained today is fine
    require_analysis(parse_consent(json.dumps(CONSENT)), "v.mp4", today)
    with pytest.raises(ConsentError, match="in the future"):
        require_analysis(parse_consent(json.dumps(CONSENT)), "v.mp4", today - dt.timedelta(days=1))


def test_analyze_refuses_future_consent(tmp_path: Path, clips: dict[str, Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "cuewatch", "analyze", str(clips["HAP"]),
                           "--out", str(tmp_path / "out"), "--consent", json.dumps(FUTURE),
                           "--quiet"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "in the future" in _one_line(proc.stderr)
    assert not (tmp_path / "out" / "hap").exists()


def test_project_add_refuses_future_consent(capsys, tmp_path: Path, clips: dict[str, Path]) -> None:
    path = tmp_path / "study.cuewatch"
    Project.create(path).close()
    future = tmp_path / "future.json"
    future.write_text(json.dumps(FUTURE))
    code, _, err = _cli(capsys, "project", "add", path, clips["HAP"], "--consent", future)
    assert code == 2 and "2099-01-01" in _one_line(err) and "future" in err
    clips["SAD"].with_name(clips["SAD"].name + ".consent.json").write_text(json.dumps(FUTURE))  # the sidecar
    code, _, err = _cli(capsys, "project", "add", path, clips["SAD"])
    assert code == 2 and "future" in _one_line(err)
    with Project.open(path) as p:
        assert p.recordings.all() == [] and p.analyses.all() == []


def test_consent_set_refuses_future_consent_and_keeps_the_old(capsys, tmp_path: Path,
                                                               clips: dict[str, Path]) -> None:
    path = tmp_path / "study.cuewatch"
    with Project.create(path) as p:
        rid = int(p.recordings.add(clips["HAP"]).id)  # type: ignore[arg-type]
        with pytest.raises(ConsentError, match="in the future"):
            p.consents.set(rid, FUTURE)
    code, _, err = _cli(capsys, "consent", path, "set", "1", "--consent", json.dumps(FUTURE))
    assert code == 2 and "in the future" in _one_line(err)
    with Project.open(path) as p:
        assert [h["status"] for h in p.consents.history(1)] == ["active"]
        assert p.consents.get(1).obtained == dt.date(2026, 1, 10)
        status = p.consents.status(1, today=dt.date(2026, 1, 9))  # before it was obtained
        assert status.state == "future" and not any(status.allowed.values())
