""":class:`HqQueries`: the PostgreSQL implementation of :class:`core.central.hq_api.HqReadApi`.

Connects with whatever role the URL names: the admin or an HQ read role sees every outlet; an outlet's own
role would see only its own rows (row-level security), which is what the isolation tests rely on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from core.central.hq_api import OFFLINE_AFTER_S, AlertEvent, IntervalEvent, OutletSpg, OutletSummary, TransitionEvent

_OUTLETS_SQL = """
SELECT o.outlet_id, coalesce(s.name, o.name), coalesce(s.timezone, o.timezone),
       s.last_heartbeat, coalesce(s.cameras_live, 0), coalesce(s.cameras_total, 0), s.engine,
       coalesce(s.events_waiting, 0),
       s.last_heartbeat IS NOT NULL AND s.last_heartbeat > now() - make_interval(secs => %(offline)s),
       (SELECT count(*) FROM spg.spgs p WHERE p.outlet_id = o.outlet_id AND p.active),
       (SELECT count(*) FROM spg.spgs p WHERE p.outlet_id = o.outlet_id AND p.active AND lower(p.state) = 'present'),
       (SELECT count(*) FROM spg.spgs p WHERE p.outlet_id = o.outlet_id AND p.active AND p.on_shift),
       (SELECT count(*) FROM spg.spgs p WHERE p.outlet_id = o.outlet_id AND p.active AND lower(p.state) = 'absent'),
       (SELECT count(*) FROM spg.alerts a WHERE a.outlet_id = o.outlet_id AND a.status = 'pending')
FROM spg.outlets o LEFT JOIN spg.outlet_status s ON s.outlet_id = o.outlet_id
ORDER BY o.outlet_id
"""


class HqQueries:
    """Read-only queries for HQ, one connection (autocommit: every read sees the newest rows)."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        self._conn: psycopg.Connection[Any] = psycopg.connect(
            url, autocommit=True, connect_timeout=max(1, int(connect_timeout)))

    def outlets(self) -> list[OutletSummary]:
        rows = self._conn.execute(_OUTLETS_SQL, {"offline": OFFLINE_AFTER_S}).fetchall()
        return [OutletSummary(outlet_id=r[0], name=r[1], timezone=r[2], last_heartbeat=r[3], cameras_live=r[4],
                              cameras_total=r[5], engine=r[6], events_waiting=r[7], online=bool(r[8]),
                              spgs=r[9], present=r[10], on_shift=r[11], absent=r[12], open_alerts=r[13])
                for r in rows]

    def transitions(self, outlet_id: str | None = None, since: datetime | None = None) -> list[TransitionEvent]:
        rows = self._conn.execute(
            "SELECT outlet_id, spg_id, from_state, to_state, ts, alert, camera_id, seq FROM spg.transitions "
            "WHERE (%(o)s::text IS NULL OR outlet_id = %(o)s) AND (%(s)s::timestamptz IS NULL OR ts >= %(s)s) "
            "ORDER BY ts, outlet_id, seq",
            {"o": outlet_id, "s": since}).fetchall()
        return [TransitionEvent(outlet_id=r[0], spg_id=r[1], from_state=r[2], to_state=r[3], timestamp=r[4],
                                alert=r[5], camera_id=r[6], seq=r[7]) for r in rows]

    def alerts(self, since: datetime | None = None, limit: int = 500) -> list[AlertEvent]:
        rows = self._conn.execute(
            "SELECT outlet_id, spg_id, kind, text, created, status FROM spg.alerts "
            "WHERE (%(s)s::timestamptz IS NULL OR created >= %(s)s) ORDER BY created DESC LIMIT %(n)s",
            {"s": since, "n": limit}).fetchall()
        return [AlertEvent(outlet_id=r[0], spg_id=r[1], kind=r[2], text=r[3], created=r[4], status=r[5])
                for r in rows]

    def outlet_spgs(self, outlet_id: str) -> list[OutletSpg]:
        rows = self._conn.execute(
            "SELECT outlet_id, spg_id, name, active, state, on_shift FROM spg.spgs WHERE outlet_id = %s "
            "ORDER BY name, spg_id", (outlet_id,)).fetchall()
        return [OutletSpg(outlet_id=r[0], spg_id=r[1], name=r[2], active=r[3], state=r[4], on_shift=r[5])
                for r in rows]

    def intervals(self, start: datetime, end: datetime, outlet_id: str | None = None) -> list[IntervalEvent]:
        rows = self._conn.execute(
            "SELECT outlet_id, spg_id, start_ts, last_seen, closed FROM spg.intervals "
            "WHERE start_ts < %(e)s AND last_seen >= %(b)s AND (%(o)s::text IS NULL OR outlet_id = %(o)s) "
            "ORDER BY outlet_id, spg_id, start_ts", {"b": start, "e": end, "o": outlet_id}).fetchall()
        return [IntervalEvent(outlet_id=r[0], spg_id=r[1], start=r[2], last_seen=r[3], closed=r[4]) for r in rows]

    def close(self) -> None:
        self._conn.close()
