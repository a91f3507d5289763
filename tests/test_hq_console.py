"""The HQ console (``app.py hq``) against a real PostgreSQL (tests/pg_server.py): two outlets registered with
their own roles, their rows written by those roles (row-level security), then the outlets table, the
drill-down into one outlet, the cross-outlet Excel export read back, and a dead / wrong-password database."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.pg_server import ADMIN_PASSWORD

REPO = Path(__file__).resolve().parent.parent
JKT, DPS = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar")  # UTC+7, UTC+8
DAY = date(2026, 11, 20)
CLOCK = datetime(2026, 11, 20, 17, 0, tzinfo=JKT)  # the console's "now" for today's drill-down


def _at(day: date, hh: int, mm: int, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=tz)


def _as_outlet(admin_url: str, outlet_id: str, name: str, tz: str) -> psycopg.Connection:
    """Register the outlet as HQ does (its own login role) and connect as that role."""
    from core.central.roles import add_outlet, login_url

    with psycopg.connect(admin_url) as admin:
        login = add_outlet(admin, outlet_id, name, tz)
    return psycopg.connect(login_url(admin_url, login), autocommit=True)


def _write(conn: psycopg.Connection, outlet: str, *, heartbeat: datetime, cameras: tuple[int, int],
           spgs: list[tuple[str, str, str | None, bool | None]], intervals: list[tuple[str, datetime, datetime]],
           transitions: list[tuple[str, str, str, datetime]], alerts: list[tuple[str | None, str, str, datetime, str]]
           ) -> None:
    conn.execute("INSERT INTO spg.outlet_status (outlet_id, last_heartbeat, cameras_live, cameras_total, engine) "
                 "VALUES (%s, %s, %s, %s, 'opencv')", (outlet, heartbeat, *cameras))
    for spg_id, name, state, on_shift in spgs:
        conn.execute("INSERT INTO spg.spgs (outlet_id, spg_id, name, state, on_shift) VALUES (%s, %s, %s, %s, %s)",
                     (outlet, spg_id, name, state, on_shift))
    for i, (spg_id, start, end) in enumerate(intervals):
        conn.execute("INSERT INTO spg.intervals (outlet_id, interval_key, spg_id, start_ts, last_seen, closed) "
                     "VALUES (%s, %s, %s, %s, %s, true)", (outlet, f"iv{i}", spg_id, start, end))
    for i, (spg_id, frm, to, ts) in enumerate(transitions):
        conn.execute("INSERT INTO spg.transitions (outlet_id, event_key, seq, spg_id, from_state, to_state, ts, "
                     "camera_id, alert) VALUES (%s, %s, %s, %s, %s, %s, %s, 'cam1', %s)",
                     (outlet, f"t{i}", i, spg_id, frm, to, ts, to == "ABSENT"))
    for i, (spg_id, kind, text, created, status) in enumerate(alerts):
        conn.execute("INSERT INTO spg.alerts (outlet_id, alert_key, spg_id, kind, text, created, status) "
                     "VALUES (%s, %s, %s, %s, %s, %s, %s)", (outlet, f"a{i}", spg_id, kind, text, created, status))


@pytest.fixture
def two_outlets(fresh_central_db):
    """Jakarta (online, UTC+7) and Bali (offline for 10 min, UTC+8); Ayu works at both."""
    now = datetime.now(UTC)
    prev = DAY - timedelta(days=1)
    with _as_outlet(fresh_central_db, "jkt1", "Jakarta Grand Mall", "Asia/Jakarta") as jkt:
        _write(jkt, "jkt1", heartbeat=now - timedelta(seconds=5), cameras=(3, 4),
               spgs=[("ayu", "Ayu Lestari", "PRESENT", True), ("budi", "Budi Santoso", "ABSENT", True),
                     ("citra", "Citra Dewi", None, False)],
               intervals=[("ayu", _at(DAY, 8, 0, JKT), _at(DAY, 10, 0, JKT)),
                          ("ayu", _at(DAY, 11, 0, JKT), _at(DAY, 12, 30, JKT)),
                          ("budi", _at(DAY, 9, 0, JKT), _at(DAY, 9, 45, JKT)),
                          ("ayu", _at(prev, 8, 0, JKT), _at(prev, 9, 0, JKT))],
               transitions=[("ayu", "NOT_SEEN", "PRESENT", _at(DAY, 8, 0, JKT)),
                            ("budi", "NOT_SEEN", "PRESENT", _at(DAY, 9, 0, JKT)),
                            ("budi", "PRESENT", "ABSENT", _at(DAY, 9, 50, JKT))],
               alerts=[("budi", "absent", "<b>Budi Santoso</b> absent since 09:45", _at(DAY, 9, 50, JKT), "pending"),
                       ("ayu", "returned", "<b>Ayu Lestari</b> is back", _at(DAY, 11, 0, JKT), "sent")])
    with _as_outlet(fresh_central_db, "dps1", "Bali Galeria", "Asia/Makassar") as dps:
        _write(dps, "dps1", heartbeat=now - timedelta(minutes=10), cameras=(0, 2),
               spgs=[("ayu", "Ayu Lestari", "ABSENT", False), ("dewi", "Dewi Sartika", "PRESENT", True)],
               intervals=[("ayu", _at(DAY, 14, 0, DPS), _at(DAY, 17, 0, DPS)),
                          ("dewi", _at(DAY, 10, 0, DPS), _at(DAY, 12, 0, DPS))],
               transitions=[], alerts=[(None, "camera_offline", "Camera cam2 offline", now - timedelta(minutes=11),
                                        "sent")])
    return fresh_central_db


def _refresh(qtbot, win):
    with qtbot.waitSignal(win.refreshed, timeout=30000) as blocker:
        win.refresh()
    return blocker.args[0]


def _window(qtbot, url: str, tmp_path: Path):
    from ui.hq_window import HqWindow

    win = HqWindow(url, clock=lambda: CLOCK, refresh_s=3600, export_folder=tmp_path, start=False)
    qtbot.addWidget(win)
    win.show()
    return win


def _on_screen(win) -> str:
    """Every text the window shows: title, banner, status line, outlets table, alert feed, drill-down title."""
    model = win.outlets.model
    cells = [str(model.data(model.index(r, c)) or "") for r in range(model.rowCount()) for c in range(model.columnCount())]
    feed = [" ".join(r) for r in win.alerts.rows()]
    return "\n".join([win.windowTitle(), win.banner.text(), win.status.text(), win.detail.title.text(), *cells, *feed])


def test_hq_console_shows_outlets_drills_down_and_exports_across_outlets(qtbot, two_outlets, tmp_path, monkeypatch):
    from openpyxl import load_workbook

    import ui.hq_export_dialog as export_dialog
    from core.central.roles import add_hq_reader, login_url
    from ui.hq_outlets import local_time_text
    from ui.presence_table import ABSENT, NOT_SEEN, PRESENT

    with psycopg.connect(two_outlets) as admin:  # HQ reads with its read-only login, not the admin's
        reader_url = login_url(two_outlets, add_hq_reader(admin, "anna"))
    win = _window(qtbot, reader_url, tmp_path)
    snap = _refresh(qtbot, win)
    assert not isinstance(snap, BaseException), snap
    model = win.outlets.model
    assert sorted(o.outlet_id for o in model.outlets()) == ["dps1", "jkt1"]
    jkt = {c: model.text("jkt1", c) for c in model.COLUMNS}
    dps = {c: model.text("dps1", c) for c in model.COLUMNS}
    assert jkt == {"outlet": "Jakarta Grand Mall", "status": "online",
                   "last_heartbeat": local_time_text(snap.outlets[1].last_heartbeat), "present": "1", "on_shift": "2",
                   "absent": "1", "spgs": "3", "open_alerts": "1", "cameras": "3/4"}
    assert dps == {"outlet": "Bali Galeria", "status": "offline",
                   "last_heartbeat": local_time_text(snap.outlets[0].last_heartbeat), "present": "1", "on_shift": "1",
                   "absent": "1", "spgs": "2", "open_alerts": "0", "cameras": "0/2"}
    # the heartbeat is shown in this PC's local time
    assert snap.outlets[1].last_heartbeat.astimezone().strftime("%H:%M:%S") in jkt["last_heartbeat"]
    # alert feed across outlets, newest first, HTML shown as text
    feed = win.alerts.rows()
    assert [r[1] for r in feed] == ["Bali Galeria", "Jakarta Grand Mall", "Jakarta Grand Mall"]
    assert feed[1][2:] == ["ayu", "back", "Ayu Lestari is back", "sent"]
    assert feed[2][2:] == ["budi", "absent", "Budi Santoso absent since 09:45", "waiting"]

    # drill-down into Jakarta: its SPGs and today's timeline
    with qtbot.waitSignal(win.refreshed, timeout=30000):
        win.outlets.select("jkt1")
    assert win.tabs.currentWidget() is win.detail
    rows = {r.spg_id: r for r in win.detail.presence.model.rows()}
    assert sorted(rows) == ["ayu", "budi", "citra"]
    assert (rows["ayu"].state, rows["budi"].state, rows["citra"].state) == (PRESENT, ABSENT, NOT_SEEN)
    assert rows["ayu"].present_today_s == 3.5 * 3600 and rows["budi"].present_today_s == 45 * 60
    assert rows["budi"].since == _at(DAY, 9, 50, JKT).timestamp() and rows["budi"].shift == "on shift"
    assert win.detail.presence.model.summary() == "1 of 3 present"
    assert (win.detail.timeline.band_count("ayu"), win.detail.timeline.band_count("budi"),
            win.detail.timeline.band_count("citra")) == (2, 1, 0)
    assert win.detail.timeline.tz == JKT and "Jakarta Grand Mall" in win.detail.title.text()

    # File -> Export attendance, two days, read back
    monkeypatch.setattr(export_dialog, "open_folder", lambda path: None)
    dlg = win.open_export_dialog()
    from PySide6.QtCore import QDate

    dlg.start.setDate(QDate(DAY.year, DAY.month, DAY.day - 1))
    dlg.end.setDate(QDate(DAY.year, DAY.month, DAY.day))
    dlg.folder.setText(str(tmp_path / "out"))
    with qtbot.waitSignal(dlg.finished_export, timeout=60000) as blocker:
        dlg.export()
    path = blocker.args[0]
    assert isinstance(path, Path), path
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Bali Galeria", "Jakarta Grand Mall"]
    summary = [list(r) for r in wb["Summary"].iter_rows(values_only=True)]
    assert summary[0] == ["SPG ID", "Name", "Outlets", "Days present", "Total time present",
                          "Time at Bali Galeria", "Time at Jakarta Grand Mall"]
    by_id = {r[0]: r for r in summary[1:]}
    assert [r[0] for r in summary[1:]].count("ayu") == 1 and len(summary) == 5  # Ayu once, four SPGs
    h = timedelta(hours=1)
    # Ayu: Jakarta 1 h on the 19th and 2 h + 1.5 h on the 20th, Bali 3 h on the 20th
    assert by_id["ayu"] == ["ayu", "Ayu Lestari", "Bali Galeria, Jakarta Grand Mall", 2, 7.5 * h, 3 * h, 4.5 * h]
    assert by_id["budi"] == ["budi", "Budi Santoso", "Jakarta Grand Mall", 1, 0.75 * h, None, 0.75 * h]
    assert by_id["citra"] == ["citra", "Citra Dewi", None, 0, timedelta(0), None, timedelta(0)]
    assert by_id["dewi"] == ["dewi", "Dewi Sartika", "Bali Galeria", 1, 2 * h, 2 * h, None]
    jkt_rows = [list(r) for r in wb["Jakarta Grand Mall"].iter_rows(values_only=True)]
    assert jkt_rows[0] == ["Date", "SPG ID", "Name", "First seen", "Last seen", "Time present", "Absences"]
    assert len(jkt_rows) == 1 + 3 * 2  # three SPGs, two days
    d0, d_1 = datetime(2026, 11, 20), datetime(2026, 11, 19)
    assert jkt_rows[1] == [d_1, "ayu", "Ayu Lestari", d_1.replace(hour=8), d_1.replace(hour=9), 1 * h, 0]
    assert jkt_rows[2] == [d0, "ayu", "Ayu Lestari", d0.replace(hour=8), d0.replace(hour=12, minute=30), 3.5 * h, 0]
    assert jkt_rows[3] == [d_1, "budi", "Budi Santoso", None, None, timedelta(0), 0]
    assert jkt_rows[4] == [d0, "budi", "Budi Santoso", d0.replace(hour=9), d0.replace(hour=9, minute=45),
                           0.75 * h, 1]
    dps_rows = [list(r) for r in wb["Bali Galeria"].iter_rows(values_only=True)]
    # the outlet's own local time (UTC+8)
    assert dps_rows[2] == [d0, "ayu", "Ayu Lestari", d0.replace(hour=14), d0.replace(hour=17), 3 * h, 0]
    reader_password = reader_url.split("@")[0].rsplit(":", 1)[1]
    for secret in (ADMIN_PASSWORD, reader_password):
        assert secret not in _on_screen(win) and secret not in dlg.message.text()


def test_hq_console_keeps_last_data_when_the_database_dies_and_recovers(qtbot, two_outlets, pg_server, tmp_path):
    win = _window(qtbot, two_outlets, tmp_path)
    assert not isinstance(_refresh(qtbot, win), BaseException)
    pg_server.stop()
    try:
        result = _refresh(qtbot, win)
        assert isinstance(result, BaseException)
        assert win.banner.isVisible() and win.error
        text = win.banner.text()
        assert "The central database postgresql://postgres:***@127.0.0.1" in text
        assert "Showing the data read at" in text
        assert ADMIN_PASSWORD not in _on_screen(win)
        # the last data stays, and the window still works (drill-down, export dialog)
        assert sorted(o.outlet_id for o in win.outlets.model.outlets()) == ["dps1", "jkt1"]
        assert win.outlets.model.text("jkt1", "status") == "online"
        assert isinstance(_refresh(qtbot, win), BaseException)
        dlg = win.open_export_dialog()
        with qtbot.waitSignal(dlg.finished_export, timeout=30000) as blocker:
            dlg.export()
        assert isinstance(blocker.args[0], BaseException)
        assert "cannot be read" in dlg.message.text() and ADMIN_PASSWORD not in dlg.message.text()
    finally:
        pg_server.start()
        pg_server.wait_ready()
    assert not isinstance(_refresh(qtbot, win), BaseException)
    assert not win.banner.isVisible() and win.error is None


def test_hq_console_wrong_password_is_a_clear_message_with_the_password_masked(qtbot, fresh_central_db, pg_server,
                                                                               tmp_path, caplog):
    wrong = "Wr0ng-pa55word"
    url = fresh_central_db.replace(ADMIN_PASSWORD, wrong)
    win = _window(qtbot, url, tmp_path)
    result = _refresh(qtbot, win)
    assert isinstance(result, BaseException)
    text = win.banner.text()
    assert win.banner.isVisible()
    assert "postgresql://postgres:***@127.0.0.1" in text and "password authentication failed" in text, text
    assert "Nothing read yet" in text
    assert wrong not in _on_screen(win) and wrong not in caplog.text
    # the window keeps working: menus, another refresh, the export dialog
    assert win.export_action.isEnabled()
    assert isinstance(_refresh(qtbot, win), BaseException)
    assert win.outlets.model.rowCount() == 0


def test_app_hq_opens_the_hq_console_without_cameras(two_outlets, tmp_path, data_dir):
    """`app.py hq add-reader` prints a read-only URL once; `app.py hq` (URL from SPG_CENTRAL_URL) opens the console."""
    made = subprocess.run([sys.executable, str(REPO / "app.py"), "hq", "add-reader", "--db", two_outlets,
                           "--user", "anna"], capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    reader_url = made.stdout.strip()
    assert reader_url.startswith("postgresql://spg_") and ADMIN_PASSWORD not in reader_url
    with psycopg.connect(reader_url) as conn:  # it reads every outlet and writes nothing
        assert conn.execute("SELECT count(*) FROM spg.outlets").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO spg.spgs (outlet_id, spg_id, name) VALUES ('jkt1', 'x', 'X')")
    shot = tmp_path / "hq.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SPG_CENTRAL_URL": reader_url}
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data_dir), "--screenshot", str(shot),
                           "--after", "3", "hq"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert shot.is_file() and shot.stat().st_size > 0
    log = (data_dir / "logs" / "console.log").read_text(encoding="utf-8") if (data_dir / "logs" / "console.log").exists() else ""
    reader_password = reader_url.split("@")[0].rsplit(":", 1)[1]
    assert reader_password not in proc.stderr + proc.stdout + log


def _fake_outlet(oid: str, name: str, online: bool):
    from core.central.hq_api import OutletSummary

    return OutletSummary(oid, name, "Asia/Jakarta", online, datetime.now(UTC), 2, 2, "opencv", 3, 2, 3, 1, 0, 0)


def test_a_slow_database_never_blocks_the_window(qtbot, tmp_path):
    """The read waits on the 'network' for as long as the test holds the gate; the Qt thread stays free."""
    import threading
    import time

    from tests.hq_fakes import FakeHqApi
    from ui.hq_window import HqWindow

    gate = threading.Event()
    api = FakeHqApi(outlet_rows=[_fake_outlet("o1", "Mall One", True)], gate=gate)
    win = HqWindow("postgresql://hq:Sl0w-secret@db.example:5432/spg", connect=lambda url: api, refresh_s=3600,
                   export_folder=tmp_path, start=False)
    qtbot.addWidget(win)
    win.show()
    t0 = time.monotonic()
    win.refresh()
    win.refresh()  # asked again while the first read waits: it follows, it does not pile up
    assert time.monotonic() - t0 < 0.5
    from PySide6.QtCore import QTimer

    fired: list[bool] = []
    QTimer.singleShot(10, lambda: fired.append(True))  # the event loop keeps running while the read waits
    qtbot.waitUntil(lambda: bool(fired), timeout=10000)
    assert not gate.is_set() and win.outlets.model.rowCount() == 0
    # a read that hangs (a dropped network) is reported, not shown as fresh data
    win.stalled_after_s = 0.2
    qtbot.wait(300)
    win.refresh()
    assert win.banner.isVisible() and "postgresql://hq:***@db.example:5432/spg has not answered for" in win.banner.text()
    with qtbot.waitSignal(win.refreshed, timeout=10000):
        gate.set()
    assert win.outlets.model.text("o1", "status") == "online" and not win.banner.isVisible()
    assert "Sl0w-secret" not in _on_screen(win) and "hq:***@db.example" in win.status.text()


def test_hq_console_speaks_indonesian(qtbot, tmp_path):
    from PySide6.QtWidgets import QApplication

    from tests.hq_fakes import FakeHqApi
    from ui.hq_window import HqWindow
    from ui.i18n import install_translation

    app = QApplication.instance()
    api = FakeHqApi(outlet_rows=[_fake_outlet("o1", "Mall One", True), _fake_outlet("o2", "Mall Two", False)])
    try:
        assert install_translation(app, "id")
        win = HqWindow("postgresql://hq:pw-1234@db:5432/spg", connect=lambda url: api, refresh_s=3600,
                       export_folder=tmp_path, start=False)
        qtbot.addWidget(win)
        with qtbot.waitSignal(win.refreshed, timeout=10000):
            win.refresh()
        assert win.windowTitle() == "SPG Presence Console — Kantor Pusat"
        assert (win.outlets.model.text("o1", "status"), win.outlets.model.text("o2", "status")) == ("daring", "luring")
        assert "1 dari 2 outlet daring" in win.status.text()
    finally:
        install_translation(app, "en")


def test_a_database_without_the_central_schema_says_to_run_hq_init(qtbot, pg_server, tmp_path):
    with psycopg.connect(pg_server.admin_url, autocommit=True) as admin:
        admin.execute('DROP DATABASE IF EXISTS "t_hq_no_schema" WITH (FORCE)')
        admin.execute('CREATE DATABASE "t_hq_no_schema"')
    win = _window(qtbot, pg_server.url(dbname="t_hq_no_schema"), tmp_path)
    assert isinstance(_refresh(qtbot, win), BaseException)
    assert "run app.py hq init --db ADMIN_URL" in win.banner.text() and ADMIN_PASSWORD not in win.banner.text()
