"""What one refresh of the HQ console reads: every outlet, the alert feed and, for the outlet being looked
at, its SPGs with today's presence (in the outlet's own time zone).

Pure reads through :class:`core.central.hq_api.HqReadApi`; the clock is passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.central.hq_api import AlertEvent, HqReadApi, IntervalEvent, OutletSpg, OutletSummary, TransitionEvent

log = logging.getLogger(__name__)

ALERT_FEED_SIZE = 200


def outlet_zone(name: str) -> tzinfo:
    """The outlet's time zone; UTC (and a warning) for a name this PC's tz database does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r of an outlet: its days are counted in UTC", name)
        return UTC


def local_day_start(now: datetime, tz: tzinfo) -> datetime:
    """Midnight of ``now``'s day in ``tz`` (aware)."""
    return datetime.combine(now.astimezone(tz).date(), time(0, 0), tz)


@dataclass(frozen=True, slots=True)
class SpgToday:
    """One SPG of an outlet as the drill-down shows it."""

    spg: OutletSpg
    present_today_s: float
    since: datetime | None
    """When the SPG's current state began (their last transition today), if known."""
    last_camera: str
    intervals: tuple[IntervalEvent, ...]


@dataclass(frozen=True, slots=True)
class OutletDetail:
    outlet_id: str
    day_start: datetime
    spgs: tuple[SpgToday, ...]


@dataclass(frozen=True, slots=True)
class HqSnapshot:
    taken_at: datetime
    outlets: tuple[OutletSummary, ...]
    alerts: tuple[AlertEvent, ...]
    detail: OutletDetail | None


def outlet_detail(api: HqReadApi, outlet: OutletSummary, now: datetime) -> OutletDetail:
    day0 = local_day_start(now, outlet_zone(outlet.timezone))
    spgs = api.outlet_spgs(outlet.outlet_id)
    intervals = api.intervals(day0, day0 + timedelta(days=1), outlet.outlet_id)
    transitions = api.transitions(outlet.outlet_id, day0)
    last: dict[str, TransitionEvent] = {}
    for t in transitions:  # oldest first: the last one per SPG wins
        last[t.spg_id] = t
    ids = [s.spg_id for s in spgs]
    known = set(ids)
    # an SPG seen today but no longer listed (removed since) still shows in today's timeline
    extra = sorted({iv.spg_id for iv in intervals} - known)
    rows: list[SpgToday] = []
    for spg in [*spgs, *(OutletSpg(outlet.outlet_id, s, s, False, None, None) for s in extra)]:
        ivs = tuple(iv for iv in intervals if iv.spg_id == spg.spg_id)
        present = sum(max(0.0, (min(iv.last_seen, now) - max(iv.start, day0)).total_seconds()) for iv in ivs)
        latest = last.get(spg.spg_id)
        rows.append(SpgToday(spg, present, latest.timestamp if latest else None,
                             (latest.camera_id or "") if latest else "", ivs))
    return OutletDetail(outlet.outlet_id, day0, tuple(rows))


def read_snapshot(api: HqReadApi, selected: str | None, now: datetime) -> HqSnapshot:
    """Outlets, the newest alerts, and the selected outlet's detail (None when no outlet is selected or it is
    no longer registered)."""
    outlets = api.outlets()
    alerts = api.alerts(limit=ALERT_FEED_SIZE)
    chosen = next((o for o in outlets if o.outlet_id == selected), None)
    detail = outlet_detail(api, chosen, now) if chosen is not None else None
    return HqSnapshot(now, tuple(outlets), tuple(alerts), detail)
