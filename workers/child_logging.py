"""The main process's one queue for its children's log records, and the one listener that drains it.

Every child entry point (camera worker, inference server) takes this queue as an argument and calls
``core.logging_setup.configure_child_logging`` with it first thing; the listener here hands the records to
the main process's handlers (``console.log`` + stderr, redacted), which ``core.logging_setup.setup_logging``
may replace at any time without the children noticing.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from core.logging_setup import ChildLogListener
from workers.mp import mp_context

_lock = threading.Lock()
_listener: ChildLogListener | None = None


def child_log_queue() -> Any:
    """The queue to pass to a child process; starts the listener on first use (once per main process)."""
    global _listener
    with _lock:
        if _listener is None:
            _listener = ChildLogListener(mp_context().Queue())
            _listener.start()
        return _listener.queue


def stop_child_logging() -> None:
    """Write the records still queued and stop the listener (at exit; a later child starts a new one)."""
    global _listener
    with _lock:
        listener, _listener = _listener, None
    if listener is not None:
        listener.stop()


# Registered at import, i.e. before any Pipeline registers its own stop: exit handlers run last-in first-out,
# so the children's farewell lines (written while the pipeline stops them at exit) still reach the log.
atexit.register(stop_child_logging)
