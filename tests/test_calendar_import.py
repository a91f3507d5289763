"""The calendar CSV: the one loader's messages name line and column; ``app.py calendar`` imports through it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import load_config
from core.day_calendar import CalendarCsvError, load_calendar_csv, parse_calendar_csv

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("text", "where"), [
    ("date,kind\n2026-02-30,off\n", "line 2, column 1 (date): not a date"),
    ("name,kind,date\nx,off,2026-01-01\nIdul Fitri,feast,2026-03-31\n", "line 3, column 2 (kind): use holiday, off or shift"),
    ("date,kind,start,end\n2026-01-01,shift,09:00,\n", "line 2: a 'shift' day needs a start and an end"),
    ("date,kind,start,end\n2026-01-01,shift,09:00,25:00\n", "line 2, column 4 (end): not a time"),
    ("date,kind,colour\n", "line 1, column 3: unknown column 'colour'"),
    ("day,kind\n", "line 1: no column 'date'"),
    ("", "the file is empty"),
    ("date,kind\n2026-01-01,off,extra\n", "line 2: more values than columns"),
])
def test_bad_calendar_lines_are_named(text, where):
    with pytest.raises(CalendarCsvError) as exc:
        parse_calendar_csv(text, "cal.csv")
    assert str(exc.value).startswith("cal.csv: ") and where in str(exc.value)


def test_spreadsheet_export_with_bom_blank_lines_and_aliases(tmp_path):
    f = tmp_path / "cal.csv"
    f.write_text("\ufeffDate,Kind,SPG_ID,Name\r\n2026-03-31,Holiday,,Idul Fitri\r\n,,,\r\n2026-04-02,libur,ana,\r\n",
                 encoding="utf-8")
    entries = load_calendar_csv(f)
    assert [(str(e.date), e.kind, e.spg_id, e.name) for e in entries] == [("2026-03-31", "holiday", None, "Idul Fitri"),
                                                                          ("2026-04-02", "off", "ana", "")]
    f.write_bytes("date,kind\n2026-01-01,off\n".encode("utf-16"))
    with pytest.raises(CalendarCsvError, match="UTF-8"):
        load_calendar_csv(f)


def test_app_calendar_import_saves_into_the_outlet_settings(tmp_path, data_dir):
    f = tmp_path / "cal.csv"
    f.write_text("date,kind,spg_id,outlet_id,name,start,end\n2026-03-31,holiday,,,Idul Fitri,,\n"
                 "2026-04-03,shift,budi,,,13:00,21:00\n2026-04-04,holiday,,toko_2,elsewhere,,\n", encoding="utf-8")
    cmd = [sys.executable, str(REPO / "app.py"), "calendar", "import", str(f), "--data-dir", str(data_dir)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "2 day(s) imported" in r.stdout and "1 for other outlets" in r.stdout
    cal = load_config(data_dir=data_dir).attendance.calendar
    assert [(str(e.date), e.kind, e.spg_id) for e in cal] == [("2026-03-31", "holiday", None), ("2026-04-03", "shift", "budi")]
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind\n2026-05-01,off\n2026-05-02,party\n", encoding="utf-8")
    r = subprocess.run(cmd[:4] + [str(bad), "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "line 3, column 2 (kind)" in r.stderr and "Nothing was imported" in r.stderr
    assert len(load_config(data_dir=data_dir).attendance.calendar) == 2
