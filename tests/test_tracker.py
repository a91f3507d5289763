"""IoU tracker with identity voting: fewer embeddings, no identity from one stray match."""

from __future__ import annotations

import numpy as np

from core.tracker import FaceTracker, iou_matrix

A = np.array([100, 100, 200, 220], np.float32)
B = np.array([400, 100, 500, 220], np.float32)


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    m = iou_matrix(np.array([A, B]), np.array([A, A + [50, 0, 50, 0]]))
    assert m[0, 0] == 1.0 and m[1, 0] == 0.0
    assert 0.3 < m[0, 1] < 0.4


def test_a_face_that_moves_a_little_keeps_its_track_and_a_new_face_gets_a_new_one():
    t = FaceTracker()
    (a,) = t.update([A])
    a2, b = t.update([A + 5, B])
    assert a2.track_id == a.track_id
    assert b.track_id != a.track_id


def test_identified_face_is_only_re_embedded_every_few_frames():
    t = FaceTracker(reverify_every=5, vote_window=5, vote_min=2)
    needs = []
    for _ in range(12):
        (asg,) = t.update([A])
        needs.append(asg.needs_embedding)
        if asg.needs_embedding:
            t.record(asg.track_id, "spg_1", 0.7)
    assert needs[:2] == [True, True]  # first two: settle the vote
    assert sum(needs) <= 5, needs  # then every 5th frame only (baseline: 12)
    assert t.identity(asg.track_id) == ("spg_1", 0.7)


def test_one_stray_false_match_reports_nobody():
    t = FaceTracker(vote_window=5, vote_min=2)
    (asg,) = t.update([A])
    t.record(asg.track_id, "spg_wrong", 0.5)
    assert t.identity(asg.track_id)[0] is None
    t.update([A])
    t.record(asg.track_id, None, 0.2)
    assert t.identity(asg.track_id)[0] is None
    t.update([A])
    t.record(asg.track_id, "spg_right", 0.8)
    t.update([A])
    t.record(asg.track_id, "spg_right", 0.75)
    assert t.identity(asg.track_id)[0] == "spg_right"


def test_unmatchable_faces_are_tracked_but_never_embedded():
    t = FaceTracker()
    for _ in range(3):
        (asg,) = t.update([A], matchable=[False])
        assert not asg.needs_embedding
    assert t.identity(asg.track_id) == (None, 0.0)


def test_track_ends_after_the_face_is_gone_for_a_few_frames():
    t = FaceTracker(max_missed=2)
    (a,) = t.update([A])
    for _ in range(3):
        t.update([])
    (again,) = t.update([A])
    assert again.track_id != a.track_id and again.needs_embedding
