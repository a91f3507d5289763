"""Child processes log through ONE listener in the main process: their lines reach ``<data>/logs/console.log``,
passwords masked (camera workers and the inference server are real spawned processes here)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from core.config import AppConfig, CameraConfig, CameraDefaults
from core.logging_setup import setup_logging
from tests.test_secrets import NASTY_PASSWORDS, assert_no_leak
from workers.camera_worker import CameraWorkerArgs, run_camera_worker
from workers.child_logging import child_log_queue, stop_child_logging
from workers.inference_server import EngineSpec, run_inference_server
from workers.mp import mp_context

PW = NASTY_PASSWORDS[2] + NASTY_PASSWORDS[0]  # '@' and '#': urllib would end the host early
URL = f"rtsp://admin:{PW}@127.0.0.1:9/Streaming/Channels/101"


@pytest.fixture
def main_log(tmp_path):
    """The main process's logging as the console / headless run set it up; restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    log_dir = tmp_path / "logs"
    setup_logging("INFO", log_dir, console=False)
    yield log_dir / "console.log"
    stop_child_logging()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    for h in saved[0]:
        root.addHandler(h)
    root.setLevel(saved[1])


def wait_for(path: Path, text: str, timeout: float = 60.0) -> str:
    end = time.monotonic() + timeout
    content = ""
    while time.monotonic() < end:
        content = path.read_text(encoding="utf-8") if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path} after {timeout} s:\n{content}")


def test_camera_worker_lines_reach_console_log_with_the_password_masked(main_log):
    ctx = mp_context()
    q = child_log_queue()
    # 1. a library inside a camera worker process logs the raw URL (and a traceback holding it)
    lib = ctx.Process(target=_library_child(), args=(q, URL), name="spg-camera-door")
    lib.start()
    lib.join(60)
    # 2. the real camera worker entry on an RTSP camera that refuses: its own retry warning
    cam = CameraConfig(id="door", source=URL)
    defaults = CameraDefaults(open_timeout_s=3.0, read_timeout_s=3.0, reconnect_initial_s=0.5)
    stop = ctx.Event()
    queues = (ctx.Queue(), ctx.Queue(), ctx.Queue())  # kept referenced until the child has attached them
    heartbeat = ctx.Value("d", 0.0, lock=False)
    worker = ctx.Process(target=run_camera_worker, name="spg-camera-door",
                         args=(CameraWorkerArgs(cam, defaults, None, "INFO"), *queues, stop, heartbeat, q))
    worker.start()
    try:
        text = wait_for(main_log, "retrying in")
    finally:
        stop.set()
        worker.join(20)
        if worker.is_alive():
            worker.kill()
    text = wait_for(main_log, "giving up on this attempt")
    lines = [x for x in text.splitlines() if "spg-camera-door" in x]
    assert any("camera door: cannot open rtsp://admin:***@127.0.0.1:9/Streaming/Channels/101" in x for x in lines), text
    assert any("workers.camera_worker: camera door:" in x and "retrying in" in x for x in lines), text
    assert "RTSP DESCRIBE rtsp://admin:***@127.0.0.1:9" in text  # the traceback came through, masked
    assert_no_leak(text, PW)


def test_inference_server_lines_reach_console_log_with_the_password_masked(main_log):
    ctx = mp_context()
    cfg = AppConfig()
    spec = EngineSpec(factory="tests.child_log_helpers:leaky_engine", kwargs={"url": URL})
    queues = (ctx.Queue(), ctx.Queue(), ctx.Queue())  # input, output, control: kept referenced
    heartbeat = ctx.Value("d", 0.0, lock=False)
    server = ctx.Process(target=run_inference_server, name="spg-inference",
                         args=(cfg, str(main_log.parent.parent), spec, *queues, heartbeat, child_log_queue()))
    server.start()
    server.join(120)
    text = wait_for(main_log, "engine failed to load")
    lines = [x for x in text.splitlines() if "spg-inference" in x]
    assert any("core.engine.packs: fetching the model pack from rtsp://admin:***@127.0.0.1:9" in x for x in lines), text
    assert any("inference server: engine failed to load: model pack download from rtsp://admin:***@" in x
               for x in lines), text
    assert_no_leak(text, PW)


def _library_child():
    from tests.child_log_helpers import library_in_a_camera_worker

    return library_in_a_camera_worker
