"""The cross-outlet attendance export (core.central.hq_export) on an in-memory HqReadApi: days split at each
outlet's own midnight, sheet names Excel accepts, names that look like formulas stay text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.central.hq_api import IntervalEvent, OutletSpg, OutletSummary, TransitionEvent
from core.central.hq_export import build_attendance, export_attendance, sheet_title
from tests.hq_fakes import FakeHqApi

JKT = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _outlet(oid: str, name: str, tz: str = "Asia/Jakarta") -> OutletSummary:
    return OutletSummary(oid, name, tz, True, NOW, 1, 1, None, 1, 0, 0, 0, 0, 0)


def test_an_interval_across_midnight_counts_on_both_days_of_the_outlet(tmp_path):
    api = FakeHqApi(
        outlet_rows=[_outlet("o1", "Night Market")],
        spg_rows=[OutletSpg("o1", "s1", "Sari", True, "ABSENT", False)],
        interval_rows=[IntervalEvent("o1", "s1", datetime(2026, 11, 20, 22, 0, tzinfo=JKT),
                                     datetime(2026, 11, 21, 1, 30, tzinfo=JKT), True)],
        transition_rows=[TransitionEvent("o1", "s1", "present", "absent", datetime(2026, 11, 21, 1, 35, tzinfo=JKT),
                                         True, "cam1", 1)])
    att = build_attendance(api, date(2026, 11, 20), date(2026, 11, 21), now=NOW)
    day1, day2 = att.rows["o1"]
    assert (day1.present_s, day2.present_s) == (2 * 3600, 1.5 * 3600)
    assert (day1.first_seen, day1.last_seen) == (datetime(2026, 11, 20, 22, 0), datetime(2026, 11, 21, 0, 0))
    assert (day1.absences, day2.absences) == (0, 1)
    (s,) = att.summary
    assert (s.present_s, s.days_present, s.per_outlet) == (3.5 * 3600, 2, {"o1": 3.5 * 3600})


def test_sheet_names_are_valid_and_unique_and_formula_like_names_stay_text(tmp_path):
    from openpyxl import load_workbook

    api = FakeHqApi(
        outlet_rows=[_outlet("a", "Mall: Level 1/2 [East]"), _outlet("b", "mall: level 1/2 [east]"),
                     _outlet("c", "Summary")],
        spg_rows=[OutletSpg("a", "x", "=HYPERLINK(\"http://evil\")", True, None, None)],
        interval_rows=[IntervalEvent("a", "x", datetime(2026, 11, 20, 9, 0, tzinfo=JKT),
                                     datetime(2026, 11, 20, 10, 0, tzinfo=JKT), True)])
    path = export_attendance(api, date(2026, 11, 20), date(2026, 11, 20), tmp_path / "x.xlsx", now=NOW)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Summary", "Mall_ Level 1_2 _East_", "mall_ level 1_2 _east_ (2)", "Summary (2)"]
    cell = wb["Summary"]["B2"]
    assert cell.value == "=HYPERLINK(\"http://evil\")" and cell.data_type == "s"
    assert wb["Summary"]["F2"].value == timedelta(hours=1)  # time at the first outlet


def test_sheet_title_fits_excel_limits():
    taken: set[str] = set()
    long = "A" * 40
    assert sheet_title(long, taken) == "A" * 31
    assert sheet_title(long, taken) == "A" * 27 + " (2)"
    assert sheet_title("", taken) == "Outlet"


def test_an_export_that_ends_before_it_starts_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="before it starts"):
        build_attendance(FakeHqApi(), date(2026, 11, 21), date(2026, 11, 20), now=NOW)
