"""The pipeline facade's declared shape: what the router (``workers/router.py``) may call, and what it gets back.

Qt-free and process-free, so the UI's test fakes can implement :class:`PipelineApi` and mypy checks them against
the same signatures as :class:`workers.pipeline.Pipeline` and :class:`workers.inline_pipeline.InlinePipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from core.attendance_api import PipelineHealth
from core.config import CameraConfig
from core.messages import CameraState, CameraStatus, FrameResult, InferenceStats

__all__ = ["CameraRuntime", "PipelineApi", "PipelineHealth", "PipelineMetrics", "PollBatch"]


@dataclass
class PollBatch:
    results: list[FrameResult] = field(default_factory=list)
    statuses: list[CameraStatus] = field(default_factory=list)
    stats: list[InferenceStats] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Human-readable problems seen this step (restarts and why, engine failures), secrets masked."""


@dataclass
class CameraRuntime:
    """What the GUI and logs show per camera."""

    state: str = CameraState.CONNECTING.value
    reason: str = ""
    capture_fps: float = 0.0
    sent_fps: float = 0.0
    processed_fps: float = 0.0
    dropped: int = 0
    reconnects: int = 0
    restarts: int = 0
    frame_size: tuple[int, int] | None = None


@dataclass
class PipelineMetrics:
    cameras: dict[str, CameraRuntime] = field(default_factory=dict)
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    faces_per_s: float = 0.0
    frames_per_s: float = 0.0
    embeddings: int = 0
    dropped_stale: int = 0
    input_queue_depth: int = 0
    output_queue_depth: int = 0
    inference_restarts: int = 0
    engine: str = ""
    provider: str = ""
    shm_fallback: bool = False
    """True when at least one camera sends frames through the queue (SharedMemory unavailable)."""


class PipelineApi(Protocol):
    """Start/stop, poll, cameras, frames, metrics: the one shape of every pipeline (real, inline, test fake)."""

    def start(self) -> None: ...

    def stop(self, timeout: float = 5.0) -> None: ...

    def poll(self, timeout: float = 0.05) -> PollBatch:
        """Results, statuses, stats and errors since the last call (waits up to ``timeout`` for the first)."""
        ...

    def add_camera(self, cam: CameraConfig) -> None: ...

    def remove_camera(self, camera_id: str) -> None: ...

    def read_frame(self, camera_id: str, slot: int, generation: int,
                   out: np.ndarray | None = None) -> np.ndarray | None:
        """A copy of the frame a result refers to (into ``out`` when given, shape from :meth:`frame_shape`), or
        None when that slot was overwritten since."""
        ...

    def frame_shape(self, camera_id: str) -> tuple[int, int, int] | None:
        """(h, w, 3) of the camera's stored frames, None before its first frame or without SharedMemory."""
        ...

    def metrics(self) -> PipelineMetrics: ...

    def health(self) -> PipelineHealth:
        """Which cameras deliver frames and whether inference runs, right now."""
        ...
