"""The few message types that cross process boundaries (all picklable dataclasses).

Camera worker -> inference server (input queue):   :class:`FrameMeta`
Camera worker -> main process (status queue):      :class:`CameraStatus`
Inference server -> main process (output queue):   :class:`FrameResult`, :class:`InferenceStats`
Main process -> camera worker (feedback queue):    :class:`FrameResult` (for overlays; put_nowait, skipped when full)
Main process -> any child (control queue):          :class:`Stop`

Frames themselves never travel through a queue: they sit in a SharedMemory block per camera
(``sfb_<camera_id>``) and :class:`FrameMeta` says which slot. Only when SharedMemory cannot be created
does ``FrameMeta.frame`` carry the pixels (the queue fallback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, StrEnum

import numpy as np


class CameraState(str, Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """A new frame is ready in the camera's SharedMemory block (or, in fallback, in ``frame``)."""

    camera_id: str
    frame_id: int
    timestamp: float
    """Wall-clock capture time (``time.time()``)."""
    capture_mono: float
    """``time.monotonic()`` at capture, for latency measurement (same machine, so comparable)."""
    slot: int
    shape: tuple[int, int, int]
    """Shape of the frame as stored (after any downscale)."""
    scale: float
    """original_size / stored_size; multiply stored coordinates by this to get original ones."""
    generation: int = 0
    """Slot write counter; the reader checks it is unchanged after copying (torn-read guard)."""
    frame: np.ndarray | None = None
    """Pixels, only in queue-fallback mode."""
    buffer: str = ""
    """Name of the camera's SharedMemory block (``workers.frame_buffer``); empty in queue-fallback mode."""


class Fraud(StrEnum):
    """Why a named face does not count as the SPG being there (``core.fraud_checks``)."""

    NONE = ""
    LIVENESS = "liveness"
    """Passive liveness judged it a photo or a screen."""
    STILL_FACE = "still_face"
    """Its landmarks have not moved for ``fraud.still_face.seconds``."""


@dataclass(frozen=True, slots=True)
class FaceResult:
    bbox: tuple[float, float, float, float]
    """x1, y1, x2, y2 in ORIGINAL frame coordinates."""
    landmarks: tuple[tuple[float, float], ...]
    """5 points (eyes, nose, mouth corners), original coordinates."""
    det_score: float
    spg_id: str | None
    similarity: float
    track_id: int
    matchable: bool = True
    """False when the face is too small or too blurred to match (drawn, not identified)."""
    quality: str = "ok"
    """'ok', 'too_small' or 'blurred'."""
    fraud: Fraud = Fraud.NONE
    """Set when a fraud check flags this named face: it is shown, but is no hit (attendance ignores it)."""
    liveness: float | None = None
    """The track's latest liveness score (0 spoof .. 1 live); None when not judged."""


@dataclass(frozen=True, slots=True)
class FrameResult:
    camera_id: str
    frame_id: int
    timestamp: float
    capture_mono: float
    faces: tuple[FaceResult, ...]
    frame_shape: tuple[int, int]
    """Original (height, width)."""
    slot: int = -1
    generation: int = 0
    """SharedMemory slot and its write counter: the main process may copy the frame for display
    while the generation is unchanged (``workers.frame_buffer``)."""
    latency_ms: float = 0.0
    """Capture to result, measured by the inference server."""


@dataclass(frozen=True, slots=True)
class CameraMetrics:
    capture_fps: float = 0.0
    sent_fps: float = 0.0
    dropped: int = 0
    reconnects: int = 0


@dataclass(frozen=True, slots=True)
class CameraStatus:
    camera_id: str
    state: CameraState
    reason: str = ""
    """Human-readable, secrets masked."""
    metrics: CameraMetrics = field(default_factory=CameraMetrics)
    frame_size: tuple[int, int] | None = None
    """Original (height, width) once known."""
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class InferenceStats:
    latency_p50_ms: float
    latency_p95_ms: float
    faces_per_s: float
    frames_per_s: float
    embeddings: int
    """Total embeddings computed since start (tracking avoids re-embedding)."""
    input_queue_depth: int
    gallery_people: int
    engine: str
    provider: str
    processed_by_camera: dict[str, int] = field(default_factory=dict)
    dropped_stale: int = 0
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class UnknownFace:
    """A face that matched nobody; saved (crop on disk) for the retention period."""

    camera_id: str
    timestamp: float
    crop_path: str
    similarity: float


@dataclass(frozen=True, slots=True)
class WorkerError:
    """A child process reports a failure it cannot fix itself (e.g. the engine cannot load). Secrets masked."""

    source: str
    """'inference' or 'camera:<id>'."""
    message: str
    timestamp: float = 0.0


@dataclass(frozen=True, slots=True)
class CameraRemoved:
    """Main -> inference server: forget a camera (detach its frame buffer, drop its tracks)."""

    camera_id: str


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str = "shutdown"
