"""Event log panel: presence transitions, alerts and camera events, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QVBoxLayout, QWidget

KIND_COLOURS = {
    "alert": QColor(192, 57, 43),
    "transition": QColor(41, 128, 185),
    "camera": QColor(230, 126, 34),
    "info": QColor(90, 90, 90),
}


@dataclass(frozen=True, slots=True)
class UiEvent:
    timestamp: float
    kind: str
    """'transition', 'alert', 'camera' or 'info'."""
    text: str
    spg_id: str = ""


class EventLog(QWidget):
    MAX_ITEMS = 1000

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.list)
        self.events: list[UiEvent] = []
        self.tz = None
        """Outlet time zone (zoneinfo); None = this PC's."""

    def add_event(self, event: UiEvent) -> None:
        self.events.insert(0, event)
        del self.events[self.MAX_ITEMS:]
        when = datetime.fromtimestamp(event.timestamp, self.tz).strftime("%H:%M:%S")
        kind = {
            "alert": self.tr("ALERT"), "transition": self.tr("presence"), "camera": self.tr("camera"), "info": self.tr("info"),
        }.get(event.kind, event.kind)
        item = QListWidgetItem(f"{when}  [{kind}]  {event.text}")
        item.setForeground(KIND_COLOURS.get(event.kind, QColor(0, 0, 0)))
        self.list.insertItem(0, item)
        while self.list.count() > self.MAX_ITEMS:
            self.list.takeItem(self.list.count() - 1)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]
