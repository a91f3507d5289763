"""The camera tile never says "live" over a frozen picture."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from core.messages import CameraState, CameraStatus
from ui.camera_tile import STALE_AFTER_S, CameraTile


def _image() -> QImage:
    a = np.full((48, 64, 3), 90, np.uint8)
    return QImage(a.data, 64, 48, 64 * 3, QImage.Format.Format_BGR888).copy()


def test_live_camera_without_new_frames_is_shown_frozen_then_live_again(qtbot):
    now = [100.0]
    tile = CameraTile("cam1", "Entrance", clock=lambda: now[0])
    qtbot.addWidget(tile)
    tile.resize(320, 200)
    tile.set_status(CameraStatus("cam1", CameraState.LIVE))
    for _ in range(10):
        tile.set_frame(_image(), None)
        now[0] += 0.2
    assert tile.state_text() == "live" and tile.fps() > 0
    now[0] += STALE_AFTER_S + 2  # the pipeline stalls: the worker still says live, no frame arrives
    assert tile.is_stale()
    assert tile.state_text().startswith("frozen") and "5 s" in tile.state_text()
    assert tile.fps() == 0.0
    tile.grab()  # paints with the frozen badge, no error
    tile.set_frame(_image(), None)  # frames flow again
    assert not tile.is_stale() and tile.state_text() == "live"


def test_a_camera_that_is_not_live_is_never_called_frozen(qtbot):
    now = [0.0]
    tile = CameraTile("cam1", clock=lambda: now[0])
    qtbot.addWidget(tile)
    tile.set_status(CameraStatus("cam1", CameraState.RECONNECTING, reason="timeout"))
    now[0] += 60
    assert not tile.is_stale() and tile.state_text() == "reconnecting: timeout"
