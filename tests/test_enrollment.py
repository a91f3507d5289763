"""Enrollment and identification on real photos, with every real engine: the test pack, buffalo_s
(SCRFD-500M + w600k_mbf), the OpenCV pack (YuNet + SFace) and the dlib offline engine.

Must-show: each faces/ person enrolled from one photo -> >= 97 % (packs) / >= 85 % (dlib) of their
other photos identified as them, < 1 % as someone else; every bad input gives its error and leaves the
gallery unchanged. Expensive engines are session-scoped; each photo is embedded once per engine.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.accuracy import run as accuracy_run
from core.config import EngineConfig
from core.engine.factory import create_engine
from core.enrollment import EnrollmentError, enroll_photos, read_image, reindex
from core.gallery import Gallery
from core.identify import LiveMatcher, identify_image, matcher_for

MIN_IDENTIFIED = {"test_pack": 0.97, "buffalo_s": 0.97, "opencv": 0.97, "dlib": 0.85}


@pytest.fixture(scope="session", params=sorted(MIN_IDENTIFIED))
def engine_name(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def engine(engine_name, engine_for):
    return engine_for(engine_name)


@pytest.fixture(scope="session")
def accuracy(engine, faces_dir):
    return accuracy_run(engine, faces_dir, out=lambda _m: None)


@pytest.fixture(scope="session")
def bad_photos(tmp_path_factory, faces_dir) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad_photos")
    img = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg")
    cv2.imwrite(str(d / "tiny.png"), cv2.resize(img, (120, 120), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(d / "blurred.png"), cv2.GaussianBlur(img, (15, 15), 0))
    (d / "empty.jpg").write_bytes(b"")
    (d / "notes.jpg").write_text("this is a shopping list, not a photo")
    return {"tiny": d / "tiny.png", "blurred": d / "blurred.png", "empty": d / "empty.jpg", "text": d / "notes.jpg",
            "missing": d / "missing.jpg"}


def _snapshot(gallery: Gallery) -> tuple[str, dict[str, str]]:
    files = {str(p.relative_to(gallery.root)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(gallery.root.rglob("*")) if p.is_file() and p.name != ".lock"}
    return gallery.version(), files


def test_one_photo_per_person_identifies_their_other_photos(engine_name, accuracy):
    assert accuracy["enrolled"] == accuracy["people"] == 26  # every first photo is usable, background faces too
    assert accuracy["n_known"] >= 100
    assert accuracy["tmr"] >= MIN_IDENTIFIED[engine_name], accuracy
    assert accuracy["wrong"] < 0.01, accuracy
    assert accuracy["rank1"] >= accuracy["tmr"]


def test_people_not_enrolled_are_rarely_taken_for_someone(engine, accuracy):
    assert accuracy["n_unknown"] >= 50
    assert accuracy["fpir"] < 0.05, accuracy


@pytest.mark.parametrize("case,reason", [
    ("noface", "no_face"), ("group", "several_faces"), ("tiny", "too_small"), ("blurred", "too_blurred"),
    ("empty", "unreadable"), ("missing", "unreadable"), ("text", "not_image"),
])
def test_each_bad_photo_gives_its_error_and_leaves_the_gallery_unchanged(engine, tmp_path, faces_dir, shared_data,
                                                                          bad_photos, case, reason):
    gallery = Gallery(tmp_path / "gallery")
    enroll_photos(engine, gallery, "ayu", "Ayu", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    before = _snapshot(gallery)
    photo = {"noface": shared_data / "noface" / "coffee.png", "group": shared_data / "group" / "two_people.jpg"}.get(case) \
        or bad_photos[case]
    for spg_id in ("ayu", "budi"):  # adding to an existing SPG, and a new one
        with pytest.raises(EnrollmentError) as err:
            enroll_photos(engine, gallery, spg_id, "Someone" if spg_id == "budi" else "", [photo],
                          add_to_existing=spg_id == "ayu")
        assert err.value.reason == reason
        assert photo.name in str(err.value) and len(err.value.message) > 20
        assert _snapshot(gallery) == before
    assert [p.spg_id for p in gallery.people()] == ["ayu"]


def test_background_faces_do_not_stop_enrollment_and_the_main_face_is_kept(engine, tmp_path, faces_dir):
    gallery = Gallery(tmp_path / "gallery")
    # both have a second, smaller face near the edge of the photo
    for sid, photo in (("koizumi", "Junichiro_Koizumi/Junichiro_Koizumi_0001.jpg"),
                       ("lula", "Luiz_Inacio_Lula_da_Silva/Luiz_Inacio_Lula_da_Silva_0004.jpg")):
        report = enroll_photos(engine, gallery, sid, sid, [faces_dir / photo])
        x1, y1, x2, y2 = report.added[0].bbox
        assert abs((x1 + x2) / 2 - 125) < 40 and abs((y1 + y2) / 2 - 125) < 40  # the central face, not the bystander


def test_mixed_photos_keep_the_good_ones_and_strict_keeps_none(engine, tmp_path, faces_dir, shared_data):
    gallery = Gallery(tmp_path / "gallery")
    good = [faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg", faces_dir / "Tony_Blair" / "Tony_Blair_0002.jpg"]
    bad = shared_data / "noface" / "rocket.jpg"
    before = _snapshot(gallery)
    with pytest.raises(EnrollmentError, match="rocket.jpg"):
        enroll_photos(engine, gallery, "tony", "Tony", good + [bad], strict=True)
    assert _snapshot(gallery) == before
    report = enroll_photos(engine, gallery, "tony", "Tony", good + [bad])
    assert len(report.added) == 2 and [r.reason for _, r in report.rejected] == ["no_face"]
    assert gallery.get("tony").sample_count == 2
    assert any("rocket.jpg" in w for w in report.warnings)


def test_warns_when_the_face_already_matches_another_spg(engine, tmp_path, faces_dir):
    gallery = Gallery(tmp_path / "gallery")
    enroll_photos(engine, gallery, "ayu", "Ayu", [faces_dir / "George_W_Bush" / "George_W_Bush_0001.jpg"])
    report = enroll_photos(engine, gallery, "budi", "Budi", [faces_dir / "George_W_Bush" / "George_W_Bush_0002.jpg"])
    assert [s[0] for s in report.similar] == ["ayu"]
    assert any("already matches Ayu" in w for w in report.warnings)
    clean = enroll_photos(engine, gallery, "citra", "Citra", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    assert clean.similar == [] and clean.warnings == []


def test_identify_a_group_photo_and_hot_reload(engine, tmp_path, faces_dir, shared_data):
    gallery = Gallery(tmp_path / "gallery")
    live = LiveMatcher(gallery, engine)
    group = read_image(shared_data / "group" / "obama_and_biden.jpg")
    before = identify_image(engine, live.get(), group)
    assert before and all(f.result.as_tuple() == (False, None, 0.0) for f in before)  # empty gallery: faces, no match
    enroll_photos(engine, gallery, "obama", "Barack Obama", [faces_dir / "Barack_Obama" / "obama.jpg"])
    after = identify_image(engine, live.get(), group)  # no restart, no new matcher built by hand
    matched = [f for f in after if f.result.is_match]
    assert [f.result.spg_id for f in matched] == ["obama"]
    assert matched[0].face.bbox[0] > group.shape[1] / 2  # Obama stands on the right
    gallery.set_active("obama", False)
    assert not any(f.result.is_match for f in identify_image(engine, live.get(), group))


def test_reindex_adds_the_new_models_embeddings_with_progress(tmp_path, faces_dir, test_pack, tmp_path_factory):
    pack = create_engine(EngineConfig(kind="insightface", pack=str(test_pack)), tmp_path)
    dlib = create_engine(EngineConfig(kind="dlib"), tmp_path)
    gallery = Gallery(tmp_path / "gallery")
    enroll_photos(pack, gallery, "tony", "Tony", [faces_dir / "Tony_Blair" / "Tony_Blair_0001.jpg",
                                                  faces_dir / "Tony_Blair" / "Tony_Blair_0003.jpg"])
    enroll_photos(pack, gallery, "colin", "Colin", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    assert matcher_for(gallery, dlib).size == 0  # the gallery has nothing for the new model yet
    calls: list[tuple[int, int]] = []
    report = reindex(dlib, gallery, progress=lambda d, t: calls.append((d, t)))
    assert (report.done, report.failed) == (3, [])
    assert calls[0] == (0, 3) and calls[-1] == (3, 3)
    m = matcher_for(gallery, dlib)
    assert m.size == 3
    probe = read_image(faces_dir / "Tony_Blair" / "Tony_Blair_0002.jpg")
    hits = [f.result.spg_id for f in identify_image(dlib, m, probe) if f.result.is_match]
    assert hits == ["tony"]
    # the old model's embeddings are kept; a second reindex has nothing left to do
    assert matcher_for(gallery, pack).size == 3
    assert reindex(dlib, gallery).done == 0


def test_camera_frames_can_be_enrolled(engine, tmp_path, faces_dir):
    gallery = Gallery(tmp_path / "gallery")
    frame = read_image(faces_dir / "Colin_Powell" / "Colin_Powell_0002.jpg")
    report = enroll_photos(engine, gallery, "colin", "Colin", [frame], source="webcam")
    s = report.added[0]
    assert s.source == "webcam" and (gallery.root / "colin" / s.photo).is_file()
    assert np.asarray(cv2.imread(str(gallery.root / "colin" / s.crop))).shape[0] > 0
