"""Model packs: missing / broken packs give a clear error; import from zip and folder; engine: auto."""

from __future__ import annotations

import itertools
import logging
import zipfile

import pytest

from core.config import EngineConfig
from core.engine import packs
from core.engine.base import ModelPackError
from core.engine.factory import create_engine


def test_missing_pack_says_how_to_get_one(data_dir):
    with pytest.raises(ModelPackError) as err:
        create_engine(EngineConfig(kind="insightface", pack="buffalo_l"), data_dir)
    msg = str(err.value)
    assert "buffalo_l" in msg and "not installed" in msg
    assert "models download" in msg and "models import" in msg and "dlib" in msg


def test_missing_pack_folder_path(data_dir, tmp_path):
    with pytest.raises(ModelPackError, match="does not exist|not installed"):
        create_engine(EngineConfig(kind="insightface", pack=str(tmp_path / "nowhere")), data_dir)


def test_broken_packs_are_named_clearly(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelPackError, match="no .onnx"):
        packs.validate_pack(empty)
    lfs = tmp_path / "lfs"
    lfs.mkdir()
    (lfs / "det_10g.onnx").write_text("version https://git-lfs.github.com/spec/v1\n")
    (lfs / "w600k_r50.onnx").write_text("version https://git-lfs.github.com/spec/v1\n")
    with pytest.raises(ModelPackError, match="broken or half-copied"):
        packs.validate_pack(lfs)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "model_a.onnx").write_bytes(b"\x00" * 4096)
    with pytest.raises(ModelPackError, match="not a readable ONNX"):
        packs.validate_pack(garbage)


def test_buffalo_extras_are_ignored(tmp_path, test_pack):
    import shutil

    pack = tmp_path / "buffalo_like"
    pack.mkdir()
    shutil.copy(test_pack / "scrfd_500m_bnkps.onnx", pack / "det_500m.onnx")
    shutil.copy(test_pack / "mobilefacenet_foamliu.onnx", pack / "w600k_mbf.onnx")
    for extra in ("1k3d68.onnx", "2d106det.onnx", "genderage.onnx"):
        (pack / extra).write_bytes(b"\x01" * 2048)  # never opened
    files = packs.validate_pack(pack)
    assert (files.detector.name, files.recogniser.name) == ("det_500m.onnx", "w600k_mbf.onnx")


def test_import_from_zip_then_auto_picks_it(data_dir, tmp_path, test_pack, caplog):
    zpath = tmp_path / "my_pack.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in test_pack.iterdir():
            zf.write(f, f"my_pack/{f.name}")
    files = packs.import_pack(zpath, data_dir)
    assert files.folder == data_dir / "models" / "my_pack"
    assert {p.name for p in files.folder.iterdir()} == {"scrfd_500m_bnkps.onnx", "mobilefacenet_foamliu.onnx"}
    assert [p.name for p in packs.installed_packs(data_dir)] == ["my_pack"]
    with caplog.at_level(logging.INFO, logger="core.engine.factory"):
        engine = create_engine(EngineConfig(kind="auto", pack="buffalo_l"), data_dir)
    assert engine.info.name == "insightface" and engine.info.pack_path.endswith("my_pack")
    assert "using installed pack 'my_pack'" in caplog.text
    # by name, too
    assert create_engine(EngineConfig(kind="insightface", pack="my_pack"), data_dir).info.embedding_dim == 128


def test_import_from_folder_and_bad_sources(data_dir, tmp_path, test_pack):
    files = packs.import_pack(test_pack, data_dir, name="tp")
    assert files.name == "tp" and files.recogniser.stat().st_size == (test_pack / "mobilefacenet_foamliu.onnx").stat().st_size
    not_zip = tmp_path / "pack.zip"
    not_zip.write_text("not a zip")
    with pytest.raises(ModelPackError, match="neither a folder nor a zip"):
        packs.import_pack(not_zip, data_dir)
    with pytest.raises(ModelPackError, match="does not exist"):
        packs.import_pack(tmp_path / "nope.zip", data_dir)
    # a failed import leaves the installed pack alone
    assert [p.name for p in packs.installed_packs(data_dir)] == ["tp"]


def test_auto_without_any_pack_falls_back_to_dlib(data_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="core.engine.factory"):
        engine = create_engine(EngineConfig(kind="auto", pack="buffalo_l"), data_dir)
    assert engine.info.name == "dlib" and engine.info.embedding_dim == 128
    assert "dlib offline engine" in caplog.text and "models download" in caplog.text


def test_download_unknown_pack_is_refused_without_network(data_dir):
    with pytest.raises(ModelPackError, match="unknown pack"):
        packs.download_pack("not_a_pack", data_dir)


@pytest.fixture
def local_zoo(tmp_path, test_pack, monkeypatch):
    """A model-zoo stand-in on 127.0.0.1 serving buffalo_sc.zip built from the test pack (no internet)."""
    import functools
    import http.server
    import threading

    import insightface.utils.storage as storage

    root = tmp_path / "zoo"
    root.mkdir()
    with zipfile.ZipFile(root / "buffalo_sc.zip", "w") as zf:
        zf.write(test_pack / "scrfd_500m_bnkps.onnx", "det_500m.onnx")
        zf.write(test_pack / "mobilefacenet_foamliu.onnx", "w600k_mbf.onnx")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(storage, "model_zoo_download_url", lambda f: f"http://127.0.0.1:{server.server_port}/{f}")
    yield server
    server.shutdown()


def test_download_reports_progress_and_installs(local_zoo, data_dir):
    seen: list[tuple[int, int]] = []
    files = packs.download_pack("buffalo_sc", data_dir, progress=lambda d, t: seen.append((d, t)))
    assert files.folder == data_dir / "models" / "buffalo_sc"
    assert (files.detector.name, files.recogniser.name) == ("det_500m.onnx", "w600k_mbf.onnx")
    assert seen and seen[-1][0] == seen[-1][1] > 1_000_000  # done == total at the end
    assert all(b >= a for (a, _), (b, _) in zip(seen, seen[1:]))
    assert not list((data_dir / "models").glob(".*part"))  # the partial download is cleaned up
    engine = create_engine(EngineConfig(kind="auto", pack="buffalo_sc"), data_dir)
    assert engine.info.model_id == "insightface/w600k_mbf"


def test_download_when_offline_is_a_clear_error_not_a_hang(data_dir, monkeypatch):
    import insightface.utils.storage as storage

    monkeypatch.setattr(storage, "model_zoo_download_url", lambda f: f"http://127.0.0.1:9/{f}")  # nothing listens
    with pytest.raises(ModelPackError, match="offline.*models import"):
        packs.download_pack("buffalo_l", data_dir, timeout_s=5)
    assert packs.installed_packs(data_dir) == []


def test_a_pack_can_carry_its_own_thresholds(data_dir, tmp_path, test_pack):
    import shutil

    src = tmp_path / "calibrated"
    shutil.copytree(test_pack, src)
    (src / "thresholds.yaml").write_text("threshold: 0.45\nmargin: 0.07\n")
    packs.import_pack(src, data_dir)
    info = create_engine(EngineConfig(kind="insightface", pack="calibrated"), data_dir).info
    assert (info.threshold, info.margin) == (0.45, 0.07)
    # the config still wins
    info = create_engine(EngineConfig(kind="insightface", pack="calibrated", threshold=0.5), data_dir).info
    assert (info.threshold, info.margin) == (0.5, 0.07)


# --- the OpenCV (YuNet + SFace) pack -------------------------------------------------------------

def test_a_pack_is_a_folder_whatever_its_engine(data_dir, tmp_path, opencv_pack, test_pack):
    assert packs.validate_pack(opencv_pack).kind == "opencv"
    assert packs.validate_pack(test_pack).kind == "insightface"
    # the kind comes from the detector's graph when the file names say nothing
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / "finder.onnx").symlink_to(opencv_pack / "face_detection_yunet_2023mar.onnx")
    (renamed / "embedder_rec.onnx").symlink_to(opencv_pack / "face_recognition_sface_2021dec.onnx")
    assert packs.validate_pack(renamed).kind == "opencv"
    assert create_engine(EngineConfig(kind="auto", pack=str(opencv_pack)), data_dir).info.name == "opencv"
    assert create_engine(EngineConfig(kind="opencv", pack=str(opencv_pack)), data_dir).info.name == "opencv"
    assert create_engine(EngineConfig(kind="auto", pack=str(test_pack)), data_dir).info.name == "insightface"
    # a kind that does not fit the pack is named, with what to do
    with pytest.raises(ModelPackError, match=r"OpenCV .*engine.kind is insightface.*engine.kind: auto"):
        create_engine(EngineConfig(kind="insightface", pack=str(opencv_pack)), data_dir)
    with pytest.raises(ModelPackError, match=r"InsightFace pack.*engine.kind is opencv"):
        create_engine(EngineConfig(kind="opencv", pack=str(test_pack)), data_dir)


def test_auto_prefers_the_configured_pack_then_an_installed_opencv_pack(data_dir, tmp_path, opencv_pack, test_pack, caplog):
    zpath = tmp_path / "sface.zip"  # the OpenCV pack as a zip, files at the top level
    with zipfile.ZipFile(zpath, "w") as zf:
        for f in opencv_pack.iterdir():
            zf.write(f, f.name)
    assert packs.import_pack(zpath, data_dir).kind == "opencv"
    packs.import_pack(test_pack, data_dir, name="a_test_pack")  # sorts first by name
    assert [p.name for p in packs.installed_packs(data_dir)] == ["sface", "a_test_pack"]
    with caplog.at_level(logging.INFO, logger="core.engine.factory"):
        engine = create_engine(EngineConfig(kind="auto", pack="buffalo_l"), data_dir)  # not installed
    assert engine.info.name == "opencv" and engine.info.pack_path.endswith("sface")
    assert "OpenCV (YuNet + SFace), because pack 'buffalo_l' is not usable" in caplog.text
    # the configured pack wins over any other
    assert create_engine(EngineConfig(kind="auto", pack="a_test_pack"), data_dir).info.name == "insightface"


@pytest.fixture
def local_opencv_zoo(tmp_path, opencv_pack, monkeypatch):
    """OpenCV Zoo's repository layout on 127.0.0.1, serving the real files (no internet); yields its root."""
    import functools
    import http.server
    import threading

    root = tmp_path / "opencv_zoo"
    for f in packs.SFACE_FILES:
        (root / f.path).parent.mkdir(parents=True, exist_ok=True)
        (root / f.path).symlink_to(opencv_pack / f.name)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(packs, "OPENCV_ZOO_URL", f"http://127.0.0.1:{server.server_port}")
    yield root
    server.shutdown()


def test_download_sface_checks_the_pinned_sums_and_installs(local_opencv_zoo, data_dir):
    seen: list[tuple[int, int]] = []
    files = packs.download_pack("sface", data_dir, progress=lambda d, t: seen.append((d, t)))
    assert files.folder == data_dir / "models" / "sface" and files.kind == "opencv"
    assert {p.name for p in files.folder.iterdir()} == {f.name for f in packs.SFACE_FILES}
    total = sum(f.size for f in packs.SFACE_FILES)
    assert seen[-1] == (total, total) and all(t == total for _, t in seen)  # one bar over both files
    assert all(b >= a for (a, _), (b, _) in itertools.pairwise(seen))
    assert not [p for p in (data_dir / "models").iterdir() if p.name.startswith(".")]  # no partial download left
    assert create_engine(EngineConfig(kind="auto", pack="sface"), data_dir).info.model_id == \
        "opencv/face_recognition_sface_2021dec"


def test_download_sface_refuses_a_file_that_is_not_the_pinned_one(local_opencv_zoo, data_dir, test_pack):
    det = local_opencv_zoo / packs.SFACE_FILES[0].path
    det.unlink()
    det.symlink_to(test_pack / "scrfd_500m_bnkps.onnx")  # a real ONNX, but not YuNet 2023mar
    with pytest.raises(ModelPackError, match="face_detection_yunet_2023mar.onnx .*not the expected file.*nothing was installed"):
        packs.download_pack("sface", data_dir)
    assert packs.installed_packs(data_dir) == []
    assert not [p for p in (data_dir / "models").iterdir() if p.name.startswith(".")]


def test_download_sface_when_offline_is_a_clear_error(data_dir, monkeypatch):
    monkeypatch.setattr(packs, "OPENCV_ZOO_URL", "http://127.0.0.1:9")  # nothing listens
    with pytest.raises(ModelPackError, match="offline.*models import"):
        packs.download_pack("sface", data_dir, timeout_s=5)
    assert packs.installed_packs(data_dir) == []


def test_the_pinned_sums_are_those_of_the_real_files(opencv_pack):
    import hashlib

    for f in packs.SFACE_FILES:
        data = (opencv_pack / f.name).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (f.sha256, f.size)
