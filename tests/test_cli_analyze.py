"""``cuewatch analyze`` end to end on real media with the real model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cuewatch.faces.model import MODEL_SHA256
from cuewatch.formats import AU_COLUMNS, BLENDSHAPE_NAMES, EXPRESSION_COLUMNS, FRAMES_CSV_BASE_COLUMNS

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
    from cuewatch.rules import rules_provenance
    assert prov["rules"] == rules_provenance(None)  # revisions, rules hash, automatic neutral


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


BAD_NUMBERS = [("--fps", "nan"), ("--fps", "0"), ("--fps", "inf"), ("--every", "0"),
               ("--every", "nan"), ("--min-confidence", "2"), ("--min-confidence", "nan"),
               ("--valence-threshold", "5"), ("--valence-threshold", "nan"),
               ("--min-duration", "nan"), ("--min-duration", "-1"), ("--merge-gap", "inf"),
               ("--jobs", "0"), ("--neutral", "nan:3")]


def _one_clean_line(proc: subprocess.CompletedProcess, option: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert option in lines[0] and "must be" in lines[0]


@pytest.mark.parametrize("option,value", BAD_NUMBERS)
def test_numeric_options_out_of_range_exit_2_with_one_line(tmp_path: Path, model_path: Path,
                                                           option: str, value: str) -> None:
    proc = cli("analyze", str(SAMPLE), "--transcript", str(SAMPLE.with_suffix(".vtt")),
               "--out", str(tmp_path / "out"), "--quiet", "--consent", CONSENT, option, value,
               cache=tmp_path / "cache", model=model_path)
    _one_clean_line(proc, option)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option,value", [b for b in BAD_NUMBERS if b[0] not in ("--jobs", "--neutral")])
def test_project_add_range_checks_the_same_options(tmp_path: Path, model_path: Path,
                                                   option: str, value: str) -> None:
    project = tmp_path / "p.cuewatch"
    assert cli("project", "new", str(project), cache=tmp_path, model=model_path).returncode == 0
    proc = cli("project", "add", str(project), str(SAMPLE), option, value,
               cache=tmp_path / "cache", model=model_path)
    _one_clean_line(proc, option)
    listed = cli("project", "status", str(project), cache=tmp_path, model=model_path)
    assert listed.returncode == 0 and SAMPLE.name not in listed.stdout


def test_project_analyze_jobs_range_checked_and_valid_values_accepted(tmp_path: Path,
                                                                      model_path: Path) -> None:
    project = tmp_path / "p.cuewatch"
    assert cli("project", "new", str(project), cache=tmp_path, model=model_path).returncode == 0
    _one_clean_line(cli("project", "analyze", str(project), "--jobs", "nan", cache=tmp_path,
                        model=model_path), "--jobs")
    ok = cli("project", "add", str(project), str(SAMPLE), "--fps", "7.5", "--min-confidence", "1",
             "--valence-threshold", "0", "--min-duration", "0.5", cache=tmp_path, model=model_path)
    assert ok.returncode == 0, ok.stderr


def _colour_bars(path: Path, seconds: float = 4.0) -> Path:
    """A real video with no face in it (ffmpeg's test pattern)."""
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc=duration={seconds}:size=320x240:rate=15", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _client_says(path: Path, start: float, end: float) -> Path:
    path.write_text(f"WEBVTT\n\n00:00:{start:06.3f} --> 00:00:{end:06.3f}\n"
                    "<v Client>I am feeling really happy today.\n")
    return path


def test_truncated_video_tail_is_a_not_decoded_gap(tmp_path: Path, model_path: Path) -> None:
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov is at the front: the header claims 20 s
    proc = cli("analyze", str(cut), "--transcript", str(SAMPLE.with_suffix(".vtt")), "--out",
               str(tmp_path / "out"), "--quiet", "--consent", CONSENT, cache=tmp_path / "cache",
               model=model_path)
    assert proc.returncode == 0, proc.stderr
    assert "truncated" in proc.stderr and "not decoded" in proc.stderr
    doc = json.loads((tmp_path / "out" / "cut" / "flags.json").read_text())
    summary = json.loads((tmp_path / "out" / "cut" / "summary.json").read_text())
    tail = [g for g in doc["gaps"] if g["reason"] == "not decoded"]
    assert len(tail) == 1
    assert 5.0 < tail[0]["start"] < 15.0
    assert tail[0]["end"] == pytest.approx(summary["video"]["duration"], abs=0.01)
    assert all(f["end"] <= tail[0]["start"] + 0.01 for f in doc["flags"])
    assert tail[0] in summary["gaps"]


def test_video_without_a_face_is_a_no_face_gap_and_warns(tmp_path: Path, model_path: Path) -> None:
    bars = _colour_bars(tmp_path / "bars.mp4")
    proc = cli("analyze", str(bars), "--transcript", str(_client_says(tmp_path / "bars.vtt", 0.5, 3.0)),
               "--out", str(tmp_path / "out"), "--quiet", "--consent", CONSENT,
               cache=tmp_path / "cache", model=model_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "no face" in proc.stderr
    doc = json.loads((tmp_path / "out" / "bars" / "flags.json").read_text())
    assert doc["flags"] == []
    assert [(g["start"], g["reason"]) for g in doc["gaps"]] == [(0.0, "no face")]
    assert doc["gaps"][0]["end"] == pytest.approx(4.0, abs=0.1)


def test_project_stores_the_no_face_gap(tmp_path: Path, model_path: Path) -> None:
    from cuewatch.project.store import Project

    bars = _colour_bars(tmp_path / "bars.mp4")
    project = tmp_path / "p.cuewatch"
    for args in (("project", "new", str(project)),
                 ("project", "add", str(project), str(bars), "--consent", CONSENT, "--transcript",
                  str(_client_says(tmp_path / "bars.vtt", 0.5, 3.0)))):
        assert cli(*args, cache=tmp_path / "cache", model=model_path).returncode == 0
    proc = cli("project", "analyze", str(project), "--quiet", cache=tmp_path / "cache",
               model=model_path)
    assert proc.returncode == 0, proc.stderr
    assert "no face" in proc.stderr
    with Project.open(project) as p:
        rid = int(p.recordings.all()[0].id)
        assert [g.reason for g in p.flags.gaps(rid)] == ["no face"]


def test_stretch_without_any_face_is_a_no_face_gap(tmp_path: Path, media_dir: Path,
                                                   model_path: Path) -> None:
    video = tmp_path / "cut_to_title.mov"   # a face, then a cut to a title card
    video.symlink_to(media_dir / "robustness" / "face_noface.mov")
    proc = cli("analyze", str(video), "--transcript", str(_client_says(tmp_path / "t.vtt", 0.2, 6.0)),
               "--out", str(tmp_path / "out"), "--quiet", "--consent", CONSENT,
               cache=tmp_path / "cache", model=model_path)
    assert proc.returncode == 0, proc.stderr
    gaps = json.loads((tmp_path / "out" / "cut_to_title" / "flags.json").read_text())["gaps"]
    no_face = [g for g in gaps if g["reason"] == "no face"]
    assert len(no_face) == 1 and 1.5 < no_face[0]["start"] < 3.5 and no_face[0]["end"] > 6.0
    assert all(g["end"] <= no_face[0]["start"] + 0.01 for g in gaps if g is not no_face[0])
