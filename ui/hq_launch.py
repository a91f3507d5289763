"""Start the HQ console: ``app.py hq`` with no action calls :func:`main`.

HQ mode opens no camera and loads no engine. The data folder is used for the log and the settings (the
language) only, and takes no lock: the HQ console never writes an outlet's data, so it may run beside an
outlet console on the same PC. The URL comes from ``--db``, else ``SPG_CENTRAL_URL`` (environment, the data
folder's ``.env``, the repository's ``.env``); its password is registered as a secret before anything logs.
"""

from __future__ import annotations

import argparse
import logging
import sys

from PySide6.QtCore import QCoreApplication, QTimer

from core.config import ConfigError, central_url, load_config, resolve_data_dir
from core.paths import DataLayout
from core.secrets import redact, register_secret, url_password
from ui.launch import EXIT_FAILED, _ensure_platform, _quit_on_signals, _screenshot, show_message

log = logging.getLogger(__name__)

TITLE = "SPG Presence Console — HQ"


def main(args: argparse.Namespace) -> int:
    _ensure_platform(args)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SPG Presence Console")
    app.setOrganizationName("SPGPresence")
    url = getattr(args, "db", None)
    register_secret(url_password(url or ""))
    try:
        data_dir = resolve_data_dir(getattr(args, "data_dir", None), getattr(args, "config", None))
        cfg = load_config(getattr(args, "config", None), data_dir=data_dir)
        url = url or central_url(cfg)
    except ConfigError as exc:
        show_message("error", TITLE, QCoreApplication.translate("launch", "The settings are not valid:\n{err}").format(
            err=redact(str(exc))))
        return EXIT_FAILED
    from core.logging_setup import setup_logging
    from ui.i18n import install_translation

    try:
        setup_logging(cfg.logging.level, DataLayout(data_dir).logs)
    except OSError as exc:
        show_message("error", TITLE, QCoreApplication.translate(
            "launch", "The data folder {dir} cannot be used: {err}. Choose another with --data-dir or SPG_DATA_DIR.").format(
            dir=data_dir, err=redact(str(exc))))
        return EXIT_FAILED
    install_translation(app, cfg.outlet.language)
    if not url:
        show_message("error", TITLE, QCoreApplication.translate(
            "launch", "No central database: give --db postgresql://user:password@host/database, or set "
            "SPG_CENTRAL_URL in the environment or in the data folder's .env."))
        return 2
    from ui.hq_window import HqWindow
    from ui.tasks import shutdown_shared

    win = HqWindow(url, export_folder=DataLayout(data_dir).root / "reports")
    win.show()
    if getattr(args, "screenshot", None):
        from pathlib import Path

        QTimer.singleShot(int(max(0.0, args.after) * 1000), lambda: _screenshot(win, Path(args.screenshot), app))
    _quit_on_signals(app)
    rc = app.exec()
    if win.closed_cleanly is None:
        win.shutdown()
    shutdown_shared(wait=False)
    return int(rc)
