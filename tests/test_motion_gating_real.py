"""Motion gating on real faces: an SPG who stands perfectly still is never lost.

The real inference stages (InsightFace test pack, tracker, matcher) with motion gating ON (the default) feed
AttendanceService on an injected clock. The frames are one and the same picture for many times
``absent_seconds``: nothing moves, so after the first frame the detector sees only the region around the
SPG's track and, every ``full_frame_every_s``, the whole frame.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.attendance import AttendanceService
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.messages import FrameMeta
from core.telegram import TelegramClient
from tests.fake_telegram import FakeTelegram
from tests.test_attendance_real import NAMES, PEOPLE, enroll_people

ABSENT_S = 2.0
STILL_S = 8 * ABSENT_S


def test_an_spg_standing_perfectly_still_stays_present_with_no_alert(tmp_path, faces_dir, test_pack):
    cfg = AppConfig.model_validate({
        "outlet": {"name": "Toko", "timezone": "Asia/Jakarta"},
        "engine": {"kind": "insightface", "pack": str(test_pack)},
        "presence": {"grace_seconds": 1.0, "absent_seconds": ABSENT_S, "confirm_hits": 2, "confirm_window_s": 2.0,
                     "hit_log_interval_s": 1.0},
        "telegram": {"enabled": True}})
    assert cfg.inference.motion_gating, "gating is on by default"
    enroll_people(cfg, tmp_path, faces_dir)
    person, shown = PEOPLE["gwb"][0], PEOPLE["gwb"][1]
    photo = cv2.imread(str(faces_dir / person / f"{person}_{shown:04d}.jpg"))
    frame = np.full((360, 640, 3), (90, 110, 100), np.uint8)
    frame[55:55 + photo.shape[0], 200:200 + photo.shape[1]] = photo  # the same picture, frame after frame

    from core.engine.factory import create_engine
    from workers.inference_server import GalleryWatch, InferenceCore

    engine = create_engine(cfg.engine, tmp_path)
    core = InferenceCore(cfg, engine, GalleryWatch(tmp_path, engine))
    clock = FakeClock(start=datetime(2026, 1, 1, 10, 0, tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    store = EventStore(tmp_path / "events.db")
    step = 1.0 / cfg.camera.process_fps
    transitions, states, named = [], [], []
    with FakeTelegram() as srv:
        ob = AlertOutbox(TelegramClient(srv.api_base, SecretStr(srv.token), SecretStr("7"), 5), store, clock, start=False)
        svc = AttendanceService(cfg, store, ob, clock, lambda: NAMES)
        for i in range(int(STILL_S / step)):
            meta = FrameMeta("counter", i, clock.time(), clock.monotonic(), 0, frame.shape, 1.0)
            for r in core.process([(meta, frame.copy())]):
                transitions += svc.on_frame_result(r, frame)
                named.append([f.spg_id for f in r.faces])
            transitions += svc.tick()
            ob.deliver_due()
            states.append({p.spg_id: p.state for p in svc.snapshot()}["gwb"])
            clock.advance(step)
        received = list(srv.received)
        svc.close()

    gwb = [(t.from_state.value, t.to_state.value) for t in transitions if t.spg_id == "gwb"]
    assert gwb == [("not_seen", "present")], gwb
    first = states.index("present")
    assert first <= 2, "confirmed on the second frame (confirm_hits 2)"
    assert set(states[first:]) == {"present"}, "present throughout, never grace or absent"
    assert all(ids == ["gwb"] for ids in named[first:]), "the face is found and named on every frame"
    assert received == [], "no alert"
    counts = core.detectors["counter"].counts
    assert counts.full <= STILL_S / cfg.inference.full_frame_every_s + 2, counts
    assert counts.regioned >= len(states) * 0.6, f"the still frames were detected in regions, not whole: {counts}"
