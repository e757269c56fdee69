"""QtPlayer: the view of a ``Player``: video, optional landmark overlay, transport controls.

The video is a ``QGraphicsVideoItem`` so the client's landmarks and the current
expression's name can be drawn over it in the video's own pixel coordinates. The overlay
data (landmarks of one frame) is read by a ``LatestRequestWorker``, never on this thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSizeF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPen, QResizeEvent
from PySide6.QtMultimediaWidgets import QGraphicsVideoItem
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QStyle,
    QStyleOptionGraphicsItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cuewatch_ui.player import RATES, Player


def format_time(t: float) -> str:
    """mm:ss.mmm (h:mm:ss.mmm past an hour): the precision a frame step needs."""
    t = max(0.0, t)
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    if h >= 1:
        return f"{int(h)}:{int(m):02d}:{s:06.3f}"
    return f"{int(m):02d}:{s:06.3f}"


class LandmarkOverlay(QGraphicsItem):
    """Draws one frame's landmarks and a label over the video item. Main thread."""

    def __init__(self, video: QGraphicsVideoItem) -> None:
        super().__init__(video)
        self.video = video
        self.points: Optional[np.ndarray] = None   # (n, 2) frame pixels
        self.frame_size = QSizeF(0, 0)
        self.label = ""
        self.setZValue(1)

    def set_data(self, points: Optional[np.ndarray], frame_size: tuple[int, int], label: str) -> None:
        self.prepareGeometryChange()
        self.points = None if points is None else np.asarray(points, dtype=np.float64)[:, :2]
        self.frame_size = QSizeF(*frame_size)
        self.label = label
        self.update()

    def boundingRect(self) -> QRectF:
        return self.video.boundingRect()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem,
              widget: Optional[QWidget] = None) -> None:
        rect = self.video.boundingRect()
        if rect.isEmpty():
            return
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if self.points is not None and self.frame_size.width() > 0:
            sx = rect.width() / self.frame_size.width()
            sy = rect.height() / self.frame_size.height()
            pts = [QPointF(rect.x() + x * sx, rect.y() + y * sy) for x, y in self.points]
            painter.setPen(QPen(QColor(80, 230, 255, 200), 1.6))
            painter.drawPoints(pts)
        if self.label:
            font = QFont(painter.font())
            font.setPointSizeF(max(9.0, rect.height() / 28))
            font.setBold(True)
            painter.setFont(font)
            metrics = painter.fontMetrics()
            text_rect = QRectF(rect.x() + 8, rect.y() + 8,
                               metrics.horizontalAdvance(self.label) + 16, metrics.height() + 8)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QBrush(QColor(0, 0, 0, 160)))
            painter.drawRoundedRect(text_rect, 4, 4)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, self.label)


class _VideoView(QGraphicsView):
    """Keeps the video item fitted to the view."""

    def __init__(self, scene: QGraphicsScene, item: QGraphicsVideoItem) -> None:
        super().__init__(scene)
        self.item = item
        self.setBackgroundBrush(QColor(16, 16, 16))
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumSize(320, 180)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        size = self.viewport().size()
        self.item.setSize(QSizeF(size))
        self.scene().setSceneRect(QRectF(0, 0, size.width(), size.height()))


class QtPlayer(QWidget):
    """Video with controls. Main thread. Emits ``overlayToggled`` for the window to feed it."""

    overlayToggled = Signal(bool)

    def __init__(self, player: Player, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.player = player
        self.scene = QGraphicsScene(self)
        self.video_item = QGraphicsVideoItem()
        self.video_item.setAspectRatioMode(Qt.AspectRatioMode.KeepAspectRatio)
        self.scene.addItem(self.video_item)
        self.overlay = LandmarkOverlay(self.video_item)
        self.view = _VideoView(self.scene, self.video_item)
        player.media.setVideoOutput(self.video_item)
        player.attach_sink(self.video_item.videoSink())

        style = self.style()
        self.back_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekBackward),
                                        "Previous frame (Left)", lambda: player.step(-1))
        self.play_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
                                        "Play / pause (Space)", player.toggle)
        self.forward_button = self._button(style.standardIcon(QStyle.StandardPixmap.SP_MediaSeekForward),
                                           "Next frame (Right)", lambda: player.step(1))
        self.time_label = QLabel("00:00.000 / 00:00.000")
        self.time_label.setFont(QFont("monospace"))
        self.time_label.setToolTip("Position / duration, and the frame shown")
        self.time_label.setMinimumWidth(self.time_label.fontMetrics().horizontalAdvance(
            "00:00.000 / 00:00.000  frame 000000") + 12)
        self.rate_combo = QComboBox()
        self.rate_combo.setToolTip("Playback speed")
        self.rate_combo.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for r in RATES:
            self.rate_combo.addItem(f"{r:g}x", r)
        self.rate_combo.setCurrentIndex(RATES.index(1.0))
        self.rate_combo.currentIndexChanged.connect(
            lambda i: player.set_rate(float(self.rate_combo.itemData(i))))
        self.mute_box = QCheckBox("Sound")
        self.mute_box.setChecked(True)
        self.mute_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mute_box.toggled.connect(lambda on: player.set_muted(not on))
        if not player.has_sound_device:
            self.mute_box.setEnabled(False)
            self.mute_box.setToolTip("No sound device found")
        self.overlay_box = QCheckBox("Landmarks")
        self.overlay_box.setToolTip("Draw the client's face landmarks and the expression (prototype match)")
        self.overlay_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.overlay_box.toggled.connect(self._overlay_toggled)

        controls = QHBoxLayout()
        controls.setContentsMargins(4, 2, 4, 2)
        for w in (self.back_button, self.play_button, self.forward_button, self.time_label):
            controls.addWidget(w)
        controls.addStretch(1)
        for control in (QLabel("Speed"), self.rate_combo, self.mute_box, self.overlay_box):
            controls.addWidget(control)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.view, 1)
        layout.addLayout(controls)

        player.positionChanged.connect(self._update_time)
        player.durationChanged.connect(lambda _d: self._update_time(player.position))
        player.playingChanged.connect(self._update_play_icon)
        player.rateChanged.connect(self._update_rate)

    def _button(self, icon: QIcon, tip: str, slot: Callable[[], object]) -> QToolButton:
        b = QToolButton()
        b.setIcon(icon)
        b.setToolTip(tip)
        b.setAutoRaise(True)
        b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        b.clicked.connect(slot)
        return b

    @property
    def overlay_enabled(self) -> bool:
        return self.overlay_box.isChecked()

    def _overlay_toggled(self, on: bool) -> None:
        if not on:
            self.overlay.set_data(None, (0, 0), "")
        self.overlayToggled.emit(on)

    def set_overlay(self, points: Optional[np.ndarray], frame_size: tuple[int, int], label: str) -> None:
        if self.overlay_enabled:
            self.overlay.set_data(points, frame_size, label)

    def _update_time(self, t: float) -> None:
        p = self.player
        self.time_label.setText(f"{format_time(t)} / {format_time(p.duration)}  "
                                f"frame {p.frame_at(t + 0.5 / p.fps)}")

    def _update_play_icon(self, playing: bool) -> None:
        pix = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.play_button.setIcon(self.style().standardIcon(pix))

    def _update_rate(self, rate: float) -> None:
        for i in range(self.rate_combo.count()):
            if abs(float(self.rate_combo.itemData(i)) - rate) < 1e-9:
                self.rate_combo.blockSignals(True)
                self.rate_combo.setCurrentIndex(i)
                self.rate_combo.blockSignals(False)
