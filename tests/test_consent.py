"""Consent: sidecar or --consent, scopes, expiry; refusals are one clear line, exit 2."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cuewatch.consent.record import consent_for_video, parse_consent, require_scope, sidecar_path
from cuewatch.errors import ConsentError

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"participants": [{"name": "Ana", "role": "client"}, {"name": "Ben", "role": "therapist"}],
        "scopes": ["training", "supervision"], "obtained": "2026-01-10", "recorded_by": "Dr C"}


def test_parse_text_and_file(tmp_path: Path) -> None:
    c = parse_consent(json.dumps(GOOD))
    assert c.scopes == ("training", "supervision")
    assert c.participants[0].role == "client"
    f = tmp_path / "c.json"
    f.write_text(json.dumps(GOOD))
    assert parse_consent(str(f)).obtained == dt.date(2026, 1, 10)


@pytest.mark.parametrize("bad, words", [
    ({"scopes": ["training"], "obtained": "2026-01-01"}, "missing participants"),
    (GOOD | {"scopes": ["marketing"]}, "unknown scope"),
    (GOOD | {"obtained": "last tuesday"}, "not a date"),
    (GOOD | {"participants": []}, "non-empty"),
])
def test_invalid_consent_is_refused(bad: dict, words: str) -> None:
    with pytest.raises(ConsentError, match=words):
        parse_consent(json.dumps(bad))


def test_not_json() -> None:
    with pytest.raises(ConsentError, match="not valid JSON"):
        parse_consent("{participants: nope")


def test_sidecar_and_expiry(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with pytest.raises(ConsentError, match="no consent on record"):
        consent_for_video(video)
    sidecar_path(video).write_text(json.dumps(GOOD | {"expires": "2026-02-01"}))
    assert consent_for_video(video, today=dt.date(2026, 1, 20)).expires == dt.date(2026, 2, 1)
    with pytest.raises(ConsentError, match="expired"):
        consent_for_video(video, today=dt.date(2026, 3, 1))


def test_research_only_does_not_allow_analysis() -> None:
    c = parse_consent(json.dumps(GOOD | {"scopes": ["research"]}))
    assert not c.allows_analysis()
    require_scope(c, "research")
    with pytest.raises(ConsentError, match="does not cover training"):
        require_scope(c, "training")


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuewatch", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_without_consent_exits_2(tmp_path: Path, synthetic_video) -> None:
    clip = synthetic_video(0)
    proc = _cli("analyze", str(clip), "--out", str(tmp_path), "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "consent" in lines[0]
    expired = json.dumps(GOOD | {"expires": "2020-01-01", "obtained": "2019-01-01"})
    proc = _cli("analyze", str(clip), "--out", str(tmp_path), "--consent", expired, "--quiet")
    assert proc.returncode == 2 and "expired" in proc.stderr
    assert "Traceback" not in proc.stderr
