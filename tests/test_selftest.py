"""``app.py --selftest`` in the source tree: every check passes on the real test pack, output one line per check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHECK_NAMES = ["data folder", "resources", "qt", "engine", "detection", "matching", "shared memory", "camera worker"]


def run_selftest(*extra: str, data_dir: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPG_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen", PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, str(REPO / "app.py"), "--selftest", *extra], cwd=str(REPO), env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def check_lines(stdout: str) -> dict[str, str]:
    """'name' -> 'OK' / 'FAIL' from the '[ OK ] name: detail' lines."""
    out = {}
    for line in stdout.splitlines():
        if line.startswith(("[ OK ] ", "[FAIL] ")):
            status, rest = line[1:5].strip(), line[7:]
            out[rest.split(":", 1)[0]] = status
    return out


def test_selftest_passes_with_the_real_test_pack(test_pack, data_dir):
    proc = run_selftest("--pack", str(test_pack), data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_lines(proc.stdout) == dict.fromkeys(CHECK_NAMES, "OK")
    assert "[ OK ] engine: insightface/" in proc.stdout and "CPUExecutionProvider" in proc.stdout
    assert "matched itself" in proc.stdout
    # support finds the same lines in the data folder's log
    assert "self-test passed" in (data_dir / "logs" / "selftest.log").read_text(encoding="utf-8")


def test_selftest_passes_with_the_opencv_pack(opencv_pack, data_dir):
    proc = run_selftest("--pack", str(opencv_pack), data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_lines(proc.stdout) == dict.fromkeys(CHECK_NAMES, "OK")
    assert "[ OK ] engine: opencv/face_recognition_sface_2021dec on opencv-dnn-cpu" in proc.stdout
    assert "matched itself" in proc.stdout


def test_selftest_works_in_a_data_folder_with_spaces_and_non_ascii(test_pack, tmp_path):
    """Windows user names like 'Siti Nurhaliza' or 'José Müller' put both in the app-data path."""
    data_dir = tmp_path / "Users" / "José Müller Sürya" / "AppData Local" / "SPG Présence"
    proc = run_selftest("--pack", str(test_pack), data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert check_lines(proc.stdout) == dict.fromkeys(CHECK_NAMES, "OK")
    assert (data_dir / "logs" / "selftest.log").is_file()
    assert not list(data_dir.glob(".selftest_*")), "the self-test's scratch folder (inside the data folder) is left behind"


def test_selftest_fails_with_a_clear_line_and_exit_code_on_a_broken_pack(tmp_path, data_dir):
    broken = tmp_path / "broken_pack"
    broken.mkdir()
    (broken / "det_500m.onnx").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    proc = run_selftest("--pack", str(broken), data_dir=data_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = check_lines(proc.stdout)
    assert lines["engine"] == "FAIL"
    assert lines["detection"] == "FAIL" and "skipped: engine failed" in proc.stdout
    assert lines["shared memory"] == "OK" and lines["camera worker"] == "OK"  # the rest still runs
    assert "self-test FAILED" in proc.stdout


@pytest.mark.parametrize("kind", ["dlib"])
def test_selftest_passes_with_the_offline_engine(kind, tmp_path, data_dir):
    cfg = tmp_path / "dlib.yaml"
    cfg.write_text(f"engine:\n  kind: {kind}\n", encoding="utf-8")
    proc = run_selftest("--config", str(cfg), data_dir=data_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[ OK ] engine: dlib/" in proc.stdout


def test_selftest_without_a_console_like_the_windowed_executable(test_pack, data_dir):
    """The windowed Windows executable has sys.stdout = sys.stderr = None: the result still reaches support."""
    code = ("import sys; sys.stdout = None; sys.stderr = None; import app; app.ensure_std_streams(); "
            f"sys.exit(app.main(['--selftest', '--pack', {str(test_pack)!r}]))")
    env = dict(os.environ, SPG_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(REPO), env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0
    assert proc.stdout == ""  # nothing printed anywhere...
    log = (data_dir / "logs" / "selftest.log").read_text(encoding="utf-8")
    assert "[ OK ] camera worker" in log and "self-test passed" in log  # ...but all of it is in the log file
