"""Video input: probing and sampled, upright, decoder-timed frames (OpenCV).

Times come from the decoder (``CAP_PROP_POS_MSEC``), not ``index / fps``, so variable
frame rate recordings keep their timing. Frames are rotated upright according to the
container's rotation tag, so phone videos are analysed as they are seen.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from cuewatch.errors import VideoError
from cuewatch.options import AnalysisSettings

log = logging.getLogger(__name__)

os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet: our own messages say what failed
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
import cv2  # noqa: E402

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".m4v")

#: below this many bytes a file cannot hold a playable video stream.
MIN_VIDEO_BYTES = 4096

_ROTATE = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, with width/height as shown upright."""

    path: str
    fps: float
    frame_count: int
    duration: float
    width: int
    height: int
    rotation: int
    codec: str
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Frame:
    """One decoded frame: RGB uint8, upright, with its decoder time in seconds."""

    index: int
    timestamp: float
    image: np.ndarray


def _open(path: Path, threads: int = 0) -> cv2.VideoCapture:
    """``threads``: the decoder's (0: FFmpeg's own choice, one per core)."""
    params = [cv2.CAP_PROP_N_THREADS, int(threads)] if threads > 0 else []
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if cap.isOpened():
        try:  # we rotate ourselves, so both OpenCV builds behave the same
            cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        except Exception:  # pragma: no cover - older OpenCV
            log.debug("OpenCV cannot turn off auto-rotation", exc_info=True)
    return cap


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text.strip("\x00 ") if text.isprintable() else str(code)


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Open a video and read its metadata, or raise a VideoError that says why not."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a folder, not a video file")
    size = p.stat().st_size
    if size == 0:
        raise VideoError(f"{p}: the file is empty")
    if size < MIN_VIDEO_BYTES:
        raise VideoError(f"{p}: only {size} bytes, too small to be a video")
    cap = _open(p)
    try:
        if not cap.isOpened():
            raise VideoError(f"{p}: not a video OpenCV can open (unknown format or damaged file)")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise VideoError(f"{p}: no video frame could be decoded (damaged or not a video)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not math.isfinite(fps) or fps <= 0 or fps > 1000:
            fps = 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        count = max(count, 1)
        rotation = int(round(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0)) % 360
        if rotation not in _ROTATE:
            rotation = 0
        h, w = frame.shape[:2]
        if rotation in (90, 270):
            w, h = h, w
        duration = count / fps if fps else 0.0
        return VideoInfo(path=str(p), fps=fps, frame_count=count, duration=duration,
                         width=int(w), height=int(h), rotation=rotation, codec=_fourcc(cap),
                         size_bytes=size)
    finally:
        cap.release()


class FrameReader:
    """Decodes a video and yields the sampled frames, upright, with decoder timestamps.

    Use from one thread. Sampling at ``settings.fps`` keeps the first frame of every
    ``1/fps`` time cell (cells are absolute, so readers for adjacent time chunks agree);
    ``settings.every`` keeps every Nth decoded frame; neither keeps all. Frames that are
    not kept are only grabbed, never converted. After iteration ``decoded`` is the number
    of frames the decoder produced and ``truncated`` says whether it stopped well short of
    what the container promised. ``threads``: the decoder's (0: FFmpeg's choice); the frames
    do not depend on it.
    """

    def __init__(self, info: VideoInfo, settings: AnalysisSettings = AnalysisSettings(),
                 start_s: float = 0.0, end_s: Optional[float] = None, threads: int = 0) -> None:
        self.info = info
        self.threads = int(threads)
        self.settings = settings
        self.start_s = max(0.0, float(start_s))
        self.end_s = end_s
        self.decoded = 0
        self.last_timestamp = 0.0
        self.truncated = False
        fps = settings.fps
        if settings.every:
            self._cell_fps = None
        elif fps is None or (info.fps and fps >= info.fps):
            self._cell_fps = None
        else:
            self._cell_fps = float(fps)

    @property
    def analysed_fps(self) -> float:
        """Expected analysed frames per second, for progress and summaries."""
        if self.settings.every:
            return self.info.fps / self.settings.every if self.info.fps else 0.0
        return self._cell_fps or self.info.fps

    def _keep(self, index: int, t: float, prev_t: Optional[float]) -> bool:
        if self.settings.every:
            return index % int(self.settings.every) == 0
        if self._cell_fps is None:
            return True
        cell = math.floor(t * self._cell_fps + 1e-6)
        return prev_t is None or cell != math.floor(prev_t * self._cell_fps + 1e-6)

    def __iter__(self) -> Iterator[Frame]:
        cap = _open(Path(self.info.path), self.threads)
        if not cap.isOpened():
            raise VideoError(f"{self.info.path}: cannot be opened any more")
        try:
            yield from self._frames(cap)
        finally:
            cap.release()

    def _frames(self, cap: cv2.VideoCapture) -> Iterator[Frame]:
        fps = self.info.fps or 25.0
        prev_t: Optional[float] = None
        index = -1
        if self.start_s > 0:
            # land a little early so the first kept cell is decided like a full read would
            pre = max(0.0, self.start_s - 1.0)
            cap.set(cv2.CAP_PROP_POS_MSEC, pre * 1000.0)
        rotate = _ROTATE.get(self.info.rotation)
        while True:
            if not cap.grab():
                break
            self.decoded += 1
            pos = cap.get(cv2.CAP_PROP_POS_MSEC)
            index = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) - 1
            t = pos / 1000.0 if pos and pos > 0 else max(0.0, index / fps)
            if prev_t is not None and t <= prev_t:  # some containers repeat a time; keep order
                t = prev_t + 1e-6
            self.last_timestamp = t
            if t < self.start_s - 1e-9:
                prev_t = t
                continue
            if self.end_s is not None and t >= self.end_s - 1e-9:
                break
            if self._keep(index, t, prev_t):
                ok, bgr = cap.retrieve()
                if ok and bgr is not None:
                    if rotate is not None:
                        bgr = cv2.rotate(bgr, rotate)
                    yield Frame(index=index, timestamp=t, image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            prev_t = t
        if self.end_s is None:
            self.truncated = is_truncated(self.info, self.last_timestamp)


def is_truncated(info: VideoInfo, last_timestamp: float) -> bool:
    """True when decoding stopped well before the promised end (a cut-off file).

    Containers often claim a few more frames than decode; that is normal and not truncation.
    """
    if info.duration <= 0:
        return False
    missing = info.duration - last_timestamp
    return missing > max(1.0, 0.05 * info.duration)


def read_frame_at(path: str | os.PathLike[str], t: float,
                  info: Optional[VideoInfo] = None) -> Frame:
    """The frame shown at time ``t`` (seconds), upright RGB; for thumbnails and overlays."""
    info = info or probe_video(path)
    cap = _open(Path(path))
    try:
        cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, t - 0.5) * 1000.0)
        best: Optional[Frame] = None
        while cap.grab():
            pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index = int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) - 1
            if best is not None and pos > t + 1e-6:
                break
            ok, bgr = cap.retrieve()
            if ok:
                rotate = _ROTATE.get(info.rotation)
                if rotate is not None:
                    bgr = cv2.rotate(bgr, rotate)
                best = Frame(index=index, timestamp=pos, image=cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if best is None:
            raise VideoError(f"{path}: no frame could be decoded near {t:.2f} s")
        return best
    finally:
        cap.release()


def read_ahead(frames: Iterable[Frame], depth: int = 2) -> Iterator[Frame]:
    """Decode in a background thread, ``depth`` frames ahead of the consumer.

    OpenCV and MediaPipe both release the GIL, so decoding the next frames overlaps with
    analysing this one. Two frames ahead keep the consumer fed; more would only hold memory
    (6 MB per 1080p frame, per chunk thread). Errors in the decoder are raised in the consumer; stopping early
    (an exception or a cancel in the consumer) stops the decoder too.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        q.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    worker = threading.Thread(target=produce, name="cuewatch-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)
