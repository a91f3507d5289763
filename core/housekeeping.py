"""Housekeeping of the events database while the console runs: hit retention and the daily summary.

Called from :meth:`core.attendance.AttendanceService.tick`; cheap when nothing is due. Pure logic on an
injected clock.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.clock import Clock
from core.reports import summary_text

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0


class Housekeeping:
    def __init__(self, cfg: Any, store: Any, clock: Clock):
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.tz = ZoneInfo(cfg.outlet.timezone)
        self._last_prune_mono: float | None = None
        self._summary_done: str | None = None

    def run(self, now: float, outbox: Any | None, names: dict[str, str]) -> None:
        """Prune old hits (hourly) and queue the daily summary once a day. Raises the store's errors."""
        self._maybe_prune()
        self._maybe_daily_summary(now, outbox, names)

    def _maybe_prune(self) -> None:
        mono = self.clock.monotonic()
        if self._last_prune_mono is not None and mono - self._last_prune_mono < PRUNE_EVERY_S:
            return
        self._last_prune_mono = mono
        days = int(self.cfg.storage.hit_retention_days)
        n = self.store.prune_hits(self.clock.time() - days * 86400.0)
        if n:
            log.info("pruned %d hits older than %d days", n, days)

    def _maybe_daily_summary(self, now: float, outbox: Any | None, names: dict[str, str]) -> None:
        at = self.cfg.telegram.daily_summary_time
        if at is None or outbox is None:
            return
        local = datetime.fromtimestamp(now, self.tz)
        if local.time() < at:
            return
        today = local.date().isoformat()
        if self._summary_done == today:
            return
        if self.store.get_meta("daily_summary_date") == today:
            self._summary_done = today
            return
        text = summary_text(self.store, self.cfg, local.date(), names, now=now)
        self.store.add_alert(now, None, "summary", text)
        self.store.set_meta("daily_summary_date", today)
        outbox.notify()
