"""Gallery sharing, the outlet's side (``central.share_gallery``): SPGs who move between outlets.

One :meth:`GallerySync.sync_once` on the outlet's central connection does, in this order:

1. **pull**: the people the brand assigned to this outlet (row-level security shows an outlet only those,
   and the ones it published itself). Each carries a version signature (the person's, their assignment's
   and their samples' versions from the brand-wide ``spg.gallery_version_seq``, and the sample count).
   A person whose signature differs from the one applied here is fetched whole and written into the local
   gallery (samples keep their central ids, so nothing is written twice); ``Gallery.put_shared`` bumps
   ``VERSION`` and every matcher reloads (hot reload, no restart).
   Why per person and not one "everything after version N" watermark: sequence numbers are taken when a
   row is written but become visible when its transaction commits, so a slow HQ enrollment can commit a
   lower number after an outlet already applied a higher one; a single watermark would skip it forever.
   An outlet sees at most a few hundred people, so comparing every signature is one small query.
2. **erase**: a person HQ marked removed (a tombstone row: the people row stays, the samples are gone)
   is erased here with :func:`core.forget_spg.forget_spg` (photos, crops, embeddings, alert photos), the
   first time this outlet connects after the removal. A person pulled earlier and no longer assigned is
   erased the same way: face data stays only where the SPG works.
3. **publish**: SPGs enrolled at this outlet (not pulled) go up with their samples (embedding, model_id,
   the original photo, the face box) when not yet there: ``INSERT ... ON CONFLICT DO NOTHING``, and only
   samples the central gallery lacks. An id that HQ or another outlet already uses is refused by the
   database (this outlet cannot see or write that row) and skipped with a logged reason.

A pulled sample embedded with another model than this outlet's is re-embedded from its photo when an
engine is given (the one used by this thread only), else skipped with a logged reason. What was applied
is kept in ``<gallery>/.central_sync.json`` (a file, so the gallery's loader never takes it for an SPG).

No Qt, no multiprocessing, no thread of its own: the central replicator calls ``sync_once`` from its
thread, between its other work (see :class:`GallerySyncApi`); :mod:`core.gallery_sharing` builds it for a
data folder.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import psycopg

from core.atomic import atomic_write_text
from core.engine.base import EngineError, FaceEngine
from core.face_quality import dominant_face
from core.gallery import SHARED_SOURCE, Gallery, GalleryError, Person, Sample, SharedSample
from core.image_io import ImageTooLarge, decode_image

log = logging.getLogger(__name__)

STATE_FILE = ".central_sync.json"


@dataclass
class GallerySyncResult:
    """What one sync did; each list holds SPG ids (``skipped``: "spg_id: why")."""

    published: list[str] = field(default_factory=list)
    pulled: list[str] = field(default_factory=list)
    erased: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def changed_locally(self) -> bool:
        return bool(self.pulled or self.erased)


class GallerySyncApi(Protocol):
    """What the central replicator calls, when ``central.share_gallery`` is on, on its own connection."""

    def sync_once(self, conn: psycopg.Connection[Any], outlet_id: str) -> GallerySyncResult:
        """Pull, erase and publish once (see the module). Raises ``psycopg.Error`` when the link fails
        half way: what was applied locally stays applied, the rest is done by the next call."""
        ...


@dataclass
class _Pulled:
    sig: str
    model: str


@dataclass
class _State:
    pulled: dict[str, _Pulled] = field(default_factory=dict)
    """SPGs written here from the central gallery: their applied signature and the local model then."""
    erased: dict[str, str] = field(default_factory=dict)
    """Tombstones already acted on (signature), so a removal is applied once."""

    @classmethod
    def load(cls, path: Path) -> _State:
        if not path.exists():
            return cls()
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(pulled={k: _Pulled(str(v["sig"]), str(v["model"])) for k, v in (d.get("pulled") or {}).items()},
                       erased={str(k): str(v) for k, v in (d.get("erased") or {}).items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            # Starting over is safe: pulled SPGs are known by their samples' source ("shared") and fetched
            # again with the same sample ids; a removal seen again erases nothing twice.
            log.warning("gallery sharing: %s cannot be read (%s); pulling the shared SPGs again", path, exc)
            return cls()

    def save(self, path: Path) -> None:
        atomic_write_text(path, json.dumps({
            "pulled": {k: {"sig": v.sig, "model": v.model} for k, v in sorted(self.pulled.items())},
            "erased": dict(sorted(self.erased.items())),
        }, indent=1))


@dataclass(frozen=True)
class _Visible:
    spg_id: str
    name: str
    removed: bool
    origin: str | None
    assigned: bool
    sig: str


_VISIBLE_SQL = """
SELECT p.spg_id, p.name, p.removed, p.origin_outlet, a.outlet_id IS NOT NULL,
       p.version || ':' || coalesce(a.version, 0) || ':' || coalesce(max(s.version), 0) || ':' || count(s.sample_id)
FROM spg.gallery_people p
LEFT JOIN spg.gallery_assignments a ON a.spg_id = p.spg_id AND a.outlet_id = %(me)s
LEFT JOIN spg.gallery_samples s ON s.spg_id = p.spg_id
WHERE p.origin_outlet = %(me)s OR a.outlet_id IS NOT NULL
GROUP BY p.spg_id, a.outlet_id, a.version
"""


def _photo_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:2] == b"BM":
        return ".bmp"
    return ".jpg"


def _came_from_central(person: Person) -> bool:
    return any(s.source == SHARED_SOURCE for s in person.samples)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


class GallerySync:
    """The outlet's gallery sharing (see the module). ``engine`` (optional) re-embeds samples of another
    model and makes thumbnails; ``engine_factory`` builds one the first time an SPG is pulled (an outlet's
    main process has no engine of its own: most syncs pull nothing, so most runs never build it);
    ``model_id`` names this outlet's model when neither is given."""

    def __init__(self, gallery: Gallery, erase: Callable[[str], None], *, engine: FaceEngine | None = None,
                 engine_factory: Callable[[], FaceEngine] | None = None, model_id: str | None = None) -> None:
        self.gallery = gallery
        self.erase = erase
        """Erases one SPG's face data at this outlet: ``core.forget_spg`` bound to this data folder (given by
        :mod:`core.gallery_sharing`, so this package never imports the events database, which imports it)."""
        self.engine = engine
        self._engine_factory = engine_factory if engine is None else None
        self.model_id = engine.info.model_id if engine is not None else model_id
        self.state_path = Path(gallery.root) / STATE_FILE
        self._told: set[str] = set()
        self._unusable: dict[str, str] = {}
        """Reasons already logged (a conflict is logged once per process, not every 30 s)."""

    def _engine(self) -> FaceEngine | None:
        factory, self._engine_factory = self._engine_factory, None  # one try per run: a broken pack stays broken
        if factory is not None:
            try:
                self.engine = factory()
            except EngineError as exc:
                log.warning("gallery sharing: no face engine to re-embed shared photos (%s); samples of another "
                            "model are skipped", exc)
            else:
                self.model_id = self.engine.info.model_id
        return self.engine

    # -- the one call ------------------------------------------------------------------------------
    def sync_once(self, conn: psycopg.Connection[Any], outlet_id: str) -> GallerySyncResult:
        result = GallerySyncResult()
        state = _State.load(self.state_path)
        try:
            self._pull(conn, outlet_id, state, result)
            self._publish(conn, outlet_id, state, result)
        finally:
            state.save(self.state_path)
        if result.published or result.pulled or result.erased:
            log.info("gallery sharing: published %s, pulled %s, erased %s", result.published or "-",
                     result.pulled or "-", result.erased or "-")
        return result

    def _tell(self, result: GallerySyncResult, spg_id: str, why: str) -> None:
        line = f"{spg_id}: {why}"
        result.skipped.append(line)
        if line not in self._told:
            self._told.add(line)
            log.warning("gallery sharing: %s", line)

    # -- pull and erase ----------------------------------------------------------------------------
    def _pull(self, conn: psycopg.Connection[Any], me: str, state: _State, result: GallerySyncResult) -> None:
        with conn.transaction():
            rows = conn.execute(_VISIBLE_SQL, {"me": me}).fetchall()
        visible = [_Visible(str(r[0]), str(r[1]), bool(r[2]), r[3], bool(r[4]), str(r[5])) for r in rows]
        people = {p.spg_id: p for p in self.gallery.people()}
        local = set(people)
        for spg_id, person in people.items():  # the state file lost: the gallery itself says what was pulled
            if spg_id not in state.pulled and _came_from_central(person):
                state.pulled[spg_id] = _Pulled("", "")
        still_assigned: set[str] = set()
        for v in visible:
            if v.removed:
                if state.erased.get(v.spg_id) != v.sig:
                    # Erase only what came from the brand (pulled) or was published from here; an unrelated
                    # local SPG under the same id is not the person HQ removed.
                    mine = v.spg_id in local and (v.spg_id in state.pulled or v.origin == me)
                    if mine and not self._erase(v.spg_id, "removed at HQ", result):
                        continue  # tried again at the next sync: an erasure is never given up
                    state.erased[v.spg_id] = v.sig
                state.pulled.pop(v.spg_id, None)
                continue
            if not v.assigned:
                continue  # published from here, not assigned here: nothing to pull
            still_assigned.add(v.spg_id)
            if v.spg_id in local and v.spg_id not in state.pulled:
                if v.origin != me:
                    self._tell(result, v.spg_id, "an SPG with this id was enrolled at this outlet; the brand's SPG "
                                                 "of that id is not pulled. Give one of them another id")
                continue
            done = state.pulled.get(v.spg_id)
            # the model is compared once it is known (a lazily built engine is built only for a pull)
            if done is not None and done.sig == v.sig and self.model_id in (None, done.model):
                continue
            if self._unusable.get(v.spg_id) == v.sig:
                continue
            if self._apply(conn, v, result):
                state.pulled[v.spg_id] = _Pulled(v.sig, self.model_id or "")
        for spg_id in [s for s in state.pulled if s not in still_assigned]:
            if spg_id not in local or self._erase(spg_id, "no longer assigned to this outlet", result):
                del state.pulled[spg_id]

    def _erase(self, spg_id: str, why: str, result: GallerySyncResult) -> bool:
        try:
            self.erase(spg_id)
        except GalleryError as exc:
            self._tell(result, spg_id, f"{why}, but not erased here yet (tried again at the next sync): {exc}")
            return False
        log.info("gallery sharing: %s %s: photos, crops, embeddings and alert photos erased here", spg_id, why)
        result.erased.append(spg_id)
        return True

    def _apply(self, conn: psycopg.Connection[Any], v: _Visible, result: GallerySyncResult) -> bool:
        self._engine()
        with conn.transaction():
            rows = conn.execute("SELECT sample_id, model_id, embedding, photo, bbox FROM spg.gallery_samples "
                                "WHERE spg_id = %s ORDER BY sample_id", (v.spg_id,)).fetchall()
        samples: list[SharedSample] = []
        for sample_id, model_id, embedding, photo, bbox in rows:
            shared = self._local_sample(v.spg_id, str(sample_id), str(model_id), bytes(embedding),
                                        bytes(photo) if photo is not None else b"", bbox or (), result)
            if shared is not None:
                samples.append(shared)
        if not samples and v.spg_id not in self.gallery:
            self._tell(result, v.spg_id, "no sample usable with this outlet's face model; not added")
            self._unusable[v.spg_id] = v.sig  # not fetched again until the central SPG changes
            return False
        try:
            self.gallery.put_shared(v.spg_id, v.name, samples)
        except GalleryError as exc:
            self._tell(result, v.spg_id, f"cannot be written into this outlet's gallery: {exc}")
            return False
        result.pulled.append(v.spg_id)
        return True

    def _local_sample(self, spg_id: str, sample_id: str, model_id: str, embedding: bytes, photo: bytes,
                      bbox: Any, result: GallerySyncResult) -> SharedSample | None:
        embeddings: dict[str, np.ndarray] = {model_id: np.frombuffer(embedding, dtype="<f4").astype(np.float32)}
        box = np.asarray([float(b) for b in bbox], np.float32) if bbox else None
        chip = self._chip(photo, box) if (self.engine is not None and photo) else None
        if self.model_id is not None and model_id != self.model_id:
            if self.engine is None:
                self._tell(result, f"{spg_id}/{sample_id}", f"embedded with {model_id}, this outlet uses "
                                                            f"{self.model_id} and has no engine here to re-embed it")
                return None
            if chip is None:
                self._tell(result, f"{spg_id}/{sample_id}", f"embedded with {model_id}; its photo has no face "
                                                            f"{self.model_id} can use, so it is not added")
                return None
            embeddings[self.model_id] = self.engine.embed_chips([chip])[0]
        return SharedSample(id=sample_id, embeddings=embeddings, photo_bytes=photo, photo_suffix=_photo_suffix(photo),
                            crop_bgr=chip, bbox=[float(b) for b in box] if box is not None else ())

    def _chip(self, photo: bytes, box: np.ndarray | None) -> np.ndarray | None:
        """The sample's face aligned for this outlet's engine: the face at the sample's box, else the dominant one."""
        assert self.engine is not None
        try:
            img = decode_image(photo, "shared photo")
        except ImageTooLarge:
            return None
        if img is None:
            return None
        faces = self.engine.detect(img)
        face = None
        if faces and box is not None and box.shape == (4,):
            best = max(faces, key=lambda f: _iou(np.asarray(f.bbox, np.float32), box))
            face = best if _iou(np.asarray(best.bbox, np.float32), box) > 0.3 else None
        face = face or dominant_face(faces, img.shape)
        return self.engine.align(img, face) if face is not None else None

    # -- publish -----------------------------------------------------------------------------------
    def _publish(self, conn: psycopg.Connection[Any], me: str, state: _State, result: GallerySyncResult) -> None:
        own = [p for p in self.gallery.people() if p.spg_id not in state.pulled and not _came_from_central(p)]
        if not own:
            return
        with conn.transaction():
            rows = conn.execute("SELECT spg_id, name, removed FROM spg.gallery_people WHERE origin_outlet = %s",
                                (me,)).fetchall()
            have = conn.execute("SELECT s.spg_id, s.sample_id FROM spg.gallery_samples s JOIN spg.gallery_people p "
                                "USING (spg_id) WHERE p.origin_outlet = %s", (me,)).fetchall()
        central = {str(r[0]): (str(r[1]), bool(r[2])) for r in rows}
        sent: dict[str, set[str]] = {}
        for spg_id, sample_id in have:
            sent.setdefault(str(spg_id), set()).add(str(sample_id))
        for person in own:
            known = central.get(person.spg_id)
            if known is not None and known[1]:
                self._tell(result, person.spg_id, "this id was removed at HQ, so it is not published again; "
                                                  "enroll the SPG under a new id to share them")
                continue
            missing = [s for s in person.samples if s.id not in sent.get(person.spg_id, set()) and s.embeddings]
            if known is not None and known[0] == person.name and not missing:
                continue
            self._publish_person(conn, me, person, known, missing, result)

    def _publish_person(self, conn: psycopg.Connection[Any], me: str, person: Person,
                        known: tuple[str, bool] | None, missing: list[Sample], result: GallerySyncResult) -> None:
        with conn.transaction():
            if known is None:
                row = conn.execute("INSERT INTO spg.gallery_people (spg_id, name, origin_outlet) VALUES (%s, %s, %s) "
                                   "ON CONFLICT (spg_id) DO NOTHING RETURNING spg_id",
                                   (person.spg_id, person.name, me)).fetchone()
                if row is None:
                    self._tell(result, person.spg_id, "HQ or another outlet already shares an SPG with this id; "
                                                      "this outlet's SPG is not published. Give one of them another id")
                    return
            elif known[0] != person.name:
                conn.execute("UPDATE spg.gallery_people SET name = %s WHERE spg_id = %s AND origin_outlet = %s",
                             (person.name, person.spg_id, me))
            for s in missing:
                # without a known model: the newest embedding (reindex appends the new model's last)
                model_id = self.model_id if self.model_id in s.embeddings else list(s.embeddings)[-1]
                photo_path = self.gallery.photo_path(person.spg_id, s)
                try:
                    photo = photo_path.read_bytes() if photo_path is not None else None
                except OSError as exc:
                    log.warning("gallery sharing: photo of %s/%s not sent (%s)", person.spg_id, s.id, exc)
                    photo = None
                conn.execute("INSERT INTO spg.gallery_samples (spg_id, sample_id, model_id, embedding, photo, bbox) "
                             "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (spg_id, sample_id) DO NOTHING",
                             (person.spg_id, s.id, model_id, np.asarray(s.embeddings[model_id], "<f4").tobytes(),
                              photo, [float(b) for b in s.bbox] or None))
        result.published.append(person.spg_id)
