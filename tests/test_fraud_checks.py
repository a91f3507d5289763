"""The fraud checks' rules on the injected clock: still-face timing and noise, liveness scheduling."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from core.clock import FakeClock
from core.config import AppConfig
from core.fraud_checks import FraudGuard
from core.liveness import LivenessVerdict
from core.messages import Fraud
from core.still_face import StillFaceWatch

FACE = np.array([[30, 40], [70, 40], [50, 60], [35, 80], [65, 80]], np.float64)  # 5 points of a 100 px face


def test_a_face_that_does_not_move_is_still_after_the_configured_time():
    clock = FakeClock()
    watch = StillFaceWatch(seconds=10.0, tolerance=0.03, clock=clock)
    flags = []
    for _ in range(60):  # 12 s at 5 frames/s
        flags.append(watch.update(1, FACE, 100.0))
        clock.advance(0.2)
    first = flags.index(True)
    assert abs(first * 0.2 - 10.0) < 0.21, f"flagged after {first * 0.2:.1f} s"
    assert all(flags[first:])


def test_noise_below_the_tolerance_is_still_and_real_movement_is_not():
    rng = np.random.default_rng(1)
    clock = FakeClock()
    noisy, moving = (StillFaceWatch(5.0, 0.03, clock) for _ in range(2))
    n_flags, m_flags = [], []
    for i in range(100):
        n_flags.append(noisy.update(1, FACE + rng.normal(0, 0.8, FACE.shape), 100.0))  # < 1 px jitter
        sway = 4.0 * np.sin(i / 5.0)  # a person swaying a few pixels
        m_flags.append(moving.update(1, FACE + [sway, 0.5 * sway], 100.0))
        clock.advance(0.2)
    assert any(n_flags), "sensor-level jitter is not movement"
    assert not any(m_flags), "a swaying face is never still"


def test_the_tolerance_is_in_face_widths_so_size_does_not_matter():
    clock = FakeClock()
    small, large = StillFaceWatch(2.0, 0.03, clock), StillFaceWatch(2.0, 0.03, clock)
    flags = []
    for i in range(30):
        shift = 2.0 * (i % 2)  # 2 px back and forth: 5 % of a 40 px face, 0.5 % of a 400 px one
        flags.append((small.update(1, FACE * 0.4 + shift, 40.0), large.update(1, FACE * 4 + shift, 400.0)))
        clock.advance(0.2)
    assert not any(s for s, _ in flags), "2 px is movement on a small face"
    assert any(lg for _, lg in flags), "2 px is noise on a large face"


class CountingChecker:
    """A LivenessChecker that says what it is told and counts its calls."""

    def __init__(self, real: bool):
        self.real = real
        self.calls = 0

    def check(self, image: np.ndarray, bbox: Sequence[float] | np.ndarray) -> LivenessVerdict:
        self.calls += 1
        return LivenessVerdict(0.9 if self.real else 0.1, self.real, 0.5)


def _guard(checker, clock, **liveness):
    cfg = AppConfig.model_validate({"fraud": {"liveness": {"enabled": True, "recheck_minutes": 2, **liveness}}})
    return FraudGuard(cfg.fraud, checker, clock)


def test_liveness_runs_on_a_new_track_and_again_every_few_minutes_not_every_frame():
    clock, checker = FakeClock(), CountingChecker(real=True)
    guard = _guard(checker, clock)
    image = np.zeros((480, 640, 3), np.uint8)
    box = (100, 100, 250, 260)
    for _ in range(5 * 60 * 5):  # 5 minutes at 5 frames/s
        assert guard.judge(image, 7, "a", box, FACE).fraud is Fraud.NONE
        clock.advance(0.2)
    assert checker.calls == 3, "at 0, 2 and 4 minutes"
    guard.judge(image, 8, "a", box, FACE)
    assert checker.calls == 4, "a new track is judged at once"
    guard.judge(image, 8, "b", box, FACE)
    assert checker.calls == 5, "a track that changes name is judged again"


def test_a_spoofed_track_stays_flagged_and_small_faces_are_not_judged():
    clock, checker = FakeClock(), CountingChecker(real=False)
    guard = _guard(checker, clock, min_face_px=80)
    image = np.zeros((480, 640, 3), np.uint8)
    small = guard.judge(image, 1, "a", (10, 10, 60, 70), FACE)
    assert small == small.__class__(Fraud.NONE, None) and checker.calls == 0, "50 px: too small to judge"
    verdicts = []
    for _ in range(20):
        verdicts.append(guard.judge(image, 2, "a", (100, 100, 200, 220), FACE).fraud)
        clock.advance(0.2)
    assert set(verdicts) == {Fraud.LIVENESS} and checker.calls == 1
    guard.retain([1])
    guard.judge(image, 2, "a", (100, 100, 200, 220), FACE)
    assert checker.calls == 2, "a dropped track is forgotten: the same id later is a new track"


def test_both_checks_are_off_by_default():
    cfg = AppConfig()
    assert not cfg.fraud.liveness.enabled and not cfg.fraud.still_face.enabled
    guard = FraudGuard(cfg.fraud, CountingChecker(real=False), FakeClock())
    assert not guard.active


def test_the_console_event_log_says_possible_photo_or_screen(qtbot, data_dir):
    """A fraud alert from attendance reaches the event log through the one router and the controller."""
    from core.attendance_api import FraudAlert
    from tests.ui_fakes import FakeAttendance, FakePipeline
    from ui.controller import PipelineController

    class FlaggingAttendance(FakeAttendance):
        sent = False

        def take_fraud_alerts(self) -> list[FraudAlert]:
            if self.sent:
                return []
            self.sent = True
            return [FraudAlert(1.0, "a", "Ayu", "cam1", "liveness", "text", 0.1)]

    cfg = AppConfig.model_validate({"cameras": [{"id": "cam1", "source": "v0.mp4"}]})
    ctl = PipelineController(cfg, data_dir, pipeline_factory=lambda c, d: FakePipeline(c, d, fps=20),
                             attendance_factory=lambda c, d, n: FlaggingAttendance(n), names=lambda: {"a": "Ayu"})
    events = []
    ctl.event_logged.connect(events.append)
    ctl.start()
    try:
        qtbot.waitUntil(lambda: any("Possible photo or screen" in e.text for e in events), timeout=20000)
    finally:
        assert ctl.shutdown(20)
    flagged = [e for e in events if "Possible photo or screen" in e.text]
    assert len(flagged) == 1 and flagged[0].kind == "alert" and flagged[0].spg_id == "a"
    assert "cam1" in flagged[0].text and "Ayu" in flagged[0].text
