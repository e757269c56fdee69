"""``cuewatch project add --transcript`` and ``project transcript``: a transcript is checked
when it is given, not found broken at analysis, and can be replaced (audited)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cuewatch.project.store import Project

BROKEN = "WEBVTT\n\n00:00:01.000 --> 00:00:00.500\n<v Client>I'm fine\n"  # ends before it starts
GOOD = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Client>I feel awful today\n"
BETTER = "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\n<v Client>I feel really happy today\n"


def cuewatch(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuewatch", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=dict(os.environ))


def _one_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_add_refuses_a_broken_transcript_and_stores_nothing(tmp_path: Path,
                                                             clips: dict[str, Path]) -> None:
    p = tmp_path / "p.cuewatch"
    assert cuewatch("project", "new", p).returncode == 0
    bad = tmp_path / "bad.vtt"
    bad.write_text(BROKEN)
    line = _one_line(cuewatch("project", "add", p, clips["HAP"], "--transcript", bad))
    assert "bad.vtt" in line
    late = tmp_path / "late.vtt"  # parses, but starts after the 2 s clip ends
    late.write_text("WEBVTT\n\n00:01:00.000 --> 00:01:02.000\n<v Client>I'm fine\n")
    assert "after the video ends" in _one_line(cuewatch("project", "add", p, clips["HAP"],
                                                        "--transcript", late))
    with Project.open(p) as project:
        assert project.recordings.all() == [] and project.analyses.all() == []


def test_transcript_command_checks_then_replaces_and_audits(tmp_path: Path,
                                                            clips: dict[str, Path]) -> None:
    p = tmp_path / "p.cuewatch"
    good, better, bad = tmp_path / "good.vtt", tmp_path / "better.vtt", tmp_path / "bad.vtt"
    good.write_text(GOOD)
    better.write_text(BETTER)
    bad.write_text(BROKEN)
    assert cuewatch("project", "new", p).returncode == 0
    added = cuewatch("project", "add", p, clips["HAP"], "--transcript", good)
    assert added.returncode == 0, added.stderr
    assert "bad.vtt" in _one_line(cuewatch("project", "transcript", p, clips["HAP"].name, bad))
    with Project.open(p) as project:
        assert project.recordings.transcripts(1) == {"transcript": good}
    proc = cuewatch("project", "transcript", p, clips["HAP"].name, better)
    assert proc.returncode == 0, proc.stderr
    assert "replaced" in proc.stdout and "queued" in proc.stdout
    mood = tmp_path / "mood.json"
    mood.write_text(json.dumps([{"start": 0.0, "end": 1.0, "speaker": "Client", "category": "calm"}]))
    assert cuewatch("project", "transcript", p, "1", mood, "--mood").returncode == 0
    with Project.open(p) as project:
        assert project.recordings.transcripts(1) == {"transcript": better, "mood": mood}
        entries = project.audit.all(1, action="attach_transcript")
        assert len(entries) == 1
        assert entries[0].detail["replaced"]["path"].endswith("good.vtt")
        assert entries[0].detail["path"].endswith("better.vtt")
        assert [a.state for a in project.analyses.all(1)][-1] == "queued"
    assert "no recording" in _one_line(cuewatch("project", "transcript", p, "9", better))
