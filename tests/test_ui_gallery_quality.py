"""pytest-qt, real widgets, the real test pack and real faces: "not this person" from a tile's face,
look-alike pairs in the gallery manager, a visitor group enrolled as one SPG, webcam hints by
enrollment's own rule."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.config import AppConfig, EngineConfig, StorageConfig
from core.engine.factory import create_engine
from core.enrollment import enroll_photos, read_image
from core.gallery import Gallery
from core.messages import FaceResult, FrameMeta, FrameResult
from ui.controller import array_to_qimage
from ui.engine_service import EngineService


@pytest.fixture(scope="module")
def engine(test_pack, tmp_path_factory):
    return create_engine(EngineConfig(kind="insightface", pack=str(test_pack)), tmp_path_factory.mktemp("engine"))


@pytest.fixture
def cfg(test_pack) -> AppConfig:
    return AppConfig.model_validate({"engine": {"kind": "insightface", "pack": str(test_pack)}})


@pytest.fixture
def service(cfg, engine, tmp_path):
    svc = EngineService(cfg, tmp_path, factory=lambda c, d: engine)
    yield svc
    svc.shutdown()


def _frames(core, image: np.ndarray, n: int, start: int = 0, camera: str = "cam1") -> list[FrameResult]:
    h, w = image.shape[:2]
    out = []
    for i in range(start, start + n):
        meta = FrameMeta(camera, i, 1_700_000_000.0 + i, 0.0, 0, (h, w, 3), 1.0)
        out.extend(core.process([(meta, image)]))
    return out


def test_not_this_person_from_a_tile_stops_the_wrong_name_on_the_next_frames_and_after_a_restart(
        qtbot, cfg, engine, service, data_dir, faces_dir):
    from core.paths import DataLayout
    from ui.camera_grid import CameraGrid
    from ui.gallery_manager import GalleryManager
    from workers.inference_server import GalleryWatch, InferenceCore

    gallery = Gallery(DataLayout(data_dir).gallery)
    enroll_photos(engine, gallery, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    serena = read_image(faces_dir / "Serena_Williams" / "Serena_Williams_0005.jpg")  # a customer, not an SPG
    core = InferenceCore(cfg, engine, GalleryWatch(data_dir, engine, check_every=0.0))
    seen = _frames(core, serena, 3)
    assert seen[-1].faces[0].spg_id == "venus"  # the mistake, through the real inference path (tracker vote)

    gm = GalleryManager(gallery, service, cfg)
    grid = CameraGrid()
    qtbot.addWidget(gm)
    qtbot.addWidget(grid)
    grid.not_this_person.connect(lambda sid, crop: gm.mark_not_person(sid, [crop], "camera"))  # as the main window does
    grid.resize(800, 600)
    grid.show()
    grid.set_cameras([("cam1", "Door")])
    grid.set_names({"venus": "Venus Williams"})
    tile = grid.tiles["cam1"]
    tile.set_frame(array_to_qimage(serena), seen[-1])
    qtbot.waitUntil(lambda: tile.width() > 100, timeout=5000)
    x1, y1, x2, y2 = seen[-1].faces[0].bbox
    from PySide6.QtCore import QPointF

    from ui.camera_tile import fit_rect

    target = fit_rect(serena.shape[1], serena.shape[0], tile.width(), tile.height())
    s = target.width() / serena.shape[1]
    face = tile.face_at(QPointF(target.x() + (x1 + x2) / 2 * s, target.y() + (y1 + y2) / 2 * s))
    assert face is not None and face.spg_id == "venus"  # right-click lands on that face
    menu = tile.not_person_menu(face)
    action = menu.actions()[0]
    assert "Venus Williams" in action.text()
    with qtbot.waitSignal(gm.changed, timeout=20000):  # stored: record written and the gallery stamp bumped
        action.trigger()
    assert len(Gallery(DataLayout(data_dir).gallery).negatives("venus")) == 1

    nxt = _frames(core, serena, 2, start=3)  # the very next frames: no wrong name, no stale vote
    assert [r.faces[0].spg_id for r in nxt] == [None, None]

    restarted = InferenceCore(cfg, engine, GalleryWatch(data_dir, engine))  # the next start of the console
    assert [r.faces[0].spg_id for r in _frames(restarted, np.roll(serena, 5, axis=0), 3)] == [None] * 3
    venus = read_image(faces_dir / "Venus_Williams" / "Venus_Williams_0002.jpg")
    assert _frames(restarted, venus, 3, camera="cam2")[-1].faces[0].spg_id == "venus"  # Venus still recognised

    # reversible in the gallery manager
    qtbot.waitUntil(lambda: gm.select("venus"), timeout=5000)
    qtbot.waitUntil(lambda: gm.negatives_list.count() == 1, timeout=5000)
    gm.negatives_list.item(0).setSelected(True)
    with qtbot.waitSignal(gm.changed, timeout=10000):
        gm.allow_btn.click()
    assert Gallery(DataLayout(data_dir).gallery).negatives("venus") == []
    assert _frames(core, serena, 3, start=10)[-1].faces[0].spg_id == "venus"


def test_gallery_manager_shows_the_lookalike_pair_and_enrollment_names_the_other(qtbot, cfg, engine, service,
                                                                                tmp_path, faces_dir):
    from ui.gallery_manager import GalleryManager

    gallery = Gallery(tmp_path / "gallery")
    enroll_photos(engine, gallery, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    enroll_photos(engine, gallery, "colin", "Colin Powell", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    gm = GalleryManager(gallery, service, cfg)
    qtbot.addWidget(gm)
    gm.show()
    qtbot.waitUntil(lambda: gm.lookalike_texts() == ["No look-alike SPGs."], timeout=10000)
    dlg = gm.open_photo_dialog(photos=[faces_dir / "Serena_Williams" / "Serena_Williams_0001.jpg"], name="Serena Williams")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    assert "Venus Williams" in dlg.message.text()  # the warning at enrollment names the other SPG
    qtbot.waitUntil(lambda: [(p.spg_a, p.spg_b) for p in gm.lookalikes] == [("serena_williams", "venus")], timeout=10000)
    [text] = gm.lookalike_texts()
    assert "Serena Williams" in text and "Venus Williams" in text and "Colin" not in text
    dlg.close()


def test_a_visitor_group_is_enrolled_as_one_spg_with_all_its_crops(qtbot, cfg, engine, service, tmp_path, faces_dir):
    from core.unknown_faces import UnknownFaceKeeper
    from ui.gallery_manager import GalleryManager
    from ui.unknown_faces import UnknownFacesPanel

    storage = StorageConfig(unknown_retention_days=7, unknown_max=50)
    folder = tmp_path / "unknown"
    keeper = UnknownFaceKeeper(folder, storage, min_face_px=40, min_results=1)
    photos = [faces_dir / "Colin_Powell" / f"Colin_Powell_000{k}.jpg" for k in (1, 2, 3)] + \
             [faces_dir / "Tony_Blair" / f"Tony_Blair_000{k}.jpg" for k in (1, 2)]
    for track, photo in enumerate(photos, 1):  # each a separate visit (track) seen by a camera
        img = read_image(photo)
        faces = engine.detect(img)
        f = max(faces, key=lambda d: d.area)
        face = FaceResult(tuple(float(v) for v in f.bbox), (), 0.9, None, 0.1, track)
        r = FrameResult("cam1", track, 1_700_000_000.0 + 60 * track, 0.0, (face,), img.shape[:2])
        assert keeper.save(r, img, keeper.wanted(r))
    gallery = Gallery(tmp_path / "gallery")
    gm = GalleryManager(gallery, service, cfg)
    panel = UnknownFacesPanel(folder, storage, engine=service, names=gallery.names)
    qtbot.addWidget(gm)
    qtbot.addWidget(panel)
    panel.enroll_requested.connect(lambda paths: gm.open_photo_dialog(photos=paths))  # as the main window does
    panel.show()
    qtbot.waitUntil(lambda: sorted(len(v.crops) for v in panel.visitors) == [2, 3], timeout=30000)
    assert panel.list.count() == 2
    colin = next(v for v in panel.visitors if len(v.crops) == 3)
    assert all("Colin" not in p.name for p in colin.crops)  # crops are anonymous: cam + time
    texts = [panel.list.item(i).text() for i in range(panel.list.count())]
    assert any(f"Visitor {colin.number}" in t and "3 crops" in t for t in texts)
    assert all(p.with_suffix(".json").is_file() for p in colin.crops)  # embeddings stored with the crops
    assert panel.select_visitor(colin.number)
    panel.enroll_btn.click()
    dlg = gm.dialog
    assert dlg is not None and sorted(dlg.photos()) == sorted(str(p) for p in colin.crops)
    dlg.fields.name_edit.setText("Colin Powell")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    person = gallery.get("colin_powell")
    assert person is not None and person.sample_count == 3, dlg.message.text()
    dlg.close()


def test_unknown_faces_not_this_spg_marks_every_crop_of_the_visitor(qtbot, cfg, engine, service, tmp_path, faces_dir):
    from core.unknown_faces import UnknownFaceKeeper
    from ui.gallery_manager import GalleryManager
    from ui.unknown_faces import UnknownFacesPanel

    storage = StorageConfig(unknown_retention_days=7, unknown_max=50)
    folder = tmp_path / "unknown"
    keeper = UnknownFaceKeeper(folder, storage, min_face_px=40, min_results=1)
    for track, k in enumerate(("0001", "0004"), 1):
        img = read_image(faces_dir / "Serena_Williams" / f"Serena_Williams_{k}.jpg")
        f = max(engine.detect(img), key=lambda d: d.area)
        face = FaceResult(tuple(float(v) for v in f.bbox), (), 0.9, None, 0.1, track)
        r = FrameResult("cam1", track, 1_700_000_000.0 + track, 0.0, (face,), img.shape[:2])
        keeper.save(r, img, keeper.wanted(r))
    gallery = Gallery(tmp_path / "gallery")
    enroll_photos(engine, gallery, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    gm = GalleryManager(gallery, service, cfg)
    panel = UnknownFacesPanel(folder, storage, engine=service, names=gallery.names)
    qtbot.addWidget(gm)
    qtbot.addWidget(panel)
    panel.not_person_requested.connect(lambda sid, paths: gm.mark_not_person(sid, paths, "unknown"))
    panel.show()
    qtbot.waitUntil(lambda: [len(v.crops) for v in panel.visitors] == [2], timeout=30000)
    panel.list.item(0).setSelected(True)
    with qtbot.waitSignal(gm.changed, timeout=20000):
        assert panel.mark_not_person("venus")
    assert len(gallery.negatives("venus")) == 2
    assert {n.source for n in gallery.negatives("venus")} == {"unknown"}


def test_webcam_hint_accepts_a_dominant_face_with_a_small_bystander(qtbot, cfg, engine, service, tmp_path, faces_dir):
    from core.face_quality import enroll_check
    from ui import enroll_dialogs

    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[60:420, 140:500] = cv2.resize(read_image(faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"), (360, 360))
    frame[350:450, 520:620] = cv2.resize(read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg"), (100, 100))
    assert len(engine.detect(frame)) >= 2  # a second face really is in view
    assert enroll_check(frame, engine.detect(frame), cfg.engine).accepted  # and enrollment takes the frame
    video = tmp_path / "webcam.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for _ in range(10):
        wr.write(frame)
    wr.release()
    gallery = Gallery(tmp_path / "gallery")
    dlg = enroll_dialogs.WebcamEnrollDialog(service, gallery, cfg)
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.select_source(str(video))
    dlg.start_preview()
    hints: list[str] = []
    dlg._thread.frame.connect(lambda _img, _face, hint, _f: hints.append(hint))
    qtbot.waitUntil(lambda: len(hints) >= 3, timeout=30000)
    assert set(hints) == {"ok"}, hints  # never "more than one face" for a frame enrollment accepts
    assert dlg.hint.text() == dlg.hint_text("ok")
    assert dlg.capture()
    dlg.fields.name_edit.setText("Colin Powell")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=30000)
    assert gallery.get("colin_powell").sample_count == 1, dlg.message.text()
    dlg.close()
