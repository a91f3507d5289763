"""Presence fraud checks on composed footage with the real models (issue 14).

Composed mp4 (tests/compose_footage.py) -> the real inference stages (InsightFace test pack, tracker, matcher,
the MiniFASNet pair, the still-face check) -> AttendanceService -> alerts at a local Telegram server, in one
process on an injected clock (processed frames exactly 1/process_fps apart).

With liveness on, an SPG who is only ever shown as a phone screen or a printed photo is never PRESENT, and
the outlet gets one "possible photo or screen" alert with the crop, while an SPG shown live at the same time
becomes PRESENT as usual. The still-face check flags a frozen face (identical frames) and not a moving one.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from pydantic import SecretStr

from core.alert_outbox import AlertOutbox
from core.attendance import AttendanceService
from core.clock import FakeClock
from core.config import AppConfig
from core.events_db import EventStore
from core.messages import FrameMeta, Fraud
from core.reports import build_report, write_csv
from core.telegram import TelegramClient
from tests.compose_footage import Appearance, compose_video
from tests.conftest import SHARED_DATA
from tests.fake_telegram import FakeTelegram

SAMPLES = SHARED_DATA / "liveness"
LIVENESS_MODELS = SHARED_DATA / "models" / "liveness"
DAY = date(2026, 1, 5)
VIDEO_FPS = 10.0
PROCESS_FPS = 5.0
PRESENCE = {"grace_seconds": 1.0, "absent_seconds": 4.0, "confirm_hits": 2, "confirm_window_s": 2.0,
            "hit_log_interval_s": 1.0}
# spg id -> (name, the sample picture enrolled AND shown in the footage)
SPGS = {"screen": ("Sari (phone)", "screen_replay_F2.jpg"), "print": ("Putri (print)", "print_attack_F1.jpg"),
        "live": ("Lina (live)", "live_T1.jpg")}


def _cfg(test_pack: Path, data_dir: Path, fraud: dict) -> AppConfig:
    return AppConfig.model_validate({
        "outlet": {"name": "Toko", "timezone": "Asia/Jakarta"}, "data_dir": str(data_dir),
        "engine": {"kind": "insightface", "pack": str(test_pack)}, "presence": PRESENCE,
        "camera": {"process_fps": PROCESS_FPS}, "telegram": {"enabled": True}, "fraud": fraud})


def _enroll(cfg: AppConfig, data_dir: Path, spgs: dict[str, tuple[str, str]]) -> None:
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    layout = DataLayout(data_dir).ensure()
    engine = create_engine(cfg.engine, layout.root)
    for spg, (name, photo) in spgs.items():
        enroll_photos(engine, Gallery(layout.gallery), spg, name, [SAMPLES / photo], cfg=cfg.engine)


def _run(cfg: AppConfig, data_dir: Path, video: Path, names: dict[str, str]):
    """Every second frame of ``video`` through the real stages; per processed frame: faces, presence states."""
    from core.engine.factory import create_engine
    from workers.inference_server import GalleryWatch, InferenceCore, liveness_checker

    engine = create_engine(cfg.engine, data_dir)
    clock = FakeClock(start=datetime.combine(DAY, time(10, 0), tzinfo=ZoneInfo("Asia/Jakarta")).timestamp())
    core = InferenceCore(cfg, engine, GalleryWatch(data_dir, engine), liveness_checker(cfg, data_dir), clock)
    store = EventStore(data_dir / "events.db")
    cap = cv2.VideoCapture(str(video))
    frames, states, fraud_alerts, transitions = [], [], [], []
    with FakeTelegram() as srv:
        ob = AlertOutbox(TelegramClient(srv.api_base, SecretStr(srv.token), SecretStr("7"), 5), store, clock,
                         start=False)
        svc = AttendanceService(cfg, store, ob, clock, lambda: names)
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            i += 1
            if (i - 1) % int(VIDEO_FPS / PROCESS_FPS):
                continue
            meta = FrameMeta("counter", i, clock.time(), clock.monotonic(), 0, frame.shape, 1.0)
            for r in core.process([(meta, frame)]):
                transitions += svc.on_frame_result(r, frame)
                frames.append(r.faces)
            transitions += svc.tick()
            fraud_alerts += svc.take_fraud_alerts()
            ob.deliver_due()
            states.append({p.spg_id: p.state for p in svc.snapshot()})
            clock.advance(1.0 / PROCESS_FPS)
        received = list(srv.received)
        alerts = store.alerts_between(0, clock.time() + 1)
        svc.close()
    cap.release()
    return frames, states, fraud_alerts, received, alerts, transitions, core


def test_a_photo_only_spg_is_never_present_with_liveness_on(tmp_path, test_pack):
    data_dir = tmp_path / "data"
    cfg = _cfg(test_pack, data_dir, {"liveness": {"enabled": True, "models": str(LIVENESS_MODELS)}})
    _enroll(cfg, data_dir, SPGS)
    names = {spg: name for spg, (name, _) in SPGS.items()}
    video = compose_video(tmp_path / "counter.mp4", [
        Appearance(SAMPLES / "screen_replay_F2.jpg", 1.0, 11.0, (0.28, 0.5), height=1.0),
        Appearance(SAMPLES / "print_attack_F1.jpg", 12.0, 22.0, (0.28, 0.5), height=1.0),
        Appearance(SAMPLES / "live_T1.jpg", 1.0, 22.0, (0.72, 0.5), height=0.9),
    ], fps=VIDEO_FPS, size=(1280, 720), seconds=24.0)

    frames, states, fraud_alerts, received, alerts, transitions, core = _run(cfg, data_dir, video, names)

    named = {f.spg_id for faces in frames for f in faces if f.spg_id}
    assert named == set(SPGS), f"every SPG is recognised by face: {named}"
    for spg in ("screen", "print"):
        assert all(s[spg] == "not_seen" for s in states), f"{spg} is never marked present: {[s[spg] for s in states]}"
        flagged = [f.fraud for faces in frames for f in faces if f.spg_id == spg]
        assert set(flagged) == {Fraud.LIVENESS}, f"every frame naming {spg} is flagged"
    assert {t.spg_id for t in transitions} == {"live"}, "the live SPG alone changes state"
    assert (transitions[0].from_state.value, transitions[0].to_state.value) == ("not_seen", "present")
    live_present = [s["live"] == "present" for s in states]
    assert sum(live_present) >= 19 * PROCESS_FPS, "liveness does not stop a live face from counting"
    assert not any(f.fraud for faces in frames for f in faces if f.spg_id == "live")

    assert sorted((a.spg_id, a.camera_id, a.kind) for a in fraud_alerts) == [
        ("print", "counter", "liveness"), ("screen", "counter", "liveness")], "one event per photo shown"
    spoof_rows = [a for a in alerts if a.kind == "possible_spoof"]
    assert sorted(a.spg_id for a in spoof_rows) == ["print", "screen"], "one stored alert each, not one per frame"
    assert all(a.status == "sent" for a in spoof_rows)
    sent = [m for m in received if "Possible photo or screen at camera" in (m.text or m.fields.get("caption", ""))]
    assert len(sent) == 2, [m.text for m in received]
    for m in sent:
        assert m.photo, "the alert carries the face crop"
        crop = cv2.imdecode(np.frombuffer(m.photo, np.uint8), cv2.IMREAD_COLOR)
        assert crop is not None and min(crop.shape[:2]) > 100
        assert "counter" in (m.text or m.fields.get("caption", ""))
    assert core.guards["counter"].checks <= 6, "judged per track, not per frame"

    rows = {r.spg_id: r for r in build_report(EventStore(data_dir / "events.db"), cfg, DAY, DAY, None, names)}
    assert (rows["screen"].possible_spoof, rows["print"].possible_spoof, rows["live"].possible_spoof) == (1, 1, 0)
    assert rows["screen"].present_s == 0 and rows["print"].present_s == 0 and rows["live"].present_s > 15
    out = write_csv(list(rows.values()), tmp_path / "day.csv", ZoneInfo("Asia/Jakarta"))
    assert "Possible photo/screen" in out.read_text(encoding="utf-8-sig").splitlines()[0], "the report says it"


def test_the_still_face_check_flags_a_frozen_face_and_not_a_moving_one(tmp_path, test_pack, faces_dir):
    still_s = 4.0
    data_dir = tmp_path / "data"
    cfg = _cfg(test_pack, data_dir, {"still_face": {"enabled": True, "seconds": still_s}})
    people = {"frozen": ("George W Bush", "George_W_Bush"), "moving": ("Colin Powell", "Colin_Powell")}
    from core.engine.factory import create_engine
    from core.enrollment import enroll_photos
    from core.gallery import Gallery
    from core.paths import DataLayout

    layout = DataLayout(data_dir).ensure()
    engine = create_engine(cfg.engine, layout.root)
    for spg, (name, person) in people.items():
        enroll_photos(engine, Gallery(layout.gallery), spg, name,
                      [faces_dir / person / f"{person}_{i:04d}.jpg" for i in (1, 2, 3, 4)], cfg=cfg.engine)
    gwb, cp = (cv2.imread(str(faces_dir / p / f"{p}_0006.jpg")) for _, p in people.values())

    def sway(t: float) -> np.ndarray:  # a person at the counter: turns and sways a few pixels
        img = cv2.resize(cp, None, fx=1.4, fy=1.4)
        angle = 6.0 * np.sin(t * 1.3)
        m = cv2.getRotationMatrix2D((img.shape[1] / 2, img.shape[0] / 2), angle, 1.0 + 0.04 * np.sin(t * 0.7))
        return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)

    # identical frames for the frozen face: nothing else in the picture changes where it is
    video = tmp_path / "still.mp4"
    w, h, length = 1280, 720, 14.0
    vw = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (w, h))
    big = cv2.resize(gwb, None, fx=1.4, fy=1.4)
    for i in range(int(length * VIDEO_FPS)):
        frame = np.full((h, w, 3), (110, 112, 104), np.uint8)
        frame[180:180 + big.shape[0], 120:120 + big.shape[1]] = big
        moving = sway(i / VIDEO_FPS)
        frame[180:180 + moving.shape[0], 800:800 + moving.shape[1]] = moving
        vw.write(frame)
    vw.release()

    names = {spg: name for spg, (name, _) in people.items()}
    frames, states, fraud_alerts, received, alerts, transitions, _ = _run(cfg, data_dir, video, names)

    def flags(spg):
        return [f.fraud for faces in frames for f in faces if f.spg_id == spg]

    frozen, moving = flags("frozen"), flags("moving")
    assert len(frozen) > 0.8 * len(frames) and len(moving) > 0.8 * len(frames), "both recognised throughout"
    first = frozen.index(Fraud.STILL_FACE)
    assert still_s * PROCESS_FPS - 2 <= first <= still_s * PROCESS_FPS + 4, f"flagged after {first / PROCESS_FPS} s"
    assert set(frozen[first:]) == {Fraud.STILL_FACE}, "stays flagged while frozen"
    assert set(moving) == {Fraud.NONE}, "a moving face is never flagged"
    assert [(a.spg_id, a.kind) for a in fraud_alerts] == [("frozen", "still_face")], "one event for the episode"
    assert [a.spg_id for a in alerts if a.kind == "possible_spoof"] == ["frozen"]
    assert states[-1]["moving"] == "present"
    assert states[-1]["frozen"] != "present", "a frozen face stops counting: grace, then absent"
