"""The packaged build: PyInstaller one-folder distribution from build.spec, verified with its own --selftest.

Slow (a full PyInstaller build), so it runs only with ``SPG_TEST_BUILD=1``::

    SPG_TEST_BUILD=1 .venv/bin/python -m pytest -q -s tests/test_build.py

``SPG_BUILD_WORK_DIR`` keeps PyInstaller's work folder between runs (faster rebuilds); the distribution
itself always goes to a fresh temporary folder. The build bakes the test pack in (``SPG_BUNDLE_PACK``), so
the bundled-pack option is exercised too. Sizes and the start-up time are printed (``-s``), not asserted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_selftest import CHECK_NAMES, check_lines

pytestmark = [
    pytest.mark.build,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SPG_TEST_BUILD") != "1", reason="set SPG_TEST_BUILD=1 to build the distribution"),
    pytest.mark.timeout(1800),
]

REPO = Path(__file__).resolve().parent.parent
NAME = "SPGPresenceConsole"
EXE_SUFFIX = ".exe" if sys.platform == "win32" else ""


def _folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


@pytest.fixture(scope="module")
def dist(tmp_path_factory, test_pack) -> Path:
    out = tmp_path_factory.mktemp("dist")
    work = Path(os.environ.get("SPG_BUILD_WORK_DIR") or tmp_path_factory.mktemp("work"))
    env = dict(os.environ, SPG_BUNDLE_PACK=str(test_pack), SPG_DIST_NAME=NAME)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(out), "--workpath",
                           str(work), str(REPO / "build.spec")], cwd=str(REPO), env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-8000:]
    folder = out / NAME
    print(f"\nbuild: {took:.0f} s, {folder}: {_folder_mb(folder):.0f} MB")
    return folder


def _run(exe: Path, *args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPG_DATA_DIR=str(data_dir), PYTHONIOENCODING="utf-8")
    env.pop("PYTHONPATH", None)  # the frozen program must not need the source tree
    return subprocess.run([str(exe), *args], cwd=str(exe.parent.parent), env=env, capture_output=True, text=True,
                          encoding="utf-8", errors="replace", timeout=timeout)


def test_distribution_has_the_executables_and_no_unused_heavy_parts(dist):
    assert (dist / f"{NAME}{EXE_SUFFIX}").is_file() and (dist / f"{NAME}-cli{EXE_SUFFIX}").is_file()
    files = [p.relative_to(dist).as_posix() for p in dist.rglob("*")]
    assert any(f.endswith("resources/selftest_face.jpg") for f in files)
    assert any(f.endswith("configs/app.yaml") for f in files)
    assert any(f.endswith("dlib_face_recognition_resnet_model_v1.dat") for f in files)
    assert not [f for f in files if "shape_predictor_68_face_landmarks" in f]
    assert not [f for f in files if "WebEngine" in f or "Qt6Quick" in f or "Qt6Qml" in f]
    assert any(f.endswith(".onnx") and "/models/test_pack/" in f for f in files), "SPG_BUNDLE_PACK was not bundled"


def test_built_selftest_passes_offscreen_with_the_test_pack(dist, test_pack, tmp_path):
    # a Windows-like per-user data folder: spaces and a non-ASCII user name
    data_dir = tmp_path / "Users" / "Siti Nurhaliza Müller" / "AppData" / "Local" / "SPG Présence"
    proc = _run(dist / f"{NAME}{EXE_SUFFIX}", "--selftest", "--pack", str(test_pack), data_dir=data_dir)
    print("\n" + proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert check_lines(proc.stdout) == dict.fromkeys(CHECK_NAMES, "OK")
    assert "(frozen build)" in proc.stdout
    assert "[ OK ] engine: insightface/" in proc.stdout and "CPUExecutionProvider" in proc.stdout
    assert (data_dir / "logs" / "selftest.log").is_file()


def test_built_selftest_finds_the_bundled_pack_and_the_offline_engine(dist, tmp_path):
    cfg = tmp_path / "bundled.yaml"
    cfg.write_text("engine:\n  kind: auto\n  pack: test_pack\n", encoding="utf-8")
    proc = _run(dist / f"{NAME}-cli{EXE_SUFFIX}", "--selftest", "--config", str(cfg), data_dir=tmp_path / "d1")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "[ OK ] engine: insightface/" in proc.stdout  # found inside the distribution, not in the data folder
    cfg.write_text("engine:\n  kind: dlib\n", encoding="utf-8")
    proc = _run(dist / f"{NAME}-cli{EXE_SUFFIX}", "--selftest", "--config", str(cfg), data_dir=tmp_path / "d2")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "[ OK ] engine: dlib/" in proc.stdout


def measure_startup(cmd: list[str], data_dir: Path, shot: Path, timeout: float = 180) -> tuple[float, int, str]:
    """Seconds from launch until the screenshot of the shown main window exists; and the exit code, stderr."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPG_DATA_DIR=str(data_dir), PYTHONIOENCODING="utf-8")
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            encoding="utf-8", errors="replace")
    shown = None
    while time.perf_counter() - t0 < timeout:
        if shown is None and shot.is_file() and shot.stat().st_size > 0:
            shown = time.perf_counter() - t0
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    if shown is None and shot.is_file():
        shown = time.perf_counter() - t0
    return (shown if shown is not None else float("nan")), proc.returncode, err


def _outlet(tmp_path: Path, tag: str) -> tuple[Path, Path]:
    """A configured (not first-run) outlet: one file camera, the offline engine, a data folder with a gallery."""
    from cli.selftest import write_test_video

    video = write_test_video(tmp_path / f"entrance {tag}.mp4", frames=60)
    cfg = tmp_path / f"outlet {tag}.yaml"
    cfg.write_text(f"engine:\n  kind: dlib\ncameras:\n  - {{id: cam_01, name: Entrance, source: {json.dumps(str(video))}}}\n",
                   encoding="utf-8")
    data_dir = tmp_path / f"outlet data {tag}"
    (data_dir / "gallery").mkdir(parents=True)
    (data_dir / "gallery" / "VERSION").write_text("x", encoding="utf-8")  # not a first run: no demo outlet
    return cfg, data_dir


def test_built_console_opens_its_main_window(dist, tmp_path):
    """Start-up to a visible main window (--screenshot --after 0), packaged vs source tree; times printed."""
    cfg, data_dir = _outlet(tmp_path, "frozen")
    shot = tmp_path / "main window frozen.png"
    frozen, rc, err = measure_startup([str(dist / f"{NAME}{EXE_SUFFIX}"), "--config", str(cfg), "--screenshot",
                                       str(shot), "--after", "0"], data_dir, shot)
    assert rc == 0, err[-4000:]
    assert shot.is_file() and shot.stat().st_size > 1000
    cfg2, data_dir2 = _outlet(tmp_path, "source")
    shot2 = tmp_path / "main window source.png"
    source, rc2, err2 = measure_startup([sys.executable, str(REPO / "app.py"), "--config", str(cfg2), "--screenshot",
                                         str(shot2), "--after", "0"], data_dir2, shot2)
    print(f"\nstart-up to a shown main window: packaged {frozen:.1f} s, source tree {source:.1f} s "
          f"(ratio {frozen / source if source else float('nan'):.2f}); distribution {_folder_mb(dist):.0f} MB")


def test_built_console_prepares_the_demo_outlet_on_first_run(dist, tmp_path):
    """First start on an outlet PC (nothing configured): the demo outlet is built from pictures inside the build."""
    data_dir = tmp_path / "first run"
    shot = tmp_path / "demo.png"
    proc = _run(dist / f"{NAME}{EXE_SUFFIX}", "--screenshot", str(shot), "--after", "20", data_dir=data_dir)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "demo outlet failed" not in proc.stderr, proc.stderr[-4000:]
    assert shot.is_file() and shot.stat().st_size > 1000
    assert "not_seen -> present" in proc.stderr  # demo SPGs were recognised in the demo footage
