"""HQ console: one outlet's drill-down, its presence table and today's timeline (the outlet's own day),
drawn from the replicated SPG states and presence intervals (:class:`core.central.hq_snapshot.OutletDetail`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from core.central.hq_api import OutletSummary
from core.central.hq_snapshot import OutletDetail, SpgToday, outlet_zone
from ui.charts import PresenceTimeline
from ui.presence_table import ABSENT, GRACE, NOT_SEEN, PRESENT, PresenceRow, PresenceTable


class OutletDetailPanel(QWidget):
    def __init__(self, clock: Callable[[], float] = time.time, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel(self.tr("Choose an outlet in the table above to see its SPGs and today's timeline."))
        self.title.setWordWrap(True)
        self.presence = PresenceTable()
        self.timeline = PresenceTimeline(clock=clock)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.presence)
        split.addWidget(self.timeline)
        split.setSizes([500, 500])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(split, 1)
        self.outlet_id: str | None = None

    def _row(self, item: SpgToday) -> PresenceRow:
        spg = item.spg
        state = (spg.state or "").lower()
        shift = "" if spg.on_shift is None else (self.tr("on shift") if spg.on_shift else self.tr("off shift"))
        return PresenceRow(
            spg_id=spg.spg_id, name=spg.name or spg.spg_id,
            state=state if state in (PRESENT, GRACE, ABSENT) else NOT_SEEN,
            since=item.since.timestamp() if item.since else None, last_camera=item.last_camera,
            present_today_s=item.present_today_s, shift=shift)

    def show_detail(self, outlet: OutletSummary, detail: OutletDetail) -> None:
        tz = outlet_zone(outlet.timezone)
        self.outlet_id = outlet.outlet_id
        status = self.tr("online") if outlet.online else self.tr("offline")
        self.title.setText(self.tr("{name} ({status}) · today from {day} ({tz})").format(
            name=outlet.name or outlet.outlet_id, status=status, day=detail.day_start.strftime("%Y-%m-%d"),
            tz=outlet.timezone))
        self.presence.model.tz = tz
        self.presence.model.set_rows([self._row(s) for s in detail.spgs])
        self.timeline.tz = tz
        bands = {s.spg.spg_id: [[iv.start.timestamp(), iv.last_seen.timestamp(), PRESENT] for iv in s.intervals]
                 for s in detail.spgs}
        self.timeline.set_bands(bands, {s.spg.spg_id: s.spg.name or s.spg.spg_id for s in detail.spgs})

    def clear(self) -> None:
        self.outlet_id = None
        self.title.setText(self.tr("Choose an outlet in the table above to see its SPGs and today's timeline."))
        self.presence.model.set_rows([])
        self.timeline.set_bands({}, {})
