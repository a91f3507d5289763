"""Settings: cameras (add / edit / remove, test connection with a preview frame), recognition
threshold, presence timings, shifts (the Shifts tab, ui.shift_editor: weekly pattern per SPG with breaks and
late rules, overtime rounding, holidays and days off), Telegram (token, chat, "Send test message"), model pack (active,
import, download with progress), data folder.

Everything is validated through core.config.AppConfig before saving: an invalid value shows the error
and NOTHING is saved. After a save, :attr:`saved` carries the new config so the main window applies it
without a restart where possible (cameras added start, removed ones stop).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from pydantic import SecretStr, ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.config import AppConfig, CameraConfig, CameraDefaults
from core.engine.packs import PackFiles, download_pack, import_pack
from core.secrets import mask_url, redact
from ui.config_store import save_settings
from ui.controller import array_to_qimage, probe_camera
from ui.i18n import translate_buttons
from ui.shift_editor import ShiftEditor
from ui.tasks import Background

if TYPE_CHECKING:
    from ui.controller import ProbeResult

log = logging.getLogger(__name__)

def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "settings"
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{key}: {msg}")
    return "\n".join(lines)


class CameraEditDialog(QDialog):
    def __init__(self, cam: CameraConfig | None, parent: QWidget | None = None, defaults: CameraDefaults | None = None):
        super().__init__(parent)
        self.defaults = defaults or CameraDefaults()
        """RTSP transport and timeouts that "Test connection" uses, as the camera workers will."""
        self.setWindowTitle(self.tr("Camera"))
        self._bg = Background(workers=1, parent=self, name="spg-camtest")
        self.id_edit = QLineEdit(cam.id if cam else "")
        self.name_edit = QLineEdit(cam.name if cam else "")
        self.source_edit = QLineEdit(str(cam.source) if cam else "")
        self.source_edit.setPlaceholderText(self.tr("rtsp://<user>:<password>@<camera-ip>/stream, a webcam number (0) or a video file"))
        self.enabled = QCheckBox(self.tr("Enabled"))
        self.enabled.setChecked(cam.enabled if cam else True)
        browse = QPushButton(self.tr("File…"))
        browse.clicked.connect(self._browse)
        self.test_btn = QPushButton(self.tr("Test connection"))
        self.test_btn.clicked.connect(self.test_connection)
        self.preview = QLabel(self.tr("No test yet."))
        self.preview.setMinimumSize(320, 180)
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        src_row = QHBoxLayout()
        src_row.addWidget(self.source_edit, 1)
        src_row.addWidget(browse)
        form = QFormLayout()
        form.addRow(self.tr("Id"), self.id_edit)
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Source"), src_row)
        form.addRow("", self.enabled)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        translate_buttons(buttons)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.test_btn)
        lay.addWidget(self.preview)
        lay.addWidget(buttons)
        self.test_result: tuple[bool, str] | None = None

    def _browse(self) -> None:
        f, _ = QFileDialog.getOpenFileName(self, self.tr("Video file"), "", "Video (*.mp4 *.avi *.mkv *.mov);;All files (*)")
        if f:
            self.source_edit.setText(f)

    def values(self) -> dict[str, Any]:
        src: str | int = self.source_edit.text().strip()
        if isinstance(src, str) and src.isdigit():
            src = int(src)
        return {"id": self.id_edit.text().strip(), "name": self.name_edit.text().strip(), "source": src,
                "enabled": self.enabled.isChecked()}

    def test_connection(self) -> None:
        self.test_btn.setEnabled(False)
        self.preview.setText(self.tr("Connecting…"))
        src = self.values()["source"]
        self._bg.submit(lambda: probe_camera(src, self.defaults), self._tested,
                        lambda e: self._show_test(False, redact(str(e)), None))

    def _tested(self, res: ProbeResult) -> None:
        self._show_test(res.ok, res.message, res.frame)

    def _show_test(self, ok: bool, msg: str, frame: Any) -> None:
        self.test_btn.setEnabled(True)
        self.test_result = (ok, msg)
        if ok and frame is not None:
            pm = QPixmap.fromImage(array_to_qimage(frame)).scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio)
            self.preview.setPixmap(pm)
            self.preview.setToolTip(self.tr("Connected: {info}").format(info=msg))
        else:
            self.preview.setText(self.tr("Connection failed: {why}").format(why=redact(msg)))


class SettingsDialog(QDialog):
    saved = Signal(object)  # the new AppConfig
    _pack_progress = Signal(int, int)

    def __init__(self, cfg: AppConfig, data_dir: Path, parent: QWidget | None = None, engine_info: dict | None = None,
                 people: Sequence[tuple[str, str]] | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("Settings"))
        self.cfg, self.data_dir = cfg, Path(data_dir)
        self.engine_info = engine_info or {}
        self._bg = Background(workers=1, parent=self, name="spg-settings")
        self.cameras: list[dict[str, Any]] = [c.model_dump() for c in cfg.cameras]
        self.tabs = QTabWidget()
        self.tabs.addTab(self._cameras_tab(), self.tr("Cameras"))
        self.tabs.addTab(self._recognition_tab(), self.tr("Recognition"))
        self.tabs.addTab(self._presence_tab(), self.tr("Presence && shifts"))
        self.shift_editor = ShiftEditor(cfg, self._people(people))
        shifts_scroll = QScrollArea()
        shifts_scroll.setWidgetResizable(True)
        shifts_scroll.setWidget(self.shift_editor)
        self.tabs.addTab(shifts_scroll, self.tr("Shifts"))
        self.tabs.addTab(self._telegram_tab(), self.tr("Telegram"))
        self.tabs.addTab(self._models_tab(), self.tr("Model pack"))
        self.tabs.addTab(self._general_tab(), self.tr("Outlet && data"))
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c0392b;")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        translate_buttons(self.buttons)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addWidget(self.error)
        lay.addWidget(self.buttons)
        self.resize(860, 640)
        self.new_cfg: AppConfig | None = None
        self._pack_progress.connect(self._set_pack_progress)

    def _people(self, people: Sequence[tuple[str, str]] | None) -> list[tuple[str, str]]:
        """(spg_id, name) of the SPGs whose shifts can be edited: given, else this data folder's gallery."""
        if people is None:
            from core.gallery import Gallery, GalleryError
            from core.paths import DataLayout

            try:
                people = list(Gallery(DataLayout(self.data_dir).gallery).names().items())
            except (GalleryError, OSError) as exc:
                log.warning("SPG names for the shift editor not available: %s", exc)
                people = []
        return sorted(people, key=lambda p: str(p[1]).lower())

    def _set_pack_progress(self, done: int, total: int) -> None:
        if total > 0:
            self.pack_progress.setRange(0, total)
            self.pack_progress.setValue(done)

    # --- tabs ----------------------------------------------------------------------------------
    def _cameras_tab(self) -> QWidget:
        w = QWidget()
        self.cam_table = QTableWidget(0, 4)
        self.cam_table.setHorizontalHeaderLabels([self.tr("Id"), self.tr("Name"), self.tr("Source"), self.tr("Enabled")])
        self.cam_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.cam_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.cam_table.horizontalHeader().setStretchLastSection(True)
        add = QPushButton(self.tr("Add…"))
        edit = QPushButton(self.tr("Edit…"))
        remove = QPushButton(self.tr("Remove"))
        add.clicked.connect(lambda: self.edit_camera(None))
        edit.clicked.connect(lambda: self.edit_camera(self.cam_table.currentRow()))
        remove.clicked.connect(lambda: self.remove_camera(self.cam_table.currentRow()))
        row = QHBoxLayout()
        for b in (add, edit, remove):
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(w)
        lay.addWidget(self.cam_table)
        lay.addLayout(row)
        self._fill_cameras()
        return w

    def _fill_cameras(self) -> None:
        self.cam_table.setRowCount(len(self.cameras))
        for i, c in enumerate(self.cameras):
            for j, v in enumerate((c["id"], c.get("name", ""), mask_url(c["source"]), self.tr("yes") if c.get("enabled", True) else self.tr("no"))):
                self.cam_table.setItem(i, j, QTableWidgetItem(str(v)))

    def add_camera(self, values: dict[str, Any]) -> None:
        self.cameras.append(values)
        self._fill_cameras()

    def edit_camera(self, row: int | None) -> None:
        cam = None
        if row is not None and 0 <= row < len(self.cameras):
            try:
                cam = CameraConfig.model_validate(self.cameras[row])
            except ValidationError:
                cam = None
        dlg = CameraEditDialog(cam, self, self.cfg.camera)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            vals = dlg.values()
            if row is not None and 0 <= row < len(self.cameras):
                self.cameras[row] = {**self.cameras[row], **vals}
            else:
                self.cameras.append(vals)
            self._fill_cameras()

    def remove_camera(self, row: int) -> None:
        if 0 <= row < len(self.cameras):
            del self.cameras[row]
            self._fill_cameras()

    def _recognition_tab(self) -> QWidget:
        w = QWidget()
        e = self.cfg.engine
        self.threshold = QLineEdit("" if e.threshold is None else str(e.threshold))
        self.threshold.setPlaceholderText(self.tr("empty = the value calibrated for the model"))
        self.min_face = QSpinBox()
        self.min_face.setRange(1, 1000)
        self.min_face.setValue(e.min_face_px)
        self.process_fps = QDoubleSpinBox()
        self.process_fps.setRange(0.1, 30.0)
        self.process_fps.setValue(self.cfg.camera.process_fps)
        form = QFormLayout(w)
        form.addRow(self.tr("Recognition threshold (-1 to 1)"), self.threshold)
        form.addRow(self.tr("Smallest face to recognise (pixels)"), self.min_face)
        form.addRow(self.tr("Frames per second per camera"), self.process_fps)
        return w

    def _presence_tab(self) -> QWidget:
        w = QWidget()
        p = self.cfg.presence
        self.grace = QDoubleSpinBox()
        self.absent = QDoubleSpinBox()
        for s, v in ((self.grace, p.grace_seconds), (self.absent, p.absent_seconds)):
            s.setRange(0.0, 86400.0)
            s.setDecimals(0)
            s.setSuffix(" s")
            s.setValue(v)
        self.notify_return = QCheckBox(self.tr("Also notify when an SPG comes back"))
        self.notify_return.setChecked(p.notify_return)
        form = QFormLayout()
        form.addRow(self.tr("Grace period (seconds not seen before 'grace')"), self.grace)
        form.addRow(self.tr("Absent after (seconds not seen)"), self.absent)
        form.addRow("", self.notify_return)
        lay = QVBoxLayout(w)
        lay.addLayout(form)
        lay.addWidget(QLabel(self.tr("Shifts, breaks, holidays and days off: see the Shifts tab.")))
        lay.addStretch(1)
        return w

    def _telegram_tab(self) -> QWidget:
        w = QWidget()
        t = self.cfg.telegram
        self.tg_enabled = QCheckBox(self.tr("Send alerts to Telegram"))
        self.tg_enabled.setChecked(t.enabled)
        self.tg_token = QLineEdit()
        self.tg_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.tg_token.setPlaceholderText(self.tr("(saved, hidden)") if t.token else self.tr("bot token from @BotFather"))
        self.tg_chat = QLineEdit()
        self.tg_chat.setPlaceholderText(self.tr("(saved, hidden)") if t.chat_id else self.tr("chat id, e.g. -1001234567890"))
        self.tg_test = QPushButton(self.tr("Send test message"))
        self.tg_test.clicked.connect(self.send_test_message)
        self.tg_result = QLabel()
        self.tg_result.setWordWrap(True)
        form = QFormLayout(w)
        form.addRow("", self.tg_enabled)
        form.addRow(self.tr("Bot token"), self.tg_token)
        form.addRow(self.tr("Chat id"), self.tg_chat)
        form.addRow("", self.tg_test)
        form.addRow("", self.tg_result)
        return w

    def _models_tab(self) -> QWidget:
        w = QWidget()
        self.pack = QLineEdit(self.cfg.engine.pack)
        self.engine_kind = QComboBox()
        for k in ("auto", "insightface", "opencv", "dlib"):
            self.engine_kind.addItem(k, k)
        self.engine_kind.setCurrentIndex(max(0, self.engine_kind.findData(self.cfg.engine.kind)))
        info = self.engine_info
        active = QLabel(self.tr("Active: {engine} · {pack} · {provider}").format(
            engine=info.get("engine", "?"), pack=info.get("pack", self.cfg.engine.pack), provider=info.get("provider", "?")))
        active.setWordWrap(True)
        browse = QPushButton(self.tr("Use a pack folder…"))
        browse.clicked.connect(self._browse_pack)
        imp = QPushButton(self.tr("Import a pack…"))
        imp.clicked.connect(self.import_pack)
        dl = QPushButton(self.tr("Download a pack"))
        dl.clicked.connect(self.download_pack)
        self.pack_progress = QProgressBar()
        self.pack_progress.setVisible(False)
        self.pack_message = QLabel()
        self.pack_message.setWordWrap(True)
        row = QHBoxLayout()
        for b in (browse, imp, dl):
            row.addWidget(b)
        form = QFormLayout(w)
        form.addRow(active)
        form.addRow(self.tr("Engine"), self.engine_kind)
        form.addRow(self.tr("Model pack"), self.pack)
        form.addRow(row)
        form.addRow(self.pack_progress)
        form.addRow(self.pack_message)
        return w

    def _general_tab(self) -> QWidget:
        w = QWidget()
        o = self.cfg.outlet
        self.outlet_name = QLineEdit(o.name)
        self.timezone = QLineEdit(o.timezone)
        self.language = QComboBox()
        self.language.addItem("English", "en")
        self.language.addItem("Bahasa Indonesia", "id")
        self.language.setCurrentIndex(max(0, self.language.findData(o.language)))
        self.data_dir_edit = QLineEdit(str(self.data_dir))
        self.data_dir_edit.setReadOnly(True)
        open_btn = QPushButton(self.tr("Open folder"))
        open_btn.clicked.connect(lambda: __import__("ui.report_dialog", fromlist=["open_folder"]).open_folder(self.data_dir))
        row = QHBoxLayout()
        row.addWidget(self.data_dir_edit, 1)
        row.addWidget(open_btn)
        form = QFormLayout(w)
        form.addRow(self.tr("Outlet name"), self.outlet_name)
        form.addRow(self.tr("Time zone"), self.timezone)
        form.addRow(self.tr("Language (after restart)"), self.language)
        form.addRow(self.tr("Data folder"), row)
        form.addRow(QLabel(self.tr("To use another data folder start the console with --data-dir or set SPG_DATA_DIR.")))
        return w

    # --- build / validate / save ---------------------------------------------------------------
    def build_config(self) -> AppConfig:
        """The edited config, validated by AppConfig (raises ValidationError or ValueError)."""
        data = self.cfg.model_dump(mode="python")
        data["cameras"] = [dict(c) for c in self.cameras]
        th = self.threshold.text().strip()
        try:
            data["engine"]["threshold"] = float(th) if th else None
        except ValueError:
            raise ValueError(self.tr("Recognition threshold must be a number between -1 and 1, or empty (got {v!r}).").format(v=th)) from None
        data["engine"]["min_face_px"] = self.min_face.value()
        data["engine"]["pack"] = self.pack.text().strip()
        data["engine"]["kind"] = self.engine_kind.currentData()
        data["camera"]["process_fps"] = self.process_fps.value()
        data["presence"]["grace_seconds"] = self.grace.value()
        data["presence"]["absent_seconds"] = self.absent.value()
        data["presence"]["notify_return"] = self.notify_return.isChecked()
        shifts = self.shift_editor.values()
        data["presence"]["default_shift"] = shifts["default_shift"]
        data["presence"]["shifts"] = shifts["shifts"]
        data["attendance"] = shifts["attendance"]
        data["telegram"]["enabled"] = self.tg_enabled.isChecked()
        data["telegram"].pop("token", None)
        data["telegram"].pop("chat_id", None)
        data["outlet"]["name"] = self.outlet_name.text().strip() or "Outlet"
        data["outlet"]["timezone"] = self.timezone.text().strip()
        data["outlet"]["language"] = self.language.currentData()
        new = AppConfig.model_validate(data)
        new.telegram.token = SecretStr(self.tg_token.text().strip()) if self.tg_token.text().strip() else self.cfg.telegram.token
        new.telegram.chat_id = SecretStr(self.tg_chat.text().strip()) if self.tg_chat.text().strip() else self.cfg.telegram.chat_id
        new.central.url = self.cfg.central.url  # from SPG_CENTRAL_URL / YAML; never in settings.yaml
        if new.telegram.enabled and (new.telegram.token is None or new.telegram.chat_id is None):
            raise ValueError(self.tr("Telegram is switched on but the bot token or chat id is missing."))
        return new

    def save(self) -> bool:
        try:
            new = self.build_config()
        except ValidationError as exc:
            self.error.setText(self.tr("Not saved. Please fix:") + "\n" + format_validation_error(exc))
            return False
        except ValueError as exc:
            self.error.setText(self.tr("Not saved. Please fix:") + "\n" + str(exc))
            return False
        try:
            save_settings(new, self.data_dir, token=self.tg_token.text().strip() or None, chat_id=self.tg_chat.text().strip() or None)
        except OSError as exc:
            self.error.setText(self.tr("Not saved: cannot write the settings file ({err}).").format(err=exc))
            return False
        self.error.setText("")
        self.new_cfg = new
        self.saved.emit(new)
        self.accept()
        return True

    # --- actions (background) ------------------------------------------------------------------
    def send_test_message(self) -> None:
        try:
            cfg = self.build_config()
        except (ValidationError, ValueError) as exc:
            self.tg_result.setText(format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc))
            return
        self.tg_test.setEnabled(False)
        self.tg_result.setText(self.tr("Sending…"))

        def job():
            from core.telegram import send_test_message

            return send_test_message(cfg)

        def done(res) -> None:
            self.tg_test.setEnabled(True)
            ok, msg = res if isinstance(res, tuple) else (bool(res), "")
            self.tg_result.setText(self.tr("Sent. Check the Telegram chat.") if ok else self.tr("Not sent: {why}").format(why=redact(str(msg))))

        def fail(exc: BaseException) -> None:
            self.tg_test.setEnabled(True)
            self.tg_result.setText(self.tr("Not sent: {why}").format(why=redact(str(exc))))

        self._bg.submit(job, done, fail)

    def _browse_pack(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Model pack folder"))
        if d:
            self.pack.setText(d)

    def _pack_job(self, label: str, fn: Callable[[], PackFiles]) -> None:
        self.pack_progress.setVisible(True)
        self.pack_progress.setRange(0, 0)
        self.pack_message.setText(label)

        def done(res: PackFiles) -> None:
            self.pack_progress.setVisible(False)
            self.pack.setText(res.name)
            self.pack_message.setText(self.tr("Done. Save to use it; re-index the gallery afterwards if the model changed."))

        def fail(exc: BaseException) -> None:
            self.pack_progress.setVisible(False)
            self.pack_message.setText(self.tr("Failed: {why}").format(why=redact(str(exc))))

        self._bg.submit(fn, done, fail)

    def import_pack(self) -> None:
        d = QFileDialog.getExistingDirectory(self, self.tr("Folder with the model pack (.onnx files)"))
        if not d:
            return

        def job() -> PackFiles:
            return import_pack(Path(d), self.data_dir)

        self._pack_job(self.tr("Importing…"), job)

    def download_pack(self) -> None:
        name = self.pack.text().strip() or "buffalo_l"

        def job() -> PackFiles:
            return download_pack(name, self.data_dir, progress=lambda d, t: self._pack_progress.emit(d, t))

        self._pack_job(self.tr("Downloading {name}…").format(name=name), job)
