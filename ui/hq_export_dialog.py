"""HQ console: File -> Export attendance across outlets (a date range, Excel: one sheet per outlet plus a
summary). The export reads the central database on a background thread with a connection of its own, so
the outlets table keeps refreshing meanwhile."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from PySide6.QtCore import QDate, Signal
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.central.hq_export import default_export_name
from core.central.hq_reader import CentralUnavailable
from core.secrets import redact
from ui.i18n import translate_buttons
from ui.report_dialog import open_folder
from ui.tasks import Background

Exporter = Callable[[date, date, Path, Callable[[int, int], None]], Path]
"""(start, end, output file, progress(done, total)) -> the file written; runs on a background thread."""


class HqExportDialog(QDialog):
    finished_export = Signal(object)  # Path or Exception
    _progress = Signal(int, int)

    def __init__(self, exporter: Exporter, folder: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Export attendance across outlets"))
        self._exporter = exporter
        self._bg = Background(workers=1, parent=self, name="spg-hq-export")
        today = QDate.currentDate()
        self.start = QDateEdit(today.addDays(-6))
        self.end = QDateEdit(today)
        for d in (self.start, self.end):
            d.setCalendarPopup(True)
            d.setDisplayFormat("yyyy-MM-dd")
        self.folder = QLineEdit(str(folder))
        browse = QPushButton(self.tr("Choose…"))
        browse.clicked.connect(self._choose_folder)
        frow = QHBoxLayout()
        frow.addWidget(self.folder, 1)
        frow.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.tr("From"), self.start)
        form.addRow(self.tr("To"), self.end)
        form.addRow(self.tr("Save in"), frow)
        note = QLabel(self.tr("Excel workbook: a summary sheet (one row per SPG, with their time at each outlet) "
                              "and one sheet per outlet, days in the outlet's own time zone."))
        note.setWordWrap(True)
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
        lay.addWidget(note)
        lay.addWidget(self.progress)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self._progress.connect(self._set_progress)
        self.result_path: Path | None = None
        self.busy = False

    def _choose_folder(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Where to save the export"), self.folder.text())
        if d:
            self.folder.setText(d)

    def export(self) -> None:
        start, end = self.start.date().toPython(), self.end.date().toPython()
        if end < start:
            self.message.setText(self.tr("The end date is before the start date."))
            return
        out = Path(self.folder.text()).expanduser() / default_export_name(start, end)
        self.busy = True
        self.export_btn.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.message.setText(self.tr("Exporting…"))
        self._bg.submit(lambda: self._exporter(start, end, out, self._progress.emit), self._done, self._failed)

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
        if isinstance(exc, CentralUnavailable):
            text = self.tr("The central database {url} cannot be read: {why}. Try again when it is reachable.").format(
                url=exc.url, why=exc.reason)
        else:
            text = self.tr("The export could not be made: {err}").format(err=redact(str(exc)))
        self.message.setText(text)
        self.finished_export.emit(exc)

