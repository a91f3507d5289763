"""HQ console: the table of outlets (online / offline, last heartbeat, SPGs present / on shift / absent, open
alerts, cameras), replaced as a whole on every refresh; the selection survives a refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView, QTableView, QVBoxLayout, QWidget

from core.central.hq_api import OutletSummary

ONLINE_COLOUR, OFFLINE_COLOUR = QColor(39, 174, 96), QColor(192, 57, 43)


def local_time_text(when: datetime | None, now: datetime | None = None) -> str:
    """A time in this PC's time zone: just the clock time when it is today, else with the date."""
    if when is None:
        return ""
    local = when.astimezone()
    today = (now or datetime.now().astimezone()).astimezone().date()
    return local.strftime("%H:%M:%S") if local.date() == today else local.strftime("%Y-%m-%d %H:%M:%S")


class OutletsModel(QAbstractTableModel):
    COLUMNS = ("outlet", "status", "last_heartbeat", "present", "on_shift", "absent", "spgs", "open_alerts",
               "cameras")

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[OutletSummary] = []
        self._headers = [self.tr("Outlet"), self.tr("Status"), self.tr("Last heartbeat"), self.tr("Present"),
                         self.tr("On shift"), self.tr("Absent"), self.tr("SPGs"), self.tr("Open alerts"),
                         self.tr("Cameras live")]

    def set_outlets(self, outlets: list[OutletSummary]) -> None:
        self.beginResetModel()
        self._rows = list(outlets)
        self.endResetModel()

    def outlets(self) -> list[OutletSummary]:
        return list(self._rows)

    def row_of(self, outlet_id: str) -> int | None:
        return next((i for i, o in enumerate(self._rows) if o.outlet_id == outlet_id), None)

    def text(self, outlet_id: str, column: str) -> str:
        """What the table shows for one outlet in one column (tests and the status line read it)."""
        i = self.row_of(outlet_id)
        if i is None:
            raise KeyError(outlet_id)
        return str(self.data(self.index(i, self.COLUMNS.index(column))) or "")

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        o = self._rows[index.row()]
        col = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "outlet": o.name or o.outlet_id,
                "status": self.tr("online") if o.online else self.tr("offline"),
                "last_heartbeat": local_time_text(o.last_heartbeat) or self.tr("never"),
                "present": str(o.present), "on_shift": str(o.on_shift), "absent": str(o.absent),
                "spgs": str(o.spgs), "open_alerts": str(o.open_alerts),
                "cameras": f"{o.cameras_live}/{o.cameras_total}",
            }[col]
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return {
                "outlet": (o.name or o.outlet_id).lower(), "status": int(o.online),
                "last_heartbeat": o.last_heartbeat.timestamp() if o.last_heartbeat else 0.0,
                "present": o.present, "on_shift": o.on_shift, "absent": o.absent, "spgs": o.spgs,
                "open_alerts": o.open_alerts, "cameras": o.cameras_live,
            }[col]
        if role == Qt.ItemDataRole.BackgroundRole and col == "status":
            return ONLINE_COLOUR if o.online else OFFLINE_COLOUR
        if role == Qt.ItemDataRole.ForegroundRole and col == "status":
            return QColor(255, 255, 255)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tr("{name} ({id}), time zone {tz}").format(name=o.name, id=o.outlet_id, tz=o.timezone)
        return None


class OutletsTable(QWidget):
    """The outlets table; ``outlet_chosen`` (outlet_id) when a row is clicked or activated."""

    outlet_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = OutletsModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(Qt.ItemDataRole.UserRole)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.clicked.connect(self._chosen)
        self.view.activated.connect(self._chosen)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)
        self.selected: str | None = None

    def set_outlets(self, outlets: list[OutletSummary]) -> None:
        self.model.set_outlets(outlets)
        if self.selected is not None:
            self.select(self.selected, emit=False)

    def select(self, outlet_id: str, emit: bool = True) -> None:
        row = self.model.row_of(outlet_id)
        if row is None:
            return
        self.selected = outlet_id
        self.view.selectRow(self.proxy.mapFromSource(self.model.index(row, 0)).row())
        if emit:
            self.outlet_chosen.emit(outlet_id)

    def _chosen(self, index: QModelIndex) -> None:
        source = self.proxy.mapToSource(index)
        outlet = self.model.outlets()[source.row()]
        self.selected = outlet.outlet_id
        self.outlet_chosen.emit(outlet.outlet_id)
