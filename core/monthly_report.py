"""The monthly attendance matrix: one row per SPG, one column per day, totals at the right.

A cell is the hours present on a day worked on time (or without a shift), or a code
(:data:`core.attendance_rules.CODES`: L late, A absent, OFF day off, HOL holiday, H worked a non-working
day); empty = a day not over yet. Totals: hours present (every day, late ones included), days present,
L / A / OFF / HOL counts and overtime hours (counted, after rounding). Written as Excel (frozen header row and
name columns, column widths set, a legend below) with the same table as CSV alongside.
"""

from __future__ import annotations

import calendar as _calendar
import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from core.attendance_rules import CODES
from core.reports import DayRow, build_report, csv_text, gallery_names_for

TOTAL_HEADERS = ("Hours", "Days present", "L", "A", "OFF", "HOL", "Overtime hours")


@dataclass(slots=True)
class MatrixRow:
    spg_id: str
    name: str
    cells: list[str | float] = field(default_factory=list)
    hours: float = 0.0
    days_present: int = 0
    late: int = 0
    absent: int = 0
    off: int = 0
    holiday: int = 0
    overtime_h: float = 0.0

    def totals(self) -> list[float | int]:
        return [round(self.hours, 2), self.days_present, self.late, self.absent, self.off, self.holiday,
                round(self.overtime_h, 2)]


@dataclass(slots=True)
class MonthlyMatrix:
    year: int
    month: int
    days: list[date]
    rows: list[MatrixRow]

    @property
    def title(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` -> (year, month); ValueError with the expected form."""
    try:
        y, m = (int(p) for p in text.strip().split("-"))
        date(y, m, 1)
    except ValueError:
        raise ValueError(f"{text!r} is not a month; use YYYY-MM, e.g. 2026-01") from None
    return y, m


def month_days(year: int, month: int) -> list[date]:
    return [date(year, month, d) for d in range(1, _calendar.monthrange(year, month)[1] + 1)]


def matrix_from_rows(year: int, month: int, rows: Sequence[DayRow]) -> MonthlyMatrix:
    days = month_days(year, month)
    by_spg: dict[str, MatrixRow] = {}
    for r in rows:
        m = by_spg.get(r.spg_id)
        if m is None:
            m = by_spg[r.spg_id] = MatrixRow(r.spg_id, r.name)
        code = r.code
        m.cells.append(float(code) if _is_number(code) else code)
        m.hours += r.present_s / 3600.0
        m.overtime_h += r.overtime_s / 3600.0
        if r.present_s > 0 and code != "A":
            m.days_present += 1
        m.late += code == "L"
        m.absent += code == "A"
        m.off += code == "OFF"
        m.holiday += code == "HOL"
    return MonthlyMatrix(year, month, days, list(by_spg.values()))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def build_monthly(store: Any, cfg: Any, year: int, month: int, spg_ids: Sequence[str] | None = None,
                  names: dict[str, str] | None = None, now: float | None = None,
                  progress: Callable[[int, int], None] | None = None) -> MonthlyMatrix:
    days = month_days(year, month)
    rows = build_report(store, cfg, days[0], days[-1], spg_ids, names, now, progress)
    return matrix_from_rows(year, month, rows)


def _header(m: MonthlyMatrix) -> list[str]:
    return ["SPG ID", "Name", *[str(d.day) for d in m.days], *TOTAL_HEADERS]


def write_monthly_csv(m: MonthlyMatrix, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(_header(m))
        for r in m.rows:
            w.writerow([csv_text(r.spg_id), csv_text(r.name), *[f"{c:.2f}" if isinstance(c, float) else c for c in r.cells],
                        *r.totals()])
    return path


def write_monthly_xlsx(m: MonthlyMatrix, path: Path, outlet: str = "") -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.worksheets[0]
    ws.title = f"Attendance {m.title}"[:31]
    ws.append(_header(m))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="2F5597")
        cell.alignment = Alignment(horizontal="center", vertical="center")
    for r in m.rows:
        ws.append([r.spg_id, r.name, *r.cells, *r.totals()])
        for cell in ws[ws.max_row][:2]:
            if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                cell.data_type = "s"  # a name is text, never a formula
                cell.quotePrefix = True
    ws.freeze_panes = "C2"  # header row and the SPG id / name columns stay in view
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 24
    first_day, first_total = 3, 3 + len(m.days)
    for i in range(first_day, first_total):
        ws.column_dimensions[get_column_letter(i)].width = 6
    for i, h in enumerate(TOTAL_HEADERS, start=first_total):
        ws.column_dimensions[get_column_letter(i)].width = max(8, len(h) + 2)
    for row in ws.iter_rows(min_row=2, max_row=ws.max_row, min_col=first_day, max_col=first_total - 1):
        for cell in row:
            cell.alignment = Alignment(horizontal="center")
            if isinstance(cell.value, float):
                cell.number_format = "0.00"
    # legend under the table, so the sheet explains itself when printed
    legend_row = ws.max_row + 2
    ws.cell(legend_row, 1, f"{outlet} {m.title}".strip()).font = Font(bold=True)
    ws.cell(legend_row + 1, 1, "number")
    ws.cell(legend_row + 1, 2, "hours present (on time, or no shift)")
    for i, (code, text) in enumerate(CODES.items(), start=legend_row + 2):
        ws.cell(i, 1, code)
        ws.cell(i, 2, text)
    wb.save(path)
    return path


def export_monthly(store: Any, cfg: Any, year: int, month: int, spg_ids: Sequence[str] | None, fmt: str,
                   out_path: Path, progress: Callable[[int, int], None] | None = None,
                   names: dict[str, str] | None = None, now: float | None = None) -> Path:
    """The month's matrix to ``out_path``: ``xlsx`` writes the CSV alongside (same name, .csv); ``csv`` only it."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown report format {fmt!r}; use csv or xlsx")
    if names is None:
        names = gallery_names_for(cfg)
    m = build_monthly(store, cfg, year, month, spg_ids, names, now, progress)
    out_path = Path(out_path)
    if fmt == "csv":
        return write_monthly_csv(m, out_path)
    write_monthly_csv(m, out_path.with_suffix(".csv"))
    return write_monthly_xlsx(m, out_path, cfg.outlet.name)
