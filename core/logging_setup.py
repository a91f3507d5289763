"""Logging for every process, secrets redacted.

The main process (console, headless run, CLI) owns the output: a rotating ``<data_dir>/logs/console.log``
plus stderr (:func:`setup_logging`). Child processes never write a file or stderr of their own: their
records go through a :class:`logging.handlers.QueueHandler` (:func:`configure_child_logging`) to ONE
:class:`ChildLogListener` in the main process, which hands each record to the main process's loggers, so it
passes the same redaction filter and lands in the same ``console.log`` (and on stderr where the main
process has one). The multiprocessing queue itself is made in ``workers/child_logging.py``; this module
only takes it as an argument, so it stays free of multiprocessing.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path
from typing import Any

from core.secrets import RedactingFilter

_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"
LOG_FILE = "console.log"
_NOISY = ("urllib3", "PIL", "matplotlib")


def setup_logging(level: str = "INFO", log_dir: Path | None = None, *, console: bool = True) -> None:
    """Main process: replace the root handlers with stderr (``console``) and ``<log_dir>/console.log``."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    redactor = RedactingFilter()
    formatter = logging.Formatter(_FORMAT)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(formatter)
        stream.addFilter(redactor)
        root.addHandler(stream)
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            fh = logging.handlers.RotatingFileHandler(
                log_dir / LOG_FILE, maxBytes=5_000_000, backupCount=5, encoding="utf-8"
            )
            fh.setFormatter(formatter)
            fh.addFilter(redactor)
            root.addHandler(fh)
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write log file in %s: %s", log_dir, exc)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def configure_child_logging(log_queue: Any, level: str = "INFO") -> None:
    """Child process entry: every record goes to the main process through ``log_queue``, redacted on the way.

    ``log_queue`` is a multiprocessing queue from the main process; with None (a child started by a tool that
    has no listener) records go to stderr, still redacted."""
    root = logging.getLogger()
    root.setLevel(level)
    for old in list(root.handlers):
        root.removeHandler(old)
    handler: logging.Handler
    if log_queue is None:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
    else:
        handler = logging.handlers.QueueHandler(log_queue)
    # redacted in the child too, so a secret never even crosses the pipe
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


class _ToMainLoggers(logging.Handler):
    """Hands a child's record to the main process's logger of the same name (and so to its handlers)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


class ChildLogListener:
    """The one listener of the main process for the records of all its children."""

    def __init__(self, log_queue: Any):
        self.queue = log_queue
        # respect_handler_level off: the child already applied its level; the main loggers' handlers
        # (file, stderr) apply theirs in handle()
        self._listener = logging.handlers.QueueListener(log_queue, _ToMainLoggers())
        self._running = False

    def start(self) -> None:
        if not self._running:
            self._listener.start()
            self._running = True

    def stop(self) -> None:
        """Write what is still queued, then stop the thread."""
        if self._running:
            self._running = False
            try:
                self._listener.stop()
            except (OSError, ValueError, EOFError):  # the queue was closed under us at interpreter exit
                pass
