"""Attendance rules for one SPG on one day, as the terminals brands use (ZKTime, HikCentral) apply them.

Pure functions of the day's shift (:class:`core.shifts.ShiftSpan`), the presence intervals and "now":

* **late tolerance**: arriving within ``late_tolerance_min`` of the start is on time (late by 0);
* **late beyond N**: arriving more than ``absent_if_late_min`` after the start is absent for the day;
* **breaks**: break time is neither absence nor lateness; the daily sheet shows the break time taken
  (break minutes the SPG was not seen);
* **overtime**: presence after the shift end (up to the end of the day's window), rounded by
  ``attendance.overtime`` (:func:`round_overtime`);
* **day code** of the monthly matrix (:data:`CODES`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.shifts import DayKind, ShiftSpan

CODES = {
    "L": "late (after the late tolerance); the hours still count in the totals",
    "A": "absent: a shift day without being seen, or late beyond the 'absent if late' limit",
    "OFF": "day off (no shift in the weekly pattern, or a day off in the calendar), not seen",
    "HOL": "public holiday (calendar), not seen",
    "H": "seen on a holiday or day off (worked a non-working day); the hours count in the totals",
}
"""Codes of the monthly matrix; a number is the hours present on a day worked on time (or without a shift).
An empty cell is a day not over yet, or a day without a shift for an SPG without any schedule."""

Interval = tuple[float, float]


@dataclass(slots=True)
class DayVerdict:
    present_s: float = 0.0
    first_seen: float | None = None
    last_seen: float | None = None
    late_s: float | None = None
    left_early_s: float | None = None
    absent_shift: bool | None = None
    """True: absent for the shift (not seen, or late beyond the limit); None: no shift or not decided yet."""
    late_absent: bool = False
    """Absent because late beyond ``absent_if_late_min``."""
    break_s: float = 0.0
    overtime_raw_s: float = 0.0
    overtime_s: float = 0.0
    code: str = ""


def round_overtime(seconds: float, step_min: int, mode: str = "down", minimum_min: int = 0) -> float:
    """Overtime seconds as counted: none below ``minimum_min``, else rounded to a multiple of ``step_min``
    minutes (``down`` / ``up`` / ``nearest``; half a step rounds up with ``nearest``)."""
    if seconds <= 0 or seconds < 60.0 * minimum_min:
        return 0.0
    step = 60.0 * step_min
    n = seconds / step
    if mode == "up":
        k = math.ceil(n - 1e-9)
    elif mode == "nearest":
        k = math.floor(n + 0.5)
    else:
        k = math.floor(n + 1e-9)
    return float(k) * step


def _clip(ivs: Sequence[Interval], a: float, b: float) -> list[Interval]:
    return [(max(s, a), min(e, b)) for s, e in ivs if e > a and s < b and min(e, b) > max(s, a)]


def _length(ivs: Sequence[Interval]) -> float:
    return sum(e - s for s, e in ivs)


def _overlap(ivs: Sequence[Interval], a: float, b: float) -> float:
    return _length(_clip(ivs, a, b))


def evaluate_day(kind: DayKind, span: ShiftSpan | None, intervals: Sequence[Interval], window: Interval,
                 now: float, overtime_step_min: int = 15, overtime_rounding: str = "down",
                 overtime_minimum_min: int = 0) -> DayVerdict:
    """The day's verdict from its presence ``intervals`` (start, last seen), counted inside ``window``
    (:meth:`core.shifts.ShiftBook.day_window`) and up to ``now``."""
    w0, w1 = window
    ivs = sorted(_clip(intervals, w0, min(w1, max(w0, now))))
    v = DayVerdict()
    v.present_s = _length(ivs)
    if ivs:
        v.first_seen, v.last_seen = ivs[0][0], max(e for _, e in ivs)
    hours = round(v.present_s / 3600.0, 2)
    if kind in ("holiday", "off"):
        v.code = "H" if ivs else ("HOL" if kind == "holiday" else "OFF")
        return v
    if span is None:  # no schedule: nothing to be late or absent for
        v.code = f"{hours:.2f}" if ivs else ""
        return v
    for b0, b1 in span.breaks:
        upto = min(b1, now)
        if upto > b0:
            v.break_s += (upto - b0) - _overlap(ivs, b0, upto)
    v.overtime_raw_s = _overlap(ivs, span.end, w1)
    v.overtime_s = round_overtime(v.overtime_raw_s, overtime_step_min, overtime_rounding, overtime_minimum_min)
    inside = _clip(ivs, span.start, span.end)  # an SPG already there at the start is not late
    if inside:
        late = max(0.0, inside[0][0] - span.start)
        # late inside a break would be odd, but late time never counts the break itself
        late -= sum(max(0.0, min(inside[0][0], b1) - max(span.start, b0)) for b0, b1 in span.breaks)
        late = max(0.0, late)
        v.late_s = 0.0 if late <= span.late_tolerance_s else late
        v.late_absent = span.absent_if_late_s is not None and late > span.absent_if_late_s
        v.absent_shift = v.late_absent
        if span.end <= now:
            v.left_early_s = max(0.0, span.end - max(e for _, e in inside))
        if v.late_absent:
            v.code = "A"
        elif v.late_s:
            v.code = "L"
        else:
            v.code = f"{hours:.2f}"
    elif span.end <= now:
        v.absent_shift = True
        v.code = "A"
    elif span.start <= now:
        v.late_s = now - span.start
        if span.absent_if_late_s is not None and v.late_s > span.absent_if_late_s:
            v.absent_shift = v.late_absent = True
            v.code = "A"
    return v
