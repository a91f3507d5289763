"""ONE camera's face detection, gated by motion: the whole frame now and then, otherwise only the regions
that moved and the regions around live face tracks (pure logic; the engine and the time are injected).

``core.motion`` says where the picture changed, ``core.regions`` turns that and the tracks into a plan, and
this runs the plan: each region is cropped and detected at the input size the plan gives it
(``FaceEngine.detect_at``), its
faces moved back to frame coordinates, and faces found twice (in two regions) kept once. The tracker
(``core.tracker``) then carries identities from detection to detection as it does with whole frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.engine.base import DetectedFace, FaceEngine
from core.motion import MotionDetector
from core.regions import DetectionPlan, DetectionPlanner
from core.tracker import iou_matrix

DUPLICATE_IOU = 0.4


@dataclass
class GatingCounts:
    """What the detector was asked to do, for stats and the benchmark."""

    full: int = 0
    regioned: int = 0
    idle: int = 0
    regions: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


class GatedDetector:
    def __init__(self, engine: FaceEngine, planner: DetectionPlanner, motion: MotionDetector | None):
        self.engine = engine
        self.planner = planner
        self.motion = motion if planner.gating else None
        self.counts = GatingCounts()

    def detect(self, image: np.ndarray, now: float, track_boxes: list[tuple[float, float, float, float]]
               ) -> tuple[list[DetectedFace], DetectionPlan]:
        h, w = image.shape[:2]
        boxes: list[tuple[int, int, int, int]] = []
        changed = False
        if self.motion is not None:
            moved = self.motion.update(image)
            boxes, changed = moved.boxes, moved.whole_frame
        plan = self.planner.plan(now, w, h, boxes, track_boxes, whole_frame_changed=changed)
        c = self.counts
        c.by_reason[plan.reason] = c.by_reason.get(plan.reason, 0) + 1
        if plan.full_frame:
            c.full += 1
            return self.engine.detect(image), plan
        if not plan.regions:
            c.idle += 1
            return [], plan
        c.regioned += 1
        c.regions += len(plan.regions)
        faces: list[DetectedFace] = []
        for r in plan.regions:
            crop = image[r.y1:r.y2, r.x1:r.x2]
            shift = np.array([r.x1, r.y1], np.float32)
            for f in self.engine.detect_at(crop, r.input_side or r.side):
                faces.append(DetectedFace(bbox=(np.asarray(f.bbox, np.float32) + np.tile(shift, 2)).astype(np.float32),
                                          landmarks=(np.asarray(f.landmarks, np.float32) + shift).astype(np.float32),
                                          score=f.score))
        return drop_duplicates(faces), plan


def drop_duplicates(faces: list[DetectedFace], iou: float = DUPLICATE_IOU) -> list[DetectedFace]:
    """One face per place: where two found faces overlap by more than ``iou``, the better scored one."""
    if len(faces) < 2:
        return faces
    order = sorted(range(len(faces)), key=lambda i: -faces[i].score)
    boxes = np.stack([faces[i].bbox for i in order])
    overlap = iou_matrix(boxes, boxes)
    keep: list[int] = []
    for k in range(len(order)):
        if all(overlap[k, j] <= iou for j in keep):
            keep.append(k)
    return [faces[order[k]] for k in keep]
