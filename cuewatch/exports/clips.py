"""``cuewatch export --format clips``: one short video per flag.

Each clip spans the flag plus ``context_s`` seconds either side (within the recording),
cut by the ffmpeg that ``imageio-ffmpeg`` ships: accurate seek (``-ss`` before ``-i``)
and a re-encode (H.264 + AAC in MP4), so a clip starts on the asked-for frame, not on
the previous key frame. ``anonymise=True`` decodes the span with OpenCV, blurs every
tracked face in every frame (boxes interpolated between analysed frames, padded) and
pipes the frames to ffmpeg; the sound is removed (``-an``: a voice identifies a person)
unless ``keep_audio``, and the source's container metadata (title, ...) is not copied.
Plain clips keep the sound.

Provenance travels in each clip's MP4 metadata (``comment``: JSON) and in
``LABEL.clips.json`` (``CLIPS_MANIFEST_VERSION``), which lists every clip with its flag,
the span cut and the offset of the flag inside the clip. Anonymised, the provenance
says whether the sound was removed (``anonymisation`` -> ``audio``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Optional

import cv2
import imageio_ffmpeg
import numpy as np

from cuewatch.errors import CuewatchError, VideoError
from cuewatch.exports import ExportBundle, prepare, unique_labels
from cuewatch.exports.anonymise import ANONYMISATION_KEY, audio_statement
from cuewatch.exports.faceblur import blur_faces_at, require_tracks
from cuewatch.exports.json import plain
from cuewatch.exports.naming import NameAllocator, path_in
from cuewatch.exports.tracks import TrackArrays
from cuewatch.files import atomic_path, write_text_atomic
from cuewatch.progress import Cancelled, Progress

CLIPS_MANIFEST_VERSION = 1
DEFAULT_CONTEXT_S = 3.0
#: x264 quality (lower is better, 18-23 is visually lossless to good).
DEFAULT_CRF = 20
_ENCODE_VIDEO = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                 "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
_ENCODE_AUDIO = ["-c:a", "aac", "-b:a", "128k"]
_NO_AUDIO = ["-an"]
#: Anonymised clips carry none of the source's metadata (titles, dates, devices).
_NO_SOURCE_METADATA = ["-map_metadata", "-1", "-map_chapters", "-1"]
_CONTAINER = ["-movflags", "+faststart", "-f", "mp4"]


def ffmpeg_exe() -> str:
    """The bundled ffmpeg binary; a clear error when the package cannot provide it."""
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # imageio-ffmpeg raises RuntimeError with its own text
        raise CuewatchError(f"no ffmpeg available for clip export: {exc}") from None


def _media_duration(bundle: ExportBundle) -> float:
    if bundle.recording.duration and bundle.recording.duration > 0:
        return float(bundle.recording.duration)
    from cuewatch.media.video import probe_video

    return float(probe_video(bundle.media_path).duration)


def _run(cmd: list[str], stdin_frames: Optional[Iterable[np.ndarray]] = None, progress: Optional[Progress] = None) -> None:
    """Run ffmpeg; ``stdin_frames`` (an iterator of raw frames) is piped in if given."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin_frames is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=log)
        try:
            if stdin_frames is not None:
                assert proc.stdin is not None  # stdin=PIPE above
                try:
                    for frame in stdin_frames:
                        if progress is not None:
                            progress.check()
                        proc.stdin.write(frame.tobytes())
                except BrokenPipeError:
                    pass  # ffmpeg stopped early: its exit code and log say why
                finally:
                    proc.stdin.close()
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if code != 0:
            log.seek(0)
            lines = [l for l in log.read().decode("utf-8", "replace").splitlines() if l.strip()]
            raise CuewatchError(f"ffmpeg could not cut the clip: {lines[-1] if lines else f'exit {code}'}")


def _blurred_frames(bundle: ExportBundle, tracks: dict[int, TrackArrays], start: float,
                    duration: float) -> Iterator[np.ndarray]:
    """Decoded frames of [start, start + duration) with every tracked face blurred."""
    cap = cv2.VideoCapture(str(bundle.media_path))
    if not cap.isOpened():
        raise VideoError(f"cannot open video {bundle.media_path.name}")
    try:
        fps = cap.get(cv2.CAP_PROP_FPS) or bundle.recording.fps or 25.0
        half = 0.5 / fps
        cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, start - 1.0) * 1000.0)
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if t + half < start:
                continue
            if t >= start + duration - half:
                return
            yield blur_faces_at(frame, tracks, t)
    finally:
        cap.release()


def _frame_geometry(media: Path) -> tuple[int, int, float]:
    cap = cv2.VideoCapture(str(media))
    try:
        ok, frame = cap.read()
        if not ok:
            raise VideoError(f"cannot decode video {media.name}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        return frame.shape[1], frame.shape[0], fps
    finally:
        cap.release()


#: Below this start time, seek by decoding from the beginning: ffmpeg's input seek to a
#: time before a stream's first packet fails on some files (FLV from CREMA-D).
_INPUT_SEEK_FROM_S = 0.5


def _seek_before_input(start: float) -> list[str]:
    """Accurate seek (input ``-ss`` plus re-encode) for starts past the first half second."""
    return ["-ss", f"{start:.3f}"] if start >= _INPUT_SEEK_FROM_S else []


def _seek_after_input(start: float) -> list[str]:
    return ["-ss", f"{start:.3f}"] if 0 < start < _INPUT_SEEK_FROM_S else []


def cut_clip(bundle: ExportBundle, target: Path, start: float, duration: float, *,
             anonymise: bool, metadata: str, crf: int = DEFAULT_CRF,
             progress: Optional[Progress] = None, keep_audio: bool = False) -> Path:
    """Cut [start, start + duration) of the bundle's media into ``target`` (MP4).

    Anonymised: faces blurred, no source metadata, and no sound unless ``keep_audio``.
    """
    exe = ffmpeg_exe()
    media = str(bundle.media_path)
    head = [exe, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    sound = _ENCODE_AUDIO if (keep_audio or not anonymise) else _NO_AUDIO
    tail = (["-crf", str(crf)] + _ENCODE_VIDEO + sound
            + (_NO_SOURCE_METADATA if anonymise else []) + _CONTAINER
            + ["-metadata", f"comment={metadata}"])
    with atomic_path(target) as tmp:
        if not anonymise:
            cmd = head + _seek_before_input(start) + ["-i", media] + _seek_after_input(start) + [
                "-t", f"{duration:.3f}", "-map", "0:v:0", "-map", "0:a:0?"] + tail + [str(tmp)]
            _run(cmd)
        else:
            tracks = require_tracks(bundle, "the clip")
            width, height, fps = _frame_geometry(bundle.media_path)
            cmd = head + ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
                          "-r", f"{fps:.6f}", "-i", "pipe:0",
                          "-ss", f"{start:.3f}", "-t", f"{duration:.3f}", "-i", media,
                          "-map", "0:v:0"] + (["-map", "1:a:0?"] if keep_audio else []) + [
                          "-t", f"{duration:.3f}"] + tail + [str(tmp)]
            frames = _blurred_frames(bundle, tracks, start, duration)
            _run(cmd, stdin_frames=frames, progress=progress)
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise CuewatchError(f"ffmpeg wrote no clip for {target.name}")
    return target


def _check_covered(bundle: ExportBundle, start: float, end: float) -> None:
    """Anonymising needs the analysis to have looked at every moment of the clip."""
    span = bundle.analysed_span()
    if span is None:
        return
    slack = 1.0
    if start < span[0] - slack or end > span[1] + slack:
        raise CuewatchError(
            f"cannot anonymise {start:.1f}-{end:.1f} s of {bundle.recording_label(True)}: the "
            f"faces were analysed only from {span[0]:.1f} to {span[1]:.1f} s")


def export(bundles: list[ExportBundle], out_dir: Path, *, anonymise: bool = False,
           progress: Optional[Progress] = None, context_s: float = DEFAULT_CONTEXT_S,
           crf: int = DEFAULT_CRF, keep_audio: bool = False) -> list[Path]:
    """Write ``LABEL.flag-KEY.mp4`` per flag and ``LABEL.clips.json`` per recording.

    ``keep_audio`` keeps the sound in anonymised clips (plain clips always keep it).
    """
    bundles, out_dir, progress = prepare(bundles, out_dir, progress)
    if not context_s >= 0:
        raise CuewatchError(f"clip context must be zero or more seconds, not {context_s}")
    if anonymise:  # refuse before cutting anything
        for bundle in bundles:
            if bundle.flags:
                require_tracks(bundle, "clips")
    total = max(1, sum(len(b.flags) for b in bundles))
    done = 0
    written: list[Path] = []
    for bundle, label in zip(bundles, unique_labels(bundles, anonymise)):
        if not bundle.flags:
            continue
        if not bundle.media_path.is_file():
            raise CuewatchError(f"video not found for {label}: {bundle.media_path}")
        length = _media_duration(bundle)
        names = NameAllocator()
        provenance = dict(bundle.provenance)
        if anonymise:
            provenance[ANONYMISATION_KEY] = dict(provenance.get(ANONYMISATION_KEY) or {},
                                                 audio=audio_statement(keep_audio))
        provenance_json = json.dumps(provenance, sort_keys=True, ensure_ascii=False)
        clips: list[dict[str, Any]] = []
        manifest = {"format": "cuewatch-clips", "version": CLIPS_MANIFEST_VERSION,
                    "provenance": provenance, "recording": label,
                    "anonymised": anonymise, "audio": not anonymise or keep_audio,
                    "context_s": context_s, "clips": clips}
        for i, flag in enumerate(bundle.flags):
            progress.check()
            start = max(0.0, flag.start - context_s)
            end = min(length, flag.end + context_s) if length > 0 else flag.end + context_s
            if end - start < 0.05:
                raise CuewatchError(f"flag {bundle.flag_key(i)} of {label} lies outside the "
                                    f"video ({flag.start:.2f}-{flag.end:.2f} s of {length:.2f} s)")
            if anonymise:
                _check_covered(bundle, start, end)
            name = names.claim(f"{label}.flag-{bundle.flag_key(i)}", ".mp4")
            target = path_in(out_dir, name)
            child = progress.scaled(done / total, (done + 1) / total)
            cut_clip(bundle, target, start, end - start, anonymise=anonymise,
                     metadata=f"cuewatch flag {bundle.flag_key(i)}; provenance {provenance_json}",
                     crf=crf, progress=child, keep_audio=keep_audio)
            written.append(target)
            clips.append({
                "file": name, "flag": bundle.flag_key(i), "type": flag.type,
                "clip_start": round(start, 3), "clip_end": round(end, 3),
                "flag_start_in_clip": round(flag.start - start, 3),
                "flag_end_in_clip": round(flag.end - start, 3),
            })
            done += 1
            progress.report(done / total, f"clips: {name}")
        text = json.dumps(plain(manifest), indent=2, ensure_ascii=False) + "\n"
        written.append(write_text_atomic(path_in(out_dir, f"{label}.clips.json"), text))
    return written


__all__ = ["export", "cut_clip", "ffmpeg_exe", "Cancelled"]
