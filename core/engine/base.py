"""The face engine interface every engine implements (InsightFace, dlib, test stand-ins).

An engine does two things only: detect faces (box, 5 landmarks, score) and embed them into
L2-normalised vectors. Embedding is split into ``align`` (per face, cheap) and ``embed_chips``
(one batched call for any number of aligned chips, possibly from several cameras), so the inference
server can batch across cameras.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np


class EngineError(Exception):
    """The engine cannot run (models missing or broken, runtime failure). Message says what to do."""


class ModelPackError(EngineError):
    """A model pack is missing or broken. The message says how to get or import one."""


@dataclass(frozen=True, slots=True)
class DetectedFace:
    bbox: np.ndarray
    """float32 (4,) x1, y1, x2, y2 in the coordinates of the image given to ``detect``."""
    landmarks: np.ndarray
    """float32 (5, 2): left eye, right eye, nose, left mouth corner, right mouth corner."""
    score: float

    @property
    def width(self) -> float:
        return float(self.bbox[2] - self.bbox[0])

    @property
    def height(self) -> float:
        return float(self.bbox[3] - self.bbox[1])

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)


@dataclass(frozen=True, slots=True)
class EngineInfo:
    name: str
    """'insightface', 'dlib', ..."""
    model_id: str
    """Identifies the embedding space: samples embedded with another model_id must be re-indexed."""
    embedding_dim: int
    threshold: float
    margin: float
    provider: str
    """Active execution provider, e.g. 'CPUExecutionProvider', 'CUDAExecutionProvider', 'dlib-cpu'."""
    pack_path: str = ""
    licence: str = ""


class FaceEngine(ABC):
    """Detect + embed. Implementations must be safe to construct inside a spawned child process."""

    info: EngineInfo

    @abstractmethod
    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """All faces in a BGR uint8 image, largest first is not required."""

    def detect_at(self, image_bgr: np.ndarray, longest: int) -> list[DetectedFace]:
        """Faces in ``image_bgr`` detected with the detector's input at most ``longest`` pixels on its longer
        side (the inference server detects a small region at its own resolution rather than upscaling it
        to ``det_size``). Engines whose input size is fixed detect as :meth:`detect` does."""
        return self.detect(image_bgr)

    @abstractmethod
    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The aligned face chip (BGR uint8) this engine embeds."""

    @abstractmethod
    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """(N, D) float32, each row L2-normalised, in one batched call. N may be 0."""

    def embed(self, image_bgr: np.ndarray, faces: Sequence[DetectedFace]) -> np.ndarray:
        return self.embed_chips([self.align(image_bgr, f) for f in faces])

    @property
    def threshold(self) -> float:
        return self.info.threshold

    @property
    def margin(self) -> float:
        return self.info.margin


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.size == 0:
        return x.reshape(0, x.shape[-1] if x.ndim == 2 else 0)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: np.ndarray = x / np.maximum(norms, 1e-12)
    return out
