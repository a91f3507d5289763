"""Passive liveness: is the face in front of the camera a person, or a photo / a screen held up to it?

Minivision's Silent-Face MiniFASNet pair (Apache-2.0, ``models/liveness/``): MiniFASNetV2 sees the face box
enlarged 2.7 times, MiniFASNetV1SE 4.0 times, so one looks at skin texture and the other at the edges of a
print or a phone around the face. Each crop is the enlarged box moved (not padded) to stay inside the frame,
resized to 80x80, BGR with raw 0-255 values; each model gives 3 logits (index 1 = real, 0 and 2 = two kinds of
spoof). The two softmaxes are added; ``real_score`` is the summed "real" probability halved (0..1), and the
face is judged real when it reaches ``threshold``.

The crop comes from the box of the engine that found the face (the models were trained on a detector's box;
how tight the box is moves the score, so the same engine's box is used everywhere: live and at enrollment).

``LivenessChecker`` is the seam: the inference server and enrollment depend on it, tests may put a fake in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

INPUT_SIDE = 80
MODELS: tuple[tuple[str, float], ...] = (("2.7_80x80_MiniFASNetV2.onnx", 2.7), ("4_0_0_80x80_MiniFASNetV1SE.onnx", 4.0))
"""(file, how many times the face box is enlarged for that model)."""
REAL_INDEX = 1


class LivenessError(Exception):
    """The liveness models cannot be loaded; the message names the folder and what to put there."""


@dataclass(frozen=True, slots=True)
class LivenessVerdict:
    real_score: float
    """Summed "real" probability of the pair, halved: 0 (surely a spoof) .. 1 (surely a live face)."""
    is_real: bool
    threshold: float
    """The score a live face needs (``fraud.liveness.threshold``)."""


class LivenessChecker(Protocol):
    """Judges one face (its box in ``image`` coordinates, x1 y1 x2 y2) live or spoofed."""

    def check(self, image: np.ndarray, bbox: Sequence[float] | np.ndarray) -> LivenessVerdict: ...


def scaled_crop(image: np.ndarray, bbox: Sequence[float] | np.ndarray, scale: float, side: int = INPUT_SIDE) -> np.ndarray:
    """The face box enlarged ``scale`` times around its centre, shifted (never padded) to stay inside the
    image, resized to ``side`` x ``side``. A box too large to enlarge that much is enlarged as far as fits."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in bbox[:4])
    bw, bh = max(1.0, x2 - x1), max(1.0, y2 - y1)
    scale = min(scale, (h - 1) / bh, (w - 1) / bw)
    nw, nh = bw * scale, bh * scale
    cx, cy = x1 + bw / 2, y1 + bh / 2
    left, top = cx - nw / 2, cy - nh / 2
    left = min(max(0.0, left), max(0.0, (w - 1) - nw))
    top = min(max(0.0, top), max(0.0, (h - 1) - nh))
    a, b = int(left), int(top)
    c, d = int(left + nw), int(top + nh)
    crop = image[b:d + 1, a:c + 1]
    return cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR)


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


class MiniFasLiveness:
    """The MiniFASNet pair on ONNX Runtime (CPU: two 80x80 inputs cost little beside the recogniser)."""

    def __init__(self, folder: Path, threshold: float = 0.5, session_options: Any = None,
                 providers: Sequence[str] = ("CPUExecutionProvider",)):
        import onnxruntime

        folder = Path(folder)
        missing = [name for name, _ in MODELS if not (folder / name).is_file()]
        if missing:
            raise LivenessError(
                f"the liveness models are not in {folder} (missing {', '.join(missing)}). Copy the MiniFASNet pair "
                "(2.7_80x80_MiniFASNetV2.onnx and 4_0_0_80x80_MiniFASNetV1SE.onnx) there, or set "
                "fraud.liveness_models to the folder that holds them.")
        self.threshold = float(threshold)
        self._sessions: list[tuple[Any, str, float]] = []
        for name, scale in MODELS:
            try:
                sess = onnxruntime.InferenceSession(str(folder / name), sess_options=session_options,
                                                    providers=list(providers))
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own untyped errors
                raise LivenessError(f"the liveness model {folder / name} cannot be loaded: {exc}") from None
            self._sessions.append((sess, sess.get_inputs()[0].name, scale))

    def scores(self, image: np.ndarray, bbox: Sequence[float] | np.ndarray) -> np.ndarray:
        """The summed softmax of the pair (3 values adding up to 2)."""
        total = np.zeros(3, np.float64)
        for sess, input_name, scale in self._sessions:
            crop = scaled_crop(image, bbox, scale)
            blob = np.ascontiguousarray(crop.transpose(2, 0, 1)[None], dtype=np.float32)
            logits = np.asarray(sess.run(None, {input_name: blob})[0], np.float64).reshape(-1)
            total += _softmax(logits)
        return total

    def check(self, image: np.ndarray, bbox: Sequence[float] | np.ndarray) -> LivenessVerdict:
        real = float(self.scores(image, bbox)[REAL_INDEX]) / 2.0
        return LivenessVerdict(real, real >= self.threshold, self.threshold)


def liveness_for(cfg: Any, engine_cfg: Any, data_dir: Path) -> MiniFasLiveness:
    """The checker ``fraud.liveness`` (``cfg``) describes: models from ``cfg.models`` (a folder, or a name under
    ``<data_dir>/models/``), ONNX Runtime threads as ``engine.*`` says. :class:`LivenessError` with what to do
    when the models are missing."""
    from core.engine.insightface_engine import session_options
    from core.engine.packs import pack_folder

    folder = pack_folder(str(cfg.models), Path(data_dir))
    return MiniFasLiveness(folder, float(cfg.threshold), session_options(engine_cfg))
