"""`app.py enroll` on a full disk and on a read-only data folder: one clear line naming the folder and what
to do, exit code 2, no traceback, nothing half-enrolled (real processes, real size-limited / read-only mount)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import DataLayout

REPO = Path(__file__).resolve().parent.parent
PHOTO = REPO.parent / "shared/data/faces/Tony_Blair/Tony_Blair_0006.jpg"
PACK = REPO.parent / "shared/data/models/test_pack"


def _enroll(data: Path, tmp: Path) -> subprocess.CompletedProcess:
    cfg = tmp / "cfg.yaml"
    cfg.write_text(json.dumps({"engine": {"kind": "insightface", "pack": str(PACK)}}))
    return subprocess.run([sys.executable, str(REPO / "app.py"), "enroll", "--config", str(cfg), "--id", "blair",
                           "--name", "Tony", str(PHOTO)], cwd=REPO, env={**os.environ, "SPG_DATA_DIR": str(data)},
                          capture_output=True, text=True, timeout=180, check=False)


def test_enroll_on_a_full_disk_says_so_and_enrolls_nothing(small_disk, tmp_path):
    if not small_disk.mounted:
        pytest.skip("needs a size-limited mount (root)")
    data = small_disk.path
    DataLayout(data).ensure()  # a data folder in use
    small_disk.fill()
    r = _enroll(data, tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "disk is full" in r.stderr and str(data / "gallery") in r.stderr
    assert not (data / "gallery" / "blair").exists()  # nothing half-enrolled
    small_disk.free()
    r = _enroll(data, tmp_path)  # with room it works
    assert r.returncode == 0, r.stderr
    assert (data / "gallery" / "blair" / "person.json").exists()


def test_enroll_on_a_read_only_data_folder_says_what_to_do(small_disk, tmp_path):
    if not small_disk.mounted:
        pytest.skip("needs a read-only mount (root)")
    data = small_disk.path
    DataLayout(data).ensure()
    subprocess.run(["mount", "-o", "remount,ro", str(data)], check=True)
    r = _enroll(data, tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert str(data / "gallery") in r.stderr and "read-only" in r.stderr and "--data-dir" in r.stderr
