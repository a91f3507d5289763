"""The gallery: enrolled SPGs and their face samples on disk, safe to share between processes.

Layout of ``<data_dir>/gallery/``::

    VERSION                      a random stamp rewritten (atomically) after every change: hot reload
    .lock                        file lock serialising writers (also across processes)
    <spg_id>/person.json         id, name, active, notes, samples (+ their embeddings per model_id)
    <spg_id>/photos/<sample>.*   the original photo of each sample (to re-embed with another model)
    <spg_id>/crops/<sample>.jpg  the aligned face chip (thumbnails, review)
    <spg_id>/negatives/<id>.jpg  faces the supervisor said are NOT this SPG ("not this person")

Every file is written atomically (temp + rename). A person.json that cannot be read is logged, listed
in ``problems`` and skipped; it never stops the rest of the gallery from loading and is never deleted
by a load. Embeddings are stored per model_id (base64 float32), so a sample keeps working after a pack
change once ``reindex`` has added the new model's embedding.
"""

from __future__ import annotations

import base64
import errno
import json
import logging
import re
import shutil
import threading
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from core.atomic import atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

SCHEMA = 1
SPG_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
ProgressCallback = Callable[[int, int], None]


class GalleryError(Exception):
    """A gallery operation cannot be done (unknown SPG, bad id). The message says why."""


def _not_writable(root: Path, exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"The gallery {root} cannot be written: the disk is full. Free space on that drive and try again."
    return (f"The gallery {root} cannot be written ({exc.strerror or exc}): the data folder is read-only or not "
            f"writable. Make it writable, or use another data folder with --data-dir.")


def _retry_sharing(write, *args) -> None:
    """Windows refuses to replace a file another process has open for a moment (a reader of VERSION or
    person.json); retry briefly instead of failing the whole change."""
    import time

    for attempt in range(20):
        try:
            return write(*args)
        except PermissionError:
            if attempt == 19:
                raise
            time.sleep(0.05)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _enc(vec: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")


def _dec(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


@dataclass
class Sample:
    id: str
    photo: str = ""
    """Original photo, relative to the person folder ('' if none was kept)."""
    crop: str = ""
    """Aligned face chip JPG, relative to the person folder."""
    added: str = ""
    source: str = "photo"
    bbox: list[float] = field(default_factory=list)
    """Face box in the original photo (to find the same face again when re-indexing)."""
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    """model_id -> L2-normalised float32 vector."""

    def to_json(self) -> dict:
        return {"id": self.id, "photo": self.photo, "crop": self.crop, "added": self.added, "source": self.source,
                "bbox": [float(v) for v in self.bbox], "embeddings": {k: _enc(v) for k, v in self.embeddings.items()}}

    @classmethod
    def from_json(cls, d: dict) -> Sample:
        return cls(id=str(d["id"]), photo=str(d.get("photo", "")), crop=str(d.get("crop", "")),
                   added=str(d.get("added", "")), source=str(d.get("source", "photo")),
                   bbox=[float(v) for v in d.get("bbox", [])],
                   embeddings={str(k): _dec(v) for k, v in (d.get("embeddings") or {}).items()})


@dataclass
class Negative:
    """A face the supervisor said is NOT this SPG: the matcher never names the SPG for faces closer to it."""

    id: str
    crop: str = ""
    """Face crop JPG, relative to the person folder."""
    added: str = ""
    source: str = "unknown"
    """Where the supervisor marked it: 'unknown' (unknown-faces panel) or 'camera' (a tile's face)."""
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"id": self.id, "crop": self.crop, "added": self.added, "source": self.source,
                "embeddings": {k: _enc(v) for k, v in self.embeddings.items()}}

    @classmethod
    def from_json(cls, d: dict) -> Negative:
        return cls(id=str(d["id"]), crop=str(d.get("crop", "")), added=str(d.get("added", "")),
                   source=str(d.get("source", "unknown")),
                   embeddings={str(k): _dec(v) for k, v in (d.get("embeddings") or {}).items()})


@dataclass
class Person:
    spg_id: str
    name: str
    active: bool = True
    notes: str = ""
    created: str = ""
    updated: str = ""
    samples: list[Sample] = field(default_factory=list)
    negatives: list[Negative] = field(default_factory=list)

    @property
    def sample_count(self) -> int:
        return len(self.samples)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "spg_id": self.spg_id, "name": self.name, "active": self.active, "notes": self.notes,
                "created": self.created, "updated": self.updated, "samples": [s.to_json() for s in self.samples],
                "negatives": [n.to_json() for n in self.negatives]}

    @classmethod
    def from_json(cls, d: dict) -> Person:
        if not isinstance(d, dict) or "spg_id" not in d:
            raise ValueError("not a person record (no spg_id)")
        return cls(spg_id=str(d["spg_id"]), name=str(d.get("name") or d["spg_id"]), active=bool(d.get("active", True)),
                   notes=str(d.get("notes", "")), created=str(d.get("created", "")), updated=str(d.get("updated", "")),
                   samples=[Sample.from_json(s) for s in d.get("samples", [])],
                   negatives=[Negative.from_json(n) for n in d.get("negatives") or []])


@dataclass
class NewSample:
    """What enrollment hands the gallery for one accepted photo."""

    embedding: np.ndarray
    model_id: str
    crop_bgr: np.ndarray
    photo_bytes: bytes = b""
    photo_suffix: str = ".jpg"
    bbox: Sequence[float] = ()
    source: str = "photo"


@dataclass
class SharedSample:
    """A sample as the brand's central gallery holds it (gallery sharing): its id is kept, so pulling the same
    sample twice changes nothing."""

    id: str
    embeddings: dict[str, np.ndarray]
    photo_bytes: bytes = b""
    photo_suffix: str = ".jpg"
    crop_bgr: np.ndarray | None = None
    bbox: Sequence[float] = ()


SAMPLE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SHARED_SOURCE = "shared"
"""``Sample.source`` of a sample pulled from the brand's central gallery."""


@dataclass
class ReindexReport:
    model_id: str
    done: int = 0
    failed: list[str] = field(default_factory=list)
    """'spg_id/sample_id: why' for samples whose face could not be found again."""


class Gallery:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.problems: list[str] = []
        """Records that could not be loaded at the last read (file + why)."""
        self._lock = threading.RLock()
        self._cache_version: str | None = None
        self._cache: dict[str, Person] = {}
        self._matrix_cache: dict[str, tuple[list[str], np.ndarray]] = {}
        """(model_id|dim) -> matrix, for the cached gallery version."""

    # --- version / locking -------------------------------------------------------------------------
    @property
    def _version_file(self) -> Path:
        return self.root / "VERSION"

    def version(self) -> str:
        """A stamp that changes on every write, by this or any other process (cheap: one tiny read)."""
        try:
            st = self._version_file.stat()
            stamp = self._version_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return "empty"
        return f"{stamp}:{st.st_mtime_ns}"

    def _bump(self) -> None:
        _retry_sharing(atomic_write_text, self._version_file, uuid.uuid4().hex)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Writers hold ``.lock``. A folder that cannot be written (read-only, full disk) becomes a
        :class:`GalleryError` saying what to do; files are written temp + rename and the record last, so a
        write that fails half way leaves the SPG as it was."""
        from filelock import FileLock

        try:
            with FileLock(str(self.root / ".lock"), timeout=30):
                yield
        except OSError as exc:
            raise GalleryError(_not_writable(self.root, exc)) from None

    # --- reading -------------------------------------------------------------------------------
    def _person_dir(self, spg_id: str) -> Path:
        check_path_id(spg_id)
        return self.root / spg_id

    def check_new_id(self, spg_id: str) -> str:
        """GalleryError unless ``spg_id`` may name a NEW SPG: the Windows rules of :func:`check_spg_id`, and no
        enrolled id that differs from it only in letter case (one folder on Windows: two people would merge)."""
        check_spg_id(spg_id)
        for d in self.root.iterdir():
            if d.name != spg_id and d.name.lower() == spg_id.lower() and (d / "person.json").is_file():
                raise GalleryError(
                    f"SPG id {spg_id!r} differs from the enrolled {d.name!r} only in upper/lower case; Windows treats "
                    "them as the same folder, so choose another id"
                )
        return spg_id

    def _fresh_or_new(self, spg_id: str) -> Person | None:
        """The SPG as on disk, or None after checking that ``spg_id`` may name a new one (inside the file lock)."""
        p = self._fresh(spg_id)
        if p is None:
            self.check_new_id(spg_id)
        elif p.spg_id != spg_id:  # a case-insensitive file system found another SPG's folder
            raise GalleryError(
                f"SPG id {spg_id!r} differs from the enrolled {p.spg_id!r} only in upper/lower case; choose another id"
            )
        return p

    def _load_all(self) -> dict[str, Person]:
        with self._lock:
            v = self.version()
            if v == self._cache_version and v != "empty":
                return self._cache
            people: dict[str, Person] = {}
            problems: list[str] = []
            for d in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
                f = d / "person.json"
                if not f.is_file():
                    continue
                try:
                    person = Person.from_json(json.loads(f.read_text(encoding="utf-8")))
                    if person.spg_id != d.name:
                        raise ValueError(f"spg_id {person.spg_id!r} does not match its folder")
                except (OSError, ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
                    msg = f"{f}: unreadable SPG record ({exc.__class__.__name__}: {exc}); skipped, file left as is"
                    log.error("gallery: %s", msg)
                    problems.append(msg)
                    continue
                people[person.spg_id] = person
            self.problems = problems
            self._cache, self._cache_version = people, v
            self._matrix_cache = {}
            return people

    def people(self) -> list[Person]:
        return sorted(self._load_all().values(), key=lambda p: (p.name.lower(), p.spg_id))

    def get(self, spg_id: str) -> Person | None:
        return self._load_all().get(spg_id)

    def names(self) -> dict[str, str]:
        return {p.spg_id: p.name for p in self._load_all().values()}

    def __contains__(self, spg_id: str) -> bool:
        return spg_id in self._load_all()

    def __len__(self) -> int:
        return len(self._load_all())

    def samples(self, spg_id: str) -> list[Sample]:
        p = self.get(spg_id)
        return list(p.samples) if p else []

    def matrix(self, model_id: str, dim: int | None = None) -> tuple[list[str], np.ndarray]:
        """Active people's samples embedded with ``model_id``: (person id per row, (M, D) float32).

        A sample whose embedding has another size than ``dim`` (default: the size most samples have) is
        skipped, logged once per gallery version and listed in :attr:`problems`; ``reindex`` re-embeds
        it. One damaged record must never stop everyone else from being recognised."""
        with self._lock:
            people = self._load_all()
            key = f"{model_id}|{dim}"
            if key in self._matrix_cache:
                return self._matrix_cache[key]
            found: list[tuple[str, str, np.ndarray]] = []
            missing = 0
            for p in people.values():
                if not p.active:
                    continue
                for s in p.samples:
                    e = s.embeddings.get(model_id)
                    if e is None:
                        missing += 1
                        continue
                    found.append((p.spg_id, s.id, e))
            if missing:
                log.warning("gallery: %d sample(s) have no embedding for %s; run 'app.py gallery reindex'", missing, model_id)
            if dim is None and found:
                sizes = Counter(e.shape[0] for _, _, e in found)
                dim = max(sizes, key=lambda d: (sizes[d], d))
            ids: list[str] = []
            rows: list[np.ndarray] = []
            for spg_id, sample_id, e in found:
                if e.ndim != 1 or e.shape[0] != dim:
                    msg = (f"{self.root / spg_id / 'person.json'}: sample {sample_id} has a {e.shape[0]}-value embedding "
                           f"for {model_id}, {dim} expected; skipped until 'app.py gallery reindex' re-embeds it")
                    log.error("gallery: %s", msg)
                    if msg not in self.problems:
                        self.problems.append(msg)
                    continue
                ids.append(spg_id)
                rows.append(e)
            mat = np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim or 0), np.float32)
            self._matrix_cache[key] = (ids, mat)
            return ids, mat

    def wrong_sized(self, model_id: str, dim: int) -> list[tuple[str, str]]:
        """(spg_id, sample_id) of every sample whose ``model_id`` embedding is not ``dim`` long."""
        return [(p.spg_id, s.id) for p in self._load_all().values() for s in p.samples
                if model_id in s.embeddings and s.embeddings[model_id].shape != (dim,)]

    def missing_embeddings(self, model_id: str) -> int:
        """How many active samples still need ``reindex`` for this model."""
        return sum(1 for p in self._load_all().values() if p.active for s in p.samples if model_id not in s.embeddings)

    def thumbnail_path(self, spg_id: str) -> Path | None:
        p = self.get(spg_id)
        if not p:
            return None
        for s in p.samples:
            if s.crop and (self.root / spg_id / s.crop).is_file():
                return self.root / spg_id / s.crop
        return None

    def photo_path(self, spg_id: str, sample: Sample) -> Path | None:
        return (self.root / spg_id / sample.photo) if sample.photo else None

    def crop_path(self, spg_id: str, sample: Sample) -> Path | None:
        return (self.root / spg_id / sample.crop) if sample.crop else None

    # --- writing -------------------------------------------------------------------------------
    def _write(self, person: Person) -> None:
        person.updated = _now()
        _retry_sharing(atomic_write_text, self._person_dir(person.spg_id) / "person.json", json.dumps(person.to_json(), indent=1))

    def _fresh(self, spg_id: str) -> Person | None:
        """Re-read one person from disk (inside the file lock)."""
        f = self._person_dir(spg_id) / "person.json"
        if not f.is_file():
            return None
        try:
            return Person.from_json(json.loads(f.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise GalleryError(f"the record of {spg_id} ({f}) is damaged ({exc}); remove the SPG and enroll again") from None

    def _require(self, spg_id: str) -> Person:
        p = self._fresh(spg_id)
        if p is None:
            raise GalleryError(f"no SPG with id {spg_id!r} in the gallery")
        return p

    def _changed(self) -> None:
        self._bump()
        with self._lock:
            self._cache_version = None

    def add(self, spg_id: str, name: str, notes: str = "", active: bool = True) -> Person:
        """Create the SPG (no samples yet), or update the name of an existing one."""
        check_path_id(spg_id)
        with self._file_lock():
            p = self._fresh_or_new(spg_id)
            if p is None:
                p = Person(spg_id=spg_id, name=name.strip() or spg_id, active=active, notes=notes, created=_now())
            else:
                p.name = name.strip() or p.name
            self._write(p)
            self._changed()
            return p

    def add_samples(self, spg_id: str, name: str, samples: Sequence[NewSample], notes: str | None = None) -> list[Sample]:
        """Add samples (creating the SPG if new) in one step: files first, the record last, then VERSION.
        ``name`` names a NEW SPG; an existing one keeps its name (renaming is :meth:`rename`'s job)."""
        check_path_id(spg_id)
        with self._file_lock():
            p = self._fresh_or_new(spg_id)
            created = p is None
            if p is None:
                p = Person(spg_id=spg_id, name=(name or "").strip() or spg_id, created=_now())
            if notes is not None:
                p.notes = notes
            d = self._person_dir(spg_id)
            written: list[Path] = []
            added: list[Sample] = []
            try:
                import cv2

                for ns in samples:
                    sid = uuid.uuid4().hex[:12]
                    s = Sample(id=sid, added=_now(), source=ns.source, bbox=[float(v) for v in ns.bbox],
                               embeddings={ns.model_id: np.asarray(ns.embedding, np.float32).ravel()})
                    ok, jpg = cv2.imencode(".jpg", ns.crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
                    if not ok:
                        raise GalleryError("could not encode the face crop")
                    s.crop = f"crops/{sid}.jpg"
                    atomic_write_bytes(d / s.crop, jpg.tobytes())
                    written.append(d / s.crop)
                    if ns.photo_bytes:
                        s.photo = f"photos/{sid}{ns.photo_suffix or '.jpg'}"
                        atomic_write_bytes(d / s.photo, ns.photo_bytes)
                        written.append(d / s.photo)
                    added.append(s)
                p.samples.extend(added)
                self._write(p)
            except BaseException:
                for f in written:
                    f.unlink(missing_ok=True)
                if created:
                    shutil.rmtree(d, ignore_errors=True)
                raise
            self._changed()
            return added

    def put_shared(self, spg_id: str, name: str, samples: Sequence[SharedSample]) -> None:
        """Make the SPG what the central gallery says (gallery sharing): this name and exactly these samples,
        ids kept; created when new. A sample already on disk keeps its files and takes the given embeddings;
        samples not listed are deleted with their files. Local "not this person" marks stay."""
        check_path_id(spg_id)
        for ss in samples:
            if not SAMPLE_ID_RE.match(ss.id):
                raise GalleryError(f"sample id {ss.id!r} of {spg_id} is not allowed as a file name")
        with self._file_lock():
            p = self._fresh_or_new(spg_id)
            created = p is None
            if p is None:
                p = Person(spg_id=spg_id, name=name.strip() or spg_id, created=_now())
            p.name = name.strip() or p.name
            d = self._person_dir(spg_id)
            have = {s.id: s for s in p.samples}
            wanted = {ss.id for ss in samples}
            written: list[Path] = []
            kept: list[Sample] = []
            try:
                import cv2

                for ss in samples:
                    emb = {k: np.asarray(v, np.float32).ravel() for k, v in ss.embeddings.items()}
                    old = have.get(ss.id)
                    if old is not None:
                        old.embeddings = emb
                        kept.append(old)
                        continue
                    s = Sample(id=ss.id, added=_now(), source=SHARED_SOURCE, bbox=[float(v) for v in ss.bbox],
                               embeddings=emb)
                    if ss.photo_bytes:
                        s.photo = f"photos/{ss.id}{ss.photo_suffix or '.jpg'}"
                        atomic_write_bytes(d / s.photo, ss.photo_bytes)
                        written.append(d / s.photo)
                    if ss.crop_bgr is not None:
                        ok, jpg = cv2.imencode(".jpg", ss.crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
                        if ok:
                            s.crop = f"crops/{ss.id}.jpg"
                            atomic_write_bytes(d / s.crop, jpg.tobytes())
                            written.append(d / s.crop)
                    kept.append(s)
                gone = [s for s in p.samples if s.id not in wanted]
                p.samples = kept
                self._write(p)
            except BaseException:
                for f in written:
                    f.unlink(missing_ok=True)
                if created:
                    shutil.rmtree(d, ignore_errors=True)
                raise
            for s in gone:
                for rel in (s.photo, s.crop):
                    if rel:
                        (d / rel).unlink(missing_ok=True)
            self._changed()

    def rename(self, spg_id: str, name: str) -> None:
        if not name.strip():
            raise GalleryError("the name cannot be empty")
        self._update(spg_id, lambda p: setattr(p, "name", name.strip()))

    def set_active(self, spg_id: str, active: bool) -> None:
        self._update(spg_id, lambda p: setattr(p, "active", bool(active)))

    def set_notes(self, spg_id: str, notes: str) -> None:
        self._update(spg_id, lambda p: setattr(p, "notes", notes))

    def _update(self, spg_id: str, change: Callable[[Person], None]) -> None:
        with self._file_lock():
            p = self._require(spg_id)
            change(p)
            self._write(p)
            self._changed()

    def remove_sample(self, spg_id: str, sample_id: str) -> None:
        with self._file_lock():
            p = self._require(spg_id)
            keep = [s for s in p.samples if s.id != sample_id]
            gone = [s for s in p.samples if s.id == sample_id]
            if not gone:
                raise GalleryError(f"{spg_id} has no sample {sample_id}")
            p.samples = keep
            self._write(p)
            for s in gone:
                for rel in (s.photo, s.crop):
                    if rel:
                        (self.root / spg_id / rel).unlink(missing_ok=True)
            self._changed()

    def remove(self, spg_id: str) -> None:
        """Delete the SPG with every photo, crop and embedding (biometric data): the whole folder."""
        d = self._person_dir(spg_id)
        with self._file_lock():
            if not d.exists():
                raise GalleryError(f"no SPG with id {spg_id!r} in the gallery")
            # rename first so a half-finished delete never looks like a valid person, then remove
            trash = self.root / f".removing-{spg_id}-{uuid.uuid4().hex[:6]}"
            d.rename(trash)
            shutil.rmtree(trash, ignore_errors=True)
            if trash.exists():
                log.error("gallery: could not delete every file of %s in %s; delete that folder by hand", spg_id, trash)
            self._changed()

    def set_embeddings(self, spg_id: str, updates: dict[str, np.ndarray], model_id: str) -> None:
        """Store ``model_id`` embeddings for samples (sample id -> vector); used by reindex."""
        def change(p: Person) -> None:
            for s in p.samples:
                if s.id in updates:
                    s.embeddings[model_id] = np.asarray(updates[s.id], np.float32).ravel()
        self._update(spg_id, change)

    # --- negative samples ("not this person") ---------------------------------------------------
    def negatives(self, spg_id: str) -> list[Negative]:
        p = self.get(spg_id)
        return list(p.negatives) if p else []

    def negative_matrix(self, model_id: str) -> tuple[list[str], np.ndarray]:
        """Active people's negative samples for ``model_id``: (person id per row, (K, D) float32)."""
        ids: list[str] = []
        rows: list[np.ndarray] = []
        for p in self._load_all().values():
            if not p.active:
                continue
            for n in p.negatives:
                e = n.embeddings.get(model_id)
                if e is not None:
                    ids.append(p.spg_id)
                    rows.append(e)
        return ids, (np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32))

    def add_negative(self, spg_id: str, embedding: np.ndarray, model_id: str, crop_bgr: np.ndarray,
                     source: str = "unknown") -> Negative:
        """Store a face that is NOT ``spg_id`` (crop first, the record last, then VERSION: matchers reload)."""
        import cv2

        with self._file_lock():
            p = self._require(spg_id)
            ok, jpg = cv2.imencode(".jpg", crop_bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise GalleryError("could not encode the face crop")
            nid = uuid.uuid4().hex[:12]
            neg = Negative(id=nid, crop=f"negatives/{nid}.jpg", added=_now(), source=source,
                           embeddings={model_id: np.asarray(embedding, np.float32).ravel()})
            path = self._person_dir(spg_id) / neg.crop
            atomic_write_bytes(path, jpg.tobytes())
            p.negatives.append(neg)
            try:
                self._write(p)
            except BaseException:
                path.unlink(missing_ok=True)
                raise
            self._changed()
            return neg

    def remove_negative(self, spg_id: str, negative_id: str) -> None:
        """Undo a "not this person": the face may be named ``spg_id`` again."""
        with self._file_lock():
            p = self._require(spg_id)
            gone = [n for n in p.negatives if n.id == negative_id]
            if not gone:
                raise GalleryError(f"{spg_id} has no negative sample {negative_id}")
            p.negatives = [n for n in p.negatives if n.id != negative_id]
            self._write(p)
            for n in gone:
                if n.crop:
                    (self.root / spg_id / n.crop).unlink(missing_ok=True)
            self._changed()

    def set_negative_embeddings(self, spg_id: str, updates: dict[str, np.ndarray], model_id: str) -> None:
        """Store ``model_id`` embeddings for negative samples (negative id -> vector); used by reindex."""
        def change(p: Person) -> None:
            for n in p.negatives:
                if n.id in updates:
                    n.embeddings[model_id] = np.asarray(updates[n.id], np.float32).ravel()
        self._update(spg_id, change)

    def negative_crop_path(self, spg_id: str, negative: Negative) -> Path | None:
        return (self.root / spg_id / negative.crop) if negative.crop else None


_WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10))}


def check_spg_id(spg_id: str) -> str:
    """A safe id for a NEW SPG: also a folder name that works on Windows (the outlets' OS)."""
    check_path_id(spg_id)
    if spg_id.split(".")[0].upper() in _WINDOWS_DEVICES:
        raise GalleryError(
            f"SPG id {spg_id!r} is not allowed: {spg_id.split('.')[0].upper()} is a device name on Windows "
            "(CON, PRN, AUX, NUL, COM0-9, LPT0-9), so its folder cannot be made there; choose another id"
        )
    if spg_id.endswith("."):
        raise GalleryError(
            f"SPG id {spg_id!r} is not allowed: Windows drops a final '.' from folder names; end it with a letter or digit"
        )
    return spg_id


def check_path_id(spg_id: str) -> str:
    """An id that is safe as one folder name inside the gallery (no separators, no '..'); existing SPGs
    enrolled before the Windows rules keep working with this check."""
    if not isinstance(spg_id, str) or not SPG_ID_RE.match(spg_id) or spg_id in (".", ".."):
        raise GalleryError(
            f"SPG id {spg_id!r} is not allowed: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return spg_id
