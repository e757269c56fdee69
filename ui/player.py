"""The player model: one recording's playback state over QtMultimedia.

``Player`` wraps a ``QMediaPlayer`` (its FFmpeg backend decodes and seeks on its own
threads, so the UI thread only asks) and adds what review needs: frame-accurate steps,
the speeds a reviewer uses, and looping a flag's span. Views (``QtPlayer``, the
timeline's playhead) listen to its signals; nothing here paints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer

#: playback speeds offered to the reviewer.
RATES: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


class Player(QObject):
    """Playback of one video. Main thread only (it owns Qt multimedia objects)."""

    positionChanged = Signal(float)   # seconds
    durationChanged = Signal(float)
    playingChanged = Signal(bool)
    rateChanged = Signal(float)
    sourceChanged = Signal(str)
    errorOccurred = Signal(str)

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.media = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.media.setAudioOutput(self.audio)
        self.fps = 25.0
        self.path: Optional[str] = None
        self._duration = 0.0
        self._loop: Optional[tuple[float, float]] = None
        self._pending_seek: Optional[int] = None
        self.media.positionChanged.connect(self._on_position)
        self.media.durationChanged.connect(lambda ms: self._set_duration(ms / 1000.0))
        self.media.playbackStateChanged.connect(
            lambda s: self.playingChanged.emit(s == QMediaPlayer.PlaybackState.PlayingState))
        self.media.errorOccurred.connect(lambda _e, text: self.errorOccurred.emit(text))
        self.media.mediaStatusChanged.connect(self._on_status)

    # -- source -----------------------------------------------------------------------
    def load(self, path: str | Path, fps: float, duration: float = 0.0) -> None:
        """Open a video; ``fps``/``duration`` come from the core's probe (container values)."""
        self.stop()
        self.path = str(path)
        self.fps = fps if fps and fps > 0 else 25.0
        self._loop = None
        self._set_duration(duration)
        self.media.setSource(QUrl.fromLocalFile(self.path))
        self.media.pause()  # show the first frame
        self.sourceChanged.emit(self.path)

    def unload(self) -> None:
        self.stop()
        self.path = None
        self.media.setSource(QUrl())
        self._set_duration(0.0)
        self.sourceChanged.emit("")

    def _set_duration(self, seconds: float) -> None:
        if seconds > 0 and abs(seconds - self._duration) > 1e-6:
            self._duration = seconds
            self.durationChanged.emit(seconds)
        elif seconds == 0:
            self._duration = 0.0

    def _on_status(self, status: QMediaPlayer.MediaStatus) -> None:
        if status == QMediaPlayer.MediaStatus.LoadedMedia and self._pending_seek is not None:
            ms, self._pending_seek = self._pending_seek, None
            self.media.setPosition(ms)

    # -- state ------------------------------------------------------------------------
    @property
    def duration(self) -> float:
        return self._duration

    @property
    def position(self) -> float:
        return self.media.position() / 1000.0

    @property
    def frame(self) -> int:
        """Index of the frame shown at the current position."""
        return self.frame_at(self.position)

    def frame_at(self, t: float) -> int:
        return max(0, int(math.floor(t * self.fps + 1e-6)))

    def frame_time(self, index: int) -> float:
        """A time (s, whole ms) inside frame ``index``: its start, rounded up."""
        return math.ceil(max(0, index) * 1000.0 / self.fps) / 1000.0

    @property
    def playing(self) -> bool:
        return self.media.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    @property
    def rate(self) -> float:
        return self.media.playbackRate()

    # -- commands ---------------------------------------------------------------------
    def play(self) -> None:
        if self.path:
            self.media.play()

    def pause(self) -> None:
        self.media.pause()

    def stop(self) -> None:
        self.media.stop()

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def seek(self, t: float) -> None:
        """Go to ``t`` seconds (clamped); decoding happens on the backend's threads."""
        if self._duration > 0:
            t = min(max(0.0, t), self._duration)
        ms = int(round(max(0.0, t) * 1000.0))
        if self.media.mediaStatus() == QMediaPlayer.MediaStatus.LoadingMedia:
            self._pending_seek = ms
        self.media.setPosition(ms)
        self.positionChanged.emit(ms / 1000.0)

    def step(self, frames: int) -> None:
        """Pause and move exactly ``frames`` frames (negative: back)."""
        self.pause()
        last = self.frame_at(self._duration) - 1 if self._duration > 0 else None
        target = self.frame + frames
        if last is not None:
            target = min(target, max(0, last))
        self.seek(self.frame_time(max(0, target)))

    def set_rate(self, rate: float) -> None:
        rate = min(max(rate, RATES[0]), RATES[-1])
        if abs(rate - self.media.playbackRate()) > 1e-9:
            self.media.setPlaybackRate(rate)
            self.rateChanged.emit(rate)

    def set_muted(self, muted: bool) -> None:
        self.audio.setMuted(muted)

    def loop(self, start: float, end: float) -> None:
        """Seek to ``start`` and replay [start, end] until ``clear_loop`` or another seek span."""
        self._loop = (start, max(end, start + 1.0 / self.fps))
        self.seek(start)

    def clear_loop(self) -> None:
        self._loop = None

    @property
    def loop_span(self) -> Optional[tuple[float, float]]:
        return self._loop

    def _on_position(self, ms: int) -> None:
        t = ms / 1000.0
        if self._loop is not None and self.playing and t >= self._loop[1]:
            self.media.setPosition(int(round(self._loop[0] * 1000.0)))
            return
        self.positionChanged.emit(t)
