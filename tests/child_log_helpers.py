"""Code that runs inside real child processes in tests/test_child_logging.py (spawned, so importable by name)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


def leaky_engine(engine_cfg: Any, data_dir: Path, url: str) -> Any:
    """An engine factory for the inference server that, like a careless library, logs a raw URL and then fails
    with it in the exception text."""
    logging.getLogger("core.engine.packs").warning("fetching the model pack from %s", url)
    raise RuntimeError(f"model pack download from {url} failed: connection refused")


def library_in_a_camera_worker(log_queue: Any, url: str) -> None:
    """What a camera worker's libraries do: set up the child logging as the worker does, log a raw URL, fail."""
    from core.logging_setup import configure_child_logging

    configure_child_logging(log_queue, "INFO")
    log = logging.getLogger("workers.camera_source")
    log.warning("camera door: cannot open %s", url)
    try:
        raise ConnectionError(f"RTSP DESCRIBE {url} refused")
    except ConnectionError:
        log.exception("camera door: giving up on this attempt")
