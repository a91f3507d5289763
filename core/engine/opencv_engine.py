"""OpenCV engine: OpenCV Zoo's YuNet detector and SFace recogniser, run by OpenCV's own DNN module.

Both models are commercially usable (YuNet: MIT, SFace: Apache-2.0), and both run in ``opencv-python``,
which the console already needs: no extra runtime, nothing to download beyond the two ONNX files.

Why OpenCV's DNN and not onnxruntime: measured on the 2-core development machine, SFace took about 27 ms a
chip through OpenCV against about 150 ms through onnxruntime 1.32 (whose graph keeps the weights as inputs
and so cannot fold them); YuNet is written for ``cv2.FaceDetectorYN`` (its decoding of the 12 raw outputs
lives there).

* Detection runs on the frame's own aspect ratio: the input size is set to the frame's size, downscaled
  (aspect kept) so its longer side is at most ``engine.det_size``.
* YuNet's five points are image-left eye, image-right eye, nose tip, image-left and image-right mouth
  corner: the DetectedFace convention already.
* Alignment is ``cv2.FaceRecognizerSF.alignCrop`` itself (SFace's published use: a 112x112 chip on the
  ArcFace 5-point template); embedding feeds a batch of chips through the same ONNX in one
  ``cv2.dnn`` forward, with ``FaceRecognizerSF.feature``'s preprocessing (RGB, raw 0-255).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from core.config import EngineConfig
from core.engine.base import DetectedFace, EngineError, EngineInfo, FaceEngine, ModelPackError, l2_normalise
from core.engine.calibration import resolve_threshold
from core.engine.licence import OPENCV as LICENCE
from core.engine.packs import PackFiles, validate_pack

log = logging.getLogger(__name__)

CHIP_SIZE = 112
EMBEDDING_DIM = 128
_NMS_THRESHOLD = 0.3
_TOP_K = 5000


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """OpenCV 5's DNN logs a warning per model load about targets of its new graph engine; only while loading."""
    import cv2

    try:
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # pragma: no cover - a build without the logging utilities
        yield
        return
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(old)


class OpenCVEngine(FaceEngine):
    def __init__(self, cfg: EngineConfig, pack: PackFiles | Path):
        import cv2

        files = pack if isinstance(pack, PackFiles) else validate_pack(Path(pack))
        if files.kind != "opencv":
            raise ModelPackError(f"model pack {files.folder} is an InsightFace pack ({files.detector.name}); the OpenCV "
                                 "engine runs a YuNet + SFace pack. Set engine.kind: auto (or insightface) for this pack.")
        if not hasattr(cv2, "FaceDetectorYN"):  # pragma: no cover - very old OpenCV
            raise EngineError(f"OpenCV {cv2.__version__} has no FaceDetectorYN; install opencv-python >= 4.8 "
                              "(the README's install command)")
        self.cfg = cfg
        self.files = files
        self._max_side = int(cfg.det_size)
        try:
            with _quiet_opencv():
                self._det = cv2.FaceDetectorYN.create(str(files.detector), "", (320, 320), float(cfg.det_threshold),
                                                      _NMS_THRESHOLD, _TOP_K)
                self._aligner = cv2.FaceRecognizerSF.create(str(files.recogniser), "")
                self._net = cv2.dnn.readNet(str(files.recogniser))
        except cv2.error as exc:
            raise ModelPackError(f"could not load model pack {files.folder} with OpenCV ({str(exc).strip()[:200]}); "
                                 "the pack may be broken: import or download it again (app.py models download sface)") from None
        self._input_size: tuple[int, int] = (320, 320)
        model_id = f"opencv/{files.recogniser.stem}"
        threshold, margin = resolve_threshold(model_id, cfg.threshold, cfg.margin, files.folder)
        self.info = EngineInfo(
            name="opencv", model_id=model_id, embedding_dim=EMBEDDING_DIM, threshold=threshold, margin=margin,
            provider="opencv-dnn-cpu", pack_path=str(files.folder), licence=LICENCE,
        )
        log.info("OpenCV engine: pack %s (%s + %s), threshold %.3f margin %.3f", files.folder, files.detector.name,
                 files.recogniser.name, threshold, margin)

    # --- detection -------------------------------------------------------------------------------
    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        return self.detect_at(image_bgr, self._max_side)

    def detect_at(self, image_bgr: np.ndarray, longest: int) -> list[DetectedFace]:
        import cv2

        if image_bgr is None or image_bgr.size == 0:
            return []
        h, w = image_bgr.shape[:2]
        scale = min(1.0, min(int(longest), self._max_side) / float(max(h, w)))
        img = image_bgr
        if scale < 1.0:
            img = cv2.resize(image_bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        size = (img.shape[1], img.shape[0])
        if size != self._input_size:
            self._det.setInputSize(size)
            self._input_size = size
        _, rows = self._det.detect(np.ascontiguousarray(img))
        faces: list[DetectedFace] = []
        for r in (rows if rows is not None else []):
            x, y, bw, bh = (float(v) / scale for v in r[:4])
            bbox = np.array([max(0.0, x), max(0.0, y), min(float(w), x + bw), min(float(h), y + bh)], np.float32)
            if bbox[2] <= bbox[0] or bbox[3] <= bbox[1]:
                continue
            pts = (np.asarray(r[4:14], np.float32).reshape(5, 2) / scale).astype(np.float32)
            faces.append(DetectedFace(bbox=bbox, landmarks=pts, score=float(min(1.0, r[14]))))
        return faces

    # --- embedding -------------------------------------------------------------------------------
    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        x1, y1, x2, y2 = (float(v) for v in face.bbox)
        row = np.concatenate([[x1, y1, x2 - x1, y2 - y1], np.asarray(face.landmarks, np.float32).reshape(-1),
                              [face.score]]).astype(np.float32)[None, :]
        return np.ascontiguousarray(self._aligner.alignCrop(image_bgr, row))

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        import cv2

        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_DIM), np.float32)
        # FaceRecognizerSF.feature's preprocessing: RGB, no scaling or mean, 112x112
        blob = cv2.dnn.blobFromImages(list(chips), 1.0, (CHIP_SIZE, CHIP_SIZE), (0, 0, 0), swapRB=True, crop=False)
        self._net.setInput(blob)
        out = self._net.forward()
        return l2_normalise(np.asarray(out, np.float32).reshape(len(chips), -1))
