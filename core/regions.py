"""Which parts of a frame to run the face detector on, and at what size (pure logic, no I/O).

Frigate's approach (motion, then regions), our own code. A region is a square crop of the frame around
something that moved or around a live face track, detected at the resolution it needs: a small region (up to
``min_input`` pixels) at its own resolution, so a small, distant face in it gets twice the pixels it would get
in a 1280x720 frame shrunk to 640x384; a larger one shrunk, but never below the whole frame's scale and never
below ``min_input`` pixels, so every face the whole frame shows is at least as large in its region. Regions
are sized from a short menu (multiples of 64) because the detector keeps a session per input size. Overlapping regions are merged into one that covers both. When the regions together
would cost about as much as the whole frame (``full_cost``), the whole frame is detected instead.

:class:`DetectionPlanner` adds the timing per camera: the whole frame when gating is off, on the first frame,
after a large change (lighting), and at least every ``full_every_s`` seconds, so that a face that never
moves and was never tracked (an SPG standing still at the counter when the camera starts) is found within
that time; in between, only the regions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

Box = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Region:
    x1: int
    y1: int
    side: int
    """Square crop [y1:y1+side, x1:x1+side] of the frame (smaller than ``side`` only when the frame is)."""
    input_side: int = 0
    """The detector's input for it (longer side); 0 = ``side``."""

    @property
    def x2(self) -> int:
        return self.x1 + self.side

    @property
    def y2(self) -> int:
        return self.y1 + self.side


@dataclass(frozen=True, slots=True)
class DetectionPlan:
    full_frame: bool
    regions: tuple[Region, ...] = ()
    reason: str = ""
    """Why: 'off', 'first', 'periodic', 'change', 'cost', 'regions', 'idle' (nothing to look at)."""


def region_side(size: float, min_side: int, max_side: int, step: int = 64) -> int:
    """The menu size (a multiple of ``step``, ``min_side``..``max_side``) that holds ``size`` pixels."""
    want = max(float(min_side), float(size))
    side = int(-(-want // step) * step)
    return int(min(max(side, min_side), max_side))


def square_around(box: Box, side: int, frame_w: int, frame_h: int) -> Region:
    """A ``side`` square centred on ``box``, shifted (not shrunk) to lie inside the frame."""
    side = int(min(side, max(frame_w, frame_h)))
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    x1 = int(round(cx - side / 2.0))
    y1 = int(round(cy - side / 2.0))
    x1 = max(0, min(x1, frame_w - side)) if frame_w >= side else 0
    y1 = max(0, min(y1, frame_h - side)) if frame_h >= side else 0
    return Region(x1, y1, side)


def _overlap(a: Region, b: Region, pad: int) -> bool:
    return a.x1 - pad < b.x2 and b.x1 - pad < a.x2 and a.y1 - pad < b.y2 and b.y1 - pad < a.y2


def plan_regions(frame_w: int, frame_h: int, motion_boxes: Iterable[Box], track_boxes: Iterable[Box], *,
                 min_side: int = 192, max_side: int = 640, track_scale: float = 2.5,
                 motion_pad: float = 0.15) -> list[Region] | None:
    """Square regions covering every motion box and every track box, merged; None when a box needs more than
    ``max_side`` (only the whole frame covers it).

    A track box (a face) gets a square ``track_scale`` times its size, room for the face to move between two
    frames. A motion box gets ``motion_pad`` of its size around it (a face at the top edge of a moving body).
    """
    wanted: list[tuple[Box, float]] = []
    for b in motion_boxes:
        w, h = b[2] - b[0], b[3] - b[1]
        wanted.append((b, max(w, h) * (1.0 + 2 * motion_pad)))
    for b in track_boxes:
        w, h = b[2] - b[0], b[3] - b[1]
        wanted.append((b, max(w, h) * track_scale))
    regions: list[Region] = []
    for box, size in wanted:
        if size > max_side:
            return None
        regions.append(square_around(box, region_side(size, min_side, max_side), frame_w, frame_h))
    return merge_regions(regions, frame_w, frame_h, min_side, max_side)


def merge_regions(regions: Sequence[Region], frame_w: int, frame_h: int, min_side: int,
                  max_side: int) -> list[Region] | None:
    """Overlapping regions replaced by one square covering both, until none overlap (a face on the border of
    two regions is then inside one); None when a merged square would exceed ``max_side``."""
    out = list(regions)
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if not _overlap(a, b, 0):
                    continue
                box = (min(a.x1, b.x1), min(a.y1, b.y1), max(a.x2, b.x2), max(a.y2, b.y2))
                size = max(box[2] - box[0], box[3] - box[1])
                if size > max_side:
                    return None
                out[i] = square_around(box, region_side(size, min_side, max_side), frame_w, frame_h)
                del out[j]
                merged = True
                break
            if merged:
                break
    return out


def input_side(side: int, frame_scale: float, min_input: int, step: int = 32) -> int:
    """The detector input for a ``side`` region: its own size up to ``min_input``, above that shrunk to the
    whole frame's scale (``frame_scale`` = detector input / frame pixels) but not below ``min_input``."""
    scaled = int(-(-side * min(1.0, frame_scale) // step) * step)
    return int(min(side, max(min_input, scaled)))


def detector_pixels(regions: Sequence[Region]) -> int:
    """What the regions cost the detector, in input pixels."""
    return sum((r.input_side or r.side) ** 2 for r in regions)


class DetectionPlanner:
    """Per camera: whole frame or regions, from the motion boxes, the live tracks and the time (injected)."""

    def __init__(self, gating: bool = True, full_every_s: float = 2.0, min_side: int = 192, max_side: int = 640,
                 full_cost: float = 0.8, min_input: int = 256):
        self.gating = bool(gating)
        self.full_every_s = float(full_every_s)
        self.min_side = int(min_side)
        self.max_side = int(max_side)
        self.full_cost = float(full_cost)
        self.min_input = int(min_input)
        self._last_full: float | None = None

    def plan(self, now: float, frame_w: int, frame_h: int, motion_boxes: Sequence[Box], track_boxes: Sequence[Box],
             whole_frame_changed: bool = False, full_pixels: int | None = None) -> DetectionPlan:
        """``full_pixels``: what the whole frame costs the detector in input pixels (default: its area
        shrunk to ``max_side`` on the longer side)."""
        reason = ""
        if not self.gating:
            reason = "off"
        elif self._last_full is None:
            reason = "first"
        elif whole_frame_changed:
            reason = "change"
        elif now - self._last_full >= self.full_every_s or now < self._last_full:  # a clock step back: no wait
            reason = "periodic"
        if reason:
            self._last_full = now
            return DetectionPlan(True, (), reason)
        if not motion_boxes and not track_boxes:
            return DetectionPlan(False, (), "idle")
        regions = plan_regions(frame_w, frame_h, motion_boxes, track_boxes, min_side=self.min_side,
                               max_side=self.max_side)
        scale = min(1.0, self.max_side / float(max(frame_w, frame_h)))
        if full_pixels is None:
            full_pixels = int(frame_w * scale) * int(frame_h * scale)
        if regions is not None:
            regions = [Region(r.x1, r.y1, r.side, input_side(r.side, scale, self.min_input)) for r in regions]
        if regions is None or detector_pixels(regions) >= self.full_cost * full_pixels:
            self._last_full = now
            return DetectionPlan(True, (), "cost")
        return DetectionPlan(False, tuple(regions), "regions")
