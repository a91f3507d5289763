"""Settings → Shifts: the weekly shift pattern of everyone (the default) and of each SPG (start, end, breaks,
late tolerance, "late beyond N minutes = absent"), overtime rounding, and the calendar of holidays, days off
and one-day shifts (added by hand or imported from a CSV through :func:`core.day_calendar.load_calendar_csv`).

No YAML for routine work: :meth:`ShiftEditor.values` gives the ``presence.default_shift``,
``presence.shifts`` and ``attendance`` parts of the config, which the Settings dialog validates with
``AppConfig`` and saves through ``ui.config_store``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time as dtime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from core.config import AppConfig, CalendarEntry
from core.day_calendar import CalendarCsvError, load_calendar_csv, merge_entries

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KINDS = ("holiday", "off", "shift")


def _qtime(t: dtime | None, fallback: QTime) -> QTime:
    return QTime(t.hour, t.minute) if t is not None else fallback


def _pytime(q: QTimeEdit) -> dtime:
    t = q.time()
    return dtime(t.hour(), t.minute())


class DayWidgets:
    """One weekday's row of the weekly table."""

    def __init__(self, table: QTableWidget, row: int, label: str, tr: Any):
        self.works = QCheckBox(label)
        self.start = QTimeEdit(QTime(9, 0))
        self.end = QTimeEdit(QTime(17, 0))
        for t in (self.start, self.end):
            t.setDisplayFormat("HH:mm")
        self.breaks = QLineEdit()
        self.breaks.setPlaceholderText(tr("e.g. 12:00-13:00, 15:00-15:15"))
        self.tolerance = QSpinBox()
        self.tolerance.setRange(0, 720)
        self.tolerance.setSuffix(tr(" min"))
        self.absent_after = QSpinBox()
        self.absent_after.setRange(0, 1440)
        self.absent_after.setSuffix(tr(" min"))
        self.absent_after.setSpecialValueText(tr("never"))
        for col, w in enumerate((self.works, self.start, self.end, self.breaks, self.tolerance, self.absent_after)):
            table.setCellWidget(row, col, w)

    def set(self, window: dict[str, Any] | None) -> None:
        self.works.setChecked(window is not None)
        w = window or {}
        self.start.setTime(_qtime(w.get("start"), QTime(9, 0)))
        self.end.setTime(_qtime(w.get("end"), QTime(17, 0)))
        self.breaks.setText(", ".join(f"{b['start']:%H:%M}-{b['end']:%H:%M}" for b in w.get("breaks") or ()))
        self.tolerance.setValue(int(w.get("late_tolerance_min") or 0))
        self.absent_after.setValue(int(w.get("absent_if_late_min") or 0))

    def set_enabled(self, on: bool) -> None:
        for w in (self.works, self.start, self.end, self.breaks, self.tolerance, self.absent_after):
            w.setEnabled(on)


class ShiftEditor(QWidget):
    def __init__(self, cfg: AppConfig, people: Sequence[tuple[str, str]] = (), parent: QWidget | None = None):
        super().__init__(parent)
        p, a = cfg.presence, cfg.attendance
        self.outlet_id = cfg.outlet.id
        self.people = list(people)
        known = {spg for spg, _ in self.people}
        self.people += [(spg, spg) for spg in sorted(set(p.shifts) - known)]
        self._weekly: dict[str | None, dict[str, dict[str, Any]]] = {None: self._dump(p.default_shift)}
        for spg, weekly in p.shifts.items():
            self._weekly[spg] = self._dump(weekly)
        self._own = set(p.shifts)
        self._current: str | None = None

        self.person = QComboBox()
        self.person.addItem(self.tr("Everyone (default schedule)"), None)
        for spg, name in self.people:
            self.person.addItem(f"{name} ({spg})" if name != spg else spg, spg)
        self.own = QCheckBox(self.tr("Own weekly schedule (otherwise the default one)"))
        self.week = QTableWidget(7, 6)
        self.week.setHorizontalHeaderLabels([self.tr("Works"), self.tr("Start"), self.tr("End"),
                                             self.tr("Breaks"), self.tr("Late tolerance"),
                                             self.tr("Absent if late beyond")])
        self.week.verticalHeader().setVisible(False)
        self.week.horizontalHeader().setStretchLastSection(True)
        labels = [self.tr("Mon"), self.tr("Tue"), self.tr("Wed"), self.tr("Thu"), self.tr("Fri"), self.tr("Sat"),
                  self.tr("Sun")]
        self.days = {d: DayWidgets(self.week, i, labels[i], self.tr) for i, d in enumerate(WEEKDAYS)}
        self.week.resizeColumnsToContents()
        self.week.resizeRowsToContents()
        # all seven days in view without scrolling the table itself
        self.week.setMinimumHeight(self.week.horizontalHeader().sizeHint().height()
                                   + sum(self.week.rowHeight(i) for i in range(7)) + 4)

        self.ot_step = QSpinBox()
        self.ot_step.setRange(1, 240)
        self.ot_step.setSuffix(self.tr(" min"))
        self.ot_step.setValue(a.overtime.round_to_min)
        self.ot_mode = QComboBox()
        for key, text in (("down", self.tr("round down")), ("up", self.tr("round up")),
                          ("nearest", self.tr("round to the nearest"))):
            self.ot_mode.addItem(text, key)
        self.ot_mode.setCurrentIndex(max(0, self.ot_mode.findData(a.overtime.rounding)))
        self.ot_min = QSpinBox()
        self.ot_min.setRange(0, 720)
        self.ot_min.setSuffix(self.tr(" min"))
        self.ot_min.setValue(a.overtime.minimum_min)

        self.calendar = QTableWidget(0, 6)
        self.calendar.setHorizontalHeaderLabels([self.tr("Date"), self.tr("Kind"), self.tr("Who"), self.tr("Start"),
                                                 self.tr("End"), self.tr("Name")])
        self.calendar.horizontalHeader().setStretchLastSection(True)
        self.calendar.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self._cal_outlets: list[str | None] = []
        self._other_outlets = [e for e in a.calendar if e.outlet_id and e.outlet_id != self.outlet_id]
        for e in a.calendar:
            if e not in self._other_outlets:
                self.add_calendar_day(e)
        self.add_day = add = QPushButton(self.tr("Add a day"))
        add.clicked.connect(lambda: self.add_calendar_day(None))
        remove = QPushButton(self.tr("Remove selected"))
        remove.clicked.connect(self.remove_selected_days)
        imp = QPushButton(self.tr("Import CSV…"))
        imp.clicked.connect(self._choose_csv)
        self.calendar_message = QLabel()
        self.calendar_message.setWordWrap(True)

        who = QHBoxLayout()
        who.addWidget(QLabel(self.tr("Schedule of")))
        who.addWidget(self.person, 1)
        who.addWidget(self.own)
        week_box = QGroupBox(self.tr("Weekly pattern (shift times in the outlet's time zone; an end before the "
                                     "start runs past midnight and counts for the day it starts)"))
        wl = QVBoxLayout(week_box)
        wl.addLayout(who)
        wl.addWidget(self.week)
        self.week_message = QLabel()
        self.week_message.setWordWrap(True)
        self.week_message.setStyleSheet("color: #c0392b;")
        wl.addWidget(self.week_message)
        ot_box = QGroupBox(self.tr("Overtime after the shift end"))
        ol = QHBoxLayout(ot_box)
        for label, w in ((self.tr("Round to a multiple of"), self.ot_step), (self.tr("Rounding"), self.ot_mode),
                         (self.tr("Less than this is no overtime"), self.ot_min)):
            ol.addWidget(QLabel(label))
            ol.addWidget(w)
        ol.addStretch(1)
        cal_box = QGroupBox(self.tr("Holidays, days off and one-day shifts"))
        cl = QVBoxLayout(cal_box)
        self.calendar.setMinimumHeight(160)
        cl.addWidget(self.calendar)
        row = QHBoxLayout()
        for b in (add, remove, imp):
            row.addWidget(b)
        row.addStretch(1)
        cl.addLayout(row)
        cl.addWidget(self.calendar_message)
        lay = QVBoxLayout(self)
        lay.addWidget(week_box)
        lay.addWidget(ot_box)
        lay.addWidget(cal_box)

        self._load(None)
        self.person.currentIndexChanged.connect(self._person_changed)
        self.own.toggled.connect(self._own_toggled)

    @staticmethod
    def _dump(weekly: Any) -> dict[str, dict[str, Any]]:
        return {d: w.model_dump(mode="python") for d, w in weekly.items()}

    # --- weekly pattern ------------------------------------------------------------------------
    def select_person(self, spg_id: str | None) -> None:
        self.person.setCurrentIndex(max(0, self.person.findData(spg_id)))

    def _load(self, key: str | None) -> None:
        self._current = key
        own = key is None or key in self._own
        self.own.blockSignals(True)
        self.own.setChecked(own)
        self.own.setEnabled(key is not None)
        self.own.blockSignals(False)
        weekly = self._weekly.get(key if own else None, {})
        for d, widgets in self.days.items():
            widgets.set(weekly.get(d))
            widgets.set_enabled(own)

    def _store(self) -> None:
        """Keep what the table shows for the person being edited (it is read back when saving)."""
        key = self._current
        if key is None or key in self._own:
            self._weekly[key] = self._read_table()

    def _person_changed(self) -> None:
        try:
            self._store()
        except ValueError as exc:
            # keep the person whose table cannot be read on screen, with the reason, so no edit is lost
            self.person.blockSignals(True)
            self.person.setCurrentIndex(max(0, self.person.findData(self._current)))
            self.person.blockSignals(False)
            self.week_message.setText(str(exc))
            return
        self.week_message.setText("")
        self._load(self.person.currentData())

    def _own_toggled(self, on: bool) -> None:
        key = self._current
        if key is None:
            return
        if on:
            self._own.add(key)
            self._weekly.setdefault(key, dict(self._weekly.get(None, {})))
        else:
            self._store()
            self._own.discard(key)
        self._load(key)

    def _read_table(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for d, w in self.days.items():
            if not w.works.isChecked():
                continue
            after = w.absent_after.value()
            out[d] = {"start": _pytime(w.start), "end": _pytime(w.end), "breaks": self._breaks(d, w.breaks.text()),
                      "late_tolerance_min": w.tolerance.value(), "absent_if_late_min": after or None}
        return out

    def _breaks(self, day: str, text: str) -> list[dict[str, dtime]]:
        out = []
        for part in (p.strip() for p in text.replace(";", ",").split(",")):
            if not part:
                continue
            try:
                a, b = (dtime.fromisoformat(x.strip()) for x in part.split("-"))
            except ValueError:
                raise ValueError(self.tr("Breaks on {day}: {text!r} is not a time range; write it as 12:00-13:00.")
                                 .format(day=day, text=part)) from None
            out.append({"start": a, "end": b})
        return out

    # --- calendar ------------------------------------------------------------------------------
    def add_calendar_day(self, entry: CalendarEntry | None) -> int:
        """A row for ``entry`` (or a new holiday today); returns its row number."""
        row = self.calendar.rowCount()
        self.calendar.insertRow(row)
        day = QDateEdit(QDate(entry.date) if entry else QDate.currentDate())
        day.setDisplayFormat("yyyy-MM-dd")
        day.setCalendarPopup(True)
        kind = QComboBox()
        for key, text in zip(KINDS, (self.tr("Holiday"), self.tr("Day off"), self.tr("One-day shift")), strict=True):
            kind.addItem(text, key)
        kind.setCurrentIndex(max(0, kind.findData(entry.kind if entry else "holiday")))
        who = QComboBox()
        who.addItem(self.tr("Everyone"), None)
        for spg, name in self.people:
            who.addItem(name, spg)
        if entry and entry.spg_id and who.findData(entry.spg_id) < 0:
            who.addItem(entry.spg_id, entry.spg_id)
        who.setCurrentIndex(max(0, who.findData(entry.spg_id if entry else None)))
        start = QTimeEdit(_qtime(entry.start if entry else None, QTime(9, 0)))
        end = QTimeEdit(_qtime(entry.end if entry else None, QTime(17, 0)))
        for t in (start, end):
            t.setDisplayFormat("HH:mm")
        name = QLineEdit(entry.name if entry else "")
        for col, w in enumerate((day, kind, who, start, end, name)):
            self.calendar.setCellWidget(row, col, w)
        self._cal_outlets.append(entry.outlet_id if entry else None)
        return row

    def remove_selected_days(self) -> None:
        for row in sorted({i.row() for i in self.calendar.selectionModel().selectedRows()}, reverse=True):
            self.calendar.removeRow(row)
            del self._cal_outlets[row]

    def calendar_entries(self) -> list[CalendarEntry]:
        out = []
        for row in range(self.calendar.rowCount()):
            cell = self.calendar.cellWidget
            day: QDateEdit = cell(row, 0)  # type: ignore[assignment]
            kind: QComboBox = cell(row, 1)  # type: ignore[assignment]
            who: QComboBox = cell(row, 2)  # type: ignore[assignment]
            start: QTimeEdit = cell(row, 3)  # type: ignore[assignment]
            end: QTimeEdit = cell(row, 4)  # type: ignore[assignment]
            name: QLineEdit = cell(row, 5)  # type: ignore[assignment]
            k = kind.currentData()
            times = {"start": _pytime(start), "end": _pytime(end)} if k == "shift" else {}
            out.append(CalendarEntry(date=day.date().toPython(), kind=k, spg_id=who.currentData(),
                                     outlet_id=self._cal_outlets[row], name=name.text().strip(), **times))
        return out

    def _choose_csv(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, self.tr("Calendar CSV"), "", "CSV (*.csv);;All files (*)")
        if f:
            self.import_calendar(Path(f))

    def import_calendar(self, path: Path) -> bool:
        """Add the days of a calendar CSV (a day already listed for the same SPG is replaced)."""
        try:
            entries = load_calendar_csv(path)
        except CalendarCsvError as exc:
            self.calendar_message.setText(self.tr("Not imported: {err}").format(err=exc))
            return False
        mine = [e for e in entries if not e.outlet_id or e.outlet_id == self.outlet_id]
        merged = merge_entries(self.calendar_entries(), mine)
        self.calendar.setRowCount(0)
        self._cal_outlets.clear()
        for e in merged:
            self.add_calendar_day(e)
        self.calendar_message.setText(self.tr("Imported {n} day(s); {skipped} for other outlets left out.")
                                      .format(n=len(mine), skipped=len(entries) - len(mine)))
        return True

    # --- result --------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """``{"default_shift", "shifts", "attendance"}`` as config data (raises ValueError on a bad entry)."""
        self._store()
        return {
            "default_shift": self._weekly.get(None, {}),
            "shifts": {spg: self._weekly.get(spg, {}) for spg in sorted(self._own)},
            "attendance": {
                "overtime": {"round_to_min": self.ot_step.value(), "rounding": self.ot_mode.currentData(),
                             "minimum_min": self.ot_min.value()},
                "calendar": [e.model_dump(mode="python") for e in
                             sorted([*self.calendar_entries(), *self._other_outlets], key=lambda e: e.date)],
            },
        }
