"""What HQ reads from the central database: :class:`HqReadApi` and its row types.

The HQ console, ``app.py hq outlets|events`` and the cross-outlet export use only this seam; the PostgreSQL
implementation is :class:`core.central.hq_queries.HqQueries`, and tests may stand a fake in its place.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

HEARTBEAT_EVERY_S = 30.0
OFFLINE_AFTER_S = 3 * HEARTBEAT_EVERY_S
"""An outlet whose last heartbeat is older than this (three missed) is shown offline."""


@dataclass(frozen=True, slots=True)
class OutletSummary:
    outlet_id: str
    name: str
    timezone: str
    online: bool
    last_heartbeat: datetime | None
    cameras_live: int
    cameras_total: int
    engine: str | None
    spgs: int
    present: int
    on_shift: int
    absent: int
    open_alerts: int
    events_waiting: int


@dataclass(frozen=True, slots=True)
class TransitionEvent:
    outlet_id: str
    spg_id: str
    from_state: str
    to_state: str
    timestamp: datetime
    alert: bool
    camera_id: str | None
    seq: int


@dataclass(frozen=True, slots=True)
class AlertEvent:
    outlet_id: str
    spg_id: str | None
    kind: str
    text: str
    created: datetime
    status: str


@dataclass(frozen=True, slots=True)
class OutletSpg:
    outlet_id: str
    spg_id: str
    name: str
    active: bool
    state: str | None
    on_shift: bool | None


@dataclass(frozen=True, slots=True)
class IntervalEvent:
    outlet_id: str
    spg_id: str
    start: datetime
    last_seen: datetime
    closed: bool


class HqReadApi(Protocol):
    def outlets(self) -> list[OutletSummary]:
        """Every registered outlet, online or not, by id."""
        ...

    def transitions(self, outlet_id: str | None = None, since: datetime | None = None) -> list[TransitionEvent]:
        """Presence transitions, oldest first (per outlet in the outlet's own order)."""
        ...

    def alerts(self, since: datetime | None = None, limit: int = 500) -> list[AlertEvent]:
        """Alerts across outlets, newest first."""
        ...

    def outlet_spgs(self, outlet_id: str) -> list[OutletSpg]:
        """One outlet's SPGs with their state as of its last heartbeat."""
        ...

    def intervals(self, start: datetime, end: datetime, outlet_id: str | None = None) -> list[IntervalEvent]:
        """Presence intervals overlapping [start, end)."""
        ...

    def close(self) -> None: ...
