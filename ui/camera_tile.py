"""One camera tile: the latest frame, face boxes at original resolution, status badge, fps, drops.

The tile paints a QImage it is handed (already converted off the UI thread by the controller) and
maps face boxes from ORIGINAL frame coordinates (``FrameResult.frame_shape``) onto the drawn image,
so boxes stay right whatever downscale the camera worker applied.

A camera that reports "live" while no frame has reached the tile for :data:`STALE_AFTER_S` seconds (the
pipeline or the router stalled) is shown as "frozen", never as "live" over an old picture.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QContextMenuEvent, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QShowEvent
from PySide6.QtWidgets import QMenu, QSizePolicy, QWidget

from core.messages import CameraState, CameraStatus, FaceResult, FrameResult

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
FROZEN_COLOUR = QColor(142, 68, 173)
STALE_AFTER_S = 3.0
"""A live camera with no new frame for this long is shown as frozen."""


def fit_rect(img_w: int, img_h: int, area_w: float, area_h: float) -> QRectF:
    """The largest rectangle with the image's aspect ratio centred in the area."""
    if img_w <= 0 or img_h <= 0 or area_w <= 0 or area_h <= 0:
        return QRectF(0, 0, 0, 0)
    s = min(area_w / img_w, area_h / img_h)
    w, h = img_w * s, img_h * s
    return QRectF((area_w - w) / 2, (area_h - h) / 2, w, h)


def face_crop(image: QImage, frame_shape: tuple[int, int], bbox: tuple[float, float, float, float]) -> np.ndarray | None:
    """BGR crop (with some margin) of a face box given in original frame coordinates, from the shown image."""
    oh, ow = frame_shape
    if image.isNull() or oh <= 0 or ow <= 0:
        return None
    img = image.convertToFormat(QImage.Format.Format_BGR888)
    arr = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())[:, :img.width() * 3]
    arr = arr.reshape(img.height(), img.width(), 3)
    sx, sy = img.width() / ow, img.height() / oh
    x1, y1, x2, y2 = bbox
    pad = 0.3 * (x2 - x1)
    a, b = int(max(0, (x1 - pad) * sx)), int(max(0, (y1 - pad) * sy))
    c, d = int(min(img.width(), (x2 + pad) * sx)), int(min(img.height(), (y2 + pad) * sy))
    return arr[b:d, a:c].copy() if c - a >= 8 and d - b >= 8 else None


class CameraTile(QWidget):
    clicked = Signal(str)
    not_this_person = Signal(str, object)  # spg_id, BGR crop of the face the supervisor says is not them

    def __init__(self, camera_id: str, title: str = "", parent: QWidget | None = None,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(parent)
        self._clock = clock
        self._last_frame: float | None = None
        self._live_since: float | None = None
        self._was_stale = False
        self._stale_timer = QTimer(self)
        self._stale_timer.setInterval(1000)
        self._stale_timer.timeout.connect(self._check_stale)
        self._stale_timer.start()
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
        now = self._clock()
        self._last_frame = now
        self._frame_times.append(now)
        while self._frame_times and now - self._frame_times[0] > 3.0:
            self._frame_times.pop(0)
        self.frames_shown += 1
        self.update()

    def set_status(self, status: CameraStatus) -> None:
        if status.state is CameraState.LIVE and (self.status is None or self.status.state is not CameraState.LIVE):
            self._live_since = self._clock()
        self.status = status
        self.update()

    def stale_for(self) -> float:
        """Seconds a live camera has gone without a new frame on this tile (0 when not live)."""
        if self.status is None or self.status.state is not CameraState.LIVE:
            return 0.0
        refs = [t for t in (self._last_frame, self._live_since) if t is not None]
        return max(0.0, self._clock() - max(refs)) if refs else 0.0

    def is_stale(self) -> bool:
        return self.stale_for() >= STALE_AFTER_S

    def _check_stale(self) -> None:
        stale = self.is_stale()
        if stale or stale != self._was_stale:
            self.update()  # the badge (and its seconds) change
        self._was_stale = stale

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        # A hidden tile gets no frames (only visible cameras are copied): do not call it frozen on return.
        if self._last_frame is not None:
            self._last_frame = max(self._last_frame, self._clock() - 1.0)
        super().showEvent(event)

    def set_names(self, names: dict[str, str]) -> None:
        self.names = names
        self.update()

    def fps(self) -> float:
        now = self._clock()
        while self._frame_times and now - self._frame_times[0] > 3.0:
            self._frame_times.pop(0)
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
        if self.is_stale():
            return self.tr("frozen: no new picture for {s:.0f} s").format(s=self.stale_for())
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
        p.setBrush(FROZEN_COLOUR if self.is_stale() else STATE_COLOURS.get(state, QColor(100, 100, 100)))
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

    def face_at(self, pos: QPointF) -> FaceResult | None:
        """The face whose box is under ``pos`` (widget coordinates), if any."""
        if self.result is None or self.image is None or self.image.isNull():
            return None
        target = fit_rect(self.image.width(), self.image.height(), self.width(), self.height())
        oh, ow = self.result.frame_shape
        if ow <= 0 or oh <= 0 or target.width() <= 0:
            return None
        x = (pos.x() - target.x()) * ow / target.width()
        y = (pos.y() - target.y()) * oh / target.height()
        return next((f for f in self.result.faces if f.bbox[0] <= x <= f.bbox[2] and f.bbox[1] <= y <= f.bbox[3]), None)

    def not_person_menu(self, face: FaceResult) -> QMenu | None:
        """Right-click menu of a recognised face: "Not <name>" (the face becomes a negative sample)."""
        if not face.spg_id or self.image is None or self.result is None:
            return None
        menu = QMenu(self)
        action = menu.addAction(self.tr("Not {name}: never name this face so").format(name=self.names.get(face.spg_id, face.spg_id)))
        image, shape, spg_id, bbox = self.image, self.result.frame_shape, face.spg_id, face.bbox

        def chosen() -> None:
            crop = face_crop(image, shape, bbox)
            if crop is not None:
                self.not_this_person.emit(spg_id, crop)

        action.triggered.connect(chosen)
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:  # noqa: N802 - Qt API
        face = self.face_at(QPointF(event.pos()))
        menu = self.not_person_menu(face) if face is not None else None
        if menu is not None:
            menu.exec(event.globalPos())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt API
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.camera_id)
        super().mouseReleaseEvent(event)
