"""SharedMemory frame ring: round trip, torn/overwritten reads refused, unlink, stale blocks, fallback."""

from __future__ import annotations

import json
import logging
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np
import pytest

from workers import frame_buffer as fb
from workers.frame_buffer import FrameBuffer, buffer_name, create_buffer, run_token
from workers.mp import mp_context

SHM_DIR = Path("/dev/shm")


def _frame(h: int, w: int, value: int) -> np.ndarray:
    f = np.full((h, w, 3), value, np.uint8)
    f[0, 0] = (1, 2, 3)
    return f


@pytest.fixture
def buf():
    b = FrameBuffer.create(buffer_name("test_cam", run_token()), 72, 128, 3)
    yield b
    b.close()


def test_name_keeps_seed_prefix_and_is_unique_per_run():
    a, b = buffer_name("cam_01", run_token()), buffer_name("cam_01", run_token())
    assert a.startswith("sfb_cam_01_") and b.startswith("sfb_cam_01_") and a != b


def test_write_then_read_returns_the_same_pixels_and_shape(buf):
    frame = _frame(60, 100, 77)
    slot, gen = buf.write(frame)
    out = buf.read(slot, gen)
    assert out is not None and out.shape == (60, 100, 3)
    assert np.array_equal(out, frame)
    into = np.empty((60, 100, 3), np.uint8)
    assert buf.read(slot, gen, out=into) is into and np.array_equal(into, frame)
    assert buf.latest_shape() == (60, 100, 3)


def test_slots_rotate_so_the_previous_frame_stays_readable(buf):
    s1, g1 = buf.write(_frame(72, 128, 10))
    s2, g2 = buf.write(_frame(72, 128, 20))
    assert s1 != s2
    assert buf.read(s1, g1)[5, 5, 0] == 10
    assert buf.read(s2, g2)[5, 5, 0] == 20


def test_overwritten_slot_is_refused_not_returned_with_new_pixels(buf):
    s1, g1 = buf.write(_frame(72, 128, 10))
    for v in (20, 30, 40):  # 3 slots: the 4th write lands on slot s1 again
        buf.write(_frame(72, 128, v))
    assert buf.read(s1, g1) is None


def test_slot_being_written_is_refused(buf):
    s, g = buf.write(_frame(72, 128, 10))
    buf._gen[s] = g + 1  # writer in progress (odd generation)
    assert buf.read(s, g) is None
    assert buf.read(s, g + 1) is None


def test_frame_larger_than_the_buffer_is_rejected(buf):
    with pytest.raises(ValueError):
        buf.write(_frame(73, 128, 1))


def test_reader_in_another_attachment_sees_the_frame(buf):
    other = FrameBuffer.attach(buf.name, 72, 128, 3)
    try:
        s, g = buf.write(_frame(50, 50, 99))
        assert other.read(s, g)[10, 10, 0] == 99
    finally:
        other.close()
    assert (SHM_DIR / buf.name).exists(), "a reader detaching must not unlink the owner's block"


@pytest.mark.skipif(not SHM_DIR.is_dir(), reason="no /dev/shm on this OS")
def test_close_unlinks_the_block():
    b = FrameBuffer.create(buffer_name("gone", run_token()), 72, 128, 2)
    assert (SHM_DIR / b.name).exists()
    b.close()
    assert not (SHM_DIR / b.name).exists()


def test_stale_block_of_the_same_name_is_replaced():
    name = buffer_name("stale", run_token())
    stale = shared_memory.SharedMemory(name=name, create=True, size=100)  # left by a "crashed" run
    stale.close()
    b = FrameBuffer.create(name, 72, 128, 2)
    try:
        assert b.shm.size >= FrameBuffer.size_for(72, 128, 2)
        s, g = b.write(_frame(72, 128, 5))
        assert b.read(s, g) is not None
    finally:
        b.close()


def test_unavailable_shared_memory_falls_back_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv(fb.ENV_DISABLE, "1")
    monkeypatch.setattr(fb, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="workers.frame_buffer"):
        assert create_buffer(buffer_name("a", run_token()), 72, 128, 2) is None
        assert create_buffer(buffer_name("b", run_token()), 72, 128, 2) is None
    warnings = [r for r in caplog.records if "SharedMemory not available" in r.getMessage()]
    assert len(warnings) == 1


def test_producer_can_fill_a_slot_in_place_and_an_aborted_slot_is_never_served(buf):
    s_old, g_old = buf.write(_frame(72, 128, 1))
    for _ in range(2):
        buf.write(_frame(72, 128, 2))
    slot, view = buf.begin_write(60, 100)  # the oldest slot (s_old) is claimed
    assert slot == s_old and buf.read(s_old, g_old) is None, "a slot being filled is not readable"
    view[...] = 42  # e.g. cv2.VideoCapture.read(view) decoding straight into SharedMemory
    gen = buf.commit(slot)
    assert buf.read(slot, gen)[0, 0, 0] == 42 and buf.read(slot, gen).shape == (60, 100, 3)
    slot2, view2 = buf.begin_write(72, 128)
    view2[...] = 7  # half-written, then the producer gives up
    old_gen = buf.generation(slot2)
    buf.abort(slot2)
    assert buf.read(slot2, old_gen - 1) is None and buf.read(slot2, buf.generation(slot2)) is None


def _headless_cmd(tmp_path: Path, cam: str) -> list[str]:
    import json
    import sys

    repo = Path(__file__).resolve().parent.parent
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(json.dumps({"engine": {"kind": "insightface", "pack": str(repo.parent / "shared/data/models/test_pack")},
                               "cameras": [{"id": cam, "source": str(repo.parent / "shared/data/video/short_hamilton_clip.mp4")}]}))
    return [sys.executable, str(repo / "app.py"), "run", "--headless", "--config", str(cfg), "--no-presence"]


@pytest.mark.skipif(not SHM_DIR.is_dir(), reason="POSIX SharedMemory is listed in /dev/shm (Windows frees blocks itself)")
def test_blocks_left_by_a_killed_process_tree_are_removed_at_the_next_start(tmp_path):
    """kill -9 of the whole tree runs no exit handler: the 8 MB block and the queues' semaphores stay; the next
    run of this data folder removes them (its token differs, so removing by the new run's names alone never
    matched, and the resource tracker that would unlink the semaphores died with the tree)."""
    import os
    import signal
    import subprocess
    import time

    data = tmp_path / "data"
    env = {**os.environ, "SPG_DATA_DIR": str(data)}
    cam = f"killcam{os.getpid()}"
    cmd = _headless_cmd(tmp_path, cam)
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not {p.name for p in SHM_DIR.glob(f"sfb_{cam}_*")}:
            assert first.poll() is None
            time.sleep(0.2)
        left = {p.name for p in SHM_DIR.glob(f"sfb_{cam}_*")}
        assert left
        time.sleep(1.0)
        (record,) = (data / "runs").glob("shm-*.json")
        sems = {"sem." + n.lstrip("/") for n in json.loads(record.read_text())["semaphores"]}
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the whole tree: main, camera worker, inference server
        first.wait(10)
    time.sleep(0.5)
    assert {p.name for p in SHM_DIR.glob(f"sfb_{cam}_*")} >= left  # leaked, as on an outlet PC
    assert len(sems) >= 10  # input, status, output, control, log and feedback queues, the camera's stop event
    assert {p.name for p in SHM_DIR.glob("sem.mp-*")} >= sems  # leaked too
    second = subprocess.run(cmd + ["--duration", "3"], env=env, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr
    assert not {p.name for p in SHM_DIR.glob(f"sfb_{cam}_*")}  # the old block is gone, and the new one too
    assert not {p.name for p in SHM_DIR.glob("sem.mp-*")} & sems  # and so are the killed run's semaphores
    assert not list((data / "runs").glob("shm-*"))  # no record left behind after a clean stop


def test_a_live_runs_blocks_are_never_removed(tmp_path):
    data = tmp_path / "data"
    token = run_token(data)
    b = FrameBuffer.create(buffer_name("live_cam", f"{token}1"), 8, 8, 2)
    try:
        assert fb.clean_stale_runs(data / "runs") == []  # its record's lock is held: alive
        assert (SHM_DIR / b.name).exists() or not SHM_DIR.is_dir()
        assert b.name in (data / "runs" / f"shm-{token}.json").read_text()
    finally:
        b.close()


@pytest.mark.skipif(not SHM_DIR.is_dir(), reason="POSIX semaphores are named in /dev/shm (Windows' die with their process)")
def test_a_live_runs_semaphores_are_recorded_and_never_removed(tmp_path):
    data = tmp_path / "data"
    token = run_token(data)
    q = mp_context().Queue(maxsize=2)  # made after the run started: the record is rewritten to name it
    names = [lock._semlock.name for lock in (q._rlock, q._wlock, q._sem)]
    try:
        assert fb.clean_stale_runs(data / "runs") == []  # its record's lock is held: alive
        assert set(names) <= set(json.loads((data / "runs" / f"shm-{token}.json").read_text())["semaphores"])
        assert all((SHM_DIR / f"sem.{n.lstrip('/')}").exists() for n in names)
        q.put("still usable")
        assert q.get(timeout=5) == "still usable"
    finally:
        q.close()
