"""The HQ console (``app.py hq --db URL``): the same Qt application without cameras or an engine, reading the
brand's central PostgreSQL.

Top: every outlet (online / offline, last heartbeat, SPGs present / on shift / absent, open alerts, cameras).
Below: the chosen outlet's drill-down (presence table and today's timeline) and the alert feed across outlets.
File -> Export attendance writes the cross-outlet Excel workbook (:mod:`core.central.hq_export`).

Every read runs on a background thread (:class:`ui.tasks.Background`) through :class:`HqReader`; the Qt
thread never waits on the network. While the database cannot be read, a banner says so (URL masked) and
the last data stays on screen; the next refresh tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.central.hq_api import HqReadApi
from core.central.hq_export import export_attendance
from core.central.hq_reader import CentralUnavailable, HqReader
from core.central.hq_snapshot import HqSnapshot, read_snapshot
from core.secrets import redact
from ui.hq_alerts import AlertFeed
from ui.hq_outlet_detail import OutletDetailPanel
from ui.hq_outlets import OutletsTable, local_time_text
from ui.tasks import Background

log = logging.getLogger(__name__)

REFRESH_S = 10.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HqWindow(QMainWindow):
    refreshed = Signal(object)
    """After each refresh: the :class:`HqSnapshot` read, or the exception that stopped it."""

    def __init__(self, url: str, *, connect: Callable[[str], HqReadApi] | None = None,
                 refresh_s: float = REFRESH_S, clock: Callable[[], datetime] = _utc_now,
                 export_folder: Path | None = None, start: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self._url = url
        self._connect = connect
        self.reader = HqReader(url, connect) if connect is not None else HqReader(url)
        self._clock = clock
        self.refresh_s = refresh_s
        self.stalled_after_s = max(30.0, 3 * refresh_s)
        """A read still running after this long is reported as a database that does not answer."""
        self.export_folder = export_folder or Path.home()
        self._bg = Background(workers=1, parent=self, name="spg-hq")
        self._busy = False
        self._busy_since = 0.0
        self._again = False
        self.selected: str | None = None
        self.snapshot: HqSnapshot | None = None
        """The last data read (kept on screen while the database cannot be read)."""
        self.error: str | None = None
        """The banner's sentence while the last refresh failed, else None."""
        self.dialog: QWidget | None = None
        self.closed_cleanly: bool | None = None
        self.setWindowTitle(self.tr("SPG Presence Console — HQ"))
        self.resize(1300, 820)

        self.outlets = OutletsTable()
        self.detail = OutletDetailPanel(clock=lambda: self._clock().timestamp())
        self.alerts = AlertFeed()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.detail, self.tr("Outlet"))
        self.tabs.addTab(self.alerts, self.tr("Alerts"))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.outlets)
        split.addWidget(self.tabs)
        split.setSizes([320, 500])
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fadbd8; color: #78281f; padding: 6px; border-radius: 4px;")
        self.banner.setVisible(False)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.banner)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        self.status = QLabel(self.tr("Connecting to {url}…").format(url=self.reader.masked_url))
        self.statusBar().addWidget(self.status, 1)
        self._build_menus()
        self.outlets.outlet_chosen.connect(self.choose_outlet)
        self._timer = QTimer(self, interval=int(refresh_s * 1000), timeout=self.refresh)
        if start:
            self._timer.start()
            QTimer.singleShot(0, self.refresh)

    def _build_menus(self) -> None:
        m_file = self.menuBar().addMenu(self.tr("&File"))
        self.export_action = QAction(self.tr("Export attendance…"), self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self.open_export_dialog)
        m_file.addAction(self.export_action)
        self.refresh_action = QAction(self.tr("Refresh now"), self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.refresh)
        m_file.addAction(self.refresh_action)
        m_file.addSeparator()
        quit_action = QAction(self.tr("Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        m_file.addAction(quit_action)

    # --- refresh (background) ------------------------------------------------------------------
    def refresh(self) -> None:
        """Read everything once more, off the Qt thread; a refresh asked for while one runs follows it."""
        if self._busy:
            self._again = True
            waited = time.monotonic() - self._busy_since
            if waited > self.stalled_after_s:
                # a dropped network can leave a query hanging for minutes: say so instead of looking fresh
                self._show_error(self.tr("The central database {url} has not answered for {n} s.").format(
                    url=self.reader.masked_url, n=round(waited)))
            return
        self._busy = True
        self._busy_since = time.monotonic()
        selected, now = self.selected, self._clock()
        self._bg.submit(lambda: self.reader.read(lambda api: read_snapshot(api, selected, now)),
                        self._apply, self._failed)

    def _finish(self) -> None:
        self._busy = False
        if self._again:
            self._again = False
            self.refresh()

    def _apply(self, snap: HqSnapshot) -> None:
        self.snapshot = snap
        self.error = None
        self.banner.setVisible(False)
        outlets = list(snap.outlets)
        self.outlets.set_outlets(outlets)
        names = {o.outlet_id: o.name or o.outlet_id for o in outlets}
        self.alerts.set_alerts(list(snap.alerts), names)
        chosen = next((o for o in outlets if o.outlet_id == snap.detail.outlet_id), None) if snap.detail else None
        if chosen is not None and snap.detail is not None and chosen.outlet_id == self.selected:
            self.detail.show_detail(chosen, snap.detail)
        elif self.selected is not None and self.selected not in names:
            self.selected = None
            self.detail.clear()
        online = sum(1 for o in outlets if o.online)
        self.status.setText(self.tr("{url} · {online} of {total} outlets online · updated {time}").format(
            url=self.reader.masked_url, online=online, total=len(outlets), time=local_time_text(snap.taken_at)))
        self.refreshed.emit(snap)
        self._finish()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, CentralUnavailable):
            why = self.tr("The central database {url} cannot be read: {why}.").format(url=exc.url, why=exc.reason)
        else:
            log.error("HQ refresh failed: %s", redact(str(exc)))
            why = self.tr("Reading the central database {url} failed: {why}.").format(
                url=self.reader.masked_url, why=redact(str(exc)))
        self._show_error(why)
        self.refreshed.emit(exc)
        self._finish()

    def _show_error(self, why: str) -> None:
        if self.snapshot is not None:
            kept = self.tr("Showing the data read at {time}; trying again every {n} s.").format(
                time=local_time_text(self.snapshot.taken_at), n=round(self.refresh_s))
        else:
            kept = self.tr("Nothing read yet; trying again every {n} s. Check the host, port, user and password "
                           "of the URL and that the server is running.").format(n=round(self.refresh_s))
        self.error = f"{why} {kept}"
        self.banner.setText(self.error)
        self.banner.setVisible(True)
        self.status.setText(self.tr("{url} · not reachable").format(url=self.reader.masked_url))

    # --- drill-down ----------------------------------------------------------------------------
    def choose_outlet(self, outlet_id: str) -> None:
        self.tabs.setCurrentWidget(self.detail)
        if outlet_id == self.selected and self.detail.outlet_id == outlet_id:
            return
        self.selected = outlet_id
        self.outlets.select(outlet_id, emit=False)
        self.refresh()

    # --- export --------------------------------------------------------------------------------
    def export(self, start: date, end: date, out: Path, progress: Callable[[int, int], None]) -> Path:
        """The export on its own connection (called on the dialog's background thread)."""
        reader = HqReader(self._url, self._connect) if self._connect is not None else HqReader(self._url)
        try:
            now = self._clock()
            return reader.read(lambda api: export_attendance(api, start, end, out, now=now, progress=progress))
        finally:
            reader.close()

    def open_export_dialog(self) -> QWidget:
        from ui.hq_export_dialog import HqExportDialog

        dlg = HqExportDialog(self.export, self.export_folder, self)
        self.dialog = dlg
        dlg.show()
        return dlg

    # --- shutdown ------------------------------------------------------------------------------
    def shutdown(self) -> bool:
        self._timer.stop()
        self._bg.shutdown(wait=False)
        # a read may be waiting on a dead network (connect timeout): close the connection off the Qt thread
        threading.Thread(target=self.reader.close, name="spg-hq-close", daemon=True).start()
        self.closed_cleanly = True
        return True

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.closed_cleanly is None:
            self.shutdown()
        event.accept()
