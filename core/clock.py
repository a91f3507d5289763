"""An injectable clock: wall time (for labels, reports, the database) and monotonic time (for durations).

Durations (grace, absent) are always measured on the monotonic clock, so an NTP correction or a user
changing the PC's time never makes anyone look absent. :class:`FakeClock` lets tests move time by hand,
including the awkward cases: a wall-clock jump alone (NTP) and a suspend/resume of the PC.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol, runtime_checkable


@runtime_checkable
@runtime_checkable
class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (UTC)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards; only differences mean anything."""


class SystemClock:
    """The real clocks of this machine."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class _CallableClock:
    """Adapts a bare ``time.time``-like callable (wall time) to :class:`Clock`."""

    def __init__(self, wall: Callable[[], float]):
        self._wall = wall

    def time(self) -> float:
        return float(self._wall())

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock for tests: starts at ``start`` (wall) and only moves when told to."""

    def __init__(self, start: float = 1_767_225_600.0, mono: float = 1000.0):  # 2026-01-01 00:00 UTC
        self._wall = float(start)
        self._mono = float(mono)

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        """Normal passing of time: both clocks move together."""
        self._wall += seconds
        self._mono += seconds

    def jump_wall(self, seconds: float) -> None:
        """The wall clock is corrected (NTP, a user) by ``seconds``; the monotonic clock does not move."""
        self._wall += seconds

    def suspend(self, seconds: float, monotonic_counts_sleep: bool = True) -> None:
        """The PC sleeps for ``seconds``. On Windows the monotonic clock keeps counting during sleep; on
        Linux it does not (``monotonic_counts_sleep=False``)."""
        self._wall += seconds
        if monotonic_counts_sleep:
            self._mono += seconds

    def set_wall(self, wall: float) -> None:
        """Move the wall clock to an absolute time (a new process after a restart)."""
        self._wall = float(wall)


def as_clock(obj: Clock | Callable[[], float] | None) -> Clock:
    """Accept a :class:`Clock`, ``None`` (the system clock) or a bare wall-time callable such as ``time.time``."""
    if obj is None:
        return SystemClock()
    if isinstance(obj, Clock):
        return obj
    if callable(obj):
        return _CallableClock(obj)
    raise TypeError(f"not a clock: {obj!r}")
