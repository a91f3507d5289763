"""Real model, real faces: composed footage -> the real inference stages (InsightFace test pack, tracker,
matcher) -> AttendanceService -> alerts at a local Telegram server -> a report matching the timeline.

Runs in one process on an injected clock (deterministic: processed frames are exactly 1/process_fps
apart). The footage helpers are shared with the headless end-to-end test (tests/test_e2e_presence.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.attendance import AttendanceService
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.messages import FrameMeta
from core.reports import build_report
from core.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram

VIDEO_FPS = 10
SIZE = (640, 360)
LENGTH_S = 36.0
# spg_id -> (photo shown in the footage, photos used to enroll, visible spans in video seconds, x position)
PEOPLE = {
    "gwb": ("George_W_Bush", 6, [1, 2, 3, 4, 5], [(6.0, 14.0), (26.0, 32.0)], 40),
    "cp": ("Colin_Powell", 6, [1, 2, 3, 4, 5], [(8.0, 20.0)], 350),
}
NAMES = {"gwb": "George <W> Bush", "cp": "Colin Powell"}
PRESENCE = {"grace_seconds": 1.0, "absent_seconds": 4.0, "confirm_hits": 2, "confirm_window_s": 2.0,
            "hit_log_interval_s": 1.0}


def compose_footage(faces_dir: Path, out: Path) -> Path:
    """An mp4 where each person's photo is visible exactly during their spans (nothing else moves)."""
    photos = {spg: cv2.imread(str(faces_dir / person / f"{person}_{shown:04d}.jpg"))
              for spg, (person, shown, _, _, _) in PEOPLE.items()}
    w, h = SIZE
    vw = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (w, h))
    assert vw.isOpened(), "OpenCV cannot write mp4 here"
    for i in range(int(LENGTH_S * VIDEO_FPS)):
        t = i / VIDEO_FPS
        frame = np.full((h, w, 3), (90, 110, 100), np.uint8)
        for spg, (_, _, _, spans, x) in PEOPLE.items():
            if any(a <= t < b for a, b in spans):
                ph = photos[spg]
                frame[55:55 + ph.shape[0], x:x + ph.shape[1]] = ph
        vw.write(frame)
    vw.release()
    return out


def enroll_people(cfg: AppConfig, data_dir: Path, faces_dir: Path) -> None:
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    layout = DataLayout(data_dir).ensure()
    engine = create_engine(cfg.engine, layout.root)
    gallery = Gallery(layout.gallery)
    for spg, (person, _, enroll, _, _) in PEOPLE.items():
        enroll_photos(engine, gallery, spg, NAMES[spg], [faces_dir / person / f"{person}_{i:04d}.jpg" for i in enroll],
                      cfg=cfg.engine)


def expected_intervals(process_fps: float, origin: float = 0.0) -> dict[str, list[tuple[float, float]]]:
    """Per SPG: (first processed frame showing them, last processed frame showing them) per span, in video s."""
    step = 1.0 / process_fps
    out = {}
    for spg, (_, _, _, spans, _) in PEOPLE.items():
        ivs = []
        for a, b in spans:
            frames = [k * step for k in range(int(LENGTH_S * process_fps) + 1) if a <= k * step - origin < b]
            ivs.append((a, frames[-1] - origin if frames else a))
        out[spg] = ivs
    return out


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, faces_dir, test_pack):
    folder = tmp_path_factory.mktemp("real")
    cfg = AppConfig.model_validate({"outlet": {"name": "Toko <Real>", "timezone": "Asia/Jakarta"},
                                    "engine": {"kind": "insightface", "pack": str(test_pack)},
                                    "presence": PRESENCE, "telegram": {"enabled": True}})
    video = compose_footage(faces_dir, folder / "footage.mp4")
    enroll_people(cfg, folder, faces_dir)
    from core.engine.factory import create_engine
    from workers.inference_server import GalleryWatch, InferenceCore

    engine = create_engine(cfg.engine, folder)
    core = InferenceCore(cfg, engine, GalleryWatch(folder, engine))
    t0 = datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp()
    clock = FakeClock(start=t0)
    store = EventStore(folder / "events.db")
    transitions = []
    with FakeTelegram() as srv:
        ob = AlertOutbox(TelegramClient(srv.api_base, SecretStr(srv.token), SecretStr("7"), 5), store, clock, start=False)
        svc = AttendanceService(cfg, store, ob, clock, lambda: NAMES)
        cap = cv2.VideoCapture(str(video))
        every = VIDEO_FPS // int(cfg.camera.process_fps)  # 10 fps file, 5 fps processing
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % every == 0:
                meta = FrameMeta("cam_counter", i, clock.time(), clock.monotonic(), 0, frame.shape, 1.0)
                for r in core.process([(meta, frame)]):
                    transitions += svc.on_frame_result(r, frame)
                transitions += svc.tick()
                ob.deliver_due()
                clock.advance(1.0 / cfg.camera.process_fps)
            i += 1
        for _ in range(30):  # the footage has ended; time goes on
            transitions += svc.tick()
            ob.deliver_due()
            clock.advance(0.2)
        received = list(srv.received)
        rows = {r.spg_id: r for r in build_report(store, cfg, datetime.fromtimestamp(t0).date(),
                                                  datetime.fromtimestamp(t0).date(), None, NAMES, now=clock.time())}
        svc.close()
    return t0, cfg, transitions, received, rows


def test_real_faces_transitions_alerts_and_report_match_the_timeline(real_run):
    t0, cfg, transitions, received, rows = real_run
    frame = 1.0 / cfg.camera.process_fps
    seq = {spg: [(t.to_state.value, round(t.timestamp - t0, 3)) for t in transitions if t.spg_id == spg
                 and (t.to_state.value == "absent" or (t.to_state.value == "present" and t.from_state.value != "grace"))]
           for spg in PEOPLE}
    exp = expected_intervals(cfg.camera.process_fps)
    absent_s = PRESENCE["absent_seconds"]
    for spg, ivs in exp.items():
        states = [s for s, _ in seq[spg]]
        assert states == ["present", "absent"] * len(ivs), (spg, seq[spg])
        for k, (a, last) in enumerate(ivs):
            arrive = seq[spg][2 * k][1]
            gone = seq[spg][2 * k + 1][1]
            assert a <= arrive <= a + frame + 1e-3, (spg, k, arrive)  # identity vote: at most one frame late
            assert gone == pytest.approx(last + absent_s, abs=1e-3), (spg, k, gone)
        r = rows[spg]
        present = sum(last - a for a, last in ivs)
        assert r.present_s == pytest.approx(present, abs=frame * len(ivs) + 1e-3)
        assert r.first_seen - t0 == pytest.approx(ivs[0][0], abs=frame + 1e-3)
        assert r.last_seen - t0 == pytest.approx(ivs[-1][1], abs=1e-3)
        assert r.absences == len(ivs) and r.alerts_sent == len(ivs)
    gwb = rows["gwb"]
    gap = exp["gwb"][1][0] - exp["gwb"][0][1]
    assert gwb.absent_longest_s == pytest.approx(gap, abs=frame + 1e-3)
    # Alerts: one per absence, in order, each a photo of the face, naming the person escaped.
    assert len(received) == 3
    assert [("George" in m.text, "Colin" in m.text) for m in received] == [(True, False), (False, True), (True, False)]
    assert all(m.method == "sendPhoto" and m.photo[:2] == b"\xff\xd8" for m in received)
    assert "George &lt;W&gt; Bush" in received[0].text and "Toko &lt;Real&gt;" in received[0].text
    assert "cam_counter" in received[0].text
    assert "10:00:13" in received[0].text  # last seen 13.8 s into the footage, outlet time
