"""The console's status bar shows the central link (issue 13): connected / offline since HH:MM / events
waiting, fed through the real controller and router from what the attendance service reports."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from core.central.link_state import LinkState
from core.config import AppConfig
from tests.ui_fakes import FakeAttendance, FakeGallery, FakePipeline


def _window(qtbot, data_dir, attendances):
    from ui.main_window import MainWindow

    def make_att(c, d, n):
        attendances.append(FakeAttendance(n))
        return attendances[-1]

    cfg = AppConfig.model_validate({"outlet": {"timezone": "Asia/Jakarta"},
                                    "cameras": [{"id": "cam1", "source": "v.mp4"}]})
    w = MainWindow(cfg, data_dir, gallery=FakeGallery({"a": "Ayu"}),
                   controller_kwargs={"pipeline_factory": FakePipeline, "attendance_factory": make_att})
    qtbot.addWidget(w)
    w.show()
    return w


def test_status_bar_follows_the_central_link(qtbot, data_dir):
    atts: list[FakeAttendance] = []
    w = _window(qtbot, data_dir, atts)
    try:
        qtbot.waitUntil(lambda: bool(atts), timeout=10000)
        assert not w.central_link.isVisible()  # no central database configured: nothing shown
        since = datetime(2026, 11, 25, 14, 5, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp()
        error = ("Cannot reach the central database postgresql://spg_outlet:***@hq.example.com:5432/brand "
                 "(connection refused). Events are kept at the outlet and go up when it is reachable again.")
        atts[0].link = LinkState(enabled=True, connected=False, offline_since=since, waiting=12, last_error=error)
        qtbot.waitUntil(lambda: "offline since 14:05" in w.central_link.text(), timeout=10000)
        assert w.central_link.isVisible() and "12 events waiting" in w.central_link.text()
        assert w.central_link.toolTip() == error
        assert sum(error in t for t in w.events.texts()) == 1  # the sentence once in the event log
        atts[0].link = LinkState(enabled=True, connected=True, waiting=0, last_sync=since + 600)
        qtbot.waitUntil(lambda: w.central_link.text() == "Central: connected", timeout=10000)
        assert w.central_link.toolTip() == ""
    finally:
        w.close()
