"""Logging for every process: a rotating file in ``<data_dir>/logs`` plus stderr, secrets redacted."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from core.secrets import RedactingFilter

_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s %(name)s: %(message)s"


def setup_logging(level: str = "INFO", log_dir: Path | None = None, *, console: bool = True) -> None:
    root = logging.getLogger()
    root.setLevel(level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
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
                log_dir / "console.log", maxBytes=5_000_000, backupCount=5, encoding="utf-8"
            )
            fh.setFormatter(formatter)
            fh.addFilter(redactor)
            root.addHandler(fh)
        except OSError as exc:
            logging.getLogger(__name__).warning("cannot write log file in %s: %s", log_dir, exc)
    for noisy in ("urllib3", "PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
