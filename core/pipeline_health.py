"""What a router loop can see right now, for :meth:`core.attendance.AttendanceService.on_pipeline_health`.

Camera states come from the cameras' status messages; the inference server counts as alive while its
results or its once-a-second statistics keep arriving (a frozen or restarting server sends neither). A
camera whose last status said "live" but whose frames stopped coming while the server answers is not live
either: a worker that died cannot say so, and its replacement may take a while to start.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Protocol

from core.messages import CameraState, CameraStatus

INFERENCE_SILENT_S = 3.0
"""No result and no statistics for this long: the inference server is not answering."""


class RouterBatch(Protocol):
    results: Any
    statuses: Any
    stats: Any


class PipelineHealth:
    def __init__(self, silent_s: float = INFERENCE_SILENT_S, monotonic: Callable[[], float] = time.monotonic):
        self.silent_s = float(silent_s)
        self._mono = monotonic
        self._states: dict[str, CameraState] = {}
        self._last_answer: float | None = None
        self._last_result: dict[str, float] = {}

    def update(self, batch: RouterBatch) -> None:
        now = self._mono()
        if batch.results or batch.stats:
            self._last_answer = now
        for r in batch.results or ():
            self._last_result[r.camera_id] = now
        statuses: Iterable[CameraStatus] = batch.statuses or ()
        for st in statuses:
            self._states[st.camera_id] = st.state

    def forget(self, camera_id: str) -> None:
        """The camera was removed from the pipeline."""
        self._states.pop(camera_id, None)
        self._last_result.pop(camera_id, None)

    def camera_live(self) -> dict[str, bool]:
        now = self._mono()
        server_ok = self.inference_ok()
        out = {}
        for cam, st in self._states.items():
            last = self._last_result.get(cam)
            delivering = not server_ok or (last is not None and now - last < self.silent_s)
            out[cam] = st is CameraState.LIVE and delivering
        return out

    def ended(self) -> set[str]:
        """Cameras stopped on purpose (a video file played to its end): no view, but not an outage."""
        return {cam for cam, st in self._states.items() if st is CameraState.STOPPED}

    def inference_ok(self) -> bool:
        return self._last_answer is not None and self._mono() - self._last_answer < self.silent_s
