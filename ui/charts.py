"""pyqtgraph charts: today's presence timeline per SPG, and per-camera processed fps / latency."""

from __future__ import annotations

import time
from collections import deque
from datetime import datetime, tzinfo

import pyqtgraph as pg
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ui.presence_table import ABSENT, GRACE, NOT_SEEN, PRESENT, PresenceRow

BAND_COLOURS = {PRESENT: (39, 174, 96), GRACE: (241, 196, 15), ABSENT: (192, 57, 43)}
CAMERA_PENS = [(52, 152, 219), (231, 76, 60), (46, 204, 113), (155, 89, 182), (241, 196, 15), (26, 188, 156), (230, 126, 34), (149, 165, 166)]


def _midnight(ts: float, tz: tzinfo | None = None) -> float:
    d = datetime.fromtimestamp(ts, tz)
    return datetime(d.year, d.month, d.day, tzinfo=d.tzinfo).timestamp()


class PresenceTimeline(QWidget):
    """Present / grace / absent bands per SPG since midnight, extended to 'now' as time passes."""

    def __init__(self, parent: QWidget | None = None, clock=time.time):
        super().__init__(parent)
        self._clock = clock
        self.plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.plot.setBackground("w")
        self.plot.setMouseEnabled(y=False)
        self.plot.setTitle(self.tr("Presence today"))
        self.plot.hideButtons()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)
        self.bands: dict[str, list[list]] = {}  # spg_id -> [[start, end|None, state], ...]
        self.names: dict[str, str] = {}
        self.tz: tzinfo | None = None
        """Whose midnight starts 'today' (the HQ drill-down: the outlet's); None = this PC's."""
        self._bars: pg.BarGraphItem | None = None

    def add_band(self, spg_id: str, start: float, end: float | None, state: str) -> None:
        self.bands.setdefault(spg_id, []).append([start, end, state])

    def set_bands(self, bands: dict[str, list[list]], names: dict[str, str]) -> None:
        """Replace every band at once (the HQ drill-down draws an outlet's day from its replicated intervals)."""
        self.bands = {sid: [list(b) for b in bs] for sid, bs in bands.items()}
        self.names = dict(names)
        if self.isVisible():
            self.redraw()

    def update_rows(self, rows: list[PresenceRow]) -> None:
        now = self._clock()
        changed = False
        for r in rows:
            if self.names.get(r.spg_id) != r.name:
                self.names[r.spg_id] = r.name
                changed = True
            bands = self.bands.setdefault(r.spg_id, [])
            if bands and bands[-1][1] is None and bands[-1][2] == r.state:
                continue
            if not bands and r.state == NOT_SEEN:
                continue
            if bands and bands[-1][1] is None:
                bands[-1][1] = min(now, max(bands[-1][0], r.since or now))
            if r.state != NOT_SEEN:
                bands.append([r.since or now, None, r.state])
            changed = True
        if changed and self.isVisible():
            self.redraw()

    def showEvent(self, event) -> None:  # noqa: N802 - drawn when shown, not while hidden
        super().showEvent(event)
        self.redraw()

    def redraw(self) -> None:
        """Draw all bands up to now (the window calls this every few seconds while visible)."""
        now = self._clock()
        day0 = _midnight(now, self.tz)
        ids = sorted(self.bands, key=lambda s: self.names.get(s, s).lower())
        x0, width, ys, brushes = [], [], [], []
        for y, sid in enumerate(ids):
            for start, end, state in self.bands[sid]:
                s = max(start, day0)
                e = end if end is not None else now
                if e <= s or state not in BAND_COLOURS:
                    continue
                x0.append(s)
                width.append(e - s)
                ys.append(y)
                brushes.append(pg.mkBrush(*BAND_COLOURS[state]))
        if self._bars is not None:
            self.plot.removeItem(self._bars)
            self._bars = None
        if x0:
            self._bars = pg.BarGraphItem(x0=x0, width=width, y=ys, height=0.6, brushes=brushes, pen=None)
            self.plot.addItem(self._bars)
        ax = self.plot.getAxis("left")
        ax.setTicks([[(i, self.names.get(s, s)) for i, s in enumerate(ids)]])
        self.plot.setYRange(-0.7, max(len(ids), 1) - 0.3, padding=0)

    def band_count(self, spg_id: str) -> int:
        return len(self.bands.get(spg_id, []))


class CameraRateChart(QWidget):
    """Processed fps (solid) and mean latency in ms (dashed, right axis scale) per camera, last 5 min."""

    WINDOW_S = 300

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.fps_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.fps_plot.setBackground("w")
        self.fps_plot.setTitle(self.tr("Processed frames per second"))
        self.fps_plot.addLegend(offset=(5, 5))
        self.lat_plot = pg.PlotWidget(axisItems={"bottom": pg.DateAxisItem()})
        self.lat_plot.setBackground("w")
        self.lat_plot.setTitle(self.tr("Latency, capture to result (ms)"))
        self.lat_plot.setXLink(self.fps_plot)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.fps_plot)
        lay.addWidget(self.lat_plot)
        self.series: dict[str, deque] = {}
        self._curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._now: float | None = None

    def add_sample(self, metrics: dict[str, tuple[float, float]], ts: float | None = None) -> None:
        """metrics: camera_id -> (processed fps, mean latency ms). The curves are redrawn only while the chart
        is on screen (with 16 cameras, 32 curves cost about 15 ms of the UI thread per update); it catches up
        when shown."""
        ts = ts if ts is not None else time.time()
        for cam, (fps, lat) in metrics.items():
            self.series.setdefault(cam, deque(maxlen=self.WINDOW_S * 2)).append((ts, fps, lat))
        self._now = ts
        if self.isVisible():
            self.redraw()

    def redraw(self) -> None:
        ts = self._now
        if ts is None:
            return
        views = (self.fps_plot.getViewBox(), self.lat_plot.getViewBox())
        for v in views:  # one auto-range pass per plot after all curves, not one per curve
            v.disableAutoRange()
        try:
            for cam, dq in self.series.items():
                if cam not in self._curves:
                    colour = CAMERA_PENS[len(self._curves) % len(CAMERA_PENS)]
                    c1 = self.fps_plot.plot(name=cam, pen=pg.mkPen(colour, width=2))
                    c2 = self.lat_plot.plot(name=cam, pen=pg.mkPen(colour, width=2))
                    self._curves[cam] = (c1, c2)
                pts = [p for p in dq if p[0] >= ts - self.WINDOW_S]
                self._curves[cam][0].setData([p[0] for p in pts], [p[1] for p in pts])
                self._curves[cam][1].setData([p[0] for p in pts], [p[2] for p in pts])
        finally:
            for v in views:
                v.enableAutoRange()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.redraw()


class ChartsPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.timeline = PresenceTimeline()
        self.rates = CameraRateChart()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.timeline, 1)
        lay.addWidget(self.rates, 2)
