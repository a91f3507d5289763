"""Attendance reports: per SPG per day, from the events database, in the outlet's time zone.

Columns: first seen, last seen, total time present (sum of presence intervals), number of absences
(transitions to ABSENT on duty) with their total and longest duration (from the last sighting to the
return, clipped to the day and to the shift), alerts sent, possible photos or screens (fraud
checks), and against the shift: late by, left early
by, absent for the whole shift (or late beyond its limit), break time taken, overtime (rounded as
``attendance.overtime`` says) and the day's code (:data:`core.attendance_rules.CODES`). The rules themselves
are :mod:`core.attendance_rules`; days follow :meth:`core.shifts.ShiftBook.day_window` (an overnight shift
counts for the day it starts). Written as CSV or as Excel (.xlsx via openpyxl: bold frozen header,
column widths, time and duration formats). "No view" is the time between two presence intervals of an SPG
that ended in no absence: the console could not see them (camera offline, inference down, console not
running), so that time counts neither as present nor as absent.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Callable, Sequence
from zoneinfo import ZoneInfo

from core.alert_templates import AlertTemplates, fmt_duration
from core.attendance_rules import evaluate_day
from core.shifts import ShiftBook, day_bounds

log = logging.getLogger(__name__)

HEADERS = [
    ("day", "Date"), ("spg_id", "SPG ID"), ("name", "Name"), ("first_seen", "First seen"),
    ("last_seen", "Last seen"), ("present_s", "Time present"), ("absences", "Absences"),
    ("absent_total_s", "Absent total"), ("absent_longest_s", "Longest absence"), ("no_view_s", "No view"), ("alerts_sent", "Alerts sent"),
    ("shift", "Shift"), ("late_s", "Late by"), ("left_early_s", "Left early by"), ("absent_shift", "Absent (shift)"),
    ("break_s", "Break taken"), ("overtime_raw_s", "Overtime (worked)"), ("overtime_s", "Overtime (counted)"),
    ("code", "Code"),
    ("possible_spoof", "Possible photo/screen"),
]
_TIME_COLS = {"first_seen", "last_seen"}
_DUR_COLS = {"present_s", "absent_total_s", "absent_longest_s", "no_view_s", "late_s", "left_early_s", "break_s",
             "overtime_raw_s", "overtime_s"}


@dataclass(slots=True)
class DayRow:
    day: date
    spg_id: str
    name: str
    first_seen: float | None = None
    last_seen: float | None = None
    present_s: float = 0.0
    absences: int = 0
    absent_total_s: float = 0.0
    absent_longest_s: float = 0.0
    no_view_s: float = 0.0
    alerts_sent: int = 0
    shift: str = ""
    late_s: float | None = None
    left_early_s: float | None = None
    absent_shift: bool | None = None
    break_s: float = 0.0
    overtime_raw_s: float = 0.0
    overtime_s: float = 0.0
    code: str = ""
    """The monthly matrix's cell: hours present ("7.50") or a code of :data:`core.attendance_rules.CODES`."""
    holiday: str = ""
    """The calendar's name for the day (a holiday, a day off)."""
    possible_spoof: int = 0
    """Episodes of a photo or a screen of this SPG at a camera (``fraud.*`` checks): not counted as present."""


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def build_report(store: Any, cfg: Any, start: date, end: date, spg_ids: Sequence[str] | None = None,
                 names: dict[str, str] | None = None, now: float | None = None,
                 progress: Callable[[int, int], None] | None = None) -> list[DayRow]:
    """One :class:`DayRow` per SPG per day from ``start`` to ``end`` (inclusive)."""
    if end < start:
        raise ValueError(f"the report ends ({end}) before it starts ({start})")
    import time as _time

    now = _time.time() if now is None else now
    book = ShiftBook.from_config(cfg)
    names = dict(names or {})
    if spg_ids:
        ids = list(dict.fromkeys(spg_ids))
    else:
        seen = store.intervals_between(day_bounds(start, book.tz)[0], day_bounds(end, book.tz)[1])
        ids = sorted(set(names) | {s.spg_id for s in store.load_states()} | {iv.spg_id for iv in seen})
    # The range as days count it (an overnight shift reaches into the next day); a day past it for returns
    # after an absence that began inside it.
    t0 = min(book.day_window(spg, start)[0] for spg in ids) if ids else day_bounds(start, book.tz)[0]
    t1 = max(book.day_window(spg, end)[1] for spg in ids) if ids else day_bounds(end, book.tz)[1]
    intervals = store.intervals_between(t0 - 86400.0, t1 + 86400.0, ids)
    absent_all = [t for t in store.transitions_between(t0 - 86400.0, t1 + 86400.0, ids) if t.to_state == "absent"]
    transitions = [t for t in absent_all if t0 <= t.ts < t1 and t.from_state in ("present", "grace")]
    all_alerts = store.alerts_between(t0, t1)
    alerts = [a for a in all_alerts if a.kind == "absent" and a.status == "sent"]
    spoofs = [a for a in all_alerts if a.kind == "possible_spoof"]
    days = _days(start, end)
    rows: list[DayRow] = []
    total = len(ids) * len(days)
    ot = cfg.attendance.overtime
    for spg in ids:
        ivs = sorted((iv for iv in intervals if iv.spg_id == spg), key=lambda iv: iv.start)
        spans = [(iv.start, iv.last_seen) for iv in ivs]
        for day in days:
            d0, d1 = book.day_window(spg, day)
            d1c = min(d1, now)
            row = DayRow(day, spg, str(names.get(spg, spg)))
            kind, span, row.holiday = book.day(spg, day)
            verdict = evaluate_day(kind, span, spans, (d0, d1), now, ot.round_to_min, ot.rounding, ot.minimum_min)
            row.present_s, row.first_seen, row.last_seen = verdict.present_s, verdict.first_seen, verdict.last_seen
            for t in transitions:
                if t.spg_id != spg or not (d0 <= t.ts < d1) or not book.on_duty(spg, t.ts):
                    continue
                a0 = t.last_seen if t.last_seen is not None else t.ts
                back = next((iv.start for iv in ivs if iv.start >= a0 and iv.start > t.ts - 1e-6), None)
                a1 = min(back if back is not None else d1c, d1c)
                t_span = book.span_at(spg, t.ts)
                if t_span is not None:
                    a1 = min(a1, t_span.end)
                a0 = max(a0, d0)
                # time inside a break is not absence
                dur = max(0.0, a1 - a0 - book.excused_s(spg, a0, a1))
                row.absences += 1
                row.absent_total_s += dur
                row.absent_longest_s = max(row.absent_longest_s, dur)
            row.no_view_s = _no_view(ivs, [t.ts for t in absent_all if t.spg_id == spg], d0, d1c)
            row.alerts_sent = sum(1 for a in alerts if a.spg_id == spg and d0 <= a.created < d1)
            row.possible_spoof = sum(1 for a in spoofs if a.spg_id == spg and d0 <= a.created < d1)
            if span is not None:
                row.shift = span.label
            row.late_s, row.left_early_s, row.absent_shift = verdict.late_s, verdict.left_early_s, verdict.absent_shift
            row.break_s, row.overtime_raw_s, row.overtime_s = verdict.break_s, verdict.overtime_raw_s, verdict.overtime_s
            row.code = verdict.code
            rows.append(row)
            if progress:
                progress(len(rows), total)
    return rows


def _no_view(ivs: Sequence[Any], absent_at: Sequence[float], d0: float, d1: float) -> float:
    """Seconds of the day between two consecutive presence intervals with no ABSENT transition between them."""
    total = 0.0
    for a, b in pairwise(ivs):
        gap0, gap1 = a.last_seen, b.start
        if gap1 <= gap0 or any(gap0 - 1e-6 <= ts <= gap1 + 1e-6 for ts in absent_at):
            continue
        total += max(0.0, min(gap1, d1) - max(gap0, d0))
    return total


# --- writers -----------------------------------------------------------------------------------
def _hms(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _local(ts: float | None, tz: ZoneInfo) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz).replace(tzinfo=None)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _starts_formula(v: Any) -> bool:
    return isinstance(v, str) and v.startswith(_FORMULA_START)


def csv_text(v: Any) -> Any:
    """A name such as ``=HYPERLINK(...)`` would run as a formula when the CSV is opened in a spreadsheet
    (CSV injection): such text gets a leading apostrophe, which spreadsheets show as plain text."""
    return "'" + v if _starts_formula(v) else v


def keep_as_text(cells: Any) -> None:
    """Cells of one written xlsx row whose text starts like a formula are stored as text, never a formula
    (openpyxl makes "=..." a formula); Excel shows them as typed."""
    for cell in cells:
        if _starts_formula(cell.value):
            cell.data_type = "s"
            cell.quotePrefix = True


def write_csv(rows: Sequence[DayRow], path: Path, tz: ZoneInfo) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel opens UTF-8 names right
        w = csv.writer(f)
        w.writerow([h for _, h in HEADERS])
        for r in rows:
            out = []
            for key, _ in HEADERS:
                v = getattr(r, key)
                if key in _TIME_COLS:
                    lt = _local(v, tz)
                    out.append(lt.strftime("%H:%M:%S") if lt else "")
                elif key in _DUR_COLS:
                    out.append(_hms(v))
                elif key == "absent_shift":
                    out.append("" if v is None else ("yes" if v else "no"))
                elif key == "day":
                    out.append(v.isoformat())
                else:
                    out.append(csv_text(v))
            w.writerow(out)
    return path


def write_xlsx(rows: Sequence[DayRow], path: Path, tz: ZoneInfo, title: str = "Attendance") -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    ws = wb.worksheets[0]  # the sheet a new workbook starts with (`wb.active` is typed Optional)
    ws.title = title[:31]
    ws.append([h for _, h in HEADERS])
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="2F5597")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.freeze_panes = "A2"
    for r in rows:
        out: list[Any] = []
        for key, _ in HEADERS:
            v = getattr(r, key)
            if key in _TIME_COLS:
                out.append(_local(v, tz))
            elif key in _DUR_COLS:
                out.append(None if v is None else timedelta(seconds=round(v)))
            elif key == "absent_shift":
                out.append(None if v is None else ("yes" if v else "no"))
            else:
                out.append(v)
        ws.append(out)
        keep_as_text(ws[ws.max_row])
    widths = {"day": 12, "spg_id": 14, "name": 24, "shift": 13}
    for i, (key, header) in enumerate(HEADERS, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = max(widths.get(key, 14), len(header) + 2)
        fmt = ("hh:mm:ss" if key in _TIME_COLS else "[h]:mm:ss" if key in _DUR_COLS
               else "yyyy-mm-dd" if key == "day" else None)
        if fmt:
            for row in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                row[0].number_format = fmt
    ws.auto_filter.ref = ws.dimensions
    wb.save(path)
    return path


def export_report(store: Any, cfg: Any, start: date, end: date, spg_ids: Sequence[str] | None, fmt: str,
                  out_path: Path, progress: Callable[[int, int], None] | None = None,
                  names: dict[str, str] | None = None, now: float | None = None) -> Path:
    """Build the report and write it as ``fmt`` ('csv' or 'xlsx') to ``out_path``."""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(f"unknown report format {fmt!r}; use csv or xlsx")
    if names is None:
        names = gallery_names_for(cfg)
    rows = build_report(store, cfg, start, end, spg_ids, names, now, progress)
    tz = ZoneInfo(cfg.outlet.timezone)
    if fmt == "csv":
        return write_csv(rows, out_path, tz)
    return write_xlsx(rows, out_path, tz, title=f"{cfg.outlet.name} {start.isoformat()}")


def gallery_names_for(cfg: Any) -> dict[str, str]:
    """SPG names from the gallery of the config's data dir (ids stand in for names when it cannot be read)."""
    from core.gallery import Gallery, GalleryError
    from core.paths import DataLayout

    try:
        return Gallery(DataLayout(cfg.resolved_data_dir()).gallery).names()
    except (GalleryError, OSError) as exc:
        log.warning("report: SPG names not available (%s); ids are shown instead", exc)
        return {}


def summary_text(store: Any, cfg: Any, day: date, names: dict[str, str], now: float | None = None) -> str:
    """The daily Telegram summary (HTML, outlet language)."""
    tpl = AlertTemplates(cfg.outlet.language)
    rows = build_report(store, cfg, day, day, None, names, now)
    lines = [tpl.render("daily_summary_header", outlet=cfg.outlet.name, date=day.isoformat())]
    if not rows:
        lines.append(tpl.render("daily_summary_none"))
    for r in rows:
        shift = ""
        if r.absent_shift:
            shift = tpl.render("shift_absent")
        else:
            if r.late_s:
                shift += tpl.render("shift_late", late=fmt_duration(r.late_s))
            if r.left_early_s:
                shift += tpl.render("shift_early", early=fmt_duration(r.left_early_s))
        lines.append(tpl.render("daily_summary_line", name=r.name, present=fmt_duration(r.present_s),
                                absences=r.absences, longest=fmt_duration(r.absent_longest_s), shift_html=shift))
    return "\n".join(lines)


ROW_FIELDS = [f.name for f in fields(DayRow)]
