"""Shift schedules: who is on duty when, in the outlet's time zone, with breaks and the day calendar.

A schedule maps a weekday (``mon`` .. ``sun``) to a :class:`core.config.ShiftWindow` (start, end, breaks,
late tolerance, "late beyond N minutes = absent"). A window whose end is not after its start runs past
midnight and belongs to the day it starts on. Per-SPG schedules come from ``presence.shifts`` (spg_id ->
weekly schedule); everyone else follows ``presence.default_shift``; an empty schedule means "always on duty"
(no shift to compare against). The calendar (``attendance.calendar``, :mod:`core.day_calendar`) takes a
holiday or day off out of the pattern and can set a one-day shift.

Everything here is a pure function of the schedule and a wall-clock time: the presence engine asks
:meth:`ShiftBook.alert_allowed` and :meth:`ShiftBook.excused_s` (breaks), the reports ask for each day's
:class:`ShiftSpan` and :meth:`ShiftBook.day_window`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Mapping
from zoneinfo import ZoneInfo

from core.day_calendar import DayCalendar

if TYPE_CHECKING:
    from core.config import AppConfig, CalendarEntry, ShiftWindow, Weekday

# weekday -> window: the config's typed schedule, or plain {"mon": {"start": "09:00", ...}} mappings
Weekly = Mapping["Weekday", "ShiftWindow"] | Mapping[str, Any]
DayKind = Literal["work", "off", "holiday", "free"]
"""work: a shift to keep; off: no shift that day (pattern or calendar); holiday: a calendar holiday;
free: no schedule at all (always on duty, nothing to compare against)."""

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class DayRule:
    """One weekday's shift as configured (local times)."""

    start: dtime
    end: dtime
    breaks: tuple[tuple[dtime, dtime], ...] = ()
    late_tolerance_min: int = 0
    absent_if_late_min: int | None = None

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class ShiftSpan:
    """One concrete shift: wall-clock epoch seconds."""

    day: date
    start: float
    end: float
    breaks: tuple[tuple[float, float], ...] = ()
    late_tolerance_s: float = 0.0
    absent_if_late_s: float | None = None
    label: str = ""

    def contains(self, ts: float) -> bool:
        return self.start <= ts < self.end

    def in_break(self, ts: float) -> bool:
        return any(b0 <= ts < b1 for b0, b1 in self.breaks)

    def break_overlap(self, a: float, b: float) -> float:
        """Seconds of [a, b) inside this shift's breaks."""
        return sum(max(0.0, min(b, b1) - max(a, b0)) for b0, b1 in self.breaks)


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """Epoch seconds of ``day``'s local midnight and the next one (23 or 25 h apart on DST days)."""
    start = datetime.combine(day, dtime(0, 0), tz)
    end = datetime.combine(day + timedelta(days=1), dtime(0, 0), tz)
    return start.timestamp(), end.timestamp()


def _t(v: Any) -> dtime:
    return dtime.fromisoformat(v) if isinstance(v, str) else v


def _rule(w: Any) -> DayRule:
    get = w.get if isinstance(w, Mapping) else lambda k, d=None: getattr(w, k, d)
    breaks = tuple((_t(b["start"] if isinstance(b, Mapping) else b.start),
                    _t(b["end"] if isinstance(b, Mapping) else b.end)) for b in (get("breaks") or ()))
    return DayRule(_t(get("start")), _t(get("end")), breaks, int(get("late_tolerance_min", 0) or 0),
                   get("absent_if_late_min", None))


def _at(day: date, t: dtime, tz: ZoneInfo) -> float:
    return datetime.combine(day, t, tz).timestamp()


def span_of(day: date, rule: DayRule, tz: ZoneInfo) -> ShiftSpan:
    """The concrete shift of ``rule`` starting on ``day`` (breaks after midnight fall on the next day)."""
    start = _at(day, rule.start, tz)
    end = _at(day if rule.end > rule.start else day + timedelta(days=1), rule.end, tz)
    breaks = []
    for b0, b1 in rule.breaks:
        d0 = day if b0 >= rule.start else day + timedelta(days=1)
        d1 = d0 if b1 > b0 else d0 + timedelta(days=1)
        breaks.append((_at(d0, b0, tz), _at(d1, b1, tz)))
    absent = None if rule.absent_if_late_min is None else 60.0 * rule.absent_if_late_min
    return ShiftSpan(day, start, end, tuple(breaks), 60.0 * rule.late_tolerance_min, absent, rule.label)


class ShiftSchedule:
    """A weekly schedule in one time zone."""

    def __init__(self, weekly: Weekly | None, tz: str | ZoneInfo):
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.weekly: dict[str, DayRule] = {d: _rule(w) for d, w in (weekly or {}).items()}

    @property
    def empty(self) -> bool:
        return not self.weekly

    def rule_for_day(self, day: date) -> DayRule | None:
        return self.weekly.get(WEEKDAYS[day.weekday()])

    def span_for_day(self, day: date) -> ShiftSpan | None:
        rule = self.rule_for_day(day)
        return None if rule is None else span_of(day, rule, self.tz)

    def span_at(self, ts: float) -> ShiftSpan | None:
        """The shift running at ``ts`` (today's, or yesterday's when it runs past midnight)."""
        d = datetime.fromtimestamp(ts, self.tz).date()
        for day in (d, d - timedelta(days=1)):
            span = self.span_for_day(day)
            if span and span.contains(ts):
                return span
        return None

    def on_duty(self, ts: float) -> bool:
        """True inside a shift, and always when there is no schedule at all."""
        return self.empty or self.span_at(ts) is not None


class ShiftBook:
    """Everyone's schedule: per-SPG overrides over the outlet default, and the day calendar over both."""

    def __init__(self, default: Weekly | None, per_spg: Mapping[str, Weekly] | None, tz: str,
                 calendar: DayCalendar | None = None):
        self.tz = ZoneInfo(tz)
        self.default = ShiftSchedule(default, self.tz)
        self.per_spg = {k: ShiftSchedule(v, self.tz) for k, v in (per_spg or {}).items()}
        self.calendar = calendar or DayCalendar(())
        self._spans: dict[tuple[str, date], tuple[DayKind, ShiftSpan | None, str]] = {}

    @classmethod
    def from_config(cls, cfg: AppConfig) -> ShiftBook:
        cal = DayCalendar(cfg.attendance.calendar, cfg.outlet.id)
        return cls(cfg.presence.default_shift, cfg.presence.shifts, cfg.outlet.timezone, cal)

    def of(self, spg_id: str) -> ShiftSchedule:
        return self.per_spg.get(spg_id, self.default)

    # --- one day -------------------------------------------------------------------------------
    def day(self, spg_id: str, day: date) -> tuple[DayKind, ShiftSpan | None, str]:
        """(kind of day, its shift or None, the calendar's name for it) for ``spg_id`` on ``day``."""
        key = (spg_id, day)
        hit = self._spans.get(key)
        if hit is None:
            hit = self._spans[key] = self._day(spg_id, day)
        return hit

    def _day(self, spg_id: str, day: date) -> tuple[DayKind, ShiftSpan | None, str]:
        sched = self.of(spg_id)
        entry: CalendarEntry | None = self.calendar.entry(spg_id, day)
        if entry is not None and entry.kind in ("holiday", "off"):
            return ("holiday" if entry.kind == "holiday" else "off"), None, entry.name
        if entry is not None and entry.start is not None and entry.end is not None:
            base = sched.rule_for_day(day)
            # a one-day shift keeps that weekday's tolerance; its breaks only if they still fit inside
            rule = DayRule(entry.start, entry.end, (), base.late_tolerance_min if base else 0,
                           base.absent_if_late_min if base else None)
            return "work", span_of(day, rule, self.tz), entry.name
        if sched.empty:
            return "free", None, ""
        span = sched.span_for_day(day)
        return ("work" if span else "off"), span, ""

    def span_for(self, spg_id: str, day: date) -> ShiftSpan | None:
        return self.day(spg_id, day)[1]

    def span_at(self, spg_id: str, ts: float) -> ShiftSpan | None:
        """The shift of ``spg_id`` running at ``ts`` (today's, or yesterday's overnight one)."""
        d = datetime.fromtimestamp(ts, self.tz).date()
        for day in (d, d - timedelta(days=1)):
            span = self.span_for(spg_id, day)
            if span and span.contains(ts):
                return span
        return None

    def day_window(self, spg_id: str, day: date) -> tuple[float, float]:
        """The epoch seconds that count for ``day`` in reports: local midnight to midnight, except that an
        overnight shift pulls its night (and the time around its end) into the day it started on."""
        return self._boundary(spg_id, day), self._boundary(spg_id, day + timedelta(days=1))

    def _boundary(self, spg_id: str, day: date) -> float:
        d0, d1 = day_bounds(day, self.tz)
        prev = self.span_for(spg_id, day - timedelta(days=1))
        if prev is None or prev.end <= d0:
            return d0
        nxt = self.span_for(spg_id, day)
        next_start = nxt.start if nxt else d1
        # halfway between last night's shift end and today's start: overtime after the night shift stays
        # with it, an early arrival for today's shift counts for today
        return (prev.end + next_start) / 2.0 if next_start > prev.end else prev.end

    # --- the presence engine's questions -------------------------------------------------------
    def on_duty(self, spg_id: str, ts: float) -> bool:
        """Inside a shift (breaks included); with no schedule at all, any day the calendar leaves alone."""
        kind, _, _ = self.day(spg_id, datetime.fromtimestamp(ts, self.tz).date())
        if self.span_at(spg_id, ts) is not None:
            return True
        return kind == "free"

    def in_break(self, spg_id: str, ts: float) -> bool:
        span = self.span_at(spg_id, ts)
        return span is not None and span.in_break(ts)

    def alert_allowed(self, spg_id: str, ts: float) -> bool:
        """An absence at ``ts`` may raise an alert: on duty and not in a break."""
        return self.on_duty(spg_id, ts) and not self.in_break(spg_id, ts)

    def excused_s(self, spg_id: str, a: float, b: float) -> float:
        """Seconds of [a, b) inside ``spg_id``'s breaks: absence there is not counted."""
        if b <= a:
            return 0.0
        first = datetime.fromtimestamp(a, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(b, self.tz).date()
        total, day = 0.0, first
        while day <= last:
            span = self.span_for(spg_id, day)
            if span is not None and span.breaks:
                total += span.break_overlap(a, b)
            day += timedelta(days=1)
        return total

    def status(self, spg_id: str, ts: float) -> str:
        """'on duty', 'on break', 'off duty' or 'no shift' (for the presence table)."""
        if self.of(spg_id).empty and self.day(spg_id, datetime.fromtimestamp(ts, self.tz).date())[0] == "free":
            return "no shift"
        span = self.span_at(spg_id, ts)
        if span is None:
            return "off duty"
        return "on break" if span.in_break(ts) else "on duty"
