"""The monthly matrix read back from the xlsx (openpyxl) and its CSV, against a month computed by hand;
and ``app.py report --monthly``."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.monthly_report import export_monthly

REPO = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Jakarta")
WEEKDAY = {"start": "09:00", "end": "17:00", "breaks": [{"start": "12:00", "end": "13:00"}],
           "late_tolerance_min": 5, "absent_if_late_min": 60}
CFG = {
    "outlet": {"id": "outlet_01", "name": "Toko Maju", "timezone": "Asia/Jakarta"},
    "presence": {"default_shift": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), WEEKDAY)},
    "attendance": {"overtime": {"round_to_min": 15, "rounding": "down"},
                   "calendar": [{"date": "2026-02-17", "kind": "holiday", "name": "Imlek"},
                                {"date": "2026-02-20", "kind": "off", "spg_id": "ana"}]},
}
NAMES = {"ana": "Ana", "budi": "Budi"}


def at(d: int, h: int, m: int = 0) -> float:
    return datetime(2026, 2, d, h, m, tzinfo=TZ).timestamp()


def fill_february(path: Path) -> None:
    """February 2026 (the 1st is a Sunday). Ana: 08:55-17:00 every working weekday except the 3rd (09:20,
    late), the 4th (10:30: beyond 60 minutes), the 5th (not seen), the 6th (to 17:52: 52 min overtime); also
    Saturday the 7th 10:00-14:00. Budi: only Monday the 2nd, 09:00-17:00."""
    store = EventStore(path)

    def seen(spg: str, a: float, b: float) -> None:
        store.close_interval(spg, store.open_interval(spg, a), b)

    special = {3: (9, 20, 17, 0), 4: (10, 30, 17, 0), 6: (8, 55, 17, 52), 7: (10, 0, 14, 0)}
    for d in range(1, 29):
        weekday = date(2026, 2, d).weekday() < 5
        if d in special:
            h0, m0, h1, m1 = special[d]
            seen("ana", at(d, h0, m0), at(d, h1, m1))
        elif weekday and d not in (5, 17, 20):
            seen("ana", at(d, 8, 55), at(d, 17))
    seen("budi", at(2, 9), at(2, 17))
    store.flush()
    store.close()


@pytest.fixture
def february(tmp_path):
    db = tmp_path / "events.db"
    fill_february(db)
    return db


def test_monthly_matrix_in_xlsx_and_csv_matches_the_hand_computed_month(february, tmp_path):
    from openpyxl import load_workbook

    cfg = AppConfig.model_validate(CFG)
    now = FakeClock(start=datetime(2026, 3, 1, 12, 0, tzinfo=TZ).timestamp()).time()
    store = EventStore(february)
    out = export_monthly(store, cfg, 2026, 2, None, "xlsx", tmp_path / "feb.xlsx", names=NAMES, now=now)
    store.close()
    ws = load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["SPG ID", "Name", "1", "2"] and header[29] == "28"
    assert header[30:] == ["Hours", "Days present", "L", "A", "OFF", "HOL", "Overtime hours"]
    assert ws.freeze_panes == "C2" and ws["A1"].font.bold
    assert ws.column_dimensions["B"].width >= 20 and ws.column_dimensions["C"].width == 6
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, max_row=3, values_only=True)}
    ana, budi = rows["ana"], rows["budi"]
    day = lambda row, d: row[1 + d]  # noqa: E731 - column of day d
    assert ana[1] == "Ana"
    assert [day(ana, d) for d in (1, 3, 4, 5, 7, 8, 17, 20)] == ["OFF", "L", "A", "A", "H", "OFF", "HOL", "OFF"]
    assert day(ana, 2) == pytest.approx(8.08) and day(ana, 6) == pytest.approx(8.95)
    # 14 ordinary days x 8 h 05 + 7 h 40 (3rd) + 6 h 30 (4th, absent for lateness) + 8 h 57 (6th) + 4 h (7th)
    hours = (14 * (8 * 60 + 5) + (7 * 60 + 40) + (6 * 60 + 30) + (8 * 60 + 57) + 4 * 60) / 60
    assert ana[30:] == (pytest.approx(round(hours, 2)), 17, 1, 2, 8, 1, 0.75)
    assert day(budi, 2) == 8.0 and day(budi, 3) == "A" and day(budi, 17) == "HOL" and day(budi, 20) == "A"
    # 20 weekdays - the holiday - the 2nd = 18 absences; 8 weekend days off
    assert budi[30:] == (8.0, 1, 0, 18, 8, 1, 0.0)
    legend = [r[0] for r in ws.iter_rows(min_row=5, values_only=True) if r[0]]
    assert {"L", "A", "OFF", "HOL", "H"} <= set(legend)

    with open(out.with_suffix(".csv"), encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == header
    ana_csv = next(r for r in table if r[0] == "ana")
    assert ana_csv[2:10] == ["OFF", "8.08", "L", "A", "A", "8.95", "H", "OFF"]
    assert ana_csv[30:] == [f"{round(hours, 2)}", "17", "1", "2", "8", "1", "0.75"]


def test_cli_report_monthly_writes_xlsx_and_csv_alongside(february, tmp_path):
    from openpyxl import load_workbook

    data = tmp_path / "data"
    data.mkdir()
    (data / "events.db").write_bytes(february.read_bytes())
    cfg_file = tmp_path / "outlet.yaml"
    cfg_file.write_text(yaml.safe_dump(CFG))
    base = [sys.executable, str(REPO / "app.py"), "report", "--config", str(cfg_file), "--data-dir", str(data)]
    r = subprocess.run(base + ["--monthly", "2026-02", "--out", str(tmp_path / "m.xlsx")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ws = load_workbook(tmp_path / "m.xlsx").worksheets[0]
    assert [c.value for c in ws["A"][1:3]] == ["ana", "budi"] and ws["F2"].value == "A"  # Ana, the 4th
    assert (tmp_path / "m.csv").is_file()
    r = subprocess.run(base + ["--monthly", "2026-13", "--out", str(tmp_path / "x.xlsx")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "YYYY-MM" in r.stderr
    r = subprocess.run(base + ["--out", str(tmp_path / "x.xlsx")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--monthly" in r.stderr


def test_daily_sheet_has_break_overtime_and_code_columns(february, tmp_path):
    from openpyxl import load_workbook

    from core.reports import export_report

    cfg = AppConfig.model_validate(CFG)
    store = EventStore(february)
    out = export_report(store, cfg, date(2026, 2, 3), date(2026, 2, 6), ["ana"], "xlsx", tmp_path / "d.xlsx",
                        names=NAMES, now=datetime(2026, 3, 1, tzinfo=TZ).timestamp())
    csv_out = export_report(store, cfg, date(2026, 2, 3), date(2026, 2, 6), ["ana"], "csv", tmp_path / "d.csv",
                            names=NAMES, now=datetime(2026, 3, 1, tzinfo=TZ).timestamp())
    store.close()
    ws = load_workbook(out).worksheets[0]
    header = [c.value for c in ws[1]]
    rows = [dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert [r["Code"] for r in rows] == ["L", "A", "A", "8.95"]
    sixth = rows[3]
    minutes = lambda v: round(v.total_seconds() / 60) if v is not None else None  # noqa: E731
    assert (minutes(sixth["Overtime (worked)"]), minutes(sixth["Overtime (counted)"])) == (52, 45)
    assert minutes(rows[2]["Break taken"]) == 60 and minutes(sixth["Break taken"]) == 0  # the 5th: not there at all
    assert rows[1]["Absent (shift)"] == "yes" and minutes(rows[1]["Late by"]) == 90  # the 4th: 10:30, beyond 60 min
    with open(csv_out, encoding="utf-8-sig", newline="") as f:
        assert [(r["Code"], r["Overtime (counted)"]) for r in csv.DictReader(f)][3] == ("8.95", "0:45:00")
