"""The status bar's view of the link to the brand's central database (issue 13)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from PySide6.QtWidgets import QLabel, QWidget

from core.central.link_state import LinkState
from core.secrets import redact


class CentralLinkLabel(QLabel):
    """"Central: connected", "Central: offline since 14:05 · 12 events waiting"; hidden when no central
    database is configured. The tooltip holds the last problem's sentence (password masked)."""

    def __init__(self, timezone: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._tz = ZoneInfo(timezone)
        self.setObjectName("central_link")
        self.setVisible(False)

    def show_state(self, state: LinkState) -> None:
        self.setVisible(state.enabled)
        if not state.enabled:
            return
        if state.connected:
            text = self.tr("Central: connected")
        elif state.offline_since is not None:
            since = datetime.fromtimestamp(state.offline_since, self._tz).strftime("%H:%M")
            text = self.tr("Central: offline since {time}").format(time=since)
        else:
            text = self.tr("Central: not connected")
        if state.waiting:
            text += " · " + self.tr("{n} events waiting").format(n=state.waiting)
        self.setText(text)
        self.setToolTip(redact(state.last_error) if state.last_error else "")
        self.setStyleSheet("" if state.connected else "color: #b9770e;")
