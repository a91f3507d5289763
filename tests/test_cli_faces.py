"""The headless CLI contract: app.py enroll / identify / gallery / models, exactly as later checks call it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def app(*args, data_dir: Path, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    cp = subprocess.run([sys.executable, str(REPO / "app.py"), *map(str, args), "--data-dir", str(data_dir)],
                        cwd=REPO, capture_output=True, text=True, timeout=300)
    if check_rc is not None:
        assert cp.returncode == check_rc, cp.stderr
    return cp


def test_enroll_identify_list_remove(data_dir, test_pack, faces_dir, shared_data):
    pack = ("--pack", test_pack)
    out = app("enroll", "--id", "obama", "--name", "Barack Obama", faces_dir / "Barack_Obama" / "obama.jpg", *pack,
              data_dir=data_dir).stdout
    assert "enrolled obama (Barack Obama)" in out
    app("enroll", "--id", "bush", "--name", "George Bush", faces_dir / "George_W_Bush" / "George_W_Bush_0001.jpg", *pack,
        data_dir=data_dir)

    group = shared_data / "group" / "obama_and_biden.jpg"
    bush2 = faces_dir / "George_W_Bush" / "George_W_Bush_0002.jpg"
    cp = app("identify", group, bush2, shared_data / "noface" / "coffee.png", *pack, data_dir=data_dir)
    rows = [json.loads(line) for line in cp.stdout.splitlines()]
    assert all(set(r) == {"file", "bbox", "spg_id", "similarity"} for r in rows)
    in_group = [r for r in rows if r["file"] == str(group)]
    assert 2 <= len(in_group) <= 4
    assert [r["spg_id"] for r in in_group if r["spg_id"]] == ["obama"]
    assert all(len(r["bbox"]) == 4 and r["bbox"][0] < r["bbox"][2] and r["bbox"][1] < r["bbox"][3] for r in rows)
    assert [r["spg_id"] for r in rows if r["file"] == str(bush2)] == ["bush"]
    assert not [r for r in rows if "coffee" in r["file"]]  # no face, no line
    assert all(isinstance(r["similarity"], float) for r in rows)

    listed = app("gallery", "list", "--json", data_dir=data_dir).stdout.splitlines()
    assert sorted(json.loads(x)["spg_id"] for x in listed) == ["bush", "obama"]
    assert "removed bush" in app("gallery", "remove", "bush", data_dir=data_dir).stdout
    assert not (data_dir / "gallery" / "bush").exists()
    gone = app("gallery", "remove", "bush", data_dir=data_dir, check_rc=2)
    assert "no SPG with id 'bush'" in gone.stderr
    again = app("identify", bush2, *pack, data_dir=data_dir)
    assert [json.loads(x)["spg_id"] for x in again.stdout.splitlines()] == [None]


def test_a_bad_photo_is_refused_with_its_reason_and_nothing_changes(data_dir, test_pack, shared_data):
    cp = app("enroll", "--id", "x", "--name", "X", shared_data / "group" / "two_people.jpg", "--pack", test_pack,
             data_dir=data_dir, check_rc=2)
    assert "more than one face" in cp.stderr and "Nothing was enrolled" in cp.stderr
    assert not any((data_dir / "gallery").glob("*/person.json"))


def test_models_import_check_and_reindex_after_a_model_change(data_dir, test_pack, faces_dir, tmp_path):
    z = tmp_path / "test_pack.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in test_pack.iterdir():
            zf.write(f, f.name)
    assert "installed test_pack" in app("models", "import", z, data_dir=data_dir).stdout
    assert "test_pack" in app("models", "list", data_dir=data_dir).stdout
    check = app("models", "check", "--pack", "test_pack", data_dir=data_dir).stdout
    assert "model_id=insightface/mobilefacenet_foamliu" in check and "provider=CPUExecutionProvider" in check
    # enrolled with the pack, then the console switches to the offline engine: reindex makes it usable
    app("enroll", "--id", "colin", "--name", "Colin", faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg",
        "--pack", "test_pack", data_dir=data_dir)
    cfg = tmp_path / "dlib.yaml"
    cfg.write_text("engine:\n  kind: dlib\n")
    probe = faces_dir / "Colin_Powell" / "Colin_Powell_0003.jpg"
    before = app("identify", probe, "--config", cfg, data_dir=data_dir).stdout
    assert [json.loads(x)["spg_id"] for x in before.splitlines()] == [None]
    out = app("gallery", "reindex", "--config", cfg, data_dir=data_dir)
    assert "re-indexed 1 photo(s) for dlib/" in out.stdout
    after = app("identify", probe, "--config", cfg, data_dir=data_dir).stdout
    assert [json.loads(x)["spg_id"] for x in after.splitlines()] == ["colin"]


def test_missing_pack_is_one_clear_line(data_dir):
    cp = app("models", "check", "--config", REPO / "configs" / "app.yaml", "--pack", str(data_dir / "no_such_pack"),
             data_dir=data_dir, check_rc=None)
    # engine: auto falls back to dlib when the pack is missing; insightface must say how to get a pack
    assert cp.returncode == 0 and "engine=dlib" in cp.stdout
    cfg = data_dir / "if.yaml"
    cfg.write_text("engine:\n  kind: insightface\n  pack: buffalo_l\n")
    cp = app("identify", REPO / "README.md", "--config", cfg, data_dir=data_dir, check_rc=2)
    assert cp.stderr.startswith("error: ") and "models download" in cp.stderr and "Traceback" not in cp.stderr
