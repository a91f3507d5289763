"""UI plumbing with small stand-ins for the pipeline (fast): grid, tiles, presence table, settings,
main window signals, clean close, single instance. The real-engine flows are in test_ui_flows.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PySide6.QtCore import Qt

from core.config import AppConfig
from core.enrollment import EnrollReport
from core.gallery import Sample
from core.messages import FaceResult, FrameResult
from tests.engine_fakes import BoxEngine
from tests.ui_fakes import FakeAttendance, FakeGallery, FakePipeline
from ui.camera_grid import CameraGrid, grid_shape
from ui.presence_table import PresenceRow, PresenceTable, row_from
from workers.router import Router

REPO = Path(__file__).resolve().parent.parent


def _cfg(n: int = 2) -> AppConfig:
    return AppConfig.model_validate({"cameras": [{"id": f"cam{i + 1}", "source": f"v{i}.mp4"} for i in range(n)]})


@pytest.fixture
def window(qtbot, data_dir):
    from ui.main_window import MainWindow

    pipes: list[FakePipeline] = []

    def make_pipe(c, d):
        pipes.append(FakePipeline(c, d))
        return pipes[-1]

    w = MainWindow(_cfg(3), data_dir, gallery=FakeGallery({"a": "Ayu", "b": "Budi"}),
                   controller_kwargs={"pipeline_factory": make_pipe, "attendance_factory": lambda c, d, n: FakeAttendance(n)})
    qtbot.addWidget(w)
    w.show()
    w.pipes = pipes
    yield w
    if w.closed_cleanly is None:
        w.close()


def test_grid_shapes_cover_1_to_16():
    assert [grid_shape(n) for n in (1, 2, 4, 5, 9, 10, 16)] == [(1, 1), (1, 2), (2, 2), (2, 3), (3, 3), (3, 4), (4, 4)]


def test_click_opens_large_view_and_esc_returns(qtbot):
    grid = CameraGrid()
    qtbot.addWidget(grid)
    grid.set_cameras([(f"c{i}", f"Cam {i}") for i in range(5)])
    grid.show()
    seen = []
    grid.visible_changed.connect(seen.append)
    qtbot.mouseClick(grid.tiles["c3"], Qt.MouseButton.LeftButton)
    assert grid.focused == "c3" and seen[-1] == frozenset({"c3"})
    qtbot.keyClick(grid, Qt.Key.Key_Escape)
    assert grid.focused == "" and seen[-1] == frozenset(f"c{i}" for i in range(5))


def test_tile_draws_boxes_at_original_resolution(qtbot):
    """A box in original (1280x720) coordinates lands on the same spot of a downscaled image."""
    from PySide6.QtGui import QColor, QImage

    from ui.camera_tile import KNOWN_COLOUR, CameraTile

    tile = CameraTile("c", "c")
    qtbot.addWidget(tile)
    tile.resize(640, 360)
    img = QImage(320, 180, QImage.Format.Format_BGR888)
    img.fill(QColor(0, 0, 0))
    face = FaceResult((640.0, 360.0, 960.0, 700.0), (), 0.9, "x", 0.8, 1)
    tile.set_frame(img, FrameResult("c", 1, 0.0, 0.0, (face,), (720, 1280)))
    shot = tile.grab().toImage()
    # left edge of the box: x = 640/1280 * 640 = 320, y between 180 and 350
    assert shot.pixelColor(320, 260).green() > 150 and shot.pixelColor(320, 260) == shot.pixelColor(320, 300)
    assert shot.pixelColor(200, 260) == QColor(0, 0, 0)
    assert tile.face_label("x", 0.8, True, "ok").startswith("x 0.80")
    assert tile.face_label(None, 0.2, True, "ok") == "unknown"
    assert tile.palette().window().color() != KNOWN_COLOUR


def test_presence_table_sorts_filters_and_summarises(qtbot):
    table = PresenceTable()
    qtbot.addWidget(table)
    rows = [PresenceRow("a", "Ayu", "present"), PresenceRow("b", "Budi", "absent"), PresenceRow("c", "Citra", "not_seen")]
    table.model.set_rows(rows)
    assert table.model.summary() == "1 of 3 present"
    table.view.sortByColumn(2, Qt.SortOrder.AscendingOrder)
    assert table.visible_names() == ["Ayu", "Budi", "Citra"]
    table.view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert table.visible_names() == ["Citra", "Budi", "Ayu"]
    table.filter_edit.setText("absent")
    assert table.visible_names() == ["Budi"]
    table.filter_edit.setText("")
    table.model.set_rows([PresenceRow("a", "Ayu", "grace"), *rows[1:]])
    assert table.model.summary() == "1 of 3 present"  # grace still counts as present
    assert table.model.row_of("a").state == "grace"


def test_row_from_attendance_snapshot():
    from core.attendance import SpgPresence

    def snap(spg_id, state, name="", in_grace=False, camera=""):
        return SpgPresence(spg_id, name, state, since=1.0, last_seen=1.0, last_camera=camera, present_today_s=0.0,
                           shift_status="no shift", in_grace=in_grace)

    r = row_from(snap("a", "present", in_grace=True, camera="cam1"), {"a": "Ayu"})
    assert (r.name, r.state, r.last_camera) == ("Ayu", "grace", "cam1")
    assert row_from(snap("b", "absent")).state == "absent"


def test_spg_out_of_view_shows_no_view_and_still_counts_as_present(qtbot):
    from core.attendance import SpgPresence

    table = PresenceTable()
    qtbot.addWidget(table)
    blind = SpgPresence("a", "Ayu", "present", since=1.0, last_seen=1.0, last_camera="cam1", present_today_s=0.0,
                        shift_status="no shift", no_view=True)
    table.model.set_rows([row_from(blind), PresenceRow("b", "Budi", "absent")])
    assert table.model.row_of("a").state == "no_view"
    assert table.model.summary() == "1 of 2 present"
    table.filter_edit.setText("no view")  # the label the table shows
    assert table.visible_names() == ["Ayu"]


def test_window_shows_frames_presence_and_events_then_closes_cleanly(window, qtbot):
    qtbot.waitUntil(lambda: window.presence_model.summary() == "1 of 2 present", timeout=10000)
    qtbot.waitUntil(lambda: window.grid.tiles["cam1"].frames_shown > 2, timeout=10000)
    assert window.summary.text() == "1 of 2 present"
    assert any("Ayu: PRESENT" in t for t in window.events.texts())
    assert any("cam1 is live" in t for t in window.events.texts())
    assert type(window.controller.router) is Router  # the same router class as app.py run --headless
    keeper = window.controller.unknown_keeper
    qtbot.waitUntil(lambda: keeper.saved == 2, timeout=10000)  # the unknown face on cam2 and on cam3, once each
    assert sorted(p.name.split("__")[0] for p in keeper.folder.glob("*.jpg")) == ["cam2", "cam3"]
    window.close()
    assert window.closed_cleanly and window.pipes[0].stopped
    assert not window.controller.isRunning()


def test_invisible_cameras_are_not_converted(window, qtbot):
    qtbot.waitUntil(lambda: window.controller.converted_frames > 3, timeout=10000)
    window.grid.show_large("cam2")
    qtbot.wait(300)
    before = {cid: t.frames_shown for cid, t in window.grid.tiles.items()}
    large_before = window.grid._large.frames_shown
    conv, skipped = window.controller.converted_frames, window.controller.skipped_frames
    qtbot.wait(800)
    assert {cid: t.frames_shown for cid, t in window.grid.tiles.items()} == before  # hidden tiles got nothing
    assert window.grid._large.frames_shown > large_before
    assert window.controller.skipped_frames > skipped
    converted = window.controller.converted_frames - conv
    assert converted <= (window.controller.skipped_frames - skipped)  # 1 of 3 cameras converted


def test_settings_invalid_value_shows_error_and_saves_nothing(window, qtbot, data_dir):
    dlg = window.open_settings()
    dlg.grace.setValue(600)
    dlg.absent.setValue(300)
    assert dlg.save() is False
    assert "grace_seconds" in dlg.error.text() and dlg.isVisible()
    dlg.grace.setValue(10)
    dlg.threshold.setText("2.5")
    assert dlg.save() is False
    assert "threshold" in dlg.error.text()
    assert not (data_dir / "settings.yaml").exists()
    dlg.threshold.setText("0.4")
    dlg.add_camera({"id": "cam9", "name": "Back door", "source": "door.mp4", "enabled": True})
    dlg.remove_camera(0)
    assert dlg.save() is True
    saved = yaml.safe_load((data_dir / "settings.yaml").read_text())
    assert saved["presence"]["grace_seconds"] == 10 and saved["engine"]["threshold"] == 0.4
    assert [c["id"] for c in saved["cameras"]] == ["cam2", "cam3", "cam9"]
    # threshold and timings changed: the pipeline restarts with the new settings (the console does not)
    qtbot.waitUntil(lambda: len(window.pipes) == 2 and set(window.pipes[1].cameras) == {"cam2", "cam3", "cam9"}, timeout=5000)
    assert window.pipes[0].stopped and set(window.grid.tiles) == {"cam2", "cam3", "cam9"}
    # only cameras changed: the running pipeline adds / removes them
    dlg = window.open_settings()
    dlg.remove_camera(0)
    assert dlg.save() is True
    qtbot.waitUntil(lambda: "cam2" in window.pipes[1].removed, timeout=5000)
    assert len(window.pipes) == 2 and set(window.grid.tiles) == {"cam3", "cam9"}


def test_settings_telegram_secret_goes_to_env_not_yaml(window, data_dir):
    dlg = window.open_settings()
    dlg.tg_enabled.setChecked(True)
    assert dlg.save() is False and "token" in dlg.error.text()
    dlg.tg_token.setText("123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ")
    dlg.tg_chat.setText("-1001234")
    assert dlg.save() is True
    assert "AAbbCC" not in (data_dir / "settings.yaml").read_text()
    assert "AAbbCC" in (data_dir / ".env").read_text()


def test_camera_test_connection_shows_a_preview_frame(qtbot, tmp_path):
    import cv2
    import numpy as np

    from ui.settings_dialog import CameraEditDialog

    video = tmp_path / "cam.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (320, 240))
    for _ in range(5):
        wr.write(np.full((240, 320, 3), 128, np.uint8))
    wr.release()
    dlg = CameraEditDialog(None)
    qtbot.addWidget(dlg)
    dlg.source_edit.setText(str(video))
    dlg.test_connection()
    qtbot.waitUntil(lambda: dlg.test_result is not None, timeout=10000)
    assert dlg.test_result == (True, "320x240") and dlg.preview.pixmap() is not None
    dlg.source_edit.setText("rtsp://admin:secret@127.0.0.1:9/none")
    dlg.test_result = None
    dlg.test_connection()
    qtbot.waitUntil(lambda: dlg.test_result is not None, timeout=20000)
    assert dlg.test_result[0] is False and "secret" not in dlg.preview.text()


def test_enrollment_errors_in_supervisor_words(qtbot):
    from PySide6.QtWidgets import QWidget

    from core.engine.base import ModelPackError
    from core.enrollment import EnrollmentError, Reason
    from ui.enroll_dialogs import error_text, reason_texts

    w = QWidget()
    qtbot.addWidget(w)
    assert set(reason_texts(w)) == set(Reason), "every reason enrollment raises has a sentence"
    assert "more than one face" in error_text(w, EnrollmentError(Reason.SEVERAL_FACES, "core words", "/x/team.jpg"))
    assert error_text(w, EnrollmentError(Reason.SEVERAL_FACES, "core words", "/x/team.jpg")).startswith("team.jpg: ")
    assert "No face" in error_text(w, EnrollmentError(Reason.NO_FACE, "core words"))
    assert "too blurred" in error_text(w, EnrollmentError(Reason.TOO_BLURRED, "core words"))
    assert "too small" in error_text(w, EnrollmentError(Reason.TOO_SMALL, "core words"))
    assert "name first" in error_text(w, EnrollmentError(Reason.BAD_NAME, "core words"))
    # which id rule was broken varies, so core's detail is shown; the other refusals are our own sentence
    bad_id = error_text(w, EnrollmentError(Reason.BAD_ID, "SPG id 'CON' is not allowed: CON is a device name on Windows"))
    assert "cannot be used" in bad_id and "device name on Windows" in bad_id
    assert "same person" in error_text(w, EnrollmentError(Reason.NOT_SAME_PERSON, "core words", "/x/other.jpg"))
    assert "too large" in error_text(w, EnrollmentError(Reason.TOO_LARGE, "core words"))
    assert "never renames" in error_text(w, EnrollmentError(Reason.NAME_DIFFERS, "core words"))
    assert "engine could not start" in error_text(w, ModelPackError("pack is broken"))


def test_second_instance_is_refused(data_dir):
    from ui.launch import acquire_instance_lock

    lock = acquire_instance_lock(data_dir)
    assert lock.held
    try:
        proc = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data_dir)], capture_output=True,
                              text=True, timeout=60, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    finally:
        lock.release()
    assert proc.returncode == 3
    assert "already running" in proc.stderr


def test_indonesian_translation_is_used(qtbot):
    from PySide6.QtWidgets import QApplication

    from ui.i18n import install_translation
    from ui.presence_table import PresenceModel

    app = QApplication.instance()
    try:
        assert install_translation(app, "id")
        model = PresenceModel()
        model.set_rows([PresenceRow("a", "Ayu", "present"), PresenceRow("b", "Budi", "absent")])
        assert model.summary() == "1 dari 2 hadir"
        assert model.state_label("absent") == "TIDAK HADIR"
    finally:
        install_translation(app, "en")
    assert PresenceModel().state_label("absent") == "ABSENT"


def test_unknown_faces_are_kept_listed_and_offered_for_enrollment(qtbot, tmp_path):
    import numpy as np

    from core.config import StorageConfig
    from core.unknown_faces import UnknownFaceKeeper, list_unknown
    from ui.unknown_faces import UnknownFacesPanel

    storage = StorageConfig(unknown_retention_days=7, unknown_max=2)
    keeper = UnknownFaceKeeper(tmp_path / "unknown", storage, min_face_px=20, min_results=3)
    frame = np.full((360, 640, 3), 100, np.uint8)
    known = FaceResult((100.0, 100.0, 300.0, 300.0), (), 0.9, "a", 0.8, 9)
    late = FaceResult((100.0, 100.0, 300.0, 300.0), (), 0.9, None, 0.3, 9)  # track 9 before it was identified
    for track in (1, 2, 3):
        face = FaceResult((400.0, 200.0, 600.0, 400.0), (), 0.9, None, 0.1, track)
        r = FrameResult("cam1", track, 1_700_000_000.0 + track, 0.0, (face, known, late), (720, 1280))
        assert keeper.wanted(r) == [] and keeper.wanted(r) == []  # not yet: unknown for 2 results only
        wanted = keeper.wanted(r)
        assert [f.track_id for f in wanted] == [track]  # the identified track 9 is never kept
        keeper.save(r, frame, wanted)
        assert keeper.wanted(r) == []  # one crop per track
    assert len(list_unknown(tmp_path / "unknown", storage)) == 2  # retention: at most unknown_max
    panel = UnknownFacesPanel(tmp_path / "unknown", storage)
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: panel.list.count() == 2, timeout=5000)
    asked = []
    panel.enroll_requested.connect(asked.append)
    panel.list.item(0).setSelected(True)
    panel.enroll_btn.click()
    assert asked and asked[0][0].is_file()


def test_gallery_manager_rename_deactivate_delete(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from core.config import AppConfig
    from core.gallery import Gallery
    from ui.engine_service import EngineService
    from ui.gallery_manager import GalleryManager

    g = Gallery(tmp_path / "gallery")  # the real gallery on disk
    g.add("a", "Ayu")
    g.add("b", "Budi")
    gm = GalleryManager(g, EngineService(AppConfig(), Path(), factory=lambda c, d: None), AppConfig())
    qtbot.addWidget(gm)
    qtbot.waitUntil(lambda: gm.names() == ["Ayu", "Budi"], timeout=5000)
    changed = []
    gm.changed.connect(lambda: changed.append(1))
    gm.select("a")
    gm.rename_selected("Ayu Lestari")
    qtbot.waitUntil(lambda: "Ayu Lestari" in gm.names(), timeout=5000)
    gm.select("b")
    gm.toggle_active_selected()
    qtbot.waitUntil(lambda: any(p["spg_id"] == "b" and not p["active"] for p in gm.people), timeout=5000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    gm.select("b")
    assert gm.delete_selected() is False and g.get("b") is not None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    gm.select("b")
    assert gm.delete_selected() is True
    qtbot.waitUntil(lambda: gm.names() == ["Ayu Lestari"], timeout=5000)
    assert len(changed) == 3


def test_presence_timeline_draws_bands_per_state_change(qtbot):
    from ui.charts import PresenceTimeline

    now = [1_700_000_000.0]
    tl = PresenceTimeline(clock=lambda: now[0])
    qtbot.addWidget(tl)
    tl.update_rows([PresenceRow("a", "Ayu", "present", since=now[0] - 60)])
    now[0] += 30
    tl.update_rows([PresenceRow("a", "Ayu", "present", since=now[0] - 90)])  # unchanged: same band
    assert tl.band_count("a") == 1
    now[0] += 30
    tl.update_rows([PresenceRow("a", "Ayu", "absent", since=now[0])])
    assert [b[2] for b in tl.bands["a"]] == ["present", "absent"] and tl.bands["a"][0][1] == now[0]


def test_camera_rate_chart_redraws_only_on_screen_and_catches_up_when_shown(qtbot):
    from ui.charts import CameraRateChart

    chart = CameraRateChart()
    qtbot.addWidget(chart)
    t0 = 1_700_000_000.0
    for i in range(5):
        chart.add_sample({f"cam{c}": (5.0, 40.0 + c) for c in range(16)}, ts=t0 + i)
    assert chart._curves == {}  # hidden (the Charts tab not open): samples kept, nothing drawn
    chart.show()
    qtbot.waitExposed(chart)
    assert len(chart._curves) == 16
    xs, ys = chart._curves["cam3"][1].getData()
    assert list(xs) == [t0 + i for i in range(5)] and list(ys) == [43.0] * 5
    chart.add_sample({"cam3": (4.0, 50.0)}, ts=t0 + 5)  # on screen: drawn at once
    assert list(chart._curves["cam3"][0].getData()[1]) == [5.0] * 5 + [4.0]


def test_webcam_dialog_previews_captures_and_saves(qtbot, tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from core.config import AppConfig
    from ui import enroll_dialogs
    from ui.engine_service import EngineService

    video = tmp_path / "webcam.mp4"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (320, 240))
    rng = np.random.default_rng(1)
    for _ in range(10):
        wr.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    wr.release()
    calls = []
    monkeypatch.setattr(enroll_dialogs, "run_enrollment",
                        lambda eng, gal, sid, name, photos, cfg=None, source="photo", add_to_existing=False: calls.append((sid, name, [isinstance(p, np.ndarray) for p in photos], source)) or enrolled(sid, name, len(photos)))
    engine = EngineService(AppConfig(), tmp_path, factory=lambda c, d: BoxEngine())
    dlg = enroll_dialogs.WebcamEnrollDialog(engine, FakeGallery({"ayu": "Ayu"}), AppConfig())
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.select_source(str(video))
    dlg.start_preview()
    qtbot.waitUntil(lambda: dlg.frames_seen >= 3, timeout=20000)
    assert dlg.capture_btn.isEnabled() and dlg.hint.text()
    assert dlg.capture() and dlg.capture()
    assert dlg.shots.count() == 2
    dlg.save()
    assert "name" in dlg.message.text()  # no name typed yet: told, nothing saved
    dlg.fields.name_edit.setText("Ayu")
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=10000)
    assert calls == [("ayu_2", "Ayu", [True, True], "camera")]  # id made unique against the gallery
    assert "enrolled with 2" in dlg.message.text()
    dlg.close()
    assert dlg._thread is None
    engine.shutdown()


def test_report_dialog_runs_in_background_with_progress_and_opens_folder(qtbot, tmp_path, monkeypatch):
    import threading

    from core.config import AppConfig
    from ui import report_dialog

    opened = []
    monkeypatch.setattr(report_dialog, "open_folder", opened.append)
    seen = {}

    def exporter(cfg, data_dir, start, end, spg_ids, fmt, out, progress):
        seen.update(thread=threading.current_thread().name, spg_ids=spg_ids, fmt=fmt)
        progress(1, 2)
        out.write_text("spg,date\n")
        progress(2, 2)
        return out

    dlg = report_dialog.ReportDialog(AppConfig(), tmp_path, [("a", "Ayu"), ("b", "Budi")], exporter=exporter)
    qtbot.addWidget(dlg)
    dlg.folder.setText(str(tmp_path / "out"))
    dlg.spgs.item(1).setCheckState(Qt.CheckState.Unchecked)
    dlg.fmt.setCurrentIndex(dlg.fmt.findData("csv"))
    dlg.export()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=5000)
    assert seen["thread"].startswith("spg-report") and seen["spg_ids"] == ["a"] and seen["fmt"] == "csv"
    assert dlg.result_path.read_text() == "spg,date\n" and opened == [tmp_path / "out"]
    assert dlg.progress.value() == dlg.progress.maximum()


def test_about_shows_the_release_and_the_loaded_engine(window, test_pack):
    """Version from pyproject.toml; engine, pack, licence and provider from the real engine the console loaded."""
    import tomllib

    window.engine.set_config(AppConfig.model_validate({"engine": {"kind": "insightface", "pack": str(test_pack)}}))
    engine = window.engine.engine_blocking()  # what an enrollment dialog does first
    text = window.open_about().text.text()
    release = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    for part in (release, engine.info.name, Path(engine.info.pack_path).name, engine.info.licence, engine.info.provider):
        assert part and part in text, part


def test_indonesian_translations_are_complete_and_keep_placeholders(tmp_path):
    import re
    import xml.etree.ElementTree as ET

    ts = REPO / "resources" / "i18n" / "spg_console_id.ts"
    field = re.compile(r"\{[a-z_]*(?:![rs])?(?::[^}]*)?\}")
    for msg in ET.parse(ts).iter("message"):
        src, tr = msg.findtext("source"), msg.find("translation")
        assert tr.text and tr.get("type") is None, f"untranslated: {src!r}"
        assert sorted(field.findall(src)) == sorted(field.findall(tr.text)), src
    # the shipped .qm is the compiled .ts (a .ts edited without lrelease would show English in the console)
    lrelease = Path(sys.executable).with_name("pyside6-lrelease")
    subprocess.run([str(lrelease), str(ts), "-qm", str(tmp_path / "id.qm")], check=True, capture_output=True)
    assert (tmp_path / "id.qm").read_bytes() == (REPO / "resources" / "i18n" / "spg_console_id.qm").read_bytes()


def test_invalid_saved_settings_stop_the_start_with_a_message(data_dir):
    (data_dir / "settings.yaml").write_text("presence:\n  grace_seconds: 600\n  absent_seconds: 300\n")
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data_dir)], capture_output=True,
                          text=True, timeout=60, env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 1
    assert "settings are not valid" in proc.stderr and "grace_seconds" in proc.stderr


def test_settings_send_test_message_reaches_the_bot_api_and_hides_the_token(qtbot, data_dir):
    from core.config import AppConfig
    from tests.fake_telegram import FakeTelegram
    from ui.settings_dialog import SettingsDialog

    with FakeTelegram() as bot:
        cfg = AppConfig.model_validate({"telegram": {"api_base": bot.api_base, "timeout_s": 5}})
        dlg = SettingsDialog(cfg, data_dir)
        qtbot.addWidget(dlg)
        dlg.tg_token.setText(bot.token)
        dlg.tg_chat.setText("-100777")
        dlg.send_test_message()
        qtbot.waitUntil(lambda: dlg.tg_test.isEnabled() and dlg.tg_result.text() != "Sending…", timeout=15000)
        assert dlg.tg_result.text().startswith("Sent") and [m.chat_id for m in bot.received] == ["-100777"]
        bot.mode = "401"
        dlg.send_test_message()
        qtbot.waitUntil(lambda: dlg.tg_test.isEnabled() and dlg.tg_result.text() != "Sending…", timeout=15000)
        assert dlg.tg_result.text().startswith("Not sent") and bot.token not in dlg.tg_result.text()
    assert not (data_dir / "settings.yaml").exists()  # testing saves nothing


def test_frame_comes_out_of_shared_memory_as_an_image_the_painter_draws_without_converting():
    from PySide6.QtGui import QImage

    from ui.controller import FrameScratch, frame_to_qimage

    class OutPipeline:
        def frame_shape(self, cid):
            return (180, 320, 3)

        def read_frame(self, cid, slot, generation, out=None):
            assert out is not None  # the console always hands its own buffer (no array allocated per frame)
            self.out = out
            out[...] = 7
            out[5, 5] = (1, 2, 3)  # BGR
            return out

    pipe, scratch = OutPipeline(), FrameScratch()
    img = frame_to_qimage(pipe, FrameResult("c", 1, 0.0, 0.0, (), (720, 1280), slot=0, generation=2), scratch)
    # RGB32: QPainter blits it as it is (a BGR888 image was converted in full on every paint of every tile)
    assert img.format() == QImage.Format.Format_RGB32
    assert (img.width(), img.height()) == (320, 180) and img.pixelColor(9, 9).getRgb() == (7, 7, 7, 255)
    assert img.pixelColor(5, 5).getRgb() == (3, 2, 1, 255)  # BGR in memory -> RGB colour
    first = pipe.out
    frame_to_qimage(pipe, FrameResult("c", 2, 0.0, 0.0, (), (720, 1280), slot=1, generation=4), scratch)
    assert pipe.out is first  # one reused scratch buffer, not a new frame-sized array per frame
    assert frame_to_qimage(pipe, FrameResult("c", 1, 0.0, 0.0, (), (720, 1280), slot=-1)) is None


def test_settings_saved_in_the_demo_set_up_the_real_outlet(qtbot, data_dir):
    from ui.main_window import MainWindow

    demo_dir = data_dir / "demo"
    real_cfg = AppConfig()
    win = MainWindow(_cfg(2), demo_dir, demo=True, gallery=FakeGallery({"a": "Ayu"}), start=False,
                     settings_target=(real_cfg, data_dir))
    qtbot.addWidget(win)
    dlg = win.open_settings()
    assert dlg.cameras == []  # the outlet's own (empty) camera list, not the demo's
    dlg.add_camera({"id": "door", "name": "Door", "source": "rtsp://cam/1", "enabled": True})
    assert dlg.save() is True
    saved = yaml.safe_load((data_dir / "settings.yaml").read_text())
    assert [c["id"] for c in saved["cameras"]] == ["door"] and not (demo_dir / "settings.yaml").exists()
    assert "next start" in win.banner.text() or "start the console again" in win.banner.text()
    assert set(win.grid.tiles) == {"cam1", "cam2"}  # the demo keeps running
    win.close()


def enrolled(spg_id: str, name: str, n: int) -> EnrollReport:
    """What core.enrollment.enroll_photos reports for ``n`` accepted photos (the stand-in's answer)."""
    return EnrollReport(spg_id=spg_id, name=name, added=[Sample(id=f"s{i}") for i in range(n)])
