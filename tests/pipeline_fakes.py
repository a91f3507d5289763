"""A fast stand-in face engine for pipeline plumbing tests (importable by spawned children).

"Faces" are solid pure-green squares (BGR 0,255,0); the embedding encodes the square's blue channel
marker so tests can tell squares apart. Real-model tests use the real test pack instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from core.config import EngineConfig
from core.engine.base import DetectedFace, EngineInfo, FaceEngine, l2_normalise


class GreenSquareEngine(FaceEngine):
    """A :class:`core.engine.base.FaceEngine` (mypy checks the overrides against it)."""

    def __init__(self, cfg: EngineConfig | None = None, data_dir: Path | None = None, delay_s: float = 0.0,
                 hang_after: int = 0):
        self.delay_s = delay_s
        self.hang_after = hang_after
        self.calls = 0
        self.info = EngineInfo("stand-in", "stand-in-v1", 8, 0.9, 0.0, "cpu")

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        import time

        self.calls += 1
        if self.hang_after and self.calls > self.hang_after:
            time.sleep(3600)  # a hung engine: the supervisor must notice the silent heartbeat
        if self.delay_s:
            time.sleep(self.delay_s)
        mask = cv2.inRange(image_bgr, (0, 200, 0), (60, 255, 60))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        faces = []
        for i in range(1, n):
            x, y, w, h, area = stats[i]
            if area < 16:
                continue
            box = np.array([x, y, x + w, y + h], np.float32)
            cx, cy = x + w / 2, y + h / 2
            lm = np.array([[x + w * .3, y + h * .4], [x + w * .7, y + h * .4], [cx, cy],
                           [x + w * .35, y + h * .75], [x + w * .65, y + h * .75]], np.float32)
            faces.append(DetectedFace(box, lm, 0.99))
        return faces

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        x1, y1, x2, y2 = (int(v) for v in face.bbox)
        return cv2.resize(image_bgr[y1:y2, x1:x2], (16, 16))

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 8), np.float32)
        return l2_normalise(np.stack([np.r_[c.reshape(-1, 3).mean(0), np.ones(5)] for c in chips]).astype(np.float32))


def make_engine(cfg: EngineConfig | None, data_dir: Path | None, *, delay_s: float = 0.0, hang_after: int = 0) -> FaceEngine:
    return GreenSquareEngine(cfg, data_dir, delay_s=delay_s, hang_after=hang_after)


def green_square_video(path: Path, size: tuple[int, int], frames: int = 60, fps: float = 15.0,
                       box: tuple[int, int, int, int] | None = None) -> Path:
    """A video (w, h) with one textured green square at ``box`` (x1, y1, x2, y2) on a grey background."""
    w, h = size
    box = box or (w // 4, h // 4, w // 4 + h // 3, h // 4 + h // 3)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    for i in range(frames):
        img = np.full((h, w, 3), 90, np.uint8)
        cv2.putText(img, str(i), (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
        x1, y1, x2, y2 = box
        img[y1:y2, x1:x2] = (0, 255, 0)
        vw.write(img)
    vw.release()
    return path
