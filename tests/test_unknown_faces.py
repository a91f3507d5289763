"""Faces of people who are not SPGs are biometric data: kept only for the configured retention."""

import os
import time

import numpy as np

from core.config import StorageConfig
from core.messages import FaceResult, FrameResult
from core.unknown_faces import UnknownFaceKeeper, list_unknown


def _crop(folder, name, age_days):
    p = folder / name
    p.write_bytes(b"\xff\xd8 not really a jpeg")
    t = time.time() - age_days * 86400
    os.utime(p, (t, t))
    return p


def test_expired_crops_are_deleted_when_the_console_starts(tmp_path):
    old = _crop(tmp_path, "cam1__old_1.jpg", age_days=10)
    fresh = _crop(tmp_path, "cam1__new_2.jpg", age_days=1)
    UnknownFaceKeeper(tmp_path, StorageConfig(unknown_retention_days=7))
    assert not old.exists() and fresh.exists()
    assert [c.path for c in list_unknown(tmp_path, StorageConfig(unknown_retention_days=7))] == [fresh]


def test_retention_zero_keeps_no_unknown_face(tmp_path):
    keeper = UnknownFaceKeeper(tmp_path, StorageConfig(unknown_retention_days=0), min_face_px=10, min_results=1)
    face = FaceResult(bbox=(10, 10, 80, 80), landmarks=((0, 0),) * 5, det_score=0.9, spg_id=None, similarity=0.1, track_id=1)
    result = FrameResult("cam1", 1, time.time(), 0.0, (face,), (120, 120))
    assert keeper.wanted(result) == []
    keeper2 = UnknownFaceKeeper(tmp_path / "k", StorageConfig(unknown_retention_days=7), min_face_px=10, min_results=1)
    wanted = keeper2.wanted(result)
    assert len(wanted) == 1
    saved = keeper2.save(result, np.zeros((120, 120, 3), np.uint8), wanted)
    assert len(saved) == 1 and saved[0].exists()
