"""core.gallery: SPGs and samples on disk, atomic writes, damaged records, hot-reload stamp, deletion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from core.gallery import Gallery, GalleryError, NewSample

REPO = Path(__file__).resolve().parent.parent
MODEL = "test/model"


def _sample(seed: int, model_id: str = MODEL, dim: int = 8) -> NewSample:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=dim).astype(np.float32)
    return NewSample(embedding=v / np.linalg.norm(v), model_id=model_id,
                     crop_bgr=rng.integers(0, 255, (112, 112, 3), dtype=np.uint8),
                     photo_bytes=b"\xff\xd8original photo bytes", photo_suffix=".jpg", bbox=[1, 2, 3, 4])


@pytest.fixture
def gallery(tmp_path) -> Gallery:
    return Gallery(tmp_path / "gallery")


def test_people_samples_and_files(gallery):
    gallery.add_samples("ayu", "Ayu Lestari", [_sample(1), _sample(2)])
    gallery.add_samples("budi", "Budi", [_sample(3)])
    assert [(p.spg_id, p.name, p.sample_count) for p in gallery.people()] == [("ayu", "Ayu Lestari", 2), ("budi", "Budi", 1)]
    ayu = gallery.get("ayu")
    for s in ayu.samples:
        assert (gallery.root / "ayu" / s.photo).read_bytes() == b"\xff\xd8original photo bytes"
        assert (gallery.root / "ayu" / s.crop).stat().st_size > 0
    assert gallery.thumbnail_path("ayu").is_file()
    assert gallery.get("nobody") is None and gallery.thumbnail_path("nobody") is None


def test_matrix_rows_match_people_active_only_and_per_model(gallery):
    gallery.add_samples("ayu", "Ayu", [_sample(1), _sample(2)])
    gallery.add_samples("budi", "Budi", [_sample(3)])
    gallery.add_samples("citra", "Citra", [_sample(4, model_id="other/model", dim=4)])
    ids, mat = gallery.matrix(MODEL)
    assert sorted(ids) == ["ayu", "ayu", "budi"] and mat.shape == (3, 8) and mat.dtype == np.float32
    row = ids.index("budi")
    assert np.allclose(mat[row], _sample(3).embedding)
    gallery.set_active("ayu", False)
    assert gallery.matrix(MODEL)[0] == ["budi"]
    assert gallery.matrix("other/model")[0] == ["citra"]
    assert gallery.missing_embeddings(MODEL) == 1  # citra needs a reindex for this model


def test_version_changes_on_every_write(gallery):
    seen = {gallery.version()}
    gallery.add_samples("ayu", "Ayu", [_sample(1)])
    for change in (lambda: gallery.rename("ayu", "Ayu L."), lambda: gallery.set_active("ayu", False),
                   lambda: gallery.set_notes("ayu", "morning shift"), lambda: gallery.add_samples("ayu", "", [_sample(2)]),
                   lambda: gallery.remove("ayu")):
        seen.add(gallery.version())
        change()
        assert gallery.version() not in seen
    assert gallery.get("ayu") is None


def test_a_write_by_another_process_is_seen_without_reopening(gallery):
    gallery.add_samples("ayu", "Ayu", [_sample(1)])
    before = gallery.version()
    assert gallery.names() == {"ayu": "Ayu"}
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from pathlib import Path; from core.gallery import Gallery;"
        "Gallery(Path(sys.argv[2])).rename('ayu', 'Ayu from the other process')"
    )
    subprocess.run([sys.executable, "-c", code, str(REPO), str(gallery.root)], check=True, timeout=60)
    assert gallery.version() != before
    assert gallery.get("ayu").name == "Ayu from the other process"


def test_damaged_record_is_reported_and_skipped_never_destroyed(gallery):
    gallery.add_samples("ayu", "Ayu", [_sample(1)])
    gallery.add_samples("budi", "Budi", [_sample(2)])
    record = gallery.root / "budi" / "person.json"
    half = record.read_text()[:40]  # a half-written file
    record.write_text(half)
    g2 = Gallery(gallery.root)
    assert [p.spg_id for p in g2.people()] == ["ayu"]
    assert len(g2.problems) == 1 and "budi" in g2.problems[0]
    assert record.read_text() == half  # left for a human to look at
    assert g2.matrix(MODEL)[0] == ["ayu"]
    # the damaged SPG can still be removed, and that clears the problem
    g2.remove("budi")
    assert g2.people()[0].spg_id == "ayu" and g2.problems == []


def test_failed_write_leaves_the_gallery_as_it_was(gallery, monkeypatch):
    gallery.add_samples("ayu", "Ayu", [_sample(1)])
    before = (gallery.version(), json.loads((gallery.root / "ayu" / "person.json").read_text()))
    files_before = sorted(p.relative_to(gallery.root) for p in gallery.root.rglob("*") if p.is_file())
    import core.gallery as cg

    def broken(path, text):
        raise OSError("disk full")

    monkeypatch.setattr(cg, "atomic_write_text", broken)
    with pytest.raises(GalleryError, match="cannot be written"):  # a sentence, not a raw OSError
        gallery.add_samples("ayu", "Ayu", [_sample(2)])
    with pytest.raises(GalleryError, match="cannot be written"):
        gallery.add_samples("new_spg", "New", [_sample(3)])
    monkeypatch.undo()
    assert gallery.version() == before[0]
    assert json.loads((gallery.root / "ayu" / "person.json").read_text()) == before[1]
    files_after = sorted(p.relative_to(gallery.root) for p in gallery.root.rglob("*") if p.is_file())
    assert files_after == files_before


def test_remove_deletes_every_photo_crop_and_embedding(gallery):
    gallery.add_samples("ayu", "Ayu", [_sample(1), _sample(2)])
    gallery.add_samples("budi", "Budi", [_sample(3)])
    gallery.remove("ayu")
    assert not (gallery.root / "ayu").exists()
    assert not any("ayu" in str(p) for p in gallery.root.rglob("*"))
    assert gallery.matrix(MODEL)[0] == ["budi"]
    with pytest.raises(GalleryError, match="no SPG"):
        gallery.remove("ayu")


def test_rename_activate_notes_and_bad_ids(gallery):
    gallery.add("ayu", "Ayu")
    gallery.rename("ayu", "Ayu Lestari")
    gallery.set_notes("ayu", "cashier side")
    gallery.set_active("ayu", False)
    p = Gallery(gallery.root).get("ayu")
    assert (p.name, p.notes, p.active, p.sample_count) == ("Ayu Lestari", "cashier side", False, 0)
    with pytest.raises(GalleryError, match="empty"):
        gallery.rename("ayu", "  ")
    with pytest.raises(GalleryError, match="not allowed"):
        gallery.add("../evil", "x")
    with pytest.raises(GalleryError, match="no SPG"):
        gallery.set_active("nobody", True)


def test_remove_one_sample(gallery):
    a, b = gallery.add_samples("ayu", "Ayu", [_sample(1), _sample(2)])
    gallery.remove_sample("ayu", a.id)
    assert [s.id for s in gallery.samples("ayu")] == [b.id]
    assert not (gallery.root / "ayu" / a.crop).exists() and not (gallery.root / "ayu" / a.photo).exists()
