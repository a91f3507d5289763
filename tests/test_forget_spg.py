"""Removing an SPG removes every photo, crop and embedding of them - also the alert face photos."""

from core.config import EngineConfig
from core.engine.factory import create_engine
from core.enrollment import enroll_photos
from core.events_db import EventStore
from core.forget_spg import forget_spg
from core.gallery import Gallery
from core.paths import DataLayout


def test_removed_spg_leaves_no_face_data(data_dir, test_pack, faces_dir):
    layout = DataLayout(data_dir).ensure()
    engine = create_engine(EngineConfig(kind="insightface", pack=str(test_pack)), data_dir)
    gallery = Gallery(layout.gallery)
    enroll_photos(engine, gallery, "tb", "Tony Blair", sorted((faces_dir / "Tony_Blair").glob("*.jpg"))[:2])
    enroll_photos(engine, gallery, "lb", "Laura Bush", sorted((faces_dir / "Laura_Bush").glob("*.jpg"))[:1])
    store = EventStore(layout.events_db)
    store.add_alert(1000.0, "tb", "absent", "Tony Blair is away", photo=b"\xff\xd8face")
    store.add_alert(1001.0, "lb", "absent", "Laura Bush is away", photo=b"\xff\xd8face")
    store.close()

    forget_spg(gallery, "tb")

    assert not (layout.gallery / "tb").exists()
    assert [p.spg_id for p in gallery.people()] == ["lb"]
    ids, emb = gallery.matrix(engine.info.model_id)
    assert set(ids) == {"lb"}
    store = EventStore(layout.events_db)
    alerts = {a.spg_id: a for a in store.alerts_between(0, 1e12)}
    store.close()
    assert alerts["tb"].photo is None and alerts["tb"].text == "Tony Blair is away"  # the history stays
    assert alerts["lb"].photo == b"\xff\xd8face"  # nobody else's data is touched
