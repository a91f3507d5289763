"""Presence table: one row per SPG, pushed by the controller (never polled).

:class:`PresenceModel` (a QAbstractTableModel) holds :class:`PresenceRow` items; a
QSortFilterProxyModel sorts and filters; :class:`PresenceTable` is the view with a filter box.
``summary()`` gives the status-bar text ("5 of 6 present").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from core.attendance import SpgPresence

PRESENT, GRACE, ABSENT, NOT_SEEN = "present", "grace", "absent", "not_seen"
NO_VIEW = "no_view"
"""PRESENT as far as anyone knows, but nothing can see where they were (camera offline, inference down)."""
STATE_COLOURS = {
    PRESENT: QColor(39, 174, 96),
    GRACE: QColor(241, 196, 15),
    NO_VIEW: QColor(127, 140, 141),
    ABSENT: QColor(192, 57, 43),
    NOT_SEEN: QColor(149, 165, 166),
}
STATE_ORDER = {PRESENT: 0, GRACE: 1, NO_VIEW: 2, ABSENT: 3, NOT_SEEN: 4}
THUMB = 40


@dataclass(frozen=True, slots=True)
class PresenceRow:
    spg_id: str
    name: str
    state: str
    """'present', 'grace', 'no_view', 'absent' or 'not_seen'."""
    since: float | None = None
    last_camera: str = ""
    present_today_s: float = 0.0
    shift: str = ""
    """'on duty', 'off duty', 'no shift', ..."""
    thumbnail: str = ""


def row_from(item: SpgPresence, names: dict[str, str] | None = None,
             thumb_of: Callable[[str], str] | None = None) -> PresenceRow:
    """One row of the table from one ``core.attendance.SpgPresence`` (``AttendanceService.snapshot()``)."""
    state = NO_VIEW if item.no_view else GRACE if item.in_grace else item.state
    return PresenceRow(
        spg_id=item.spg_id,
        name=item.name or (names or {}).get(item.spg_id, item.spg_id),
        state=state if state in STATE_ORDER else NOT_SEEN,
        since=item.since,
        last_camera=item.last_camera or "",
        present_today_s=item.present_today_s,
        shift=item.shift_status,
        thumbnail=thumb_of(item.spg_id) if thumb_of else "",
    )


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class PresenceModel(QAbstractTableModel):
    COLUMNS = ("photo", "name", "state", "since", "last_camera", "present_today", "shift")
    summary_changed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._rows: list[PresenceRow] = []
        self._index: dict[str, int] = {}
        self._pixmaps: dict[str, QPixmap] = {}
        self.tz = None
        """Outlet time zone (zoneinfo) for the 'since' column; None = this PC's."""
        self._headers = [
            self.tr("Photo"), self.tr("Name"), self.tr("State"), self.tr("Since"),
            self.tr("Last camera"), self.tr("Present today"), self.tr("Shift"),
        ]

    # --- push updates --------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[PresenceRow]) -> None:
        """Replace the table content, updating rows in place when the set of SPGs is unchanged."""
        rows = sorted(rows, key=lambda r: r.name.lower())
        ids = [r.spg_id for r in rows]
        if ids == [r.spg_id for r in self._rows]:
            for i, r in enumerate(rows):
                if r != self._rows[i]:
                    self._rows[i] = r
                    self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.COLUMNS) - 1))
        else:
            self.beginResetModel()
            self._rows = list(rows)
            self._index = {r.spg_id: i for i, r in enumerate(self._rows)}
            self.endResetModel()
        self.summary_changed.emit(self.summary())

    def rows(self) -> list[PresenceRow]:
        return list(self._rows)

    def row_of(self, spg_id: str) -> PresenceRow | None:
        i = self._index.get(spg_id)
        return self._rows[i] if i is not None else None

    def summary(self) -> str:
        total = len(self._rows)
        present = sum(1 for r in self._rows if r.state in (PRESENT, GRACE, NO_VIEW))
        return self.tr("{present} of {total} present").format(present=present, total=total)

    def state_label(self, state: str) -> str:
        return {
            PRESENT: self.tr("PRESENT"), GRACE: self.tr("grace"), NO_VIEW: self.tr("no view"), ABSENT: self.tr("ABSENT"), NOT_SEEN: self.tr("not seen"),
        }.get(state, state)

    # --- Qt model API --------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self._headers[section]
        return None

    def _pixmap(self, path: str) -> QPixmap | None:
        if not path:
            return None
        pm = self._pixmaps.get(path)
        if pm is None:
            pm = QPixmap(path)
            if not pm.isNull():
                pm = pm.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self._pixmaps[path] = pm
        return None if pm.isNull() else pm

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        r = self._rows[index.row()]
        col = self.COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if col == "name":
                return r.name
            if col == "state":
                return self.state_label(r.state)
            if col == "since":
                return datetime.fromtimestamp(r.since, self.tz).strftime("%H:%M:%S") if r.since else "—"
            if col == "last_camera":
                return r.last_camera or "—"
            if col == "present_today":
                return fmt_duration(r.present_today_s)
            if col == "shift":
                return r.shift or "—"
            return None
        if role == Qt.ItemDataRole.DecorationRole and col == "photo":
            return self._pixmap(r.thumbnail)
        if role == Qt.ItemDataRole.BackgroundRole and col == "state":
            return STATE_COLOURS.get(r.state)
        if role == Qt.ItemDataRole.ForegroundRole and col == "state":
            return QColor(255, 255, 255)
        if role == Qt.ItemDataRole.UserRole:  # sort key
            return {
                "photo": r.name.lower(), "name": r.name.lower(), "state": STATE_ORDER.get(r.state, 9),
                "since": r.since or 0.0, "last_camera": r.last_camera, "present_today": r.present_today_s,
                "shift": r.shift,
            }[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{r.name} ({r.spg_id})"
        return None


class PresenceFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setSortRole(Qt.ItemDataRole.UserRole)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._text = ""

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        if not self._text:
            return True
        model: PresenceModel = self.sourceModel()  # type: ignore[assignment]
        r = model._rows[source_row]
        hay = " ".join((r.name, r.spg_id, model.state_label(r.state), r.state, r.last_camera, r.shift)).lower()
        return self._text in hay


class PresenceTable(QWidget):
    def __init__(self, model: PresenceModel | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model or PresenceModel(self)
        self.proxy = PresenceFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(self.tr("Filter by name, state or camera…"))
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.filter_edit)
        lay.addWidget(self.view)

    def visible_names(self) -> list[str]:
        return [self.proxy.index(i, 1).data() for i in range(self.proxy.rowCount())]


def _now() -> float:
    return time.time()


def thumb_lookup(gallery: Any) -> Callable[[str], str]:
    """spg_id -> thumbnail path string ('' if none), from a core.gallery.Gallery-like object."""

    def f(spg_id: str) -> str:
        try:
            p = gallery.thumbnail_path(spg_id)
        except Exception:  # noqa: BLE001 - no thumbnail is not an error
            return ""
        return str(p) if p and Path(p).is_file() else ""

    return f
