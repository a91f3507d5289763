"""Help -> About: version, active engine, model pack and its licence, execution provider."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from core import __version__
from core.config import AppConfig
from core.engine.base import EngineInfo
from core.engine.licence import licence_for
from ui.i18n import translate_buttons

ENGINE_TITLES = {"opencv": "opencv (YuNet + SFace)", "dlib": "dlib (offline)"}


class AboutDialog(QDialog):
    """``engine`` is the loaded engine's own description, when one is loaded; ``running_engine`` /
    ``running_provider`` are what the pipeline's inference server reported (its engine lives in another process)."""

    def __init__(self, cfg: AppConfig, engine: EngineInfo | None, parent: QWidget | None = None, *,
                 running_engine: str = "", running_provider: str = ""):
        super().__init__(parent)
        self.setWindowTitle(self.tr("About SPG Presence Console"))
        name = engine.name if engine else running_engine
        pack = engine.pack_path if engine and engine.pack_path else cfg.engine.pack
        # the loaded engine's own EngineInfo.licence, else the licence of the reported engine's models
        licence = engine.licence if engine else (licence_for(name, Path(pack).name) if name else "")
        rows = [
            (self.tr("Version"), __version__),
            (self.tr("Engine"), ENGINE_TITLES.get(name, name) or cfg.engine.kind),
            (self.tr("Model pack"), pack),
            (self.tr("Model licence"), licence or self.tr("see the pack's folder")),
            (self.tr("Execution provider"), (engine.provider if engine else running_provider) or self.tr("not started yet")),
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
