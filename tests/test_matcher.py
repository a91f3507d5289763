"""core.matcher: the vectorised faces x samples match with threshold and margin."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.base import l2_normalise
from core.matcher import Matcher, empty_matcher


def _unit(*v):
    return l2_normalise(np.array(v, dtype=np.float32))


def test_empty_gallery_is_no_match_and_keeps_going():
    m = empty_matcher(4, threshold=0.5, margin=0.05)
    res = m.match(l2_normalise(np.random.default_rng(0).normal(size=(3, 4))))
    assert [r.as_tuple() for r in res] == [(False, None, 0.0)] * 3
    assert m.match_one(_unit(1, 0, 0, 0)).as_tuple() == (False, None, 0.0)


def test_clear_match_returns_person_and_similarity():
    m = Matcher(["ayu", "budi"], np.stack([_unit(1, 0, 0), _unit(0, 1, 0)]), threshold=0.5, margin=0.05)
    r = m.match_one(_unit(1, 0.1, 0))
    assert r.is_match and r.spg_id == "ayu"
    assert r.similarity == pytest.approx(float(_unit(1, 0.1, 0) @ _unit(1, 0, 0)), abs=1e-5)


def test_below_threshold_is_not_a_match_but_reports_nearest():
    m = Matcher(["ayu", "budi"], np.stack([_unit(1, 0, 0), _unit(0, 1, 0)]), threshold=0.9, margin=0.0)
    r = m.match_one(_unit(1, 1, 0.5))
    assert not r.is_match and r.spg_id is None
    assert r.nearest_id in ("ayu", "budi") and 0 < r.similarity < 0.9


def test_margin_makes_an_ambiguous_face_a_non_match():
    gallery = np.stack([_unit(1, 0, 0), _unit(0, 1, 0)])
    q = _unit(1, 0.95, 0)  # almost equally close to both, well above the threshold
    assert not Matcher(["ayu", "budi"], gallery, threshold=0.5, margin=0.1).match_one(q).is_match
    r = Matcher(["ayu", "budi"], gallery, threshold=0.5, margin=0.0).match_one(q)
    assert r.is_match and r.spg_id == "ayu"


def test_per_person_best_sample_counts_not_the_sample_count():
    # budi has three mediocre samples, ayu one excellent one: ayu wins, and budi's many samples do not
    # count as a "second-best person" against ayu's margin
    ids = ["budi", "ayu", "budi", "budi"]
    emb = np.stack([_unit(0.6, 0.8, 0), _unit(1, 0, 0), _unit(0.5, 0, 0.87), _unit(0, 1, 0)])
    m = Matcher(ids, emb, threshold=0.5, margin=0.2, scoring="best")
    assert m.people == ["ayu", "budi"]
    scores = m.person_scores(_unit(1, 0, 0))
    assert scores.shape == (1, 2)
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)  # ayu's best
    assert scores[0, 1] == pytest.approx(0.6, abs=1e-5)  # budi's BEST sample, not the mean or the sum
    r = m.match_one(_unit(1, 0, 0))
    assert r.is_match and r.spg_id == "ayu"


def test_all_faces_of_a_frame_in_one_call():
    rng = np.random.default_rng(1)
    emb = l2_normalise(rng.normal(size=(5, 16)))
    m = Matcher([f"p{i}" for i in range(5)], emb, threshold=0.9, margin=0.05)
    res = m.match(emb[[3, 0, 4]])
    assert [r.spg_id for r in res] == ["p3", "p0", "p4"]
    assert m.match(np.zeros((0, 16), np.float32)) == []


def test_dimension_mismatch_is_a_clear_error():
    m = Matcher(["ayu"], np.stack([_unit(1, 0, 0, 0)]), threshold=0.5)
    with pytest.raises(ValueError, match="reindex"):
        m.match(l2_normalise(np.ones((1, 3), np.float32)))


def test_rows_and_ids_must_agree():
    with pytest.raises(ValueError):
        Matcher(["a", "b"], np.zeros((3, 4), np.float32), threshold=0.5)


def test_template_scoring_scores_against_the_mean_of_a_persons_samples():
    # ayu enrolled from two photos: the probe lies between them, nearer their mean than either photo
    ids = ["ayu", "ayu", "budi"]
    emb = np.stack([_unit(1, 0.3, 0), _unit(1, -0.3, 0), _unit(0, 0, 1)])
    probe = _unit(1, 0, 0.05)
    best = Matcher(ids, emb, threshold=0.5, scoring="best").person_scores(probe)[0, 0]
    template = Matcher(ids, emb, threshold=0.5, scoring="template").person_scores(probe)[0, 0]
    assert template == pytest.approx(float(probe @ _unit(1, 0, 0)), abs=1e-5)
    assert template > best
    both = Matcher(ids, emb, threshold=0.5, scoring="best+template").person_scores(probe)[0, 0]
    assert both == pytest.approx((best + template) / 2, abs=1e-5)
    with pytest.raises(ValueError, match="scoring"):
        Matcher(ids, emb, threshold=0.5, scoring="mean")  # type: ignore[arg-type]


def test_a_negative_sample_stops_the_wrong_name_and_only_near_it():
    ids, emb = ["ayu", "budi"], np.stack([_unit(1, 0, 0, 0), _unit(0, 1, 0, 0)])
    stranger = _unit(1, 0, 0.7, 0)  # looks like ayu (0.82) but is someone else
    other_ayu_photo = _unit(1, 0.1, -0.2, 0)
    before = Matcher(ids, emb, threshold=0.5, margin=0.05)
    assert before.match_one(stranger).spg_id == "ayu"
    after = Matcher(ids, emb, threshold=0.5, margin=0.05, negative_person_ids=["ayu"], negatives=stranger[None, :])
    r = after.match_one(stranger)
    assert not r.is_match and r.spg_id is None and r.vetoed == ("ayu",)
    near = after.match_one(_unit(1, 0, 0.8, 0.05))  # the same stranger on the next frames
    assert near.spg_id is None and near.vetoed == ("ayu",)
    assert after.match_one(other_ayu_photo).spg_id == "ayu"  # ayu herself is still recognised
    assert after.match_one(_unit(0.1, 1, 0, 0)).spg_id == "budi"


def test_a_vetoed_person_leaves_the_ranking_to_the_others():
    ids, emb = ["ayu", "budi"], np.stack([_unit(1, 0.2, 0), _unit(0.2, 1, 0)])
    q = _unit(1, 0.9, 0)  # ambiguous between ayu and budi: no match while both compete
    assert not Matcher(ids, emb, threshold=0.5, margin=0.1).match_one(q).is_match
    m = Matcher(ids, emb, threshold=0.5, margin=0.1, negative_person_ids=["ayu"], negatives=q[None, :])
    r = m.match_one(q)
    assert r.is_match and r.spg_id == "budi"  # ayu excluded: budi has no competitor left
    # negatives of someone without active samples (deactivated) veto nobody
    m2 = Matcher(["budi"], emb[1:], threshold=0.5, negative_person_ids=["ayu"], negatives=q[None, :])
    assert m2.negative_count == 0 and m2.match_one(q).spg_id == "budi"
    with pytest.raises(ValueError):
        Matcher(ids, emb, threshold=0.5, negative_person_ids=["ayu", "budi"], negatives=q[None, :])
