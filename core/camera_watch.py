"""Which cameras are offline, and when that deserves an alert of its own.

A camera that stays offline for ``delay_s`` raises ONE "camera X offline since ..." alert, and one
"back online" alert when it recovers. A blink shorter than ``delay_s`` raises nothing. Pure logic on
monotonic times supplied by the caller (the attendance service's injected clock).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Mapping

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CameraEvent:
    kind: Literal["offline", "online"]
    camera_id: str
    since: float
    """Wall time the camera went offline."""
    at: float
    """Wall time of the event (now)."""


@dataclass(slots=True)
class _Outage:
    since_wall: float
    since_mono: float
    alerted: bool = False


class CameraWatch:
    def __init__(self, delay_s: float):
        self.delay_s = float(delay_s)
        self._out: dict[str, _Outage] = {}

    def offline(self) -> dict[str, float]:
        """camera id -> wall time it went offline, for every camera offline now."""
        return {c: o.since_wall for c, o in self._out.items()}

    def update(self, camera_live: Mapping[str, bool], wall: float, mono: float) -> list[CameraEvent]:
        """The router's view of the running cameras (a camera not in the mapping was removed: forgotten)."""
        events: list[CameraEvent] = []
        for cam in [c for c in self._out if c not in camera_live]:
            del self._out[cam]
        for cam, live in camera_live.items():
            o = self._out.get(cam)
            if not live and o is None:
                log.info("camera %s has no view (not live or delivering no frames)", cam)
                self._out[cam] = _Outage(wall, mono)
            elif live and o is not None:
                log.info("camera %s delivers frames again after %.1f s", cam, mono - o.since_mono)
                del self._out[cam]
                if o.alerted:
                    events.append(CameraEvent("online", cam, o.since_wall, wall))
        return events

    def due(self, wall: float, mono: float) -> list[CameraEvent]:
        """Offline alerts that are due now (each camera outage once)."""
        out = []
        for cam, o in self._out.items():
            if not o.alerted and mono - o.since_mono >= self.delay_s:
                out.append(CameraEvent("offline", cam, o.since_wall, wall))
        return out

    def mark_alerted(self, camera_id: str) -> None:
        o = self._out.get(camera_id)
        if o is not None:
            o.alerted = True
