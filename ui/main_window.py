"""The console's main window: camera grid, presence table, gallery, unknown faces, charts, event log,
menus (File -> Export attendance report, Settings, Help -> About) and the status-bar summary.

The window only paints and reacts to signals: the PipelineController (QThread) does all pipeline
work, dialogs run slow work on background threads.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter, QTabWidget, QVBoxLayout, QWidget

from core.central.link_state import LinkState
from core.config import AppConfig
from core.messages import InferenceStats
from core.paths import DataLayout
from core.secrets import redact
from ui.camera_grid import CameraGrid
from ui.central_link import CentralLinkLabel
from ui.charts import ChartsPanel
from ui.controller import PipelineController
from ui.engine_service import EngineService
from ui.event_log import EventLog, UiEvent
from ui.gallery_manager import GalleryManager, list_people, person_fields
from ui.presence_table import PresenceModel, PresenceRow, PresenceTable, thumb_lookup
from ui.tasks import Background
from ui.unknown_faces import UnknownFacesPanel

log = logging.getLogger(__name__)


def open_gallery(data_dir: Path) -> Any:
    from core.gallery import Gallery

    return Gallery(DataLayout(data_dir).gallery)


class MainWindow(QMainWindow):
    names_changed = Signal(object)
    _gallery_stamp_changed = Signal()  # emitted from the controller thread; handled on the UI thread

    def __init__(
        self,
        cfg: AppConfig,
        data_dir: Path,
        *,
        demo: bool = False,
        gallery: Any = None,
        engine_service: EngineService | None = None,
        controller_kwargs: dict | None = None,
        start: bool = True,
        settings_target: tuple[AppConfig, Path] | None = None,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.cfg, self.data_dir, self.demo = cfg, Path(data_dir), demo
        self.layout_ = DataLayout(self.data_dir).ensure()
        self.gallery = gallery if gallery is not None else open_gallery(self.data_dir)
        self.engine = engine_service or EngineService(cfg, self.data_dir, parent=self)
        self.engine_info: dict = {}
        self._names: dict[str, str] = {}
        self._names_version: str | None = None
        self._bg = Background(workers=1, parent=self, name="spg-main")
        self.dialog: QWidget | None = None
        self.closed_cleanly: bool | None = None
        self.settings_target = settings_target
        """In the demo: (the outlet's own config, its data dir). Settings edit THAT, not the demo's."""
        self.setWindowTitle(self.tr("SPG Presence Console — {outlet}").format(outlet=cfg.outlet.name))
        self.resize(1400, 860)

        # widgets
        self.grid = CameraGrid()
        self.presence = PresenceTable()
        self.presence_model: PresenceModel = self.presence.model
        self.presence_model.tz = ZoneInfo(cfg.outlet.timezone)
        self.gallery_manager = GalleryManager(self.gallery, self.engine, cfg, webcam_sources=self._webcam_sources)
        self.unknown = UnknownFacesPanel(self.layout_.unknown_faces, cfg.storage, engine=self.engine, names=self.names)
        self.charts = ChartsPanel()
        self.events = EventLog()
        self.events.tz = self.unknown.tz = self.presence_model.tz
        self.tabs = QTabWidget()
        self.tabs.addTab(self.presence, self.tr("Presence"))
        self.tabs.addTab(self.gallery_manager, self.tr("Gallery"))
        self.tabs.addTab(self.unknown, self.tr("Unknown faces"))
        self.tabs.addTab(self.charts, self.tr("Charts"))
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.grid)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([820, 580])
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fdebd0; color: #784212; padding: 6px; border-radius: 4px;")
        self.banner.setVisible(False)
        lay.addWidget(self.banner)
        lay.addWidget(split, 1)
        self.setCentralWidget(central)
        dock = QDockWidget(self.tr("Event log"), self)
        dock.setObjectName("event_log")
        dock.setWidget(self.events)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.resizeDocks([dock], [170], Qt.Orientation.Vertical)
        self.summary = QLabel(self.tr("no SPG enrolled"))
        self.engine_label = QLabel(self.tr("starting…"))
        self.statusBar().addWidget(self.summary)
        self.central_link = CentralLinkLabel(cfg.outlet.timezone)
        self._link_error: str | None = None
        self.statusBar().addPermanentWidget(self.central_link)
        self.statusBar().addPermanentWidget(self.engine_label)
        self._build_menus()
        if demo:
            self.show_banner(self.tr(
                "Demo outlet: the cameras play recorded footage of demo SPGs. To set up your outlet, open "
                "Settings → Cameras and add your cameras (Test connection shows a picture); the console opens your "
                "outlet from its next start, where you enroll your SPGs in the Gallery tab."))
        elif not cfg.cameras:
            self.show_banner(self.tr("No camera configured yet: open Settings → Cameras to add one."))

        # controller
        ck = dict(controller_kwargs or {})
        ck.setdefault("names", self.names)
        ck.setdefault("thumbs", thumb_lookup(self.gallery))
        self.controller = PipelineController(cfg, self.data_dir, parent=None, **ck)
        self.controller.frame_ready.connect(self.grid.on_frame)
        self.controller.camera_status.connect(self.grid.on_status)
        self.controller.presence_changed.connect(self._on_presence)
        self.controller.event_logged.connect(self._on_event)
        self.controller.camera_rates.connect(self.charts.rates.add_sample)
        self.controller.stats.connect(self._on_stats)
        self.controller.failed.connect(self._on_failed)
        self.controller.started_ok.connect(self._on_started)
        self.controller.link_changed.connect(self._on_link)
        self.grid.visible_changed.connect(self.controller.set_visible)
        self.presence_model.summary_changed.connect(self.summary.setText)
        self.gallery_manager.changed.connect(self._gallery_changed)
        self.unknown.enroll_requested.connect(lambda paths: self.gallery_manager.open_photo_dialog(photos=paths))
        self.unknown.not_person_requested.connect(lambda sid, paths: self.gallery_manager.mark_not_person(sid, paths, "unknown"))
        self.grid.not_this_person.connect(lambda sid, crop: self.gallery_manager.mark_not_person(sid, [crop], "camera"))
        self.grid.set_cameras([(c.id, c.name or c.id) for c in cfg.cameras if c.enabled])
        self._gallery_stamp_changed.connect(self._refresh_names)
        self._refresh_names()
        self._timeline_timer = QTimer(self, interval=5000, timeout=self._redraw_timeline)
        self._timeline_timer.start()
        if start:
            self.controller.start()

    # --- menus ---------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        m_file = self.menuBar().addMenu(self.tr("&File"))
        self.export_action = QAction(self.tr("Export attendance report…"), self)
        self.export_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_action.triggered.connect(self.open_report_dialog)
        m_file.addAction(self.export_action)
        m_file.addSeparator()
        quit_action = QAction(self.tr("Quit"), self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        m_file.addAction(quit_action)
        m_gal = self.menuBar().addMenu(self.tr("&Gallery"))
        a = QAction(self.tr("Enroll from photos…"), self)
        a.triggered.connect(lambda: self.gallery_manager.open_photo_dialog())
        m_gal.addAction(a)
        a = QAction(self.tr("Enroll from camera…"), self)
        a.triggered.connect(lambda: self.gallery_manager.open_webcam_dialog())
        m_gal.addAction(a)
        m_set = self.menuBar().addMenu(self.tr("&Settings"))
        self.settings_action = QAction(self.tr("Settings…"), self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.open_settings)
        m_set.addAction(self.settings_action)
        m_help = self.menuBar().addMenu(self.tr("&Help"))
        self.about_action = QAction(self.tr("About"), self)
        self.about_action.triggered.connect(self.open_about)
        m_help.addAction(self.about_action)

    def show_banner(self, text: str) -> None:
        self.banner.setText(text)
        self.banner.setVisible(True)

    # --- names / gallery -----------------------------------------------------------------------
    def names(self) -> dict[str, str]:
        """Called from the controller thread (the attendance service, every tick). Re-read when the gallery's
        version stamp changed, also by another process (``app.py gallery remove``), so a removal reaches
        presence and alerts at once; otherwise a copy of the cached names (one stamp read)."""
        version = self.gallery.version()
        if version != self._names_version:
            self._names_version = version
            self._names = {p["spg_id"]: p["name"] for p in map(person_fields, self.gallery.people())}
            self._gallery_stamp_changed.emit()  # the grid and table names follow on the UI thread
        return dict(self._names)

    def _refresh_names(self) -> None:
        self._bg.submit(lambda: list_people(self.gallery), self._set_people)

    def _set_people(self, people: list[dict]) -> None:
        self._names = {p["spg_id"]: p["name"] for p in people}
        self.grid.set_names(self._names)
        self.names_changed.emit(self._names)

    def _gallery_changed(self) -> None:
        self._refresh_names()
        self.controller.gallery_changed()

    def _webcam_sources(self) -> list:
        return []

    def _redraw_timeline(self) -> None:
        if self.charts.timeline.isVisible():
            self.charts.timeline.redraw()

    # --- controller signals --------------------------------------------------------------------
    def _on_presence(self, rows: list[PresenceRow]) -> None:
        self.presence_model.set_rows(rows)
        self.charts.timeline.update_rows(rows)

    def _on_event(self, ev: UiEvent) -> None:
        self.events.add_event(ev)
        if ev.kind == "alert":
            self.statusBar().showMessage(ev.text, 15000)

    def _on_stats(self, stats: InferenceStats) -> None:
        eng, prov = stats.engine, stats.provider
        if eng:
            self.engine_info.setdefault("engine", eng)
            self.engine_info.setdefault("provider", prov)
        self.engine_label.setText(self.tr("{engine} · {provider} · {lat:.0f} ms").format(
            engine=eng, provider=prov, lat=stats.latency_p50_ms))

    def _on_link(self, state: LinkState) -> None:
        self.central_link.show_state(state)
        if state.last_error and state.last_error != self._link_error:  # each new problem once in the log
            self.events.add_event(UiEvent(time.time(), "info", redact(state.last_error)))
        self._link_error = state.last_error

    def _on_started(self, info: dict[str, str]) -> None:
        self.engine_info.update(info)
        self.engine_label.setText(self.tr("running"))
        self.events.add_event(UiEvent(time.time(), "info", self.tr("Pipeline started")))

    def _on_failed(self, message: str) -> None:
        self.events.add_event(UiEvent(time.time(), "alert", self.tr("Pipeline problem: {msg}").format(msg=message)))
        self.engine_label.setText(self.tr("stopped"))
        box = QMessageBox(QMessageBox.Icon.Critical, self.tr("The camera pipeline stopped"),
                          self.tr("The cameras could not be started:\n{msg}\n\nCheck Settings (cameras, model pack) "
                                  "and the log in {logs}.").format(msg=message, logs=self.layout_.logs), parent=self)
        box.setModal(False)
        box.show()
        self.dialog = box

    # --- dialogs -------------------------------------------------------------------------------
    def open_report_dialog(self) -> QWidget:
        from ui.report_dialog import ReportDialog

        people = sorted(self._names.items(), key=lambda kv: kv[1].lower())
        dlg = ReportDialog(self.cfg, self.data_dir, people, self)
        self.dialog = dlg
        dlg.show()
        return dlg

    def open_settings(self) -> QWidget:
        from ui.settings_dialog import SettingsDialog

        if self.settings_target is not None:  # demo: edit and save the real outlet's settings
            real_cfg, real_dir = self.settings_target
            dlg = SettingsDialog(real_cfg, real_dir, self, engine_info=self.engine_info)
            dlg.saved.connect(self._real_settings_saved)
        else:
            dlg = SettingsDialog(self.cfg, self.data_dir, self, engine_info=self.engine_info,
                                 people=list(self._names.items()))
            dlg.saved.connect(self.apply_config)
        self.dialog = dlg
        dlg.show()
        return dlg

    def open_about(self) -> QWidget:
        from ui.about_dialog import AboutDialog

        loaded = self.engine.loaded  # the dialogs' engine, if already loaded
        dlg = AboutDialog(self.cfg, loaded.info if loaded is not None else None, self,
                          running_engine=str(self.engine_info.get("engine", "")),
                          running_provider=str(self.engine_info.get("provider", "")))
        self.dialog = dlg
        dlg.show()
        return dlg

    def _real_settings_saved(self, cfg: AppConfig) -> None:
        self.settings_target = (cfg, self.settings_target[1])
        self.show_banner(self.tr("Your outlet's settings are saved. Close and start the console again to leave the "
                                 "demo and use your cameras."))
        self.events.add_event(UiEvent(time.time(), "info", self.tr("Settings saved for your outlet (used from the next start)")))

    def apply_config(self, cfg: AppConfig) -> None:
        """Apply saved settings without a restart: cameras start/stop, timings and threshold update."""
        self.controller.apply_config(cfg)
        self.engine.set_config(cfg)
        self.unknown.set_storage(cfg.storage)
        self.controller.unknown_keeper.storage = cfg.storage  # one attribute swap: safe across threads
        self.gallery_manager.cfg = cfg
        self.cfg = cfg
        self.grid.set_cameras([(c.id, c.name or c.id) for c in cfg.cameras if c.enabled])
        self.setWindowTitle(self.tr("SPG Presence Console — {outlet}").format(outlet=cfg.outlet.name))
        self.events.add_event(UiEvent(time.time(), "info", self.tr("Settings saved and applied")))
        if cfg.cameras and not self.demo:
            self.banner.setVisible(False)

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Esc leaves the large camera view from anywhere
        if event.key() == Qt.Key.Key_Escape and self.grid.focused:
            self.grid.show_grid()
            return
        super().keyPressEvent(event)

    # --- shutdown ------------------------------------------------------------------------------
    def shutdown(self, timeout_s: float = 20.0) -> bool:
        self._timeline_timer.stop()
        self.unknown._timer.stop()
        ok = self.controller.shutdown(timeout_s)
        self.engine.shutdown()
        for bg in (self._bg, self.gallery_manager._bg, self.unknown._bg):
            bg.shutdown(wait=False)
        self.closed_cleanly = ok
        return ok

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.closed_cleanly is None:
            self.statusBar().showMessage(self.tr("Stopping cameras…"))
            self.shutdown()
        event.accept()
