"""Start the console GUI: ``app.py`` with no subcommand calls :func:`main`.

One console per data folder (a file lock; a second one is refused with a message), logging, the
saved settings, the demo outlet on first run (or with ``--demo``), and ``--screenshot FILE --after S``
(render the main window offscreen after S seconds and exit). A failure to start is shown in a
dialog, never a silent exit.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from PySide6.QtCore import QCoreApplication

from core.config import ENV_DATA_DIR, AppConfig, ConfigError, flag_overrides, load_config, resolve_data_dir
from core.instance_lock import CONSOLE, AlreadyRunning, DataFolderNotWritable, InstanceLock
from core.paths import DataLayout
from core.secrets import redact

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_ALREADY_RUNNING = 0, 1, 3


def _headless() -> bool:
    return os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal")


def show_message(kind: str, title: str, text: str) -> None:
    """A message box; offscreen (tests, screenshots) it goes to stderr instead of waiting for a click."""
    print(f"{title}: {text}", file=sys.stderr)
    if _headless():
        return
    from PySide6.QtWidgets import QMessageBox

    icon = {"error": QMessageBox.Icon.Critical, "warning": QMessageBox.Icon.Warning}.get(kind, QMessageBox.Icon.Information)
    QMessageBox(icon, title, text).exec()


def acquire_instance_lock(data_dir: Path) -> InstanceLock:
    """The data folder's lock (shared with headless runs); raises :class:`InstanceLockError`."""
    return InstanceLock(data_dir, CONSOLE).acquire()


def _ensure_platform(args: argparse.Namespace) -> None:
    if getattr(args, "screenshot", None) and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def first_run(cfg: AppConfig, data_dir: Path) -> bool:
    """No configuration yet: no saved settings, no camera configured, nobody enrolled."""
    from ui.config_store import has_settings

    if has_settings(data_dir) or cfg.cameras:
        return False
    gallery = DataLayout(data_dir).gallery
    return not (gallery.is_dir() and any(gallery.iterdir()))


def main(args: argparse.Namespace) -> int:
    _ensure_platform(args)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("SPG Presence Console")
    app.setOrganizationName("SPGPresence")

    try:
        data_dir = resolve_data_dir(getattr(args, "data_dir", None), getattr(args, "config", None))
    except ConfigError as exc:
        show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The settings are not valid:\n{err}").format(err=redact(str(exc))))
        return EXIT_FAILED
    os.environ[ENV_DATA_DIR] = str(data_dir)  # children (spawned) and core.config agree on it
    try:
        DataLayout(data_dir).ensure()
    except OSError as exc:
        show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The data folder {dir} cannot be used: {err}. Choose another with --data-dir or SPG_DATA_DIR.").format(dir=data_dir, err=redact(str(exc))))
        return EXIT_FAILED
    try:
        lock = acquire_instance_lock(data_dir)
    except AlreadyRunning as exc:
        show_message("warning", "SPG Presence Console",
                     QCoreApplication.translate("launch", "The data folder {dir} is already in use by {owner}: a console or headless run is already running there. "
                        "Only one may use a data folder at a time. Close the other one first (check the taskbar), or choose another data folder with --data-dir.").format(dir=data_dir, owner=exc.owner))
        return EXIT_ALREADY_RUNNING
    except DataFolderNotWritable as exc:
        show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The data folder {dir} cannot be used: {err}. Choose another with --data-dir or SPG_DATA_DIR.").format(dir=data_dir, err=exc.reason))
        return EXIT_FAILED
    try:
        return _run(app, args, data_dir)
    except Exception as exc:  # noqa: BLE001 - a dialog, never a silent exit
        log.exception("the console failed to start")
        show_message("error", "SPG Presence Console",
                     QCoreApplication.translate("launch", "The console could not start:\n{err}\n\nDetails are in {log}.").format(err=redact(str(exc)), log=DataLayout(data_dir).logs / "console.log"))
        traceback.print_exc()
        return EXIT_FAILED
    finally:
        lock.release()


def _run(app, args: argparse.Namespace, data_dir: Path) -> int:
    from PySide6.QtCore import QTimer

    from core.logging_setup import setup_logging
    from ui.i18n import install_translation
    from ui.tasks import shutdown_shared

    try:
        cfg = load_config(getattr(args, "config", None), data_dir=data_dir,
                          overrides=flag_overrides(getattr(args, "pack", None)) or None)
    except ConfigError as exc:
        setup_logging("INFO", DataLayout(data_dir).logs)
        show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The settings are not valid:\n{err}").format(err=redact(str(exc))))
        return EXIT_FAILED
    setup_logging(cfg.logging.level, DataLayout(data_dir).logs)
    install_translation(app, cfg.outlet.language)
    demo = bool(getattr(args, "demo", False)) or first_run(cfg, data_dir)
    state: dict = {"window": None, "rc": EXIT_OK}

    def open_window(run_cfg: AppConfig, run_dir: Path, is_demo: bool) -> None:
        from ui.main_window import MainWindow

        try:
            win = MainWindow(run_cfg, run_dir, demo=is_demo, settings_target=(cfg, data_dir) if is_demo else None)
        except Exception as exc:  # noqa: BLE001
            log.exception("main window failed")
            show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The console could not start:\n{err}").format(err=redact(str(exc))))
            state["rc"] = EXIT_FAILED
            app.quit()
            return
        state["window"] = win
        win.show()
        if getattr(args, "screenshot", None):
            QTimer.singleShot(int(max(0.0, args.after) * 1000), lambda: _screenshot(win, Path(args.screenshot), app))

    _quit_on_signals(app)
    if demo:
        _start_demo(app, args, cfg, data_dir, open_window, state)
    else:
        QTimer.singleShot(0, lambda: open_window(cfg, data_dir, False))
    rc = app.exec()
    win = state.get("window")
    if win is not None and win.closed_cleanly is None:
        win.shutdown()
    shutdown_shared(wait=False)
    return state["rc"] or rc


def _start_demo(app, args, cfg: AppConfig, data_dir: Path, open_window, state: dict) -> None:
    """Build (or reuse) the demo outlet in the background with a progress dialog, then open it."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog

    from core import demo as demo_mod
    from ui.tasks import shared_background

    progress = QProgressDialog(QCoreApplication.translate("launch", "Preparing the demo outlet (first run only)…"), "", 0, 0)
    progress.setWindowTitle("SPG Presence Console")
    progress.setCancelButton(None)
    progress.setWindowModality(Qt.WindowModality.ApplicationModal)
    progress.setMinimumDuration(0)
    progress.show()
    state["progress"] = progress

    def job():
        return demo_mod.build_demo(data_dir, cfg)

    def done(outlet) -> None:
        progress.close()
        open_window(outlet.config, outlet.data_dir, True)

    def fail(exc: BaseException) -> None:
        progress.close()
        log.error("demo outlet failed: %s", exc)
        show_message("error", "SPG Presence Console", QCoreApplication.translate("launch", "The demo outlet could not be prepared:\n{err}").format(err=redact(str(exc))))
        state["rc"] = EXIT_FAILED
        app.quit()

    shared_background().submit(job, done, fail)


def _quit_on_signals(app) -> None:
    """Ctrl+C in a terminal or SIGTERM (a service manager) close the window cleanly (cameras stopped)."""
    import signal

    from PySide6.QtCore import QTimer

    def handler(*_args) -> None:
        QTimer.singleShot(0, app.closeAllWindows)
        QTimer.singleShot(0, app.quit)

    for sig in (signal.SIGINT, getattr(signal, "SIGTERM", None)):
        if sig is not None:
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):
                pass
    tick = QTimer(app)  # lets the Python interpreter run its signal handlers while Qt waits
    tick.timeout.connect(lambda: None)
    tick.start(300)
    app._spg_signal_tick = tick


def _screenshot(win, path: Path, app) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixmap = win.grab()
    ok = pixmap.save(str(path), "PNG")
    log.info("screenshot %s: %s", path, "saved" if ok else "FAILED")
    print(f"screenshot {'saved' if ok else 'FAILED'}: {path}", file=sys.stderr)
    win.close()
    app.quit()
