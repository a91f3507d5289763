"""HQ console: the alert feed across outlets, newest first (time in this PC's time zone, outlet, SPG, what,
delivery state). Alert texts arrive as the outlet rendered them for Telegram (HTML): shown as plain text."""

from __future__ import annotations

import html
import re

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from core.central.hq_api import AlertEvent
from ui.hq_outlets import local_time_text

_TAG = re.compile(r"<[^>]+>")
STATUS_COLOURS = {"pending": QColor(230, 126, 34), "failed": QColor(192, 57, 43), "sent": QColor(39, 174, 96)}


def plain_text(alert_html: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", alert_html)).split())


class AlertFeed(QWidget):
    COLUMNS = ("time", "outlet", "spg", "kind", "text", "status")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(self.COLUMNS))
        self.table.setHorizontalHeaderLabels([self.tr("Time"), self.tr("Outlet"), self.tr("SPG"), self.tr("Alert"),
                                              self.tr("Message"), self.tr("Delivery")])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.table)

    def kind_label(self, kind: str) -> str:
        return {"absent": self.tr("absent"), "returned": self.tr("back"),
                "camera_offline": self.tr("camera offline"), "camera_online": self.tr("camera back")}.get(kind, kind)

    def status_label(self, status: str) -> str:
        return {"pending": self.tr("waiting"), "sent": self.tr("sent"), "failed": self.tr("failed"),
                "skipped": self.tr("not sent")}.get(status, status)

    def set_alerts(self, alerts: list[AlertEvent], outlet_names: dict[str, str]) -> None:
        self.table.setRowCount(len(alerts))
        for i, a in enumerate(alerts):
            cells = (local_time_text(a.created), outlet_names.get(a.outlet_id, a.outlet_id), a.spg_id or "",
                     self.kind_label(a.kind), plain_text(a.text), self.status_label(a.status))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == len(cells) - 1 and a.status in STATUS_COLOURS:
                    item.setForeground(STATUS_COLOURS[a.status])
                self.table.setItem(i, j, item)

    def rows(self) -> list[list[str]]:
        return [[self.table.item(i, j).text() for j in range(self.table.columnCount())]
                for i in range(self.table.rowCount())]
