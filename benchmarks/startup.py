"""Start-up time to a visible main window, packaged build vs source tree, side by side; and the build's size.

    .venv/bin/python benchmarks/startup.py --dist dist/SPGPresenceConsole [--runs 3]

Each run launches ``<program> --config outlet.yaml --screenshot shot.png --after 0`` offscreen on a configured
outlet (one file camera, the offline engine, not a first run) and measures the seconds from launch until the
screenshot of the shown main window exists. The first packaged run after a build is the "cold" one (files not
yet in the OS cache: what an outlet PC sees on its first start).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def folder_size(folder: Path) -> tuple[float, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files) / 2**20, len(files)


def zipped_mb(folder: Path, work: Path) -> float:
    """Size of the handover zip (deflate), what is copied to an outlet."""
    target = work / "handover.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for p in folder.rglob("*"):
            if p.is_file() and not p.is_symlink():
                zf.write(p, p.relative_to(folder.parent))
    mb = target.stat().st_size / 2**20
    target.unlink()
    return mb


def outlet(work: Path, tag: str) -> tuple[Path, Path]:
    from cli.selftest import write_test_video

    video = write_test_video(work / f"entrance {tag}.mp4", frames=60)
    cfg = work / f"outlet {tag}.yaml"
    cfg.write_text(f"engine:\n  kind: dlib\ncameras:\n  - {{id: cam_01, name: Entrance, source: {json.dumps(str(video))}}}\n",
                   encoding="utf-8")
    data_dir = work / f"data {tag}"
    (data_dir / "gallery").mkdir(parents=True, exist_ok=True)
    (data_dir / "gallery" / "VERSION").write_text("x", encoding="utf-8")
    return cfg, data_dir


def startup_once(cmd: list[str], data_dir: Path, shot: Path, timeout: float = 180) -> float:
    shot.unlink(missing_ok=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", SPG_DATA_DIR=str(data_dir))
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd + ["--screenshot", str(shot), "--after", "0"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    shown = float("nan")
    while time.perf_counter() - t0 < timeout:
        if shot.is_file() and shot.stat().st_size > 0:
            shown = time.perf_counter() - t0
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    return shown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", required=True, type=Path, help="the built folder, e.g. dist/SPGPresenceConsole")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    dist = args.dist.resolve()
    name = dist.name
    exe = dist / (name + (".exe" if sys.platform == "win32" else ""))
    work = Path(tempfile.mkdtemp(prefix="spg_startup_"))
    try:
        mb, count = folder_size(dist)
        print(f"distribution {dist}: {mb:.0f} MB in {count} files; handover zip {zipped_mb(dist, work):.0f} MB")
        cfg_f, data_f = outlet(work, "frozen")
        cfg_s, data_s = outlet(work, "source")
        frozen = [startup_once([str(exe), "--config", str(cfg_f)], data_f, work / "f.png") for _ in range(args.runs)]
        source = [startup_once([sys.executable, str(REPO / "app.py"), "--config", str(cfg_s)], data_s, work / "s.png")
                  for _ in range(args.runs)]
        print("start-up to a shown main window (s):  run  packaged  source")
        for i, (f, s) in enumerate(zip(frozen, source), 1):
            print(f"                                      {i:>3}  {f:8.2f}  {s:6.2f}")
        fm, sm = statistics.median(frozen), statistics.median(source)
        print(f"median: packaged {fm:.2f} s, source tree {sm:.2f} s, ratio packaged/source {fm / sm:.2f}; "
              f"first packaged run (cold cache) {frozen[0]:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
