"""Run slow work (model load, enrollment, export, network) off the UI thread.

:class:`Background` wraps a small thread pool; a job's result or error comes back to the UI thread
through a queued Qt signal, so callbacks run on the UI thread and may touch widgets.
"""

from __future__ import annotations

import logging
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal, Slot

log = logging.getLogger(__name__)


class Background(QObject):
    """``submit(fn, on_done, on_error)``: fn runs on a worker thread, callbacks on the UI thread."""

    _finished = Signal(object, object, object)  # callback, result, error

    def __init__(self, workers: int = 2, parent: QObject | None = None, name: str = "spg-bg"):
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._finished.connect(self._deliver)
        self._closed = False

    def submit(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future | None:
        if self._closed:  # the window is closing: late timers and clicks are ignored
            return None

        def job() -> Any:
            try:
                result = fn()
            except BaseException as exc:  # noqa: BLE001 - reported to the UI
                log.debug("background job failed: %s", traceback.format_exc())
                if not self._closed:
                    self._finished.emit(on_error, None, exc)
                raise
            if not self._closed:
                self._finished.emit(on_done, result, None)
            return result

        try:
            return self._pool.submit(job)
        except RuntimeError:  # the pool was shut down (window closing, interpreter exit): nothing to do
            self._closed = True
            return None

    @Slot(object, object, object)
    def _deliver(self, callback: Callable | None, result: Any, error: BaseException | None) -> None:
        if callback is None:
            if error is not None:
                log.error("background job failed: %s", error)
            return
        callback(error if error is not None else result)

    def shutdown(self, wait: bool = True) -> None:
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)


_shared: Background | None = None


def shared_background() -> Background:
    """One pool for the whole console (created on first use, on the UI thread)."""
    global _shared
    if _shared is None:
        _shared = Background(workers=2)
    return _shared


def shutdown_shared(wait: bool = True) -> None:
    global _shared
    if _shared is not None:
        _shared.shutdown(wait=wait)
        _shared = None
