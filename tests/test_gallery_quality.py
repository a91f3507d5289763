"""Gallery quality in core: negative samples on disk and in the matcher, look-alike pairs, visitors,
unknown-face embeddings under retention, and the multi-sample figure in the README."""

from __future__ import annotations

import os
import re
import shutil
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from core.config import EngineConfig, StorageConfig
from core.engine.base import l2_normalise
from core.engine.factory import create_engine
from core.enrollment import enroll_photos, read_image
from core.gallery import Gallery
from core.identify import embed_face_crop, identify_image, matcher_for
from core.lookalikes import gallery_lookalikes, lookalike_pairs, lookalikes_of
from core.unknown_faces import list_unknown, load_embedding, prune_unknown, store_embedding
from core.visitors import Sighting, group_visitors

REPO = Path(__file__).resolve().parent.parent


def _unit(*v):
    return l2_normalise(np.array(v, dtype=np.float32))


@pytest.fixture(scope="module")
def engine(test_pack, tmp_path_factory):
    return create_engine(EngineConfig(kind="insightface", pack=str(test_pack)), tmp_path_factory.mktemp("engine"))


# --- look-alikes -------------------------------------------------------------------------------------
def test_lookalike_pairs_are_the_spgs_closer_than_threshold_minus_margin():
    ids = ["ayu", "ayu", "budi", "citra"]
    mat = np.stack([_unit(1, 0, 0), _unit(0.9, 0.1, 0.4), _unit(0.8, 0.6, 0), _unit(0, 0, 1)])
    pairs = lookalike_pairs(ids, mat, threshold=0.85, margin=0.1)  # limit 0.75
    assert [(p.spg_a, p.spg_b) for p in pairs] == [("ayu", "budi")]
    assert pairs[0].similarity == pytest.approx(0.8, abs=1e-5)  # the CLOSEST pair of samples counts
    assert lookalike_pairs(ids, mat, threshold=0.95, margin=0.1) == []  # 0.8 < 0.85: told apart
    # at enrollment: the new faces of budi would be confused with ayu (named), not with citra
    assert [h[0] for h in lookalikes_of(mat[2:3], ids, mat, "budi", 0.85, 0.1)] == ["ayu"]
    assert lookalikes_of(mat[3:4], ids, mat, "citra", 0.85, 0.1) == []


def test_serena_and_venus_williams_are_a_lookalike_pair_and_enrollment_names_the_other(engine, tmp_path, faces_dir):
    g = Gallery(tmp_path / "gallery")
    enroll_photos(engine, g, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    enroll_photos(engine, g, "colin", "Colin Powell", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    report = enroll_photos(engine, g, "serena", "Serena Williams", [faces_dir / "Serena_Williams" / "Serena_Williams_0001.jpg"])
    assert [s[0] for s in report.similar] == ["venus"]
    assert any("Venus Williams" in w and "confused" in w for w in report.warnings)
    pairs = gallery_lookalikes(g, engine.info.model_id, engine.info.threshold, engine.info.margin)
    assert [(p.spg_a, p.spg_b) for p in pairs] == [("serena", "venus")]


# --- negative samples --------------------------------------------------------------------------------
def test_not_this_person_on_real_faces_stops_the_wrong_name_and_survives_a_reload(engine, tmp_path, faces_dir):
    """Venus is an SPG; Serena, a customer, is named Venus. Marked once as 'not Venus', Serena is not
    named Venus in that photo or her other photos, and Venus is still recognised; also after a restart."""
    root = tmp_path / "gallery"
    g = Gallery(root)
    enroll_photos(engine, g, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    serena = read_image(faces_dir / "Serena_Williams" / "Serena_Williams_0005.jpg")
    wrong = identify_image(engine, matcher_for(g, engine), serena)
    assert [f.result.spg_id for f in wrong if f.result.is_match] == ["venus"]  # the mistake to correct
    x1, y1, x2, y2 = [int(v) for v in wrong[0].face.bbox]
    emb, _chip = embed_face_crop(engine, serena[max(0, y1 - 20):y2 + 20, max(0, x1 - 20):x2 + 20])
    g.add_negative("venus", emb, engine.info.model_id, serena[y1:y2, x1:x2], source="camera")

    restarted = Gallery(root)  # another process / the next start reads it from disk
    assert [n.source for n in restarted.negatives("venus")] == ["camera"]
    assert restarted.negative_crop_path("venus", restarted.negatives("venus")[0]).is_file()
    m = matcher_for(restarted, engine)
    assert m.negative_count == 1
    assert not any(f.result.is_match for f in identify_image(engine, m, serena))
    shifted = np.roll(serena, 6, axis=1)  # the next frames: the same face a little moved
    assert not any(f.result.is_match for f in identify_image(engine, m, shifted))
    other_serena = read_image(faces_dir / "Serena_Williams" / "Serena_Williams_0001.jpg")
    assert not any(f.result.spg_id == "venus" for f in identify_image(engine, m, other_serena))
    for k in ("0002", "0006"):
        venus = read_image(faces_dir / "Venus_Williams" / f"Venus_Williams_{k}.jpg")
        assert [f.result.spg_id for f in identify_image(engine, m, venus) if f.result.is_match] == ["venus"]

    # reversible: removing the mark gives the old behaviour back
    restarted.remove_negative("venus", restarted.negatives("venus")[0].id)
    assert not (root / "venus" / "negatives").exists() or not any((root / "venus" / "negatives").iterdir())
    assert [f.result.spg_id for f in identify_image(engine, matcher_for(Gallery(root), engine), serena)] == ["venus"]


def test_reindex_re_embeds_negative_samples_for_the_new_model(engine, tmp_path, faces_dir):
    from core.enrollment import reindex

    g = Gallery(tmp_path / "gallery")
    enroll_photos(engine, g, "venus", "Venus Williams", [faces_dir / "Venus_Williams" / "Venus_Williams_0001.jpg"])
    serena = read_image(faces_dir / "Serena_Williams" / "Serena_Williams_0005.jpg")
    emb, _ = embed_face_crop(engine, serena)
    g.add_negative("venus", emb, engine.info.model_id, serena, source="unknown")
    dlib = create_engine(EngineConfig(kind="dlib"), tmp_path)
    report = reindex(dlib, g)
    assert report.failed == []
    [neg] = g.negatives("venus")
    assert set(neg.embeddings) == {engine.info.model_id, dlib.info.model_id}
    assert matcher_for(g, dlib).negative_count == 1  # the mark keeps working on the new model


def test_removing_an_spg_removes_their_negative_samples(tmp_path):
    g = Gallery(tmp_path / "gallery")
    g.add("ayu", "Ayu")
    neg = g.add_negative("ayu", _unit(1, 0, 0), "m", np.zeros((40, 40, 3), np.uint8), source="unknown")
    crop = g.negative_crop_path("ayu", neg)
    assert crop.is_file() and g.negative_matrix("m")[0] == ["ayu"]
    g.set_active("ayu", False)
    assert g.negative_matrix("m")[0] == []  # a deactivated SPG's negatives veto nobody
    g.remove("ayu")
    assert not crop.exists() and not (tmp_path / "gallery" / "ayu").exists()


# --- visitors ----------------------------------------------------------------------------------------
def test_visitors_group_crops_of_the_same_face_and_count_today(tmp_path):
    day1 = datetime(2026, 3, 2, 10, 0).timestamp()
    day2 = datetime(2026, 3, 3, 9, 0).timestamp()
    a, b = _unit(1, 0, 0, 0), _unit(0, 1, 0, 0)
    s = [
        Sighting(tmp_path / "1.jpg", day1, "cam1", _unit(1, 0.1, 0, 0)),
        Sighting(tmp_path / "2.jpg", day1 + 60, "cam2", b),
        Sighting(tmp_path / "3.jpg", day2, "cam1", _unit(1, -0.1, 0.1, 0)),
        Sighting(tmp_path / "4.jpg", day2 + 30, "cam2", a),
        Sighting(tmp_path / "5.jpg", day2 + 40, "cam1", None),  # no embedding (yet): a visitor of its own
    ]
    visitors = group_visitors(s, threshold=0.8)
    by_number = {v.number: v for v in visitors}
    assert sorted(by_number) == [1, 2, 3]  # numbered by first sighting
    assert [p.name for p in by_number[1].crops] == ["1.jpg", "3.jpg", "4.jpg"]
    assert by_number[1].cameras == ["cam1", "cam2"] and by_number[1].repeat
    assert by_number[1].seen_on(day2 + 3600) == 2 and by_number[1].seen_on(day1) == 1
    assert [p.name for p in by_number[2].crops] == ["2.jpg"] and not by_number[2].repeat
    assert visitors[0].number == 3  # the panel shows the most recently seen first
    assert group_visitors(s, threshold=0.9999)[0].number == 5  # stricter: every crop its own visitor
    assert group_visitors([], 0.5) == []


def test_crop_embeddings_go_with_their_crops_under_retention(tmp_path):
    storage = StorageConfig(unknown_retention_days=7, unknown_max=10)
    old, fresh = tmp_path / "cam1__old_1.jpg", tmp_path / "cam1__new_2.jpg"
    for p, age in ((old, 10), (fresh, 1)):
        p.write_bytes(b"\xff\xd8 jpeg")
        store_embedding(p, "m", _unit(1, 2, 3))
        t = time.time() - age * 86400
        os.utime(p, (t, t))
    assert load_embedding(fresh, "m") == pytest.approx(_unit(1, 2, 3))
    assert load_embedding(fresh, "another-model") is None
    assert prune_unknown(tmp_path, storage) == 1
    assert not old.exists() and not old.with_suffix(".json").exists()  # the embedding went with the crop
    assert [c.path for c in list_unknown(tmp_path, storage)] == [fresh] and fresh.with_suffix(".json").exists()


# --- several samples per SPG --------------------------------------------------------------------------
def test_readme_has_the_multi_sample_figure_from_the_benchmark():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Several photos per SPG"):]
    section = section[:section.index("\n## ")] if "\n## " in section else section
    assert "benchmarks/multi_sample.py" in section
    for scoring in ("best", "template", "best+template"):
        assert re.search(rf"\|\s*{re.escape(scoring)}\s*\|", section), scoring
    from core.matcher import DEFAULT_SCORING

    assert f"`{DEFAULT_SCORING}`" in section  # the README names the scoring the matcher uses


def test_multi_sample_benchmark_runs_side_by_side_on_the_test_pack(engine, faces_dir, tmp_path):
    from benchmarks.multi_sample import run

    people = ["Colin_Powell", "George_W_Bush", "Laura_Bush", "Serena_Williams", "Tony_Blair", "Venus_Williams"]
    for name in people:  # a few people (a quick run); the README's figure is over all of faces/
        shutil.copytree(faces_dir / name, tmp_path / name)
    res = run(engine, tmp_path, samples=3, out=lambda _m: None)
    assert set(res) == {"best", "template", "best+template"}
    for r in res.values():
        assert r["rank1"] >= 0.9 and r["tmr_cal"] >= 0.9
        assert r["fpir_same"] <= res["best"]["fpir_cal"] + 1e-9  # compared at the same false-match rate
