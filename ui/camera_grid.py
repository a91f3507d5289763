"""The camera grid: 1 to 16 tiles; a click opens one camera large, Esc returns to the grid.

The grid tells the controller which cameras are on screen (:attr:`visible_changed`) so frames of
cameras nobody can see are never converted into images.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QHideEvent, QImage, QKeyEvent, QShowEvent
from PySide6.QtWidgets import QGridLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from core.messages import CameraStatus, FrameResult
from ui.camera_tile import CameraTile

MAX_CAMERAS = 16


def grid_shape(n: int) -> tuple[int, int]:
    """(rows, cols) for n tiles: 1x1, 1x2, 2x2, 2x3, 3x3, 3x4, 4x4."""
    if n <= 1:
        return 1, 1
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    return rows, cols


class CameraGrid(QWidget):
    visible_changed = Signal(object)  # frozenset[str] of camera ids whose frames are on screen
    focus_changed = Signal(str)  # camera id shown large, "" for the grid
    not_this_person = Signal(str, object)  # a tile's "Not <name>": spg_id, BGR face crop

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.tiles: dict[str, CameraTile] = {}
        self._titles: dict[str, str] = {}
        self._order: list[str] = []
        self._names: dict[str, str] = {}
        self.focused: str = ""
        self._stack = QStackedWidget(self)
        self._grid_page = QWidget()
        self._grid = QGridLayout(self._grid_page)
        self._grid.setSpacing(4)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._empty = QLabel(self.tr("No cameras yet. Add one in Settings → Cameras."))
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._large = CameraTile("", "")
        self._large.clicked.connect(lambda _id: self.show_grid())
        self._large.not_this_person.connect(self.not_this_person)
        self._stack.addWidget(self._grid_page)
        self._stack.addWidget(self._large)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self._stack)
        self._large.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._shown = False
        self._relayout()

    # --- cameras -------------------------------------------------------------------------------
    def set_cameras(self, cameras: list[tuple[str, str]]) -> None:
        """[(camera_id, title)] in display order (at most 16)."""
        cameras = cameras[:MAX_CAMERAS]
        wanted = {cid for cid, _ in cameras}
        for cid in list(self.tiles):
            if cid not in wanted:
                tile = self.tiles.pop(cid)
                tile.setParent(None)
                tile.deleteLater()
        for cid, title in cameras:
            self._titles[cid] = title or cid
            if cid not in self.tiles:
                tile = CameraTile(cid, title or cid)
                tile.set_names(self._names)
                tile.clicked.connect(self.show_large)
                tile.not_this_person.connect(self.not_this_person)
                self.tiles[cid] = tile
            else:
                self.tiles[cid].title = title or cid
        self._order = [cid for cid, _ in cameras]
        if self.focused and self.focused not in self.tiles:
            self.show_grid()
        self._relayout()
        self._emit_visible()

    def _relayout(self) -> None:
        while self._grid.count():
            self._grid.takeAt(0)
        order = self._order
        if not order:
            self._grid.addWidget(self._empty, 0, 0)
            self._empty.show()
            return
        self._empty.hide()
        rows, cols = grid_shape(len(order))
        for i, cid in enumerate(order):
            self._grid.addWidget(self.tiles[cid], i // cols, i % cols)
        for r in range(rows):
            self._grid.setRowStretch(r, 1)
        for c in range(cols):
            self._grid.setColumnStretch(c, 1)

    def set_names(self, names: dict[str, str]) -> None:
        self._names = dict(names)
        for tile in self.tiles.values():
            tile.set_names(self._names)
        self._large.set_names(self._names)

    # --- data ----------------------------------------------------------------------------------
    def on_frame(self, camera_id: str, image: QImage | None, result: FrameResult | None) -> None:
        tile = self.tiles.get(camera_id)
        if tile is None:
            return
        if self.focused == camera_id:
            self._large.set_frame(image, result)
        else:
            tile.set_frame(image, result)

    def on_status(self, status: CameraStatus) -> None:
        tile = self.tiles.get(status.camera_id)
        if tile is not None:
            tile.set_status(status)
        if self.focused == status.camera_id:
            self._large.set_status(status)

    # --- large view ----------------------------------------------------------------------------
    def show_large(self, camera_id: str) -> None:
        tile = self.tiles.get(camera_id)
        if tile is None:
            return
        self.focused = camera_id
        self._large.camera_id = camera_id
        self._large.title = tile.title + "  " + self.tr("(Esc: back to all cameras)")
        self._large.image, self._large.result, self._large.status = tile.image, tile.result, tile.status
        self._stack.setCurrentWidget(self._large)
        self._large.setFocus()
        self.focus_changed.emit(camera_id)
        self._emit_visible()

    def show_grid(self) -> None:
        if not self.focused:
            return
        tile = self.tiles.get(self.focused)
        if tile is not None:
            tile.image, tile.result = self._large.image, self._large.result
        self.focused = ""
        self._stack.setCurrentWidget(self._grid_page)
        self.focus_changed.emit("")
        self._emit_visible()

    def visible_cameras(self) -> frozenset[str]:
        if not self._shown or not self.isVisible():
            return frozenset()
        if self.focused:
            return frozenset({self.focused})
        return frozenset(self.tiles)

    def _emit_visible(self) -> None:
        self.visible_changed.emit(self.visible_cameras())

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() == Qt.Key.Key_Escape and self.focused:
            self.show_grid()
            event.accept()
            return
        super().keyPressEvent(event)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self._shown = True
        self._emit_visible()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt API
        super().hideEvent(event)
        self._shown = False
        self.visible_changed.emit(frozenset())
