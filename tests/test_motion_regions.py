"""Motion gating's pure logic: the motion mask, the region plan, and one camera's gated detection."""

from __future__ import annotations

import numpy as np

from core.engine.base import DetectedFace
from core.gated_detection import GatedDetector, drop_duplicates
from core.motion import MotionDetector
from core.regions import DetectionPlanner, plan_regions, region_side, square_around
from tests.pipeline_fakes import GreenSquareEngine

W, H = 1280, 720


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2_blur(rng.integers(60, 120, (H, W, 3), dtype=np.uint8))


def cv2_blur(img: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (9, 9), 0)


def _with_square(img: np.ndarray, x: int, y: int, side: int = 60) -> np.ndarray:
    out = img.copy()
    out[y:y + side, x:x + side] = (0, 255, 0)
    return out


def test_a_still_picture_has_no_motion_and_a_moving_square_is_boxed_where_it_is():
    m = MotionDetector()
    bg = _scene()
    assert m.update(bg).whole_frame, "the first frame has no background yet: look at everything"
    for _ in range(3):
        still = m.update(bg)
        assert still.boxes == [] and not still.whole_frame
    moved = m.update(_with_square(bg, 900, 300))
    assert len(moved.boxes) == 1
    x1, y1, x2, y2 = moved.boxes[0]
    assert x1 <= 900 and y1 <= 300 and x2 >= 960 and y2 >= 360, moved.boxes
    assert (x2 - x1) < 200 and (y2 - y1) < 200, "the box is about the square, not the frame"


def test_something_that_stops_moving_fades_out_of_the_mask():
    m = MotionDetector()
    bg = _scene()
    m.update(bg)
    m.update(bg)
    parked = _with_square(bg, 200, 200)
    boxes = [len(m.update(parked).boxes) for _ in range(30)]
    assert boxes[0] == 1 and boxes[-1] == 0


def test_a_light_switched_on_is_one_whole_frame_change_not_a_thousand_boxes():
    m = MotionDetector()
    bg = _scene()
    m.update(bg)
    m.update(bg)
    bright = np.clip(bg.astype(np.int16) + 80, 0, 255).astype(np.uint8)
    r = m.update(bright)
    assert r.whole_frame and r.boxes == [(0, 0, W, H)]
    assert m.update(bright).boxes == [], "the new lighting is the background from then on"


def test_regions_are_squares_from_the_size_menu_inside_the_frame():
    assert region_side(50, 192, 640) == 192
    assert region_side(200, 192, 640) == 256
    assert region_side(700, 192, 640) == 640
    r = square_around((1250, 700, 1280, 720), 256, W, H)
    assert (r.x1, r.y1, r.x2, r.y2) == (W - 256, H - 256, W, H)


def test_a_small_face_track_gets_a_region_that_feeds_it_at_full_resolution():
    regions = plan_regions(W, H, [], [(600, 300, 640, 340)])
    assert regions == [square_around((600, 300, 640, 340), 192, W, H)]


def test_overlapping_regions_merge_and_a_huge_motion_needs_the_whole_frame():
    regions = plan_regions(W, H, [(100, 100, 200, 200)], [(180, 120, 220, 160)])
    assert regions is not None and len(regions) == 1
    r = regions[0]
    assert r.x1 <= 100 and r.y1 <= 100 and r.x2 >= 220 and r.y2 >= 200
    apart = plan_regions(W, H, [(100, 100, 200, 200)], [(1000, 500, 1040, 540)])
    assert apart is not None and len(apart) == 2
    assert plan_regions(W, H, [(0, 0, 900, 700)], []) is None


def test_the_planner_looks_at_the_whole_frame_first_periodically_and_on_cost():
    p = DetectionPlanner(gating=True, full_every_s=2.0)
    assert p.plan(0.0, W, H, [], []).reason == "first"
    assert p.plan(0.2, W, H, [], []).reason == "idle"
    assert p.plan(0.4, W, H, [], [(600, 300, 640, 340)]).reason == "regions"
    assert p.plan(2.0, W, H, [], [(600, 300, 640, 340)]).reason == "periodic"
    many = [(x, 50, x + 100, 150) for x in range(0, 1280, 330)] + [(x, 500, x + 100, 600) for x in range(0, 1280, 330)]
    assert p.plan(2.2, W, H, many, []).reason == "cost"
    assert p.plan(2.4, W, H, [], [], whole_frame_changed=True).reason == "change"
    off = DetectionPlanner(gating=False)
    assert all(off.plan(t * 0.2, W, H, [], []).full_frame for t in range(5))


class CountingEngine(GreenSquareEngine):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[tuple[int, int, int]] = []

    def detect_at(self, image_bgr, longest):
        self.sizes.append((image_bgr.shape[1], image_bgr.shape[0], longest))
        return self.detect(image_bgr)


def test_a_still_face_is_detected_every_frame_in_its_track_region_and_the_frame_is_not():
    engine = CountingEngine()
    gated = GatedDetector(engine, DetectionPlanner(full_every_s=2.0), MotionDetector())
    frame = _with_square(_scene(), 700, 300)
    found = []
    track: list = []
    for i in range(10):  # 2 s at 5 frames/s, nothing moves
        faces, plan = gated.detect(frame, i * 0.2, track)
        found.append(len(faces))
        track = [tuple(float(v) for v in faces[0].bbox)] if faces else []
        if i == 0:
            assert plan.full_frame
            first_box = faces[0].bbox.copy()
        else:
            assert plan.reason == "regions"
            np.testing.assert_allclose(faces[0].bbox, first_box, atol=1)
    assert found == [1] * 10
    assert gated.counts.full == 1 and gated.counts.regioned == 9
    assert all(w <= 256 and h <= 256 for w, h, _ in engine.sizes), "regions, not frames, after the first"


def test_an_arrival_is_detected_on_the_frame_it_appears():
    gated = GatedDetector(CountingEngine(), DetectionPlanner(full_every_s=60.0), MotionDetector())
    bg = _scene()
    for i in range(3):
        assert gated.detect(bg, i * 0.2, [])[0] == []
    faces, plan = gated.detect(_with_square(bg, 1000, 100), 0.6, [])
    assert plan.reason == "regions" and len(faces) == 1
    assert 995 <= faces[0].bbox[0] <= 1005 and 95 <= faces[0].bbox[1] <= 105, "in frame coordinates"


def test_a_face_found_in_two_regions_is_reported_once():
    box = np.array([10, 10, 50, 50], np.float32)
    lm = np.zeros((5, 2), np.float32)
    twice = [DetectedFace(box, lm, 0.8), DetectedFace(box + 1, lm, 0.9), DetectedFace(box + 300, lm, 0.7)]
    kept = drop_duplicates(twice)
    assert [f.score for f in kept] == [0.9, 0.7]



def test_gating_can_be_switched_off_for_one_camera(tmp_path):
    from core.config import AppConfig
    from core.messages import FrameMeta
    from workers.inference_server import GalleryWatch, InferenceCore

    cfg = AppConfig.model_validate({"cameras": [{"id": "door", "source": "a.mp4"},
                                                {"id": "fan", "source": "b.mp4", "motion_gating": False}]})
    engine = GreenSquareEngine()
    core = InferenceCore(cfg, engine, GalleryWatch(tmp_path, engine))
    frame = _with_square(_scene(), 400, 200)
    for i in range(5):
        out = core.process([(FrameMeta(cam, i, 0.0, i * 0.2, 0, frame.shape, 1.0), frame) for cam in ("door", "fan")])
        assert [len(r.faces) for r in out] == [1, 1]
    assert core.detectors["door"].counts.full == 1 and core.detectors["door"].counts.regioned == 4
    assert core.detectors["fan"].counts.full == 5


def test_a_bad_gating_setting_is_refused_naming_the_key():
    import pytest
    from pydantic import ValidationError

    from core.config import AppConfig

    with pytest.raises(ValidationError, match="inference.full_frame_every_s"):
        AppConfig.model_validate({"inference": {"full_frame_every_s": 0}})
    with pytest.raises(ValidationError, match="cameras.0.motion_gating"):
        AppConfig.model_validate({"cameras": [{"id": "a", "source": "a.mp4", "motion_gating": "sometimes"}]})


def test_a_region_gets_no_fewer_pixels_per_face_than_the_whole_frame_and_a_small_one_gets_more():
    from core.regions import input_side

    half = 640 / 1280  # a 1280x720 frame detected at 640x384
    assert input_side(192, half, 256) == 192, "small: its own resolution (twice the whole frame's)"
    for side in (320, 384, 448, 512, 576, 640):
        got = input_side(side, half, 256)
        assert 256 <= got <= side and got >= side * half, (side, got)
    p = DetectionPlanner(gating=True)
    p.plan(0.0, W, H, [], [])
    plan = p.plan(0.2, W, H, [], [(500, 200, 680, 380)])  # a 180-pixel face: a 512 region, fed at 256
    assert plan.reason == "regions" and [(r.side, r.input_side) for r in plan.regions] == [(512, 256)]
