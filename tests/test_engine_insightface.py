"""The ONNX pack engines on real packs and real photos: the test pack (SCRFD-500M + MobileFaceNet) and
buffalo_s (SCRFD-500M + w600k_mbf) through InsightFace, the OpenCV pack (YuNet + SFace) through OpenCV.
The behaviour tests run on every pack; the InsightFace-only ones (providers, threshold override, spawn)
on the test pack."""

from __future__ import annotations

import numpy as np
import pytest

from core.config import EngineConfig
from core.engine.base import DetectedFace
from core.engine.insightface_engine import InsightFaceEngine, aspect_input_size, provider_candidates
from core.enrollment import read_image

# expected face counts in ../shared/data/group (inclusive range = the tolerance)
GROUP_COUNTS = {
    "two_people.jpg": (2, 2),
    "kit_with_rose.jpg": (2, 2),
    "obama_and_biden.jpg": (2, 4),  # Obama, Biden, a girl, a woman cut by the edge
    "friends_6_faces.png": (5, 7),
    "worlds_largest_selfie.jpg": (80, 1000),  # several hundred, many tiny
}


# pack -> engine name, model_id, embedding size, provider, calibrated threshold (resources/thresholds.yaml), licence words
EXPECTED = {
    "test_pack": ("insightface", "insightface/mobilefacenet_foamliu", 128, "CPUExecutionProvider", 0.38, "licence"),
    "buffalo_s": ("insightface", "insightface/w600k_mbf", 512, "CPUExecutionProvider", 0.24, "non-commercial"),
    "opencv": ("opencv", "opencv/face_recognition_sface_2021dec", 128, "opencv-dnn-cpu", 0.39, "commercial use allowed"),
}


@pytest.fixture(scope="session", params=sorted(EXPECTED))
def pack_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def engine(pack_name, engine_for):
    return engine_for(pack_name)


def test_reports_model_provider_licence_and_calibrated_threshold(engine, pack_name):
    info = engine.info
    name, model_id, dim, provider, threshold, licence = EXPECTED[pack_name]
    assert (info.name, info.model_id, info.embedding_dim, info.provider) == (name, model_id, dim, provider)
    assert info.threshold == pytest.approx(threshold) and info.margin == pytest.approx(0.05)
    assert licence in info.licence


def test_config_overrides_the_calibrated_threshold(test_pack):
    over = InsightFaceEngine(EngineConfig(kind="insightface", pack=str(test_pack), threshold=0.55, margin=0.1), test_pack)
    assert (over.info.threshold, over.info.margin) == (0.55, 0.1)


def test_provider_preference_and_fallback():
    auto = provider_candidates(["auto"], ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert auto == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    all_there = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider"]
    assert provider_candidates(["auto"], all_there) == all_there
    # asking for a GPU that this build lacks still ends on the CPU
    assert provider_candidates(["cuda"], ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert provider_candidates(["directml", "cpu"], ["DmlExecutionProvider", "CPUExecutionProvider"])[0] == "DmlExecutionProvider"


@pytest.mark.parametrize("name", sorted(GROUP_COUNTS))
def test_group_photos_give_the_right_face_count(engine, shared_data, name):
    faces = engine.detect(read_image(shared_data / "group" / name))
    lo, hi = GROUP_COUNTS[name]
    assert lo <= len(faces) <= hi, f"{name}: {len(faces)} faces"
    for f in faces:
        assert isinstance(f, DetectedFace) and f.bbox.shape == (4,) and f.landmarks.shape == (5, 2)
        assert f.width > 0 and f.height > 0 and 0 < f.score <= 1


def test_photos_without_a_face_give_no_face(engine, shared_data):
    photos = sorted((shared_data / "noface").iterdir())
    assert photos, "the shared data set holds photos without a face"
    for photo in photos:
        assert engine.detect(read_image(photo)) == [], photo.name


def test_landmarks_follow_the_convention(engine, faces_dir):
    img = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg")
    face = max(engine.detect(img), key=lambda f: f.area)
    le, re, nose, lm, rm = face.landmarks
    x1, y1, x2, y2 = face.bbox
    assert le[0] < re[0] and lm[0] < rm[0]          # left is image-left
    assert max(le[1], re[1]) < nose[1] < min(lm[1], rm[1])  # eyes above nose above mouth
    assert all(x1 <= p[0] <= x2 and y1 <= p[1] <= y2 for p in face.landmarks)


def test_embeddings_are_batched_normalised_and_identity_bearing(engine, faces_dir):
    photos = [faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg", faces_dir / "Tony_Blair" / "Tony_Blair_0002.jpg",
              faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"]
    chips = []
    for p in photos:
        img = read_image(p)
        chip = engine.align(img, max(engine.detect(img), key=lambda f: f.area))
        assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
        chips.append(chip)
    dim = engine.info.embedding_dim
    emb = engine.embed_chips(chips)
    assert emb.shape == (3, dim) and emb.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    # one batched call gives the same vectors as one chip at a time
    single = np.concatenate([engine.embed_chips([c]) for c in chips])
    assert np.allclose(emb, single, atol=1e-4)
    same, other = float(emb[0] @ emb[1]), float(emb[0] @ emb[2])
    assert same > engine.info.threshold > other
    assert engine.embed_chips([]).shape == (0, dim)
    # batches of other sizes after the first still give the same vectors
    assert np.allclose(engine.embed_chips(chips[1:]), single[1:], atol=1e-4)


_BATCHED_RUN = """
import sys
from pathlib import Path
import numpy as np
from core.config import EngineConfig
from core.engine.factory import create_engine
from core.enrollment import read_image
engine = create_engine(EngineConfig(kind="auto", pack=sys.argv[1]), Path(sys.argv[2]))
img = read_image(sys.argv[3])
chips = [engine.align(img, f) for f in engine.detect(img)] * 2
for n in (2, 3, 4):
    out = engine.embed_chips(chips[:n])
    assert out.shape == (n, engine.info.embedding_dim), out.shape
print("embedded", len(chips))
"""


@pytest.mark.parametrize("pack", ["buffalo_s", "opencv"])
def test_a_batched_run_prints_nothing_on_stderr(pack, shared_data, data_dir):
    """w600k_mbf.onnx (buffalo_s) declares batch 1: onnxruntime used to print a shape warning for every batched
    call. OpenCV 5 warns once per model load about its DNN targets."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REAL_PACKS

    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", _BATCHED_RUN, str(REAL_PACKS[pack]), str(data_dir),
                          str(shared_data / "group" / "two_people.jpg")],
                         check=False, capture_output=True, text=True, timeout=180, cwd=str(repo))
    assert out.returncode == 0 and out.stdout.strip() == "embedded 4", out.stderr[-2000:]
    assert out.stderr == ""  # everything written to fd 2 by onnxruntime, insightface or OpenCV


def _child_embeds(pack: str, photo: str, data_dir: str, q) -> None:
    from pathlib import Path

    from core.config import EngineConfig
    from core.engine.factory import create_engine
    from core.enrollment import read_image

    engine = create_engine(EngineConfig(kind="auto", pack=pack), Path(data_dir))
    img = read_image(photo)
    faces = engine.detect(img)
    q.put((engine.info.model_id, engine.info.provider, engine.embed(img, faces).shape))


def test_engine_is_built_inside_a_spawned_child(test_pack, faces_dir, data_dir):
    from workers.mp import mp_context

    ctx = mp_context()
    q = ctx.Queue()
    p = ctx.Process(target=_child_embeds, args=(str(test_pack), str(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg"), str(data_dir), q))
    p.start()
    try:
        model_id, provider, shape = q.get(timeout=120)
    finally:
        p.join(timeout=30)
    assert p.exitcode == 0
    assert model_id == "insightface/mobilefacenet_foamliu" and provider == "CPUExecutionProvider"
    assert shape[1] == 128 and shape[0] >= 1


def test_importing_the_factory_loads_no_runtime():
    import subprocess
    import sys

    code = "import sys, core.engine.factory; print(sorted(m for m in ('onnxruntime', 'insightface', 'dlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parent.parent))
    assert out.stdout.strip() == "[]", out.stderr


@pytest.mark.parametrize("size, longest, expected", [
    ((1280, 720), 640, (640, 384)),  # 16:9 keeps its aspect: 6 % padding, not a 44 % square letterbox
    ((720, 1280), 640, (384, 640)),  # portrait camera
    ((640, 480), 640, (640, 480)),
    ((300, 300), 320, (320, 320)),
    ((1920, 1080), 500, (512, 288)),  # det_size not a multiple of 32: the nearest one
])
def test_the_detector_input_keeps_the_frame_aspect_on_a_stride_of_32(size, longest, expected):
    assert aspect_input_size(*size, longest) == expected


def test_aspect_input_finds_the_same_faces_as_the_square_letterbox(engine_for, shared_data):
    """The aspect-kept input with its reused buffers finds the faces insightface's square letterbox finds,
    at the same places."""
    engine = engine_for("test_pack")
    img = read_image(shared_data / "group" / "friends_6_faces.png")
    wide = np.ascontiguousarray(np.hstack([img, img])[: img.shape[0] // 2 * 2])  # a wide frame, like a camera's
    ours = sorted((f.bbox.tolist() for f in engine.detect(wide)), key=lambda b: b[0])
    size = engine.cfg.det_size
    boxes, _ = engine._det.detect(wide, input_size=(size, size))
    theirs = sorted((b[:4].tolist() for b in boxes), key=lambda b: b[0])
    assert len(ours) == len(theirs) >= 10
    assert np.abs(np.asarray(ours) - np.asarray(theirs)).max() < 0.08 * max(img.shape[:2])
    again = sorted((f.bbox.tolist() for f in engine.detect(wide)), key=lambda b: b[0])
    assert again == ours  # the reused buffers carry nothing over from one frame to the next


def test_decoding_only_the_anchors_that_pass_gives_exactly_insightfaces_detections(engine_for, shared_data):
    """The detector's forward decodes boxes and landmarks for the anchors over the threshold only: the same
    boxes, scores and landmarks, to the bit, as insightface's forward that decodes every anchor."""
    from insightface.model_zoo.scrfd import SCRFD

    det = engine_for("test_pack")._aspect._det
    img = read_image(shared_data / "group" / "friends_6_faces.png")
    for canvas in (np.ascontiguousarray(img[: img.shape[0] // 32 * 32, : img.shape[1] // 32 * 32]),
                   np.zeros((384, 640, 3), np.uint8)):  # many faces, and none
        ours, theirs = det.forward(canvas, det.det_thresh), SCRFD.forward(det, canvas, det.det_thresh)
        assert sum(len(s) for s in ours[0]) == sum(len(s) for s in theirs[0])
        for our_list, their_list in zip(ours, theirs):
            for a, b in zip(our_list, their_list):
                assert a.shape == b.shape and np.array_equal(a, b)
    assert sum(len(s) for s in det.forward(np.ascontiguousarray(img[:352, :480]), det.det_thresh)[0]) >= 3
