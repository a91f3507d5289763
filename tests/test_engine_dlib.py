"""The dlib offline engine (public-domain models) on real photos: detection, landmarks, embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import EngineConfig
from core.engine.dlib_engine import DlibEngine, five_point_convention
from core.enrollment import read_image

# HOG finds fewer of the tiny faces in the big selfie than SCRFD: a wider tolerance there
GROUP_COUNTS = {
    "two_people.jpg": (2, 2),
    "kit_with_rose.jpg": (2, 2),
    "obama_and_biden.jpg": (2, 4),
    "friends_6_faces.png": (5, 7),
    "worlds_largest_selfie.jpg": (50, 1000),
}


@pytest.fixture(scope="session")
def engine() -> DlibEngine:
    return DlibEngine(EngineConfig(kind="dlib"))


def test_info_names_the_model_licence_and_threshold(engine):
    info = engine.info
    assert (info.name, info.model_id, info.embedding_dim) == ("dlib", "dlib/dlib_face_recognition_resnet_model_v1", 128)
    assert info.provider == "dlib-cpu" and "public domain" in info.licence
    assert info.threshold == pytest.approx(0.935)  # resources/thresholds.yaml
    assert DlibEngine(EngineConfig(kind="dlib", threshold=0.9)).info.threshold == 0.9


@pytest.mark.parametrize("name", sorted(GROUP_COUNTS))
def test_group_photos_give_the_right_face_count(engine, shared_data, name):
    n = len(engine.detect(read_image(shared_data / "group" / name)))
    lo, hi = GROUP_COUNTS[name]
    assert lo <= n <= hi, f"{name}: {n} faces"


def test_photos_without_a_face_give_no_face(engine, shared_data):
    photos = sorted((shared_data / "noface").iterdir())
    assert photos, "the shared data set holds photos without a face"
    for photo in photos:
        assert engine.detect(read_image(photo)) == [], photo.name


def test_landmarks_are_mapped_to_the_five_point_convention(engine, faces_dir):
    img = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg")
    (face,) = [f for f in engine.detect(img) if f.width > 60]
    le, re, nose, lm, rm = face.landmarks
    assert le[0] < nose[0] < re[0] and lm[0] < rm[0]
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])
    x1, y1, x2, y2 = face.bbox
    assert x1 <= le[0] and re[0] <= x2 and y1 <= le[1] <= y2
    # dlib order (image-right eye corners first) is put right whichever eye comes first
    raw = np.array([[70, 50], [60, 50], [30, 50], [40, 50], [50, 70]], np.float32)
    out = five_point_convention(raw)
    assert np.allclose(out[0], [35, 50]) and np.allclose(out[1], [65, 50]) and np.allclose(out[2], [50, 70])


def test_embeddings_batched_normalised_and_identity_bearing(engine, faces_dir):
    photos = [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg", faces_dir / "Colin_Powell" / "Colin_Powell_0002.jpg",
              faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg"]
    chips = []
    for p in photos:
        img = read_image(p)
        chips.append(engine.align(img, max(engine.detect(img), key=lambda f: f.area)))
    assert chips[0].shape == (150, 150, 3)
    emb = engine.embed_chips(chips)
    assert emb.shape == (3, 128) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    assert np.allclose(emb, np.concatenate([engine.embed_chips([c]) for c in chips]), atol=1e-4)
    assert float(emb[0] @ emb[1]) > engine.info.threshold > float(emb[0] @ emb[2])
    assert engine.embed_chips([]).shape == (0, 128)


def test_cnn_detector_option(faces_dir):
    cnn = DlibEngine(EngineConfig(kind="dlib", dlib_detector="cnn"))
    img = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg")
    faces = cnn.detect(img)
    main = max(faces, key=lambda f: f.area)
    assert "cnn" in cnn.info.pack_path and abs((main.bbox[0] + main.bbox[2]) / 2 - 125) < 30
    assert cnn.embed(img, [main]).shape == (1, 128)
