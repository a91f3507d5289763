"""Gallery sharing (issue 13, "SPGs who move"): outlets publish and pull SPGs through the real central
PostgreSQL, with real photos and real face models; HQ assigns, removes and enrolls with ``app.py hq gallery``."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from app import main as app_main
from core.central import gallery_admin
from core.central.replicator import CentralReplicator
from core.central.roles import add_outlet, login_url
from core.clock import FakeClock
from core.config import AppConfig, EngineConfig
from core.enrollment import enroll_photos, read_image
from core.events_db import EventStore
from core.gallery import Gallery, GalleryError
from core.gallery_sharing import gallery_sync_for, gallery_sync_from_config
from core.identify import LiveMatcher, identify_image
from core.paths import DataLayout


class Outlet:
    """One outlet: its own data folder, gallery, events database and central login."""

    def __init__(self, admin_url: str, outlet_id: str, root: Path, engine) -> None:
        with psycopg.connect(admin_url) as conn:
            self.url = login_url(admin_url, add_outlet(conn, outlet_id, f"Outlet {outlet_id}"))
        self.id = outlet_id
        self.layout = DataLayout(root).ensure()
        self.gallery = Gallery(self.layout.gallery)
        self.engine = engine
        self.sync = gallery_sync_for(root, engine=engine)
        self.matcher = LiveMatcher(self.gallery, engine) if engine is not None else None
        """One matcher for the outlet's life, as the inference server keeps one: a pull reaches it by hot reload."""

    def sync_now(self):
        with psycopg.connect(self.url) as conn:
            return self.sync.sync_once(conn, self.id)

    def names_seen(self, photo: Path) -> list[str | None]:
        assert self.matcher is not None
        return [f.result.spg_id for f in identify_image(self.engine, self.matcher.get(), read_image(photo))]


def hq(*argv: str) -> int:
    return app_main(["hq", *argv])


@pytest.fixture
def engine(engine_for):
    return engine_for("test_pack")


@pytest.fixture
def two_outlets(fresh_central_db, tmp_path, engine):
    return (Outlet(fresh_central_db, "A", tmp_path / "a", engine),
            Outlet(fresh_central_db, "B", tmp_path / "b", engine))


def tony(faces_dir: Path, *numbers: int) -> list[Path]:
    return [faces_dir / "Tony_Blair" / f"Tony_Blair_{n:04d}.jpg" for n in numbers]


def test_spg_enrolled_at_one_outlet_is_recognised_at_another_after_hq_assigns_them(
        two_outlets, fresh_central_db, faces_dir, capsys):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1, 2))
    other_photo = tony(faces_dir, 5)[0]  # never enrolled anywhere
    assert b.names_seen(other_photo) == [None]

    assert a.sync_now().published == ["tb"]
    again = a.sync_now()
    assert again.published == [] and again.pulled == []  # idempotent: nothing sent twice
    assert b.sync_now().pulled == []  # not assigned to B yet: nothing arrives

    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0
    capsys.readouterr()
    assert hq("gallery", "list", "--db", fresh_central_db) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["spg_id"], p["origin_outlet"], p["outlets"], p["samples"]) for p in listed] == [("tb", "A", ["B"], 2)]

    assert b.sync_now().pulled == ["tb"]
    assert b.names_seen(other_photo) == ["tb"]
    person = b.gallery.get("tb")
    assert person is not None and person.name == "Tony Blair" and person.sample_count == 2
    assert all((b.layout.gallery / "tb" / s.photo).is_file() for s in person.samples)
    assert b.sync_now().pulled == []  # already applied: nothing rewritten

    a.gallery.rename("tb", "Tony B.")  # a change at the outlet that enrolled him reaches B
    assert a.sync_now().published == ["tb"]
    assert b.sync_now().pulled == ["tb"] and b.gallery.get("tb").name == "Tony B."


def test_outlet_with_another_model_re_embeds_the_shared_photos(fresh_central_db, tmp_path, faces_dir, engine_for,
                                                                opencv_pack):
    a = Outlet(fresh_central_db, "A", tmp_path / "a", engine_for("test_pack"))
    b = Outlet(fresh_central_db, "B", tmp_path / "b", engine_for("opencv"))
    assert a.engine.info.model_id != b.engine.info.model_id
    # B as the replicator builds it: the configured engine, built by the sync the first time it pulls
    b.sync = gallery_sync_from_config(AppConfig(data_dir=tmp_path / "b",
                                              engine=EngineConfig(kind="auto", pack=str(opencv_pack))))
    assert b.sync.engine is None
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1, 2))
    a.sync_now()
    with psycopg.connect(fresh_central_db) as conn:
        gallery_admin.assign(conn, "tb", "B")

    assert b.sync_now().pulled == ["tb"]
    assert b.sync.model_id == b.engine.info.model_id
    assert b.names_seen(tony(faces_dir, 5)[0]) == ["tb"]
    assert all(s.crop and (b.layout.gallery / "tb" / s.crop).is_file() for s in b.gallery.get("tb").samples)
    assert b.sync_now().pulled == []

    # without an engine, a sample of another model cannot be used: skipped, with the reason
    c = Outlet(fresh_central_db, "C", tmp_path / "c", None)
    c.sync = gallery_sync_for(tmp_path / "c", model_id=b.engine.info.model_id)
    with psycopg.connect(fresh_central_db) as conn:
        gallery_admin.assign(conn, "tb", "C")
    result = c.sync_now()
    assert result.pulled == [] and "tb" not in c.gallery
    assert any("no engine here to re-embed" in line for line in result.skipped)


def test_removal_at_hq_erases_the_face_data_at_an_outlet_that_was_offline(
        two_outlets, fresh_central_db, faces_dir, pg_server):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1, 2))
    enroll_photos(a.engine, a.gallery, "lb", "Laura Bush", [faces_dir / "Laura_Bush" / "Laura_Bush_0001.jpg"])
    a.sync_now()
    for spg in ("tb", "lb"):
        assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", spg, "--outlet", "B") == 0
    assert sorted(b.sync_now().pulled) == ["lb", "tb"]
    store = EventStore(b.layout.events_db)
    store.add_alert(1000.0, "tb", "absent", "Tony Blair is away", photo=b"\xff\xd8face")
    store.close()
    tb_files = list((b.layout.gallery / "tb").rglob("*.jpg"))
    assert len(tb_files) == 4  # two photos, two crops

    # B is offline while HQ removes Tony: its sync cannot reach the server and nothing changes there
    offline_url = b.url.replace(f":{pg_server.port}/", ":1/")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(offline_url, connect_timeout=2)
    assert hq("gallery", "remove", "--db", fresh_central_db, "--spg", "tb") == 0
    assert "tb" in b.gallery and b.names_seen(tony(faces_dir, 5)[0]) == ["tb"]
    with psycopg.connect(fresh_central_db) as conn:  # centrally: a tombstone, no face data
        assert conn.execute("SELECT removed FROM spg.gallery_people WHERE spg_id = 'tb'").fetchone() == (True,)
        assert conn.execute("SELECT count(*) FROM spg.gallery_samples WHERE spg_id = 'tb'").fetchone() == (0,)

    # B reconnects: Tony's photos, crops and embeddings are gone, and the photo of his alert
    assert b.sync_now().erased == ["tb"]
    assert not (b.layout.gallery / "tb").exists() and not any(f.exists() for f in tb_files)
    ids, _ = b.gallery.matrix(b.engine.info.model_id)
    assert set(ids) == {"lb"}
    assert b.names_seen(tony(faces_dir, 5)[0]) == [None]
    store = EventStore(b.layout.events_db)
    (alert,) = store.alerts_between(0, 1e12)
    store.close()
    assert alert.photo is None and alert.text == "Tony Blair is away"
    # the outlet that enrolled him erases him too, and neither publishes him again
    assert a.sync_now().erased == ["tb"]
    assert "tb" not in a.gallery and a.gallery.get("lb") is not None
    assert b.sync_now().erased == [] and a.sync_now().published == []


def test_outlet_reads_only_the_spgs_assigned_to_it_or_its_own(
        two_outlets, fresh_central_db, faces_dir, test_pack, tmp_path):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1))
    enroll_photos(a.engine, a.gallery, "lb", "Laura Bush", [faces_dir / "Laura_Bush" / "Laura_Bush_0001.jpg"])
    a.sync_now()
    assert hq("gallery", "enroll", "--db", fresh_central_db, "--pack", str(test_pack), "--data-dir",
              str(tmp_path / "hq"), "--spg", "cp", "--name", "Colin Powell",
              "--photo", str(faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg")) == 0
    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0

    with psycopg.connect(b.url) as conn:
        assert conn.execute("SELECT spg_id FROM spg.gallery_people").fetchall() == [("tb",)]
        assert {r[0] for r in conn.execute("SELECT spg_id FROM spg.gallery_samples").fetchall()} == {"tb"}
        assert conn.execute("SELECT spg_id, outlet_id FROM spg.gallery_assignments").fetchall() == [("tb", "B")]
        # neither can it add to, rename or take over another outlet's SPG
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO spg.gallery_samples (spg_id, sample_id, model_id, embedding) "
                         "VALUES ('tb', 'x1', 'm', '\\x00')")
        conn.rollback()
        assert conn.execute("UPDATE spg.gallery_people SET name = 'X' WHERE spg_id = 'tb'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO spg.gallery_people (spg_id, name, origin_outlet) VALUES ('zz', 'Z', 'A')")
        conn.rollback()
    with psycopg.connect(a.url) as conn:  # A sees what it published, not HQ's own SPG
        assert sorted(r[0] for r in conn.execute("SELECT spg_id FROM spg.gallery_people").fetchall()) == ["lb", "tb"]
    assert sorted(b.sync_now().pulled) == ["tb"]


def test_unassigned_spg_is_erased_and_a_local_id_clash_is_left_alone(two_outlets, fresh_central_db, faces_dir,
                                                                     test_pack, capsys):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1))
    enroll_photos(a.engine, a.gallery, "s1", "Laura Bush", [faces_dir / "Laura_Bush" / "Laura_Bush_0001.jpg"])
    enroll_photos(b.engine, b.gallery, "s1", "Colin Powell", [faces_dir / "Colin_Powell" / "Colin_Powell_0001.jpg"])
    a.sync_now()
    first = b.sync_now()
    assert any(line.startswith("s1: HQ or another outlet already shares") for line in first.skipped)
    for spg in ("tb", "s1"):
        assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", spg, "--outlet", "B") == 0

    result = b.sync_now()
    assert result.pulled == ["tb"]
    assert any(line.startswith("s1: an SPG with this id was enrolled at this outlet") for line in result.skipped)
    assert b.gallery.get("s1").name == "Colin Powell"  # B's own SPG is not overwritten

    assert hq("gallery", "unassign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0
    capsys.readouterr()
    # B syncs from the command line this time (what the replicator does every heartbeat)
    assert app_main(["gallery", "sync", "--db", b.url, "--data-dir", str(b.layout.root), "--pack", str(test_pack)]) == 0
    assert json.loads(capsys.readouterr().out)["erased"] == ["tb"]
    assert "tb" not in b.gallery and "tb" in a.gallery


def test_outlet_login_cannot_remove_a_shared_spg(two_outlets, fresh_central_db, faces_dir, capsys):
    a, _ = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1))
    a.sync_now()
    assert hq("gallery", "remove", "--db", a.url, "--spg", "tb") == 2
    err = capsys.readouterr().err
    assert "use the admin URL" in err
    assert a.url.split(":")[2].split("@")[0] not in err  # the outlet's password is never printed
    with psycopg.connect(fresh_central_db) as conn:
        assert conn.execute("SELECT removed, (SELECT count(*) FROM spg.gallery_samples) FROM spg.gallery_people"
                            ).fetchall() == [(False, 1)]


def test_a_lost_sync_record_neither_duplicates_samples_nor_stops_an_erasure(two_outlets, fresh_central_db, faces_dir):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1, 2))
    a.sync_now()
    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0
    b.sync_now()
    record = b.layout.gallery / ".central_sync.json"
    record.write_text("{ damaged", encoding="utf-8")

    assert b.sync_now().published == []  # B does not take Tony for its own SPG
    assert sorted(s.id for s in b.gallery.get("tb").samples) == sorted(s.id for s in a.gallery.get("tb").samples)
    record.unlink()
    assert hq("gallery", "remove", "--db", fresh_central_db, "--spg", "tb") == 0
    assert b.sync_now().erased == ["tb"]
    assert not (b.layout.gallery / "tb").exists()


def test_spg_enrolled_at_hq_is_recognised_at_the_outlet_assigned(two_outlets, fresh_central_db, faces_dir, test_pack,
                                                                   tmp_path, capsys):
    _, b = two_outlets
    powell = faces_dir / "Colin_Powell"
    assert hq("gallery", "enroll", "--db", fresh_central_db, "--pack", str(test_pack), "--data-dir",
              str(tmp_path / "hq"), "--spg", "cp", "--name", "Colin Powell",
              "--photo", str(powell / "Colin_Powell_0001.jpg"), str(powell / "Colin_Powell_0002.jpg"),
              str(faces_dir.parent / "noface" / "coffee.png")) == 0
    assert "no face" in capsys.readouterr().err  # the refused photo is named, the others are stored
    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "cp", "--outlet", "B") == 0
    assert b.sync_now().pulled == ["cp"]
    assert b.gallery.get("cp").sample_count == 2
    assert b.names_seen(powell / "Colin_Powell_0004.jpg") == ["cp"]


def test_an_erasure_that_fails_is_tried_again_at_the_next_sync(two_outlets, fresh_central_db, faces_dir, monkeypatch):
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1))
    a.sync_now()
    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0
    b.sync_now()
    assert hq("gallery", "remove", "--db", fresh_central_db, "--spg", "tb") == 0

    def refuse(self, spg_id):
        raise GalleryError(f"The gallery {self.root} cannot be written: the disk is full.")

    with monkeypatch.context() as m:
        m.setattr(Gallery, "remove", refuse)
        failed = b.sync_now()
    assert failed.erased == [] and any("not erased here yet" in line for line in failed.skipped)
    assert "tb" in b.gallery
    assert b.sync_now().erased == ["tb"]
    assert not (b.layout.gallery / "tb").exists()


def test_the_replicator_shares_the_gallery_and_erases_after_an_outage(two_outlets, fresh_central_db, faces_dir,
                                                                        test_pack, pg_server):
    """B as the console runs it: the replicator thread's passes (driven here on a fake clock) with
    ``central.share_gallery``; the engine is built by the first pull."""
    a, b = two_outlets
    enroll_photos(a.engine, a.gallery, "tb", "Tony Blair", tony(faces_dir, 1, 2))
    a.sync_now()
    assert hq("gallery", "assign", "--db", fresh_central_db, "--spg", "tb", "--outlet", "B") == 0
    cfg = AppConfig.model_validate({"outlet": {"id": "B", "name": "Outlet B"},
                                    "engine": {"kind": "auto", "pack": str(test_pack)},
                                    "central": {"enabled": True, "share_gallery": True}})
    clock = FakeClock()
    store = EventStore(b.layout.events_db, central=True)
    rep = CentralReplicator(b.url, store, cfg.outlet, clock, start=False, connect_timeout_s=2,
                            gallery_sync=gallery_sync_from_config(cfg, b.layout.root))
    try:
        rep.sync_once()
        assert rep.link_state().connected
        assert b.names_seen(tony(faces_dir, 5)[0]) == ["tb"]

        pg_server.stop()  # B's link goes down...
        clock.advance(31)
        rep.sync_once()
        assert not rep.link_state().connected
        pg_server.start()
        pg_server.wait_ready()
        assert hq("gallery", "remove", "--db", fresh_central_db, "--spg", "tb") == 0  # ...while HQ removes Tony
        assert "tb" in b.gallery

        clock.advance(120)  # past the backoff: B reconnects, heartbeats, syncs its gallery
        rep.sync_once()
        assert rep.link_state().connected
        assert "tb" not in b.gallery and not (b.layout.gallery / "tb").exists()
        assert b.names_seen(tony(faces_dir, 5)[0]) == [None]
    finally:
        rep.close()
        store.close()
