"""The console's user flows on the REAL engine (test pack), gallery, pipeline and attendance service,
driven through the real widgets (pytest-qt, offscreen):

enroll from photo files and from the webcam dialog (a video file stands in for the webcam) -> the SPGs
show in the gallery -> composed footage plays -> presence table PRESENT, then ABSENT for the one who
walked away (with the absent alert in the event log) -> File -> Export attendance report, read back ->
close: workers stopped, no SharedMemory left.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from core.config import AppConfig

STAYS, LEAVES = "George_W_Bush", "Colin_Powell"


def _photo(faces_dir: Path, person: str, i: int) -> Path:
    return faces_dir / person / f"{person}_{i:04d}.jpg"


@pytest.fixture(scope="module")
def footage(tmp_path_factory, faces_dir):
    """Camera footage: STAYS is there all along, LEAVES walks out after 8 s (photos not used for enrollment)."""
    from core import demo

    d = tmp_path_factory.mktemp("footage")
    crops = {k: cv2.imread(str(_photo(faces_dir, p, 5))) for k, p in (("stays", STAYS), ("leaves", LEAVES))}
    cam = demo.compose_footage(d / "cam1.mp4", "cam1", crops, seconds=60,
                               script=[("stays", -1, 99, 0.28), ("leaves", -1, 8, 0.70)], title="Test camera")
    # the "webcam": LEAVES' enrollment photos, one per second
    webcam = d / "webcam.mp4"
    wr = cv2.VideoWriter(str(webcam), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    for i in (1, 2, 3):
        img = cv2.imread(str(_photo(faces_dir, LEAVES, i)))
        frame = np.full((480, 640, 3), 90, np.uint8)
        big = cv2.resize(img, (400, 400))
        frame[40:440, 120:520] = big
        for _ in range(10):
            wr.write(frame)
    wr.release()
    return {"camera": cam, "webcam": webcam}


def _cfg(test_pack: Path, camera: Path) -> AppConfig:
    return AppConfig.model_validate({
        "outlet": {"name": "Test outlet"},
        "engine": {"kind": "insightface", "pack": str(test_pack)},
        "cameras": [{"id": "cam1", "name": "Test camera", "source": str(camera), "loop": True}],
        "camera": {"process_fps": 5},
        "presence": {"grace_seconds": 1, "absent_seconds": 3, "confirm_hits": 2, "confirm_window_s": 5},
    })


def _state(win, name: str) -> str | None:
    for r in win.presence_model.rows():
        if r.name == name:
            return r.state
    return None


def test_enroll_presence_report_and_clean_close(qtbot, data_dir, test_pack, faces_dir, footage, monkeypatch):
    from ui import report_dialog
    from ui.main_window import MainWindow

    opened: list[Path] = []
    monkeypatch.setattr(report_dialog, "open_folder", opened.append)
    win = MainWindow(_cfg(test_pack, footage["camera"]), data_dir, start=False)
    qtbot.addWidget(win)
    win.show()

    # 1. Gallery -> Add from photos: three photos of STAYS at once
    dlg = win.gallery_manager.open_photo_dialog()
    dlg.fields.name_edit.setText("George Bush")
    dlg.add_photos([_photo(faces_dir, STAYS, i) for i in (1, 2, 3)])
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=120_000)
    assert "enrolled" in dlg.message.text(), dlg.message.text()
    dlg.close()

    # 2. Gallery -> Enroll from camera: the file stands in for the webcam; capture two shots, save
    cam = win.gallery_manager.open_webcam_dialog()
    cam.select_source(str(footage["webcam"]))
    cam.start_preview()
    qtbot.waitUntil(lambda: cam.capture_btn.isEnabled() and cam.frames_seen >= 2, timeout=60_000)
    assert cam.hint.text()  # a quality hint is shown for the face in view
    assert cam.capture()
    seen = cam.frames_seen
    qtbot.waitUntil(lambda: cam.frames_seen > seen + 5 and cam.capture_btn.isEnabled(), timeout=30_000)
    assert cam.capture()
    assert cam.shots.count() == 2
    cam.fields.name_edit.setText("Colin Powell")
    cam.save()
    qtbot.waitUntil(lambda: not cam.busy, timeout=60_000)
    assert "enrolled" in cam.message.text(), cam.message.text()
    cam.close()

    # 3. both show in the gallery, with their sample counts; re-index runs with progress
    qtbot.waitUntil(lambda: sorted(win.gallery_manager.names()) == ["Colin Powell", "George Bush"], timeout=10_000)
    assert sorted(p["samples"] for p in win.gallery_manager.people) == [2, 3]
    win.gallery_manager.reindex()
    assert not win.gallery_manager.reindex_btn.isEnabled()
    qtbot.waitUntil(lambda: "Re-index finished: 5" in win.gallery_manager.status.text(), timeout=60_000)
    assert win.gallery_manager.reindex_btn.isEnabled()

    # 4. footage plays: both PRESENT, then the one who walked away ABSENT (and an alert in the log)
    win.controller.start()
    qtbot.waitUntil(lambda: _state(win, "George Bush") == "present" and _state(win, "Colin Powell") in ("present", "grace", "absent"),
                    timeout=120_000)
    qtbot.waitUntil(lambda: _state(win, "Colin Powell") == "absent", timeout=60_000)
    assert _state(win, "George Bush") == "present"
    assert win.summary.text() == "1 of 2 present"
    assert any("Colin Powell" in t and "ABSENT" in t.upper() for t in win.events.texts())
    assert win.grid.tiles["cam1"].frames_shown > 0

    # 5. File -> Export attendance report (CSV), read the file back
    win.export_action.trigger()
    rd = win.dialog
    rd.fmt.setCurrentIndex(rd.fmt.findData("csv"))
    rd.export()
    qtbot.waitUntil(lambda: not rd.busy, timeout=60_000)
    assert rd.result_path is not None and rd.result_path.is_file(), rd.message.text()
    text = rd.result_path.read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    assert any("George Bush" in ",".join(r) for r in rows) and any("Colin Powell" in ",".join(r) for r in rows)
    assert opened == [rd.result_path.parent]
    rd.close()

    # 6. closing stops the workers and frees SharedMemory (other tests may run pipelines: check ours)
    pipeline = win.controller.pipeline
    shm = [n.lstrip("/") for n in pipeline.buffer_names()]
    pids = [p for p in pipeline.child_pids().values() if p]
    assert shm and all(n.startswith("sfb_") for n in shm) and pids
    win.close()
    assert win.closed_cleanly
    assert not win.controller.isRunning()
    assert not [n for n in shm if Path("/dev/shm", n).exists()]
    assert not [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]


def test_enrollment_rejections_are_explained(qtbot, data_dir, test_pack, shared_data):
    from ui.engine_service import EngineService
    from ui.enroll_dialogs import PhotoEnrollDialog
    from ui.main_window import open_gallery

    cfg = AppConfig.model_validate({"engine": {"kind": "insightface", "pack": str(test_pack)}})
    engine = EngineService(cfg, data_dir)
    gallery = open_gallery(data_dir)
    for photo, words in ((shared_data / "noface" / "coffee.png", "No face"),
                         (shared_data / "group" / "two_people.jpg", "more than one face")):
        dlg = PhotoEnrollDialog(engine, gallery, photos=[photo], name="Someone")
        qtbot.addWidget(dlg)
        dlg.save()
        qtbot.waitUntil(lambda d=dlg: not d.busy, timeout=120_000)
        assert words in dlg.message.text(), dlg.message.text()
    engine.shutdown()
