"""Help -> About: version, active engine, model pack and its licence, execution provider.

``engine_info``: 'engine' (EngineInfo.name), 'pack', 'licence', 'provider', any of them missing."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from core.config import AppConfig
from core.engine.licence import licence_for
from ui.i18n import translate_buttons

ENGINE_TITLES = {"opencv": "opencv (YuNet + SFace)", "dlib": "dlib (offline)"}

try:
    from core import __version__ as VERSION  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    VERSION = "0.1"


class AboutDialog(QDialog):
    def __init__(self, cfg: AppConfig, engine_info: dict, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(self.tr("About SPG Presence Console"))
        info = engine_info or {}
        engine = str(info.get("engine") or "")
        pack = str(info.get("pack") or cfg.engine.pack)
        # the running engine's own EngineInfo.licence when known, else the licence of that engine's models
        licence = str(info.get("licence") or (licence_for(engine, Path(pack).name) if engine else ""))
        rows = [
            (self.tr("Version"), str(VERSION)),
            (self.tr("Engine"), ENGINE_TITLES.get(engine, engine) or cfg.engine.kind),
            (self.tr("Model pack"), pack),
            (self.tr("Model licence"), licence or self.tr("see the pack's folder")),
            (self.tr("Execution provider"), str(info.get("provider") or self.tr("not started yet"))),
        ]
        html = "<h3>SPG Presence Console</h3><table>" + "".join(
            f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in rows) + "</table>"
        self.text = QLabel(html)
        self.text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        translate_buttons(buttons)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(self.text)
        lay.addWidget(buttons)
        self.rows = rows
