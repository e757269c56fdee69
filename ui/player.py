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
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer, QVideoFrame, QVideoSink

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
    frameShown = Signal(float)        # decoder start time of the frame now on screen

    def __init__(self, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.media = QMediaPlayer(self)
        self.audio = QAudioOutput(self)
        self.has_sound_device = not QMediaDevices.defaultAudioOutput().isNull()
        if self.has_sound_device:
            # no sound device (a server, CI): no audio sink at all, so nothing waits on one
            self.media.setAudioOutput(self.audio)
        self.fps = 25.0
        self.path: Optional[str] = None
        self._duration = 0.0
        self._loop: Optional[tuple[float, float]] = None
        self._pending_seek: Optional[int] = None
        #: decoder (start, end) seconds of the frame on screen; end -1 if unknown.
        self.frame_span: Optional[tuple[float, float]] = None
        self._step_target: Optional[float] = None
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
        self.frame_span = None
        self._step_target = None
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
        """Index of the frame on screen (nominal: from its decoder time and the fps)."""
        shown = self.frame_span[0] if self.frame_span is not None else self.position
        return self.frame_at(shown + 0.5 / self.fps)

    def frame_at(self, t: float) -> int:
        return max(0, int(math.floor(t * self.fps + 1e-6)))

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

    def attach_sink(self, sink: QVideoSink) -> None:
        """Follow the frames the view shows, so steps go by real frame times, not fps."""
        sink.videoFrameChanged.connect(self._frame_shown)

    def _frame_shown(self, frame: QVideoFrame) -> None:
        if frame.isValid() and frame.startTime() >= 0:
            self.frame_span = (frame.startTime() / 1e6,
                               frame.endTime() / 1e6 if frame.endTime() > frame.startTime() else -1.0)
            self._step_target = None
            self.frameShown.emit(self.frame_span[0])

    def step(self, frames: int) -> None:
        """Pause and move exactly ``frames`` frames (negative: back).

        One step lands inside the neighbour of the frame on screen, using that frame's
        decoder start and end times (containers often claim a rounded frame rate, so
        ``index / fps`` drifts by a frame every few seconds). Steps pressed faster than
        frames arrive add one nominal frame each.
        """
        self.pause()
        nominal = 1.0 / self.fps
        if self._step_target is None and self.frame_span is not None and abs(frames) == 1:
            start, end = self.frame_span
            duration = end - start if end > start else nominal
            target = start + duration * 1.25 if frames > 0 else start - duration * 0.75
        else:
            base = self._step_target if self._step_target is not None else self.position
            target = base + frames * nominal
        if self._duration > 0:
            target = min(target, self._duration - nominal * 0.5)
        target = max(0.0, target)
        self._step_target = target
        self.seek(target)

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
