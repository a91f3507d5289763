"""File -> Export attendance report: the daily sheet (date range) or the monthly matrix (the month of the
"From" date; an Excel file gets its CSV alongside), SPGs, CSV or Excel; runs in the background with progress
and opens the folder when done."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Callable, Sequence

from PySide6.QtCore import QDate, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.config import AppConfig
from ui.i18n import translate_buttons
from ui.tasks import Background

log = logging.getLogger(__name__)


def open_folder(path: Path) -> None:
    """Show the folder in the OS file manager (tests replace this)."""
    QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def export_report(cfg: AppConfig, data_dir: Path, start: date, end: date, spg_ids: Sequence[str] | None,
                  fmt: str, out_path: Path, progress: Callable[[int, int], None] | None = None,
                  names: dict[str, str] | None = None) -> Path:
    """core.reports.export_report on this data folder's events database (background thread)."""
    from core.events_db import EventStore
    from core.paths import DataLayout
    from core.reports import export_report as export

    store = EventStore(DataLayout(data_dir).events_db)
    try:
        return Path(export(store, cfg, start, end, spg_ids, fmt, out_path, progress=progress, names=names))
    finally:
        store.close()


def export_monthly_report(cfg: AppConfig, data_dir: Path, year: int, month: int, spg_ids: Sequence[str] | None,
                          fmt: str, out_path: Path, progress: Callable[[int, int], None] | None = None,
                          names: dict[str, str] | None = None) -> Path:
    """core.monthly_report.export_monthly on this data folder's events database (background thread)."""
    from core.events_db import EventStore
    from core.monthly_report import export_monthly
    from core.paths import DataLayout

    store = EventStore(DataLayout(data_dir).events_db)
    try:
        return Path(export_monthly(store, cfg, year, month, spg_ids, fmt, out_path, progress=progress, names=names))
    finally:
        store.close()


def default_report_name(start: date, end: date, fmt: str) -> str:
    ext = "xlsx" if fmt == "xlsx" else "csv"
    span = start.isoformat() if start == end else f"{start.isoformat()}_{end.isoformat()}"
    return f"attendance_{span}.{ext}"


class ReportDialog(QDialog):
    finished_export = Signal(object)  # Path or Exception
    _progress = Signal(int, int)

    def __init__(self, cfg: AppConfig, data_dir: Path, people: Sequence[tuple[str, str]], parent: QWidget | None = None,
                 exporter: Callable[..., Path] | None = None, monthly_exporter: Callable[..., Path] | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Export attendance report"))
        self.cfg, self.data_dir = cfg, Path(data_dir)
        self._exporter = exporter or export_report
        self._monthly_exporter = monthly_exporter or export_monthly_report
        self._bg = Background(workers=1, parent=self, name="spg-report")
        today = QDate.currentDate()
        self.start = QDateEdit(today)
        self.end = QDateEdit(today)
        for d in (self.start, self.end):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        self.kind = QComboBox()
        self.kind.addItem(self.tr("Daily sheet (one row per SPG per day)"), "daily")
        self.kind.addItem(self.tr("Monthly matrix (the month of the From date)"), "monthly")
        self.kind.currentIndexChanged.connect(lambda: self.end.setEnabled(self.kind.currentData() == "daily"))
        self.fmt = QComboBox()
        self.fmt.addItem(self.tr("Excel (.xlsx)"), "xlsx")
        self.fmt.addItem(self.tr("CSV (.csv)"), "csv")
        self.spgs = QListWidget()
        self.names = dict(people)
        for spg_id, name in people:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, spg_id)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.spgs.addItem(item)
        self.folder = QLineEdit(str(self.data_dir / "reports"))
        browse = QPushButton(self.tr("Choose…"))
        browse.clicked.connect(self._choose_folder)
        frow = QHBoxLayout()
        frow.addWidget(self.folder, 1)
        frow.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.tr("Report"), self.kind)
        form.addRow(self.tr("From"), self.start)
        form.addRow(self.tr("To"), self.end)
        form.addRow(self.tr("Format"), self.fmt)
        form.addRow(self.tr("Save in"), frow)
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        translate_buttons(self.buttons)
        self.export_btn = self.buttons.addButton(self.tr("Export"), QDialogButtonBox.ButtonRole.ActionRole)
        self.export_btn.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(QLabel(self.tr("SPGs:")))
        lay.addWidget(self.spgs)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self._progress.connect(self._set_progress)
        self.result_path: Path | None = None
        self.busy = False

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Where to save the report"), self.folder.text())
        if d:
            self.folder.setText(d)

    def selected_spgs(self) -> list[str]:
        return [self.spgs.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.spgs.count())
                if self.spgs.item(i).checkState() == Qt.CheckState.Checked]

    def export(self) -> None:
        start = self.start.date().toPython()
        end = self.end.date().toPython()
        if end < start and self.kind.currentData() == "daily":
            self.message.setText(self.tr("The end date is before the start date."))
            return
        spgs = self.selected_spgs()
        if self.spgs.count() and not spgs:
            self.message.setText(self.tr("Tick at least one SPG."))
            return
        fmt = self.fmt.currentData()
        monthly = self.kind.currentData() == "monthly"
        folder = Path(self.folder.text()).expanduser()
        if monthly:
            out = folder / f"attendance_monthly_{start.year:04d}-{start.month:02d}.{fmt}"
        else:
            out = folder / default_report_name(start, end, fmt)
        self.busy = True
        self.export_btn.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.message.setText(self.tr("Exporting…"))
        all_selected = len(spgs) == self.spgs.count()

        def job() -> Path:
            out.parent.mkdir(parents=True, exist_ok=True)
            ids = None if all_selected else spgs
            if monthly:
                return self._monthly_exporter(self.cfg, self.data_dir, start.year, start.month, ids, fmt, out,
                                              lambda d, t: self._progress.emit(d, t), names=self.names)
            kwargs = {"names": self.names} if self._exporter is export_report else {}
            return self._exporter(self.cfg, self.data_dir, start, end, None if all_selected else spgs, fmt, out,
                                  lambda d, t: self._progress.emit(d, t), **kwargs)

        self._bg.submit(job, self._done, self._failed)

    def _set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)

    def _done(self, path: Path) -> None:
        self.busy = False
        self.result_path = Path(path)
        self.export_btn.setEnabled(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.message.setText(self.tr("Saved {file}").format(file=self.result_path))
        self.finished_export.emit(self.result_path)
        open_folder(self.result_path.parent)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self.export_btn.setEnabled(True)
        self.progress.setVisible(False)
        self.message.setText(self.tr("The report could not be made: {err}").format(err=exc))
        self.finished_export.emit(exc)
