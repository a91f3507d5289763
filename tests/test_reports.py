"""Attendance reports from a known hit timeline: numbers, CSV, xlsx, and the ``app.py report`` CLI."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.attendance import AttendanceService
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.messages import FaceResult, FrameResult
from core.reports import build_report, export_report
from core.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Jakarta")
DAY = date(2026, 1, 1)  # a Thursday
STEP = 10.0
CFG_DATA = {
    "outlet": {"name": "Toko Maju", "timezone": "Asia/Jakarta"},
    "presence": {"grace_seconds": 30, "absent_seconds": 300, "confirm_hits": 2, "confirm_window_s": 25,
                 "default_shift": {"thu": {"start": "09:00", "end": "17:00"}}},
    "telegram": {"enabled": True},
}


def at(h, m, s=0):
    return datetime(2026, 1, 1, h, m, s, tzinfo=TZ).timestamp()


@pytest.fixture(scope="module")
def timeline(tmp_path_factory):
    """Ana: seen 09:10-12:00 and 12:30-16:40 (every 10 s, camera 1 then camera 2); Budi: never.
    Citra: seen 10:00-10:20 on camera 2 only."""
    folder = tmp_path_factory.mktemp("report")
    cfg = AppConfig.model_validate(CFG_DATA)
    clock = FakeClock(start=at(8, 0))
    store = EventStore(folder / "events.db")
    with FakeTelegram() as srv:
        ob = AlertOutbox(TelegramClient(srv.api_base, SecretStr(srv.token), SecretStr("1"), 5), store, clock, start=False)
        svc = AttendanceService(cfg, store, ob, clock, lambda: {"ana": "Ana", "budi": "Budi", "citra": "Citra"})
        spans = {"ana": [(at(9, 10), at(12, 0), "cam1"), (at(12, 30), at(16, 40), "cam2")],
                 "citra": [(at(10, 0), at(10, 20), "cam2")]}
        t = clock.time()
        while t < at(18, 0):
            for cam in ("cam1", "cam2"):  # both cameras keep seeing; a face only while someone is there
                faces = tuple(FaceResult((0, 0, 80, 80), (), 0.9, spg, 0.8, 1) for spg, ss in spans.items()
                              for a, b, c in ss if c == cam and a <= t < b)
                svc.on_frame_result(FrameResult(cam, 0, t, clock.monotonic(), faces, (480, 640)))
            svc.tick()
            ob.deliver_due()
            clock.advance(STEP)
            t = clock.time()
        alerts = list(srv.received)
        svc.close()
    return folder, cfg, alerts


def test_numbers_match_the_timeline(timeline):
    folder, cfg, alerts = timeline
    store = EventStore(folder / "events.db")
    rows = {r.spg_id: r for r in build_report(store, cfg, DAY, DAY, None, {"ana": "Ana", "budi": "Budi", "citra": "Citra"},
                                              now=at(23, 0))}
    store.close()
    ana = rows["ana"]
    assert ana.first_seen == at(9, 10) and ana.last_seen == at(16, 39, 50)
    assert ana.present_s == pytest.approx((at(11, 59, 50) - at(9, 10)) + (at(16, 39, 50) - at(12, 30)))
    assert ana.absences == 2
    assert ana.absent_longest_s == pytest.approx(at(12, 30) - at(11, 59, 50))
    assert ana.absent_total_s == pytest.approx((at(12, 30) - at(11, 59, 50)) + (at(17, 0) - at(16, 39, 50)))
    assert ana.alerts_sent == 2 and len([a for a in alerts if "Ana" in a.text]) == 2
    assert ana.shift == "09:00-17:00" and ana.late_s == pytest.approx(600) and ana.absent_shift is False
    assert ana.left_early_s == pytest.approx(at(17, 0) - at(16, 39, 50))
    budi = rows["budi"]
    assert budi.absent_shift is True and budi.first_seen is None and budi.present_s == 0 and budi.absences == 0
    citra = rows["citra"]
    assert citra.present_s == pytest.approx(at(10, 19, 50) - at(10, 0)) and citra.absences == 1
    assert citra.late_s == pytest.approx(3600)


def test_csv_and_xlsx_read_back(timeline, tmp_path):
    from openpyxl import load_workbook

    folder, cfg, _ = timeline
    store = EventStore(folder / "events.db")
    names = {"ana": "Ana", "budi": "Budi"}
    csv_path = export_report(store, cfg, DAY, DAY, ["ana", "budi"], "csv", tmp_path / "r.csv", names=names, now=at(23, 0))
    xlsx_path = export_report(store, cfg, DAY, DAY, ["ana"], "xlsx", tmp_path / "r.xlsx", names=names, now=at(23, 0))
    store.close()
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["Name"] for r in rows] == ["Ana", "Budi"]
    a = rows[0]
    assert (a["Date"], a["First seen"], a["Last seen"], a["Time present"], a["Absences"]) == \
        ("2026-01-01", "09:10:00", "16:39:50", "6:59:40", "2")
    assert (a["Longest absence"], a["Late by"], a["Left early by"], a["Absent (shift)"], a["Alerts sent"]) == \
        ("0:30:10", "0:10:00", "0:20:10", "no", "2")
    assert rows[1]["Absent (shift)"] == "yes"
    ws = load_workbook(xlsx_path).active
    header = [c.value for c in ws[1]]
    assert header[:6] == ["Date", "SPG ID", "Name", "First seen", "Last seen", "Time present"]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2"
    assert ws.column_dimensions["C"].width >= 20
    assert ws["D2"].number_format == "hh:mm:ss" and ws["F2"].number_format == "[h]:mm:ss"
    assert ws["D2"].value == datetime(2026, 1, 1, 9, 10, 0)  # outlet time, not UTC
    present = ws["F2"].value
    assert (present if isinstance(present, timedelta) else timedelta(days=present)) == timedelta(hours=6, minutes=59, seconds=40)


def test_cli_report_csv_and_xlsx(timeline, tmp_path):
    folder, _, _ = timeline
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "events.db").write_bytes((folder / "events.db").read_bytes())
    import yaml

    cfg_file = tmp_path / "outlet.yaml"
    cfg_file.write_text(yaml.safe_dump({k: v for k, v in CFG_DATA.items() if k != "telegram"}))
    base = [sys.executable, str(REPO / "app.py"), "report", "--config", str(cfg_file), "--data-dir", str(data_dir),
            "--from", "2026-01-01", "--to", "2026-01-02"]
    r = subprocess.run(base + ["--format", "csv", "--out", str(tmp_path / "a.csv"), "--spg", "ana",
                               "--jsonl", str(tmp_path / "events.jsonl")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with open(tmp_path / "a.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(x["Date"], x["SPG ID"], x["Time present"]) for x in rows] == [("2026-01-01", "ana", "6:59:40"),
                                                                            ("2026-01-02", "ana", "0:00:00")]
    assert "STATE_CHANGE" in (tmp_path / "events.jsonl").read_text()
    r = subprocess.run(base + ["--format", "xlsx", "--out", str(tmp_path / "a.xlsx")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from openpyxl import load_workbook

    ws = load_workbook(tmp_path / "a.xlsx").active
    assert ws.max_row == 1 + 2 * 2  # the 2 SPGs in the database (no gallery here) x 2 days
    r = subprocess.run(base[:-4] + ["--from", "2026-01-05", "--to", "2026-01-01", "--out", str(tmp_path / "b.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "before" in r.stderr
    r = subprocess.run(base[:-4] + ["--from", "2026-13-01", "--to", "2026-01-01", "--out", str(tmp_path / "b.csv")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "YYYY-MM-DD" in r.stderr


def test_names_that_look_like_formulas_stay_text_in_csv_and_xlsx(timeline, tmp_path):
    """CSV/formula injection: an SPG named "=HYPERLINK(...)" must not become a live formula."""
    import zipfile

    from openpyxl import load_workbook

    folder, cfg, _ = timeline
    hostile = {"ana": '=HYPERLINK("http://evil.example","click")', "budi": "+1+2", "citra": "@SUM(1,2)"}
    store = EventStore(folder / "events.db")
    csv_path = export_report(store, cfg, DAY, DAY, None, "csv", tmp_path / "r.csv", names=hostile, now=at(23, 0))
    xlsx_path = export_report(store, cfg, DAY, DAY, None, "xlsx", tmp_path / "r.xlsx", names=hostile, now=at(23, 0))
    store.close()
    with open(csv_path, encoding="utf-8-sig", newline="") as f:
        names = sorted(r["Name"] for r in csv.DictReader(f))
    assert names == sorted("'" + n for n in hostile.values())  # a spreadsheet shows these as text
    ws = load_workbook(xlsx_path).active
    cells = [row[2] for row in ws.iter_rows(min_row=2)]
    assert sorted(c.value for c in cells) == sorted(hostile.values())  # the names as typed
    assert all(c.data_type == "s" for c in cells)
    with zipfile.ZipFile(xlsx_path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "<f " not in sheet  # no formula element anywhere
