"""Attendance across outlets for a date range, from the central database: one sheet per outlet plus a summary.

Each outlet's days are its own local days (``OutletSummary.timezone``). An outlet sheet has one row per SPG
per day: first and last sighting (outlet local time), time present (presence intervals clipped to the day)
and absences (transitions to ABSENT from present / grace that day). The summary has one row per SPG
(``spg_id`` is brand-wide: an SPG who works at several outlets is one row), with their total and their time
at each outlet (blank where the outlet does not know them).

Reads only through :class:`core.central.hq_api.HqReadApi`; the clock is passed in (``now``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Any

from core.central.hq_api import HqReadApi, IntervalEvent, OutletSummary, TransitionEvent
from core.central.hq_snapshot import outlet_zone
from core.reports import keep_as_text

OUTLET_HEADERS = [("day", "Date"), ("spg_id", "SPG ID"), ("name", "Name"), ("first_seen", "First seen"),
                  ("last_seen", "Last seen"), ("present_s", "Time present"), ("absences", "Absences")]
SUMMARY_SHEET = "Summary"


@dataclass(slots=True)
class OutletDayRow:
    day: date
    spg_id: str
    name: str
    first_seen: datetime | None = None
    """Outlet local time, without tzinfo (as a spreadsheet shows it)."""
    last_seen: datetime | None = None
    present_s: float = 0.0
    absences: int = 0


@dataclass(slots=True)
class SummaryRow:
    spg_id: str
    name: str
    present_s: float = 0.0
    days_present: int = 0
    per_outlet: dict[str, float] = field(default_factory=dict)
    """outlet_id -> seconds present there in the range (only the outlets that know this SPG)."""


@dataclass(slots=True)
class HqAttendance:
    start: date
    end: date
    outlets: list[OutletSummary]
    rows: dict[str, list[OutletDayRow]]
    """outlet_id -> its rows, by SPG name then day."""
    summary: list[SummaryRow]


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    return datetime.combine(day, time(0, 0), tz), datetime.combine(day + timedelta(days=1), time(0, 0), tz)


def _outlet_rows(outlet: OutletSummary, names: dict[str, str], ids: list[str], intervals: Sequence[IntervalEvent],
                 transitions: Sequence[TransitionEvent], days: list[date], now: datetime) -> list[OutletDayRow]:
    tz = outlet_zone(outlet.timezone)
    rows: list[OutletDayRow] = []
    for spg in ids:
        ivs = [iv for iv in intervals if iv.spg_id == spg]
        gone = [t.timestamp for t in transitions if t.spg_id == spg and t.to_state.lower() == "absent"
                and t.from_state.lower() in ("present", "grace")]
        for day in days:
            d0, d1 = _bounds(day, tz)
            row = OutletDayRow(day, spg, names.get(spg, spg))
            for iv in ivs:
                if iv.start >= d1 or iv.last_seen < d0:
                    continue
                s, e = max(iv.start, d0), min(iv.last_seen, d1, now)
                row.present_s += max(0.0, (e - s).total_seconds())
                first, last = s.astimezone(tz).replace(tzinfo=None), max(s, e).astimezone(tz).replace(tzinfo=None)
                row.first_seen = first if row.first_seen is None else min(row.first_seen, first)
                row.last_seen = last if row.last_seen is None else max(row.last_seen, last)
            row.absences = sum(1 for ts in gone if d0 <= ts < d1)
            rows.append(row)
    return rows


def build_attendance(api: HqReadApi, start: date, end: date, now: datetime | None = None,
                     progress: Callable[[int, int], None] | None = None) -> HqAttendance:
    """Every registered outlet's attendance from ``start`` to ``end`` (inclusive, each outlet's local days)."""
    if end < start:
        raise ValueError(f"the export ends ({end}) before it starts ({start}); choose a later end date")
    now = now or datetime.now(UTC)
    days = _days(start, end)
    outlets = api.outlets()
    rows: dict[str, list[OutletDayRow]] = {}
    summary: dict[str, SummaryRow] = {}
    present_days: dict[str, set[date]] = {}
    for i, outlet in enumerate(outlets):
        tz = outlet_zone(outlet.timezone)
        t0, t1 = _bounds(start, tz)[0], _bounds(end, tz)[1]
        intervals = api.intervals(t0, t1, outlet.outlet_id)
        transitions = [t for t in api.transitions(outlet.outlet_id, t0) if t.timestamp < t1]
        spgs = api.outlet_spgs(outlet.outlet_id)
        names = {s.spg_id: s.name for s in spgs}
        seen = {iv.spg_id for iv in intervals}
        ids = sorted({s.spg_id for s in spgs if s.active} | seen, key=lambda sid: (names.get(sid) or sid).lower())
        outlet_rows = _outlet_rows(outlet, names, ids, intervals, transitions, days, now)
        rows[outlet.outlet_id] = outlet_rows
        for r in outlet_rows:
            srow = summary.setdefault(r.spg_id, SummaryRow(r.spg_id, r.name))
            if srow.name == srow.spg_id and r.name != r.spg_id:
                srow.name = r.name
            srow.present_s += r.present_s
            srow.per_outlet[outlet.outlet_id] = srow.per_outlet.get(outlet.outlet_id, 0.0) + r.present_s
            if r.present_s > 0:
                present_days.setdefault(r.spg_id, set()).add(r.day)
        if progress:
            progress(i + 1, len(outlets))
    for spg_id, srow in summary.items():
        srow.days_present = len(present_days.get(spg_id, ()))
    ordered = sorted(summary.values(), key=lambda s: (s.name.lower(), s.spg_id))
    return HqAttendance(start, end, list(outlets), rows, ordered)


_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name for ``name``: at most 31 characters, none of ``[]:*?/\\``, unique (case-blind)."""
    base = _SHEET_FORBIDDEN.sub("_", name).strip("' ") or "Outlet"
    title, n = base[:31], 2
    while title.lower() in taken:
        suffix = f" ({n})"
        title, n = base[:31 - len(suffix)] + suffix, n + 1
    taken.add(title.lower())
    return title


def _style_header(ws: Any, widths: Sequence[int]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="2F5597")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def _duration(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=round(seconds))


def write_attendance_xlsx(att: HqAttendance, path: Path) -> Path:
    from openpyxl import Workbook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    taken = {SUMMARY_SHEET.lower()}
    ws = wb.worksheets[0]
    ws.title = SUMMARY_SHEET
    titles = {o.outlet_id: sheet_title(o.name or o.outlet_id, taken) for o in att.outlets}
    outlet_names = {o.outlet_id: o.name or o.outlet_id for o in att.outlets}
    ws.append(["SPG ID", "Name", "Outlets", "Days present", "Total time present",
               *(f"Time at {outlet_names[o.outlet_id]}" for o in att.outlets)])
    for s in att.summary:
        at = [outlet_names[o] for o, secs in s.per_outlet.items() if secs > 0]
        ws.append([s.spg_id, s.name, ", ".join(at), s.days_present, _duration(s.present_s),
                   *(_duration(s.per_outlet.get(o.outlet_id)) for o in att.outlets)])
        keep_as_text(ws[ws.max_row])
    _style_header(ws, [14, 24, 30, 13, 16, *([18] * len(att.outlets))])
    for row in ws.iter_rows(min_row=2, min_col=5):
        for cell in row:
            cell.number_format = "[h]:mm:ss"
    ws.auto_filter.ref = ws.dimensions
    for o in att.outlets:
        sheet = wb.create_sheet(titles[o.outlet_id])
        sheet.append([h for _, h in OUTLET_HEADERS])
        for r in att.rows.get(o.outlet_id, []):
            sheet.append([r.day, r.spg_id, r.name, r.first_seen, r.last_seen, _duration(r.present_s), r.absences])
            keep_as_text(sheet[sheet.max_row])
        _style_header(sheet, [12, 14, 24, 12, 12, 14, 10])
        for row in sheet.iter_rows(min_row=2):
            row[0].number_format = "yyyy-mm-dd"
            row[3].number_format = row[4].number_format = "hh:mm:ss"
            row[5].number_format = "[h]:mm:ss"
        sheet.auto_filter.ref = sheet.dimensions
    wb.save(path)
    return path


def default_export_name(start: date, end: date) -> str:
    span = start.isoformat() if start == end else f"{start.isoformat()}_{end.isoformat()}"
    return f"attendance_all_outlets_{span}.xlsx"


def export_attendance(api: HqReadApi, start: date, end: date, path: Path, now: datetime | None = None,
                      progress: Callable[[int, int], None] | None = None) -> Path:
    """Build the cross-outlet attendance and write it as Excel to ``path``."""
    return write_attendance_xlsx(build_attendance(api, start, end, now, progress), path)
