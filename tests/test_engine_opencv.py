"""The OpenCV engine (YuNet + SFace) beyond what every pack engine shares (tests/test_engine_insightface.py):
SFace's published use (alignCrop + feature) is what it computes, and detection keeps the frame's aspect ratio."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.config import EngineConfig
from core.engine.factory import create_engine
from core.enrollment import read_image


@pytest.fixture(scope="module")
def engine(engine_for):
    return engine_for("opencv")


def test_chips_and_embeddings_are_sfaces_published_use(engine, opencv_pack, faces_dir):
    """Same chip as FaceRecognizerSF.alignCrop on YuNet's own row, same vector as FaceRecognizerSF.feature."""
    img = read_image(faces_dir / "Colin_Powell" / "Colin_Powell_0002.jpg")
    yunet = cv2.FaceDetectorYN.create(str(opencv_pack / "face_detection_yunet_2023mar.onnx"), "",
                                      (img.shape[1], img.shape[0]), 0.5, 0.3, 5000)
    sface = cv2.FaceRecognizerSF.create(str(opencv_pack / "face_recognition_sface_2021dec.onnx"), "")
    _, rows = yunet.detect(img)
    row = rows[np.argmax(rows[:, 2] * rows[:, 3])]
    face = max(engine.detect(img), key=lambda f: f.area)
    assert np.allclose(face.landmarks.reshape(-1), row[4:14], atol=0.5)
    chip = engine.align(img, face)
    reference_chip = sface.alignCrop(img, row[None, :])
    assert np.abs(chip.astype(int) - reference_chip.astype(int)).mean() < 1.0
    ours = engine.embed_chips([chip, chip])[1]
    theirs = sface.feature(reference_chip).reshape(-1)
    assert float(ours @ (theirs / np.linalg.norm(theirs))) > 0.999


def test_detection_keeps_the_frames_aspect_ratio_and_original_coordinates(engine, faces_dir):
    img = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg")  # 250x250
    face = max(engine.detect(img), key=lambda f: f.area)
    # the same photo at the right edge of a wide 1280x360 strip, then the strip at twice the size (downscaled
    # to engine.det_size inside the engine): boxes come back in the coordinates of the image given
    strip = np.full((360, 1280, 3), 90, np.uint8)
    strip[50:300, 1000:1250] = img
    tol = 0.12 * face.width  # the strip is detected at half size (det_size 640), so a few pixels move
    found = max(engine.detect(strip), key=lambda f: f.area)
    assert np.allclose(found.bbox, face.bbox + [1000, 50, 1000, 50], atol=tol)
    big = cv2.resize(strip, (2560, 720), interpolation=cv2.INTER_CUBIC)
    found = max(engine.detect(big), key=lambda f: f.area)
    assert np.allclose(found.bbox, (face.bbox + [1000, 50, 1000, 50]) * 2, atol=2 * tol)
    assert np.allclose(found.landmarks, (face.landmarks + [1000, 50]) * 2, atol=2 * tol)


def test_det_threshold_and_det_size_are_the_configs(opencv_pack, shared_data, data_dir):
    selfie = read_image(shared_data / "group" / "worlds_largest_selfie.jpg")
    small = create_engine(EngineConfig(kind="opencv", pack=str(opencv_pack), det_size=320), data_dir)
    large = create_engine(EngineConfig(kind="opencv", pack=str(opencv_pack), det_size=1280), data_dir)
    strict = create_engine(EngineConfig(kind="opencv", pack=str(opencv_pack), det_size=1280, det_threshold=0.95), data_dir)
    n_small, n_large, n_strict = (len(e.detect(selfie)) for e in (small, large, strict))
    assert n_small < n_large and n_strict < n_large  # a larger input finds the tiny faces; a stricter score fewer
