"""Hostile or careless input to the gallery through the real CLI (issue 11 items 6, 9, 12 and 14).

Each test first shows the failure the issue reported (on the raw library call where the CLI no longer
allows it) and then what the user sees now: a refusal that names the problem and what to do, with the
gallery unchanged and every other SPG still recognised.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from core.gallery import Gallery, GalleryError
from tests.test_cli_faces import app
from tests.test_image_io import png_claiming

BUSH = "George_W_Bush"
POWELL = "Colin_Powell"


def photo(faces_dir, who: str, n: int):
    return faces_dir / who / f"{who}_{n:04d}.jpg"


def ids_of(cp) -> list:
    return [json.loads(x)["spg_id"] for x in cp.stdout.splitlines()]


# --- item 6: one bad embedding ---------------------------------------------------------------------------
def test_one_wrong_sized_embedding_is_skipped_reported_and_repaired_by_reindex(data_dir, test_pack, faces_dir):
    pack = ("--pack", test_pack)
    app("enroll", "--id", "bush", "--name", "George Bush", photo(faces_dir, BUSH, 1), *pack, data_dir=data_dir)
    app("enroll", "--id", "powell", "--name", "Colin Powell", photo(faces_dir, POWELL, 1), *pack, data_dir=data_dir)
    # damage powell's record the way the issue found it: a 64-value embedding among 128-value ones
    rec_file = data_dir / "gallery" / "powell" / "person.json"
    rec = json.loads(rec_file.read_text())
    (model_id,) = rec["samples"][0]["embeddings"]
    rec["samples"][0]["embeddings"][model_id] = base64.b64encode(np.ones(64, "<f4").tobytes()).decode()
    rec_file.write_text(json.dumps(rec))
    gallery = Gallery(data_dir / "gallery")
    gallery._bump()

    # the failure: building the matcher raised "mixed sizes", so nobody was identified
    ids, mat = gallery.matrix(model_id)
    assert ids == ["bush"] and mat.shape == (1, 128)
    assert any("powell" in p and "64-value embedding" in p and "reindex" in p for p in gallery.problems)

    probes = (photo(faces_dir, BUSH, 2), photo(faces_dir, POWELL, 3))
    assert ids_of(app("identify", *probes, *pack, data_dir=data_dir)) == ["bush", None]
    listed = app("gallery", "list", *pack, data_dir=data_dir)
    assert "powell" in listed.stderr and "64-value embedding" in listed.stderr

    fixed = app("gallery", "reindex", *pack, data_dir=data_dir)
    assert "re-indexed 1 photo(s)" in fixed.stdout
    assert ids_of(app("identify", *probes, *pack, data_dir=data_dir)) == ["bush", "powell"]
    assert Gallery(data_dir / "gallery").matrix(model_id, 128)[1].shape == (2, 128)


def test_a_bad_sample_is_logged_once_per_gallery_version(tmp_path, caplog):
    from tests.test_gallery import MODEL, _sample

    g = Gallery(tmp_path / "g")
    g.add_samples("ayu", "Ayu", [_sample(1)])
    g.add_samples("budi", "Budi", [_sample(2, dim=4)])
    with caplog.at_level("ERROR", logger="core.gallery"):
        for _ in range(5):  # the inference server asks every 0.3 s
            assert g.matrix(MODEL, 8)[0] == ["ayu"]
    assert len([r for r in caplog.records if "budi" in r.getMessage()]) == 1
    assert len(g.problems) == 1


# --- item 9: hostile image files -------------------------------------------------------------------------
def test_huge_pngs_are_refused_by_name_and_identify_goes_on_with_the_other_files(data_dir, test_pack, faces_dir,
                                                                                  tmp_path):
    pack = ("--pack", test_pack)
    bomb, big = tmp_path / "bomb.png", tmp_path / "big.png"
    png_claiming(bomb, 60000, 60000)
    png_claiming(big, 20000, 20000)
    app("enroll", "--id", "bush", "--name", "George Bush", photo(faces_dir, BUSH, 1), *pack, data_dir=data_dir)

    cp = app("identify", bomb, big, photo(faces_dir, BUSH, 2), *pack, data_dir=data_dir, check_rc=1)
    assert "Traceback" not in cp.stderr and "cv2.error" not in cp.stderr
    assert "bomb.png" in cp.stderr and "60000 x 60000" in cp.stderr and "40 million pixels" in cp.stderr
    assert "big.png" in cp.stderr and "20000 x 20000" in cp.stderr
    assert ids_of(cp) == ["bush"]  # the file after them was still identified

    before = sorted(p.name for p in (data_dir / "gallery").rglob("*"))
    cp = app("enroll", "--id", "x", "--name", "X", bomb, *pack, data_dir=data_dir, check_rc=2)
    assert "bomb.png" in cp.stderr and "max_image_megapixels" in cp.stderr and "Traceback" not in cp.stderr
    assert sorted(p.name for p in (data_dir / "gallery").rglob("*")) == before


# --- item 12: an existing id never silently merges another person ---------------------------------------
def test_an_existing_id_needs_add_to_existing_keeps_its_name_and_refuses_another_face(data_dir, test_pack,
                                                                                      faces_dir):
    pack = ("--pack", test_pack)
    app("enroll", "--id", "ok_id", "--name", "George Bush", photo(faces_dir, BUSH, 1), *pack, data_dir=data_dir)
    record = (data_dir / "gallery" / "ok_id" / "person.json").read_bytes()

    # the reported failure: same id, another name and another person's face -> renamed and merged, exit 0
    cp = app("enroll", "--id", "ok_id", "--name", "Someone Else", photo(faces_dir, POWELL, 1), *pack,
             data_dir=data_dir, check_rc=2)
    assert "'ok_id' is already enrolled as 'George Bush' (1 photo(s))" in cp.stderr
    assert "--add-to-existing" in cp.stderr
    assert (data_dir / "gallery" / "ok_id" / "person.json").read_bytes() == record

    cp = app("enroll", "--id", "ok_id", "--name", "Someone Else", "--add-to-existing", photo(faces_dir, BUSH, 2),
             *pack, data_dir=data_dir, check_rc=2)
    assert "never renames" in cp.stderr and "'George Bush'" in cp.stderr

    cp = app("enroll", "--id", "ok_id", "--add-to-existing", photo(faces_dir, POWELL, 1), *pack,
             data_dir=data_dir, check_rc=2)
    assert "does not match any enrolled photo of George Bush (ok_id)" in cp.stderr
    assert (data_dir / "gallery" / "ok_id" / "person.json").read_bytes() == record

    cp = app("enroll", "--id", "ok_id", "--add-to-existing", photo(faces_dir, BUSH, 2), photo(faces_dir, POWELL, 2),
             *pack, data_dir=data_dir)
    assert "added photos to ok_id (George Bush): 1 photo(s) added, 2 in total" in cp.stdout
    assert "Colin_Powell_0002.jpg" in cp.stderr and "does not match" in cp.stderr
    person = Gallery(data_dir / "gallery").get("ok_id")
    assert person.name == "George Bush" and person.sample_count == 2


# --- item 14: ids that break or collide on Windows ------------------------------------------------------
@pytest.mark.parametrize("bad", ["CON", "nul", "Com1", "LPT9", "aux.txt", "x.", "prn"])
def test_windows_device_names_and_a_final_dot_are_refused(tmp_path, bad):
    g = Gallery(tmp_path / "g")
    with pytest.raises(GalleryError, match="not allowed") as exc:
        g.add(bad, "Someone")
    assert repr(bad) in str(exc.value) and ("Windows" in str(exc.value))
    assert not any((tmp_path / "g").glob("*/person.json"))


def test_ids_differing_only_in_case_are_refused(data_dir, test_pack, faces_dir):
    pack = ("--pack", test_pack)
    app("enroll", "--id", "ayu", "--name", "Ayu", photo(faces_dir, BUSH, 1), *pack, data_dir=data_dir)
    cp = app("enroll", "--id", "AYU", "--name", "Another Ayu", photo(faces_dir, POWELL, 1), *pack,
             data_dir=data_dir, check_rc=2)
    assert "'AYU' differs from the enrolled 'ayu' only in upper/lower case" in cp.stderr
    assert [p.name for p in (data_dir / "gallery").iterdir() if p.is_dir() and not p.name.startswith(".")] == ["ayu"]
    cp = app("enroll", "--id", "CON", "--name", "Con", photo(faces_dir, POWELL, 1), *pack, data_dir=data_dir,
             check_rc=2)
    assert "device name on Windows" in cp.stderr


def test_the_console_asks_before_adding_photos_to_an_enrolled_id(qtbot, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from core.config import AppConfig
    from core.enrollment import EnrollReport
    from tests.ui_fakes import FakeGallery
    from ui import enroll_dialogs
    from ui.engine_service import EngineService

    calls, asked = [], []
    monkeypatch.setattr(enroll_dialogs, "run_enrollment",
                        lambda eng, gal, sid, name, photos, cfg=None, source="photo", add_to_existing=False:
                        calls.append((sid, name, add_to_existing)) or EnrollReport(spg_id=sid, name=name))
    answer = [QMessageBox.StandardButton.No]
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or answer[0])
    engine = EngineService(AppConfig(), tmp_path, factory=lambda c, d: None)
    dlg = enroll_dialogs.PhotoEnrollDialog(engine, FakeGallery({"ok_id": "George Bush"}), spg_id="ok_id",
                                           name="Someone Else", photos=[tmp_path / "p.jpg"])
    qtbot.addWidget(dlg)
    dlg.save()  # declined: nothing is enrolled
    assert asked and "ok_id already belongs to George Bush" in asked[0]
    assert calls == [] and "Nothing saved" in dlg.message.text()
    answer[0] = QMessageBox.StandardButton.Yes
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=10000)
    assert calls == [("ok_id", "George Bush", True)]  # added to that SPG, never renamed to "Someone Else"
    dlg.fields.id_edit.setText("new_id")
    asked.clear()
    dlg.save()
    qtbot.waitUntil(lambda: not dlg.busy, timeout=10000)
    assert asked == [] and calls[-1] == ("new_id", "Someone Else", False)
    engine.shutdown()
