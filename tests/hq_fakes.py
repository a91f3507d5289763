"""An in-memory :class:`core.central.hq_api.HqReadApi` for tests that need no PostgreSQL (mypy checks it against
the Protocol, so it cannot drift from the real queries)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from core.central.hq_api import AlertEvent, HqReadApi, IntervalEvent, OutletSpg, OutletSummary, TransitionEvent


@dataclass
class FakeHqApi:
    outlet_rows: list[OutletSummary] = field(default_factory=list)
    spg_rows: list[OutletSpg] = field(default_factory=list)
    interval_rows: list[IntervalEvent] = field(default_factory=list)
    transition_rows: list[TransitionEvent] = field(default_factory=list)
    alert_rows: list[AlertEvent] = field(default_factory=list)
    gate: threading.Event | None = None
    """When set, every read waits for it (a slow network)."""
    closed: bool = False

    def _wait(self) -> None:
        if self.gate is not None:
            self.gate.wait(30)

    def outlets(self) -> list[OutletSummary]:
        self._wait()
        return sorted(self.outlet_rows, key=lambda o: o.outlet_id)

    def transitions(self, outlet_id: str | None = None, since: datetime | None = None) -> list[TransitionEvent]:
        self._wait()
        return sorted((t for t in self.transition_rows if (outlet_id is None or t.outlet_id == outlet_id)
                       and (since is None or t.timestamp >= since)), key=lambda t: (t.timestamp, t.outlet_id, t.seq))

    def alerts(self, since: datetime | None = None, limit: int = 500) -> list[AlertEvent]:
        self._wait()
        rows = [a for a in self.alert_rows if since is None or a.created >= since]
        return sorted(rows, key=lambda a: a.created, reverse=True)[:limit]

    def outlet_spgs(self, outlet_id: str) -> list[OutletSpg]:
        self._wait()
        return sorted((s for s in self.spg_rows if s.outlet_id == outlet_id), key=lambda s: (s.name, s.spg_id))

    def intervals(self, start: datetime, end: datetime, outlet_id: str | None = None) -> list[IntervalEvent]:
        self._wait()
        return [iv for iv in self.interval_rows if iv.start < end and iv.last_seen >= start
                and (outlet_id is None or iv.outlet_id == outlet_id)]

    def close(self) -> None:
        self.closed = True


def _check(api: FakeHqApi) -> HqReadApi:
    return api  # mypy: the fake is an HqReadApi
