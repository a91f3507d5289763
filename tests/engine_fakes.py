"""A stand-in face engine for the console's dialogs: one centred face in every frame (no model, instant).

It is a real :class:`core.engine.base.FaceEngine` (mypy checks this file), so the dialogs under test call
exactly the interface the InsightFace and dlib engines implement.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from core.engine.base import DetectedFace, EngineInfo, FaceEngine, l2_normalise

CHIP = 112


class BoxEngine(FaceEngine):
    def __init__(self) -> None:
        self.info = EngineInfo("stand-in", "stand-in-box-v1", 3, 0.9, 0.0, "cpu")

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        h, w = image_bgr.shape[:2]
        lm = np.array([[w * .45, h * .45], [w * .55, h * .45], [w * .5, h * .5], [w * .46, h * .56], [w * .54, h * .56]],
                      np.float32)
        return [DetectedFace(np.array([w * .3, h * .3, w * .7, h * .7], np.float32), lm, 0.9)]

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        x1, y1, x2, y2 = (int(v) for v in face.bbox)
        return cv2.resize(image_bgr[y1:y2, x1:x2], (CHIP, CHIP))

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if not chips:
            return np.zeros((0, 3), np.float32)
        return l2_normalise(np.stack([c.reshape(-1, 3).mean(0) + 1.0 for c in chips]).astype(np.float32))
