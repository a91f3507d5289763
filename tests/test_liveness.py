"""Passive liveness on the real MiniFASNet pair, through the engine's own detection (issue 14).

Minivision's sample pictures: a printed photo held to the camera, a phone screen, and a live face. The face
box comes from the engine that runs at the outlet (SCRFD of the test pack and of buffalo_s, YuNet of the
OpenCV pack), the crop from that box, as the inference server does it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.config import AppConfig
from core.liveness import LivenessError, MiniFasLiveness, liveness_for, scaled_crop
from tests.conftest import SHARED_DATA

LIVENESS_MODELS = SHARED_DATA / "models" / "liveness"
SAMPLES = SHARED_DATA / "liveness"
EXPECTED = {"print_attack_F1.jpg": False, "screen_replay_F2.jpg": False, "live_T1.jpg": True}


@pytest.fixture(scope="module")
def liveness() -> MiniFasLiveness:
    cfg = AppConfig.model_validate({"fraud": {"liveness": {"enabled": True, "models": str(LIVENESS_MODELS)}}})
    return liveness_for(cfg.fraud.liveness, cfg.engine, SHARED_DATA)


@pytest.mark.parametrize("pack", ["test_pack", "buffalo_s", "opencv"])
def test_print_and_screen_are_spoof_and_the_live_face_is_real(pack, engine_for, liveness):
    engine = engine_for(pack)
    verdicts = {}
    for name in EXPECTED:
        image = cv2.imread(str(SAMPLES / name))
        faces = engine.detect(image)
        assert len(faces) == 1, f"{name}: one face found by {pack}"
        verdicts[name] = liveness.check(image, faces[0].bbox)
    print({n: round(v.real_score, 4) for n, v in verdicts.items()})
    assert {n: v.is_real for n, v in verdicts.items()} == EXPECTED, verdicts
    assert verdicts["live_T1.jpg"].real_score > 0.9
    assert verdicts["screen_replay_F2.jpg"].real_score < 0.1
    assert verdicts["print_attack_F1.jpg"].real_score < 0.4


def test_the_threshold_decides(engine_for):
    image = cv2.imread(str(SAMPLES / "print_attack_F1.jpg"))
    box = engine_for("test_pack").detect(image)[0].bbox
    strict, lax = MiniFasLiveness(LIVENESS_MODELS, 0.5), MiniFasLiveness(LIVENESS_MODELS, 0.2)
    assert not strict.check(image, box).is_real
    assert lax.check(image, box).is_real, "a print scores about 0.3: a threshold of 0.2 lets it through"


def test_the_enlarged_box_is_shifted_inside_the_frame_not_padded():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, :20] = 255  # a white band on the left edge
    crop = scaled_crop(image, (0, 40, 20, 60), 4.0, side=80)  # a face box on the edge, enlarged 4x = 80x80
    assert crop.shape == (80, 80, 3)
    white = (crop[:, :, 0] > 128).mean()
    assert 0.15 < white < 0.35, "the crop starts at the frame's edge (20 of 80 columns white), no black padding"
    big = scaled_crop(image, (50, 10, 150, 90), 4.0, side=80)  # cannot be enlarged 4x: enlarged as far as fits
    assert big.shape == (80, 80, 3)


def test_missing_models_are_named_with_what_to_do(tmp_path):
    with pytest.raises(LivenessError) as err:
        MiniFasLiveness(tmp_path / "nowhere")
    text = str(err.value)
    assert "nowhere" in text and "MiniFASNetV2" in text and "fraud.liveness" in text


def test_webcam_enrollment_refuses_a_photo_or_screen_when_liveness_is_on(tmp_path, test_pack, qtbot):
    """What the webcam dialog runs on its engine thread (``ui.enroll_dialogs.run_enrollment``, camera frames)."""
    from PySide6.QtWidgets import QWidget

    from core.engine.factory import create_engine
    from core.enrollment import EnrollmentError, Reason
    from core.gallery import Gallery
    from ui.enroll_dialogs import error_text, run_enrollment

    cfg = AppConfig.model_validate({"data_dir": str(tmp_path), "engine": {"kind": "insightface", "pack": str(test_pack)},
                                    "fraud": {"liveness": {"enabled": True, "models": str(LIVENESS_MODELS)}}})
    engine = create_engine(cfg.engine, tmp_path)
    gallery = Gallery(tmp_path / "gallery")
    frames = {name: cv2.imread(str(SAMPLES / name)) for name in EXPECTED}
    for name in ("print_attack_F1.jpg", "screen_replay_F2.jpg"):
        with pytest.raises(EnrollmentError) as err:
            run_enrollment(engine, gallery, "sari", "Sari", [frames[name]], cfg, source="camera")
        assert err.value.reason is Reason.SPOOFED, name
        w = QWidget()
        qtbot.addWidget(w)
        assert "photo or a screen" in error_text(w, err.value)
    assert gallery.get("sari") is None, "nothing stored"
    report = run_enrollment(engine, gallery, "lina", "Lina", [frames["live_T1.jpg"]], cfg, source="camera")
    assert len(report.added) == 1, "a live face is enrolled"
    photo_cfg = cfg.model_copy(update={"fraud": AppConfig().fraud})
    assert len(run_enrollment(engine, gallery, "sari", "Sari", [frames["print_attack_F1.jpg"]], photo_cfg,
                              source="camera").added) == 1, "liveness off: the same frame is accepted"
