"""Qt translations: every user-visible string goes through ``tr()``; Indonesian ships in
``resources/i18n/spg_console_id.qm`` (compiled from the .ts next to it with pyside6-lrelease).
The language comes from ``cfg.outlet.language``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

from core.paths import RESOURCES_DIR

log = logging.getLogger(__name__)

I18N_DIR = RESOURCES_DIR / "i18n"
_installed: list[QTranslator] = []


def install_translation(app: QCoreApplication, language: str) -> bool:
    """Install the console's (and Qt's own) translation for ``language``; True if the console's loaded."""
    for t in _installed:
        app.removeTranslator(t)
    _installed.clear()
    if language == "en":
        return True
    qt = QTranslator(app)
    if qt.load(QLocale(language), "qtbase", "_", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt)
        _installed.append(qt)
    ours = QTranslator(app)
    qm = I18N_DIR / f"spg_console_{language}.qm"
    if qm.is_file() and ours.load(str(qm)):
        app.installTranslator(ours)
        _installed.append(ours)
        return True
    log.warning("no translation for language %r (%s)", language, qm)
    return False


def translation_file(language: str) -> Path:
    return I18N_DIR / f"spg_console_{language}.qm"


def translate_buttons(box) -> None:
    """Standard dialog buttons in the console's language (Qt ships no Indonesian for its own buttons)."""
    from PySide6.QtWidgets import QDialogButtonBox

    sb = QDialogButtonBox.StandardButton
    texts = {
        sb.Save: QCoreApplication.translate("buttons", "Save"),
        sb.Cancel: QCoreApplication.translate("buttons", "Cancel"),
        sb.Close: QCoreApplication.translate("buttons", "Close"),
        sb.Ok: QCoreApplication.translate("buttons", "OK"),
    }
    for which, text in texts.items():
        button = box.button(which)
        if button is not None:
            button.setText(text)
