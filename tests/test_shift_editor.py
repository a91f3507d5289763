"""Settings → Shifts (pytest-qt): an SPG's weekly shift and a holiday edited in the dialog, saved into the
data folder's settings.yaml, and the next report (from the Report dialog) reflects them; a calendar CSV
imported with a clear error for a bad line."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from PySide6.QtCore import QDate, Qt, QTime

from core.config import AppConfig, load_config
from core.events_db import EventStore
from core.paths import DataLayout

TZ = ZoneInfo("Asia/Jakarta")
MON, TUE = date(2026, 1, 5), date(2026, 1, 6)
PEOPLE = [("ana", "Ana"), ("budi", "Budi")]
WEEKDAY = {"start": "09:00", "end": "17:00"}


def at(d: date, h: int, m: int = 0) -> float:
    return datetime(d.year, d.month, d.day, h, m, tzinfo=TZ).timestamp()


def outlet(data_dir: Path) -> AppConfig:
    """Mon-Fri 09:00-17:00 for everyone. Ana works Monday 13:10-21:30 and Tuesday 09:00-17:00; Budi Monday
    09:00-17:00 and not on Tuesday."""
    store = EventStore(DataLayout(data_dir).events_db)
    for spg, a, b in (("ana", at(MON, 13, 10), at(MON, 21, 30)), ("ana", at(TUE, 9), at(TUE, 17)),
                      ("budi", at(MON, 9), at(MON, 17))):
        store.close_interval(spg, store.open_interval(spg, a), b)
    store.flush()
    store.close()
    return AppConfig.model_validate({"outlet": {"timezone": "Asia/Jakarta"}, "data_dir": str(data_dir),
                                     "presence": {"default_shift": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), WEEKDAY)}})


def monthly_cells(qtbot, data_dir: Path, cfg: AppConfig, tmp_path: Path, monkeypatch) -> dict[str, list]:
    """Export January from the Report dialog (monthly matrix, Excel) and read the cells back."""
    from openpyxl import load_workbook

    from ui import report_dialog

    monkeypatch.setattr(report_dialog, "open_folder", lambda _p: None)
    dlg = report_dialog.ReportDialog(cfg, data_dir, PEOPLE)
    qtbot.addWidget(dlg)
    dlg.start.setDate(QDate(2026, 1, 1))
    dlg.kind.setCurrentIndex(dlg.kind.findData("monthly"))
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("xlsx"))
    dlg.folder.setText(str(tmp_path))
    dlg.export()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    assert dlg.result_path == tmp_path / "attendance_monthly_2026-01.xlsx", dlg.message.text()
    assert dlg.result_path.with_suffix(".csv").is_file()
    ws = load_workbook(dlg.result_path).worksheets[0]
    return {r[0]: list(r) for r in ws.iter_rows(min_row=2, max_row=3, values_only=True)}


def test_weekly_shift_and_holiday_edited_in_settings_show_in_the_next_report(qtbot, data_dir, tmp_path, monkeypatch):
    from ui.settings_dialog import SettingsDialog

    cfg = outlet(data_dir)
    before = monthly_cells(qtbot, data_dir, cfg, tmp_path / "before", monkeypatch)
    day = lambda row, d: row[1 + d.day]  # noqa: E731 - column of day d
    assert day(before["ana"], MON) == "L" and day(before["budi"], TUE) == "A"  # 4 h 10 late; Budi not there

    dlg = SettingsDialog(cfg, data_dir, people=PEOPLE)
    qtbot.addWidget(dlg)
    ed = dlg.shift_editor
    dlg.tabs.setCurrentIndex([dlg.tabs.tabText(i) for i in range(dlg.tabs.count())].index("Shifts"))
    ed.select_person("ana")
    assert not ed.own.isChecked() and not ed.days["mon"].start.isEnabled()  # follows the default
    qtbot.mouseClick(ed.own, Qt.MouseButton.LeftButton)
    mon = ed.days["mon"]
    assert mon.start.isEnabled() and mon.start.time() == QTime(9, 0)  # starts from a copy of the default
    mon.start.setTime(QTime(13, 0))
    mon.end.setTime(QTime(21, 0))
    mon.breaks.setText("17:00-17:30")
    mon.tolerance.setValue(15)
    ed.select_person(None)  # look at someone else and back: the edit is kept
    assert ed.days["mon"].start.time() == QTime(9, 0)
    ed.select_person("ana")
    assert ed.days["mon"].start.time() == QTime(13, 0) and ed.days["mon"].breaks.text() == "17:00-17:30"
    qtbot.mouseClick(ed.add_day, Qt.MouseButton.LeftButton)
    row = ed.calendar.rowCount() - 1
    ed.calendar.cellWidget(row, 0).setDate(QDate(2026, 1, 6))
    ed.calendar.cellWidget(row, 5).setText("Cuti bersama")
    assert ed.calendar.cellWidget(row, 1).currentData() == "holiday" and ed.calendar.cellWidget(row, 2).currentData() is None
    assert dlg.save() is True, dlg.error.text()

    saved = yaml.safe_load((data_dir / "settings.yaml").read_text(encoding="utf-8"))
    assert saved["presence"]["shifts"]["ana"]["mon"]["start"] == "13:00:00"
    assert saved["presence"]["shifts"]["ana"]["mon"]["breaks"] == [{"start": "17:00:00", "end": "17:30:00"}]
    assert saved["attendance"]["calendar"][0]["kind"] == "holiday"
    assert saved["presence"]["shifts"]["ana"]["tue"]["start"] == "09:00:00"  # the rest of the week as the default
    new = load_config(data_dir=data_dir)
    after = monthly_cells(qtbot, data_dir, new, tmp_path / "after", monkeypatch)
    # Ana: Monday 13:10 within the 15 minutes of her new shift: hours, not L; Tuesday the holiday, worked: H
    assert day(after["ana"], MON) == round((at(MON, 21, 30) - at(MON, 13, 10)) / 3600, 2)
    assert day(after["ana"], TUE) == "H" and day(after["budi"], TUE) == "HOL"
    assert day(after["budi"], MON) == 8.0  # Budi keeps the default
    # the daily sheet shows her shift, the 30 minutes overtime, no break taken (she was there)
    from core.reports import build_report

    store = EventStore(DataLayout(data_dir).events_db)
    (row_mon,) = build_report(store, new, MON, MON, ["ana"], dict(PEOPLE), now=at(TUE, 23))
    store.close()
    assert (row_mon.shift, row_mon.late_s, row_mon.overtime_s, row_mon.break_s) == ("13:00-21:00", 0.0, 1800.0, 0.0)


def test_calendar_csv_import_adds_days_and_names_the_bad_line_and_column(qtbot, data_dir, tmp_path):
    from ui.settings_dialog import SettingsDialog

    cfg = AppConfig.model_validate({"outlet": {"id": "toko_1"}, "data_dir": str(data_dir)})
    dlg = SettingsDialog(cfg, data_dir, people=PEOPLE)
    qtbot.addWidget(dlg)
    ed = dlg.shift_editor
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,spg_id,name\n2026-03-31,holiday,,Idul Fitri\n2026-04-01,vacation,ana,\n", encoding="utf-8")
    assert ed.import_calendar(bad) is False
    assert "line 3, column 2 (kind)" in ed.calendar_message.text() and ed.calendar.rowCount() == 0
    good = tmp_path / "good.csv"
    good.write_text("date,kind,spg_id,outlet_id,name,start,end\n2026-03-31,holiday,,,Idul Fitri,,\n"
                    "2026-04-02,off,ana,toko_1,,,\n2026-04-03,shift,budi,,,13:00,21:00\n"
                    "2026-04-04,holiday,,toko_2,elsewhere,,\n", encoding="utf-8")
    assert ed.import_calendar(good) is True
    assert ed.calendar.rowCount() == 3 and "3" in ed.calendar_message.text()
    assert dlg.save() is True, dlg.error.text()
    cal = load_config(data_dir=data_dir).attendance.calendar
    assert [(str(e.date), e.kind, e.spg_id) for e in cal] == [("2026-03-31", "holiday", None),
                                                              ("2026-04-02", "off", "ana"),
                                                              ("2026-04-03", "shift", "budi")]
    assert cal[2].start is not None and cal[2].start.hour == 13


def test_a_broken_break_is_refused_with_the_day_and_nothing_is_saved(qtbot, data_dir):
    from ui.settings_dialog import SettingsDialog

    cfg = AppConfig.model_validate({"data_dir": str(data_dir)})
    dlg = SettingsDialog(cfg, data_dir, people=PEOPLE)
    qtbot.addWidget(dlg)
    mon = dlg.shift_editor.days["mon"]
    mon.works.setChecked(True)
    mon.breaks.setText("lunch")
    assert dlg.save() is False and "mon" in dlg.error.text() and "12:00-13:00" in dlg.error.text()
    dlg.shift_editor.select_person("ana")  # cannot leave a table that does not read: it stays, with the reason
    assert dlg.shift_editor.person.currentData() is None and "lunch" in dlg.shift_editor.week_message.text()
    mon.breaks.setText("18:00-18:30")  # outside 09:00-17:00
    assert dlg.save() is False and "not inside the shift" in dlg.error.text()
    assert not (data_dir / "settings.yaml").exists()
