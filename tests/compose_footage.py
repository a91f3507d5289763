"""Compose test footage from real face photos on a timeline (for pipeline, presence and GUI tests).

    from tests.compose_footage import Appearance, compose_video
    compose_video(tmp / "shop.mp4", [Appearance(FACES / "Tony_Blair/Tony_Blair_0006.jpg", 0.0, 4.0, (0.3, 0.5)),
                                     Appearance(FACES / "Laura_Bush/Laura_Bush_0006.jpg", 2.0, 6.0, (0.7, 0.5))],
                  fps=15, size=(1280, 720))

Each appearance pastes the whole photo (scaled to ``height`` x frame height, centred at ``center`` given as
fractions of the frame) from ``start`` to ``end`` seconds, optionally drifting by ``drift`` (fractions per
second) so trackers see motion. The background is a plain textured shop-grey. Returns the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


@dataclass(frozen=True)
class Appearance:
    photo: Path | str | np.ndarray
    start: float
    end: float
    center: tuple[float, float] = (0.5, 0.5)
    height: float = 0.45
    """Pasted photo height as a fraction of the frame height."""
    drift: tuple[float, float] = (0.0, 0.0)


def _load(photo: Path | str | np.ndarray) -> np.ndarray:
    if isinstance(photo, np.ndarray):
        return photo
    img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read photo {photo}")
    return img


def _background(w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    bg = np.full((h, w, 3), (118, 112, 104), np.uint8)
    noise = rng.integers(0, 12, (h // 8 + 1, w // 8 + 1, 1), dtype=np.uint8)
    bg = cv2.add(bg, cv2.resize(noise, (w, h), interpolation=cv2.INTER_NEAREST)[:, :, None].repeat(3, 2))
    return bg


def compose_video(path: Path | str, timeline: Sequence[Appearance], fps: float = 15.0,
                  size: tuple[int, int] = (1280, 720), seconds: float | None = None) -> Path:
    """Write an mp4 (``size`` = (width, height)) showing the timeline's photos; returns the path."""
    path = Path(path)
    w, h = size
    seconds = seconds if seconds is not None else max((a.end for a in timeline), default=1.0)
    photos = [_load(a.photo) for a in timeline]
    bg = _background(w, h)
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not vw.isOpened():
        raise RuntimeError(f"cannot write video {path}")
    try:
        for i in range(max(1, int(round(seconds * fps)))):
            t = i / fps
            frame = bg.copy()
            for a, img in zip(timeline, photos):
                if not a.start <= t < a.end:
                    continue
                ph = max(8, int(a.height * h))
                pw = max(8, int(img.shape[1] * ph / img.shape[0]))
                chip = cv2.resize(img, (pw, ph), interpolation=cv2.INTER_AREA if ph < img.shape[0] else cv2.INTER_CUBIC)
                cx = (a.center[0] + a.drift[0] * (t - a.start)) * w
                cy = (a.center[1] + a.drift[1] * (t - a.start)) * h
                x1, y1 = int(cx - pw / 2), int(cy - ph / 2)
                fx1, fy1, fx2, fy2 = max(0, x1), max(0, y1), min(w, x1 + pw), min(h, y1 + ph)
                if fx2 > fx1 and fy2 > fy1:
                    frame[fy1:fy2, fx1:fx2] = chip[fy1 - y1:fy2 - y1, fx1 - x1:fx2 - x1]
            vw.write(frame)
    finally:
        vw.release()
    return path
