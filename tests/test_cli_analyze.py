"""``cuewatch analyze`` end to end on real media with the real model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cuewatch.formats import (AU_COLUMNS, BLENDSHAPE_NAMES, EXPRESSION_COLUMNS,
                              FRAMES_CSV_BASE_COLUMNS)
from cuewatch.faces.model import MODEL_SHA256

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_media" / "demo_roleplay.mp4"
CONSENT = json.dumps({"participants": [{"name": "actor", "role": "client"}],
                      "scopes": ["training", "research"], "obtained": "2014-01-01"})


def cli(*args: str, cache: Path, model: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, CUEWATCH_CACHE=str(cache), CUEWATCH_MODEL=str(model))
    return subprocess.run([sys.executable, "-m", "cuewatch", *args], capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory, model_path: Path, feature_cache: Path):
    base = tmp_path_factory.mktemp("analyze")
    cache = feature_cache
    proc = cli("analyze", str(SAMPLE), "--transcript", str(SAMPLE.with_suffix(".vtt")),
               "--out", str(base / "out"), "--quiet", cache=cache, model=model_path)
    assert proc.returncode == 0, proc.stderr
    return base, cache, base / "out" / "demo_roleplay"


def test_frames_csv(sample_run) -> None:
    _, _, out = sample_run
    with open(out / "frames.csv", newline="") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header[:8] == list(FRAMES_CSV_BASE_COLUMNS)
    assert header[8:60] == list(BLENDSHAPE_NAMES)
    assert header[60:] == list(AU_COLUMNS) + list(EXPRESSION_COLUMNS)
    body = rows[1:]
    seen = [r for r in body if r[4] == "1"]
    assert len(seen) >= 0.9 * len(body)
    times = sorted({float(r[2]) for r in body})
    assert 20.0 < times[-1] <= 21.1
    assert 14 <= len(times) / times[-1] <= 15.5  # default: at most 15 analysed fps


def test_summary_json(sample_run) -> None:
    _, _, out = sample_run
    s = json.loads((out / "summary.json").read_text())
    assert s["video"]["width"] == 640 and s["video"]["height"] == 480
    assert s["video"]["fps"] > 29 and 20 < s["video"]["duration"] < 22
    assert len(s["tracks"]) == 1
    track = s["tracks"][0]
    assert track["coverage"] > 0.9 and len(track["mean_bbox"]) == 4
    assert s["consent"]["scopes"] == ["training", "supervision", "research"]
    prov = s["provenance"]
    assert prov["model_sha256"] == MODEL_SHA256 and prov["cuewatch_version"]
    assert prov["parameters"]["analysis"]["fps"] == 15.0


def test_flags_json(sample_run) -> None:
    _, _, out = sample_run
    doc = json.loads((out / "flags.json").read_text())
    assert set(doc) >= {"video", "provenance", "flags", "gaps"}
    assert doc["provenance"]["model_sha256"] == MODEL_SHA256
    for f in doc["flags"]:
        assert f["type"] in ("incongruence", "leak")
        assert 0 <= f["severity"] <= 1 and 0 <= f["confidence"] <= 1
        assert f["stated"]["words"] and f["expressed"]["category"]
        assert "peak_time" in f["evidence"] and f["start"] < f["end"]
    assert (out / "flags.csv").read_text().count("\n") >= 2


def test_second_run_reuses_features(sample_run, model_path: Path) -> None:
    base, cache, out = sample_run
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("track_*.npy")}
    assert before
    proc = cli("analyze", str(SAMPLE), "--out", str(base / "again"), "--quiet", cache=cache,
               model=model_path)
    assert proc.returncode == 0, proc.stderr
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("track_*.npy")}
    assert after == before  # nothing re-analysed
    assert not (base / "again" / "demo_roleplay" / "flags.json").exists()
    assert "no transcript or mood file" in proc.stderr


def test_jobs_analyse_videos_in_parallel(tmp_path: Path, media_dir: Path, model_path: Path) -> None:
    clips = [media_dir / "crema_d" / f"1001_DFA_{e}_XX.flv" for e in ("HAP", "NEU")]
    proc = cli("analyze", *map(str, clips), "--out", str(tmp_path / "out"), "--consent", CONSENT,
               "--jobs", "2", "--quiet", cache=tmp_path / "cache", model=model_path)
    assert proc.returncode == 0, proc.stderr
    for c in clips:
        assert (tmp_path / "out" / c.stem / "frames.csv").is_file()
        assert (tmp_path / "out" / c.stem / "summary.json").is_file()


def test_bad_transcript_exits_2(tmp_path: Path, model_path: Path) -> None:
    bad = tmp_path / "bad.vtt"
    bad.write_text("WEBVTT\n\n1\n00:00:05.000 --> 00:00:02.000\n<v Client>I'm fine\n")
    proc = cli("analyze", str(SAMPLE), "--transcript", str(bad), "--out", str(tmp_path / "o"),
               "--quiet", cache=tmp_path / "cache", model=model_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.vtt" in proc.stderr
