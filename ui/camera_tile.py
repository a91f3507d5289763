"""One camera tile: the latest frame, face boxes at original resolution, status badge, fps, drops.

The tile paints a QImage it is handed (already converted off the UI thread by the controller) and
maps face boxes from ORIGINAL frame coordinates (``FrameResult.frame_shape``) onto the drawn image,
so boxes stay right whatever downscale the camera worker applied.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from core.messages import CameraState, CameraStatus, FrameResult

KNOWN_COLOUR = QColor(46, 204, 113)
UNKNOWN_COLOUR = QColor(231, 76, 60)
UNMATCHABLE_COLOUR = QColor(241, 196, 15)
STATE_COLOURS = {
    CameraState.LIVE: QColor(39, 174, 96),
    CameraState.CONNECTING: QColor(52, 152, 219),
    CameraState.RECONNECTING: QColor(230, 126, 34),
    CameraState.FAILED: QColor(192, 57, 43),
    CameraState.STOPPED: QColor(127, 140, 141),
}


def fit_rect(img_w: int, img_h: int, area_w: float, area_h: float) -> QRectF:
    """The largest rectangle with the image's aspect ratio centred in the area."""
    if img_w <= 0 or img_h <= 0 or area_w <= 0 or area_h <= 0:
        return QRectF(0, 0, 0, 0)
    s = min(area_w / img_w, area_h / img_h)
    w, h = img_w * s, img_h * s
    return QRectF((area_w - w) / 2, (area_h - h) / 2, w, h)


class CameraTile(QWidget):
    clicked = Signal(str)

    def __init__(self, camera_id: str, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.camera_id = camera_id
        self.title = title or camera_id
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 100)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.image: QImage | None = None
        self.result: FrameResult | None = None
        self.status: CameraStatus | None = None
        self.names: dict[str, str] = {}
        self._frame_times: list[float] = []
        self.frames_shown = 0

    # --- data in -------------------------------------------------------------------------------
    def set_frame(self, image: QImage | None, result: FrameResult | None) -> None:
        if image is not None:
            self.image = image
        if result is not None:
            self.result = result
        now = time.monotonic()
        self._frame_times.append(now)
        while self._frame_times and now - self._frame_times[0] > 3.0:
            self._frame_times.pop(0)
        self.frames_shown += 1
        self.update()

    def set_status(self, status: CameraStatus) -> None:
        self.status = status
        self.update()

    def set_names(self, names: dict[str, str]) -> None:
        self.names = names
        self.update()

    def fps(self) -> float:
        t = self._frame_times
        if len(t) < 2 or t[-1] <= t[0]:
            return 0.0
        return (len(t) - 1) / (t[-1] - t[0])

    def state_text(self) -> str:
        if self.status is None:
            return self.tr("connecting")
        labels = {
            CameraState.LIVE: self.tr("live"),
            CameraState.CONNECTING: self.tr("connecting"),
            CameraState.RECONNECTING: self.tr("reconnecting"),
            CameraState.FAILED: self.tr("failed"),
            CameraState.STOPPED: self.tr("stopped"),
        }
        text = labels.get(self.status.state, str(self.status.state))
        if self.status.reason and self.status.state in (CameraState.FAILED, CameraState.RECONNECTING):
            text = f"{text}: {self.status.reason}"
        return text

    def face_label(self, spg_id: str | None, similarity: float, matchable: bool, quality: str) -> str:
        if spg_id:
            return f"{self.names.get(spg_id, spg_id)} {similarity:.2f}"
        if not matchable:
            return self.tr("too small") if quality == "too_small" else self.tr("blurred")
        return self.tr("unknown")

    # --- painting ------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(20, 20, 24))
        target = QRectF()
        if self.image is not None and not self.image.isNull():
            target = fit_rect(self.image.width(), self.image.height(), self.width(), self.height())
            p.drawImage(target, self.image)
        else:
            p.setPen(QColor(150, 150, 150))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.tr("waiting for frames…"))
        if self.result is not None and target.width() > 0:
            self._paint_faces(p, target)
        self._paint_overlay(p)
        p.end()

    def _paint_faces(self, p: QPainter, target: QRectF) -> None:
        oh, ow = self.result.frame_shape
        if ow <= 0 or oh <= 0:
            return
        sx, sy = target.width() / ow, target.height() / oh
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, min(11.0, target.height() / 40)))
        p.setFont(font)
        for face in self.result.faces:
            x1, y1, x2, y2 = face.bbox
            r = QRectF(target.x() + x1 * sx, target.y() + y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy)
            colour = KNOWN_COLOUR if face.spg_id else (UNKNOWN_COLOUR if face.matchable else UNMATCHABLE_COLOUR)
            p.setPen(QPen(colour, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r)
            label = self.face_label(face.spg_id, face.similarity, face.matchable, face.quality)
            fm = p.fontMetrics()
            lw, lh = fm.horizontalAdvance(label) + 6, fm.height() + 2
            lr = QRectF(r.x(), max(target.y(), r.y() - lh), lw, lh)
            p.fillRect(lr, colour)
            p.setPen(QColor(0, 0, 0))
            p.drawText(lr, Qt.AlignmentFlag.AlignCenter, label)

    def _paint_overlay(self, p: QPainter) -> None:
        p.setFont(self.font())
        fm = p.fontMetrics()
        # Title (top-left)
        title = self.title
        p.fillRect(QRectF(0, 0, fm.horizontalAdvance(title) + 10, fm.height() + 4), QColor(0, 0, 0, 160))
        p.setPen(QColor(255, 255, 255))
        p.drawText(5, fm.ascent() + 2, title)
        # Status badge (top-right)
        state = self.status.state if self.status else CameraState.CONNECTING
        badge = self.state_text()
        bw = min(self.width() - 4, fm.horizontalAdvance(badge) + 12)
        br = QRectF(self.width() - bw - 2, 2, bw, fm.height() + 4)
        p.setBrush(STATE_COLOURS.get(state, QColor(100, 100, 100)))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(br, 4, 4)
        p.setPen(QColor(255, 255, 255))
        p.drawText(br, Qt.AlignmentFlag.AlignCenter, fm.elidedText(badge, Qt.TextElideMode.ElideRight, int(bw - 8)))
        # fps + dropped (bottom-left)
        dropped = self.status.metrics.dropped if self.status else 0
        info = self.tr("{fps:.1f} fps · {dropped} dropped").format(fps=self.fps(), dropped=dropped)
        ir = QRectF(0, self.height() - fm.height() - 4, fm.horizontalAdvance(info) + 10, fm.height() + 4)
        p.fillRect(ir, QColor(0, 0, 0, 160))
        p.drawText(ir, Qt.AlignmentFlag.AlignCenter, info)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.camera_id)
        super().mouseReleaseEvent(event)
