"""Video input on real files: metadata, sampling, timing, and every kind of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cuewatch.errors import VideoError
from cuewatch.media.video import Frame, FrameReader, probe_video, read_frame_at
from cuewatch.options import AnalysisSettings

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_media" / "demo_roleplay.mp4"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cuewatch", *args], capture_output=True, text=True,
                          timeout=300)


def test_probe_reads_metadata(media_dir: Path) -> None:
    info = probe_video(media_dir / "crema_d" / "1001_DFA_HAP_XX.flv")
    assert (info.width, info.height) == (480, 360)
    assert 29 < info.fps < 31
    assert 1.5 < info.duration < 2.5
    assert info.rotation == 0


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv"])
def test_containers_decode(tmp_path: Path, ext: str) -> None:
    import imageio_ffmpeg
    out = tmp_path / f"clip{ext}"
    codec = {".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime"],
             ".flv": ["-c:v", "flv"], ".avi": ["-c:v", "mpeg4"]}.get(ext, ["-c:v", "libx264"])
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(SAMPLE),
                    "-t", "1.0", *codec, "-an", str(out)], check=True)
    info = probe_video(out)
    frames = list(FrameReader(info, AnalysisSettings(fps=None)))
    assert info.width == 640 and info.height == 480
    assert len(frames) >= 25


def test_sampling_default_at_most_15_fps_evenly(media_dir: Path) -> None:
    info = probe_video(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4")  # 23.98 fps
    frames = list(FrameReader(info, AnalysisSettings()))
    times = np.array([f.timestamp for f in frames])
    rate = len(frames) / info.duration
    assert 14.0 <= rate <= 15.05
    assert np.all(np.diff(times) > 0)
    assert np.diff(times).max() < 2.1 / info.fps  # no holes
    every = list(FrameReader(info, AnalysisSettings(fps=None, every=4)))
    assert [f.index for f in every[:3]] == [0, 4, 8]
    all_frames = list(FrameReader(info, AnalysisSettings(fps=None)))
    assert len(all_frames) == pytest.approx(info.frame_count, abs=3)


def test_timestamps_come_from_the_decoder(tmp_path: Path) -> None:
    """A variable-frame-rate file keeps its timing: times are not index / fps."""
    import imageio_ffmpeg
    vfr = tmp_path / "vfr.mkv"
    # first second at 30 fps, then 10 fps: frame index / fps would drift by seconds
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(SAMPLE),
                    "-t", "4", "-vf", "select='lt(t,1)+not(mod(n,3))'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-an", str(vfr)], check=True)
    info = probe_video(vfr)
    frames = list(FrameReader(info, AnalysisSettings(fps=None)))
    assert frames[-1].timestamp == pytest.approx(4.0, abs=0.2)
    assert len(frames) < 0.75 * 4 * 30


def test_chunked_readers_agree_with_a_full_read(media_dir: Path) -> None:
    info = probe_video(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4")
    full = [f.index for f in FrameReader(info)]
    half = 10.0
    a = [f.index for f in FrameReader(info, start_s=0, end_s=half)]
    b = [f.index for f in FrameReader(info, start_s=half)]
    assert a + b == full


def test_decoder_threads_change_no_frame(media_dir: Path) -> None:
    """The face pass decodes side-by-side chunks on one thread each: the same pixels."""
    info = probe_video(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4")
    one = FrameReader(info, start_s=4.0, end_s=8.0, threads=1)
    auto = FrameReader(info, start_s=4.0, end_s=8.0)
    pairs = list(zip(one, auto, strict=True))
    assert len(pairs) > 30
    for a, b in pairs:
        assert (a.index, a.timestamp) == (b.index, b.timestamp)
        assert np.array_equal(a.image, b.image)


def test_read_frame_at(media_dir: Path) -> None:
    frame = read_frame_at(media_dir / "pexels" / "WolfgangLanger_Pexels.mp4", 12.0)
    assert abs(frame.timestamp - 12.0) < 0.05
    assert frame.image.shape == (360, 640, 3)


def test_rotation_tag_is_applied(tmp_path: Path) -> None:
    """A phone video tagged as rotated is analysed upright, as a player shows it."""
    import cv2
    import imageio_ffmpeg
    rotated = tmp_path / "phone.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-display_rotation:v:0", "90",
                    "-i", str(SAMPLE), "-t", "1", "-c", "copy", str(rotated)], check=True)
    info = probe_video(rotated)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (480, 640)
    frame = next(iter(FrameReader(info)))
    assert frame.image.shape == (640, 480, 3)
    # the same picture OpenCV's own auto-rotation gives
    cap = cv2.VideoCapture(str(rotated))
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    ok, bgr = cap.read()
    assert ok
    ref = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    assert ref.shape == frame.image.shape
    assert np.abs(ref.astype(int) - frame.image.astype(int)).mean() < 2.0


BAD_INPUTS = {
    "missing": None,
    "empty": b"",
    "stub": b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 900,
    "text": b"this is not a video at all\n" * 400,
}


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_clear_line(tmp_path: Path, kind: str) -> None:
    video = tmp_path / f"{kind}.mp4"
    if BAD_INPUTS[kind] is not None:
        video.write_bytes(BAD_INPUTS[kind])
    with pytest.raises(VideoError):
        probe_video(video)
    consent = '{"participants":[{"name":"A","role":"client"}],"scopes":["training"],"obtained":"2026-01-01"}'
    proc = run_cli("analyze", str(video), "--out", str(tmp_path / "out"), "--consent", consent, "--quiet")
    assert proc.returncode == 2
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("cuewatch: ") and str(video.name) in lines[0]
    assert "Traceback" not in proc.stderr


def test_truncated_file_decodes_what_it_can(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # moov is at the front (faststart)
    info = probe_video(cut)
    reader = FrameReader(info)
    frames = list(reader)
    assert 0 < len(frames)
    assert reader.truncated
    assert reader.last_timestamp < info.duration * 0.8


def test_container_claiming_extra_frames_is_not_truncated(media_dir: Path) -> None:
    info = probe_video(media_dir / "robustness" / "no_face.mp4")  # claims 98, 95 decode
    reader = FrameReader(info, AnalysisSettings(fps=None))
    frames = list(reader)
    assert len(frames) == 95
    assert not reader.truncated


def test_read_ahead_keeps_order_and_passes_errors() -> None:
    from cuewatch.media.video import read_ahead

    frames = [Frame(index=i, timestamp=i / 10, image=np.zeros((2, 2, 3), np.uint8)) for i in range(20)]
    assert [f.index for f in read_ahead(iter(frames), depth=3)] == list(range(20))

    def broken():
        yield frames[0]
        raise VideoError("decoder failed")

    got = []
    with pytest.raises(VideoError, match="decoder failed"):
        for f in read_ahead(broken()):
            got.append(f.index)
    assert got == [0]
    # stopping early stops the decoder thread
    it = read_ahead(iter(frames), depth=2)
    next(it)
    it.close()
