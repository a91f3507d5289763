"""core.face_quality: the dominant-face rule and the live hints of the webcam enrollment dialog."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.config import EngineConfig
from core.engine.base import DetectedFace
from core.face_quality import dominant_face, enroll_check, turn_amount


def _face(x1, y1, x2, y2, nose_dx=0.0) -> DetectedFace:
    w, h = x2 - x1, y2 - y1
    lm = np.array([[x1 + 0.3 * w, y1 + 0.4 * h], [x1 + 0.7 * w, y1 + 0.4 * h], [x1 + (0.5 + nose_dx) * w, y1 + 0.6 * h],
                   [x1 + 0.35 * w, y1 + 0.8 * h], [x1 + 0.65 * w, y1 + 0.8 * h]], np.float32)
    return DetectedFace(np.array([x1, y1, x2, y2], np.float32), lm, 0.9)


def test_one_face_or_a_clearly_dominant_one():
    shape = (400, 400, 3)
    big, small = _face(150, 150, 250, 250), _face(20, 300, 60, 340)
    assert dominant_face([], shape) is None
    assert dominant_face([small], shape) is small
    assert dominant_face([small, big], shape) is big
    # two people of similar size side by side: no dominant face
    assert dominant_face([_face(60, 150, 160, 250), _face(240, 150, 340, 250)], shape) is None
    # a bystander as large as the subject but cut by the photo's edge does not compete
    assert dominant_face([_face(150, 150, 250, 250), _face(0, 150, 95, 250)], shape).bbox[0] == 150


@pytest.fixture(scope="module")
def photo_and_face(faces_dir):
    from core.engine.insightface_engine import InsightFaceEngine
    from core.enrollment import read_image
    from tests.conftest import TEST_PACK

    engine = InsightFaceEngine(EngineConfig(kind="insightface", pack=str(TEST_PACK)), TEST_PACK)
    img = read_image(faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg")
    return engine, img, max(engine.detect(img), key=lambda f: f.area)


def test_live_hints_on_a_real_face(photo_and_face):
    engine, img, face = photo_and_face
    cfg = EngineConfig()
    assert enroll_check(img, [face], cfg).reason == "ok"
    blurred = cv2.GaussianBlur(img, (21, 21), 0)
    bface = max(engine.detect(blurred), key=lambda f: f.area)
    assert enroll_check(blurred, [bface], cfg).reason == "too_blurred"
    assert enroll_check(img, [face], EngineConfig(enroll_min_face_px=400)).reason == "too_small"
    turned = _face(*[float(v) for v in face.bbox], nose_dx=0.2)
    assert turn_amount(turned) > turn_amount(face)
    check = enroll_check(img, [turned], cfg)
    assert check.reason == "turn" and check.accepted  # a hint only: enrollment takes the photo
