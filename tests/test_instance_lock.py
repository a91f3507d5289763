"""One run per data folder (real processes): headless + headless and console + headless are refused with a
message naming the data folder and what to do; a read-only data folder gives a message, not a traceback;
the lock of a killed run does not linger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.instance_lock import CONSOLE, HEADLESS, AlreadyRunning, DataFolderNotWritable, InstanceLock
from core.paths import DataLayout

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO.parent / "shared/data/video/short_hamilton_clip.mp4"
PACK = REPO.parent / "shared/data/models/test_pack"


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "SPG_DATA_DIR": str(data), "QT_QPA_PLATFORM": "offscreen"}


def _headless(data: Path, tmp: Path, duration: float = 60) -> list[str]:
    cfg = tmp / "cfg.yaml"
    cfg.write_text(json.dumps({"engine": {"kind": "insightface", "pack": str(PACK)},
                               "cameras": [{"id": "cam", "source": str(CLIP)}]}))
    return [sys.executable, str(REPO / "app.py"), "run", "--headless", "--config", str(cfg), "--no-presence",
            "--duration", str(duration)]


def _wait_owner(data: Path, who: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    owner = data / "console.lock.owner"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if owner.exists() and who in owner.read_text():
            return
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    raise AssertionError(f"{who} never took the lock")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_second_headless_run_on_the_same_data_folder_is_refused(tmp_path):
    data = tmp_path / "data"
    first = subprocess.Popen(_headless(data, tmp_path), cwd=REPO, env=_env(data), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        _wait_owner(data, "headless", first)
        second = subprocess.run(_headless(data, tmp_path), cwd=REPO, env=_env(data), capture_output=True,
                                text=True, timeout=120, check=False)
        assert second.returncode == 3, second.stderr
        assert str(data) in second.stderr and "already in use by a headless run" in second.stderr
        assert "--data-dir" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first run goes on
    finally:
        _stop(first)


def test_console_and_headless_run_refuse_each_other(tmp_path):
    data = tmp_path / "data"
    # a headless run holds the folder: the console is refused
    run = subprocess.Popen(_headless(data, tmp_path), cwd=REPO, env=_env(data), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        _wait_owner(data, "headless", run)
        console = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data)], cwd=REPO,
                                 env=_env(data), capture_output=True, text=True, timeout=120, check=False)
        assert console.returncode == 3, console.stderr
        assert str(data) in console.stderr and "headless run" in console.stderr and "already running" in console.stderr
    finally:
        _stop(run)
    # the console holds it: the headless run is refused
    console_p = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--data-dir", str(data)], cwd=REPO,
                                 env=_env(data), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_owner(data, "console", console_p)
        r = subprocess.run(_headless(data, tmp_path), cwd=REPO, env=_env(data), capture_output=True, text=True,
                           timeout=120, check=False)
        assert r.returncode == 3, r.stderr
        assert str(data) in r.stderr and "already in use by the console" in r.stderr
    finally:
        console_p.terminate()
        try:
            console_p.wait(30)
        except subprocess.TimeoutExpired:
            console_p.kill()


def test_lock_of_a_killed_run_is_released_at_once(tmp_path):
    data = tmp_path / "data"
    run = subprocess.Popen(_headless(data, tmp_path), cwd=REPO, env=_env(data), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_owner(data, "headless", run)
        with pytest.raises(AlreadyRunning):
            InstanceLock(data, HEADLESS).acquire()
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
    with InstanceLock(data, HEADLESS) as lock:  # no stale lock to delete by hand
        assert lock.held


def test_read_only_data_folder_gives_a_message_not_a_traceback(tmp_path):
    """A data folder used before (its sub-folders exist) that is now on a read-only drive."""
    data = tmp_path / "ro"
    data.mkdir()
    mounted = os.name == "posix" and os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(data)], capture_output=True, check=False).returncode == 0
    DataLayout(data).ensure()
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
    else:
        data.chmod(0o500)  # not root: a read-only folder
    try:
        with pytest.raises(DataFolderNotWritable) as err:
            InstanceLock(data, CONSOLE).acquire()
        assert str(data) in str(err.value) and "--data-dir" in str(err.value)
        console = subprocess.run([sys.executable, str(REPO / "app.py"), "--data-dir", str(data)], cwd=REPO,
                                 env=_env(data), capture_output=True, text=True, timeout=120, check=False)
        assert console.returncode == 1, console.stderr
        assert "Traceback" not in console.stderr
        assert str(data) in console.stderr and "console.lock cannot be written" in console.stderr
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(data)], check=False)
        else:
            data.chmod(0o700)
