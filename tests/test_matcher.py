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
    m = Matcher(ids, emb, threshold=0.5, margin=0.2)
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
