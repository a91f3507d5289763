"""Weekly shift schedules: who is on duty when, in the outlet's time zone.

A schedule maps a weekday (``mon`` .. ``sun``) to a :class:`core.config.ShiftWindow` (start, end).
A window whose end is not after its start runs past midnight and belongs to the day it starts on.
Per-SPG schedules come from ``presence.shifts`` (spg_id -> weekly schedule); everyone else follows
``presence.default_shift``; an empty schedule means "always on duty" (no shift to compare against).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta
from typing import TYPE_CHECKING, Any, Mapping
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from core.config import AppConfig, ShiftWindow, Weekday

# weekday -> window: the config's typed schedule, or plain {"mon": {"start": "09:00", ...}} mappings
Weekly = Mapping["Weekday", "ShiftWindow"] | Mapping[str, Any]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ShiftSpan:
    """One concrete shift: wall-clock epoch seconds."""

    day: date
    start: float
    end: float

    def contains(self, ts: float) -> bool:
        return self.start <= ts < self.end


def day_bounds(day: date, tz: ZoneInfo) -> tuple[float, float]:
    """Epoch seconds of ``day``'s local midnight and the next one (23 or 25 h apart on DST days)."""
    start = datetime.combine(day, dtime(0, 0), tz)
    end = datetime.combine(day + timedelta(days=1), dtime(0, 0), tz)
    return start.timestamp(), end.timestamp()


def _window(w: Any) -> tuple[dtime, dtime]:
    if isinstance(w, Mapping):
        s, e = w["start"], w["end"]
    else:
        s, e = w.start, w.end
    if isinstance(s, str):
        s = dtime.fromisoformat(s)
    if isinstance(e, str):
        e = dtime.fromisoformat(e)
    return s, e


class ShiftSchedule:
    """A weekly schedule in one time zone."""

    def __init__(self, weekly: Weekly | None, tz: str | ZoneInfo):
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.weekly: dict[str, tuple[dtime, dtime]] = {d: _window(w) for d, w in (weekly or {}).items()}

    @property
    def empty(self) -> bool:
        return not self.weekly

    def span_for_day(self, day: date) -> ShiftSpan | None:
        w = self.weekly.get(WEEKDAYS[day.weekday()])
        if w is None:
            return None
        s, e = w
        start = datetime.combine(day, s, self.tz)
        end_day = day if e > s else day + timedelta(days=1)
        end = datetime.combine(end_day, e, self.tz)
        return ShiftSpan(day, start.timestamp(), end.timestamp())

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
    """Everyone's schedule: per-SPG overrides over the outlet default."""

    def __init__(self, default: Weekly | None, per_spg: Mapping[str, Weekly] | None, tz: str):
        self.default = ShiftSchedule(default, tz)
        self.per_spg = {k: ShiftSchedule(v, tz) for k, v in (per_spg or {}).items()}

    @classmethod
    def from_config(cls, cfg: AppConfig) -> ShiftBook:
        return cls(cfg.presence.default_shift, cfg.presence.shifts, cfg.outlet.timezone)

    def of(self, spg_id: str) -> ShiftSchedule:
        return self.per_spg.get(spg_id, self.default)

    def on_duty(self, spg_id: str, ts: float) -> bool:
        return self.of(spg_id).on_duty(ts)

    def status(self, spg_id: str, ts: float) -> str:
        """'on duty', 'off duty' or 'no shift' (for the presence table)."""
        sched = self.of(spg_id)
        if sched.empty:
            return "no shift"
        return "on duty" if sched.span_at(ts) else "off duty"
