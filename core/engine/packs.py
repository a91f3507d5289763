"""Model packs, whatever their engine: find, validate, import (zip or folder) and download them.

A pack is a folder holding one detector ONNX and one recogniser ONNX. Its ``kind`` says which engine runs it,
decided by the detector:

* ``insightface``: SCRFD / RetinaFace + an ArcFace-style recogniser, e.g. ``buffalo_l`` (det_10g.onnx +
  w600k_r50.onnx, plus landmark / gender-age models this console never loads), ``buffalo_s`` /
  ``buffalo_sc`` or the test pack. Downloaded as insightface's model-zoo zip.
* ``opencv``: OpenCV Zoo's YuNet + SFace (``sface``). Downloaded file by file from OpenCV Zoo's repository
  at a pinned revision, each file checked against its pinned sha256.

Installed packs live in ``<data_dir>/models/<name>/``. Licences: the buffalo packs' weights are for
non-commercial research only; YuNet (MIT) and SFace (Apache-2.0) may be used commercially, as may the dlib
offline engine (public-domain weights).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from core.engine.base import ModelPackError
from core.paths import DataLayout

log = logging.getLogger(__name__)

INSIGHTFACE_PACKS = ("buffalo_l", "buffalo_s", "buffalo_sc")
OPENCV_PACKS = ("sface",)
KNOWN_PACKS = INSIGHTFACE_PACKS + OPENCV_PACKS
PackKind = Literal["insightface", "opencv"]

OPENCV_ZOO_URL = "https://github.com/opencv/opencv_zoo/raw/47534e27c9851bb1128ccc0102f1145e27f23f98"
"""OpenCV Zoo's public repository at a fixed revision (the files are Git LFS objects; GitHub redirects)."""


@dataclass(frozen=True)
class PinnedFile:
    path: str
    """Path under OPENCV_ZOO_URL."""
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


SFACE_FILES = (
    PinnedFile("models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
               "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4", 232_589),
    PinnedFile("models/face_recognition_sface/face_recognition_sface_2021dec.onnx",
               "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79", 38_696_353),
)
ProgressCallback = Callable[[int, int], None]
"""progress(done_bytes, total_bytes); total is 0 when unknown."""

# models in buffalo packs that the console never runs (landmarks, gender/age)
_IGNORED_STEMS = ("1k3d68", "2d106det", "genderage", "landmark", "attribute")
_DET_HINTS = ("det_", "scrfd", "retinaface", "yunet", "detect")
_OPENCV_DET_HINTS = ("yunet",)
_REC_HINTS = ("w600k", "glint", "arcface", "mobilefacenet", "ms1m", "webface", "_rec", "rec_", "r50", "r100", "recog")


@dataclass(frozen=True)
class PackFiles:
    folder: Path
    detector: Path
    recogniser: Path
    kind: PackKind = "insightface"
    """Which engine runs it: ``opencv`` for a YuNet detector, else ``insightface``."""

    @property
    def name(self) -> str:
        return self.folder.name


def how_to_get_a_pack(data_dir: Path | None = None) -> str:
    where = DataLayout(data_dir).models if data_dir else Path("<data_dir>/models")
    return (
        "To get one: on a PC with internet run 'app.py models download sface' (OpenCV YuNet + SFace, commercial use "
        "allowed) or 'app.py models download buffalo_l' (or buffalo_s / buffalo_sc; non-commercial research only); "
        "or copy a pack (zip or folder with a detector .onnx and a recogniser .onnx) here and run "
        f"'app.py models import PATH'; packs are kept in {where}. "
        "Or use the offline engine instead: set engine.kind to dlib (no download needed)."
    )


def _classify_by_graph(path: Path) -> str | None:
    """'detection', 'recognition' or None from the ONNX graph's input/outputs (slow path for unknown names)."""
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - a broken file
        raise ModelPackError(f"{path.name} is not a readable ONNX model ({exc.__class__.__name__}); "
                             "the pack is broken: import or download it again.") from None
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in inits]
    if not inputs:
        return None
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    outs = len(graph.output)
    if outs >= 6:
        return "detection"
    if outs == 1 and len(dims) == 4 and dims[2] == 112 and dims[3] == 112:
        return "recognition"
    return None


def _detector_kind(path: Path) -> PackKind:
    """YuNet (run by OpenCV) or an InsightFace detector (SCRFD / RetinaFace), by name, else by its outputs."""
    stem = path.stem.lower()
    if any(h in stem for h in _OPENCV_DET_HINTS):
        return "opencv"
    if any(h in stem for h in ("scrfd", "retinaface", "det_")):
        return "insightface"
    try:
        import onnx

        outputs = {o.name for o in onnx.load(str(path), load_external_data=False).graph.output}
    except Exception:  # noqa: BLE001 - unreadable: the engine's own load names the problem
        return "insightface"
    # YuNet's raw outputs are cls_/obj_/bbox_/kps_ per stride; SCRFD has no objectness output
    return "opencv" if {"obj_8", "cls_8"} <= outputs else "insightface"


def _role(path: Path) -> str | None:
    stem = path.stem.lower()
    if any(s in stem for s in _IGNORED_STEMS):
        return None
    if any(h in stem for h in _DET_HINTS):
        return "detection"
    if any(h in stem for h in _REC_HINTS):
        return "recognition"
    return _classify_by_graph(path)


def validate_pack(folder: Path) -> PackFiles:
    """The detector and recogniser of a pack folder, or a ModelPackError saying what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelPackError(f"model pack folder {folder} does not exist. {how_to_get_a_pack()}")
    onnx_files = sorted(p for p in folder.rglob("*.onnx") if p.is_file())
    if not onnx_files:
        raise ModelPackError(f"model pack {folder} holds no .onnx model files. {how_to_get_a_pack()}")
    dets: list[Path] = []
    recs: list[Path] = []
    for p in onnx_files:
        if p.stat().st_size < 1024:
            raise ModelPackError(f"{p} is only {p.stat().st_size} bytes: the pack is broken or half-copied "
                                 "(a Git LFS pointer?). Import or download it again.")
        role = _role(p)
        (dets if role == "detection" else recs if role == "recognition" else []).append(p)
    if len(dets) != 1 or len(recs) != 1:
        found = ", ".join(p.name for p in onnx_files)
        raise ModelPackError(
            f"model pack {folder} needs exactly one detector and one recogniser ONNX; found {len(dets)} detector(s) "
            f"and {len(recs)} recogniser(s) among: {found}. {how_to_get_a_pack()}"
        )
    return PackFiles(folder, dets[0], recs[0], _detector_kind(dets[0]))


def pack_folder(pack: str, data_dir: Path) -> Path:
    """Where ``engine.pack`` points: an existing folder path, else ``<data_dir>/models/<pack>``."""
    p = Path(pack).expanduser()
    if p.is_absolute() or len(p.parts) > 1:
        return p
    installed = DataLayout(data_dir).models / pack  # a bare name: installed packs first, then a folder here
    if not installed.is_dir() and p.is_dir():
        return p
    if not installed.is_dir():
        from core.paths import BUNDLED_MODELS_DIR

        # baked into the packaged build (build.spec, SPG_BUNDLE_PACK)
        if BUNDLED_MODELS_DIR is not None and (BUNDLED_MODELS_DIR / pack).is_dir():
            return BUNDLED_MODELS_DIR / pack
    return installed


def find_pack(pack: str, data_dir: Path) -> PackFiles:
    """The pack named or pointed to by ``engine.pack``, validated; ModelPackError if missing or broken."""
    folder = pack_folder(pack, data_dir)
    if not folder.is_dir():
        raise ModelPackError(f"face model pack '{pack}' is not installed (looked in {folder}). {how_to_get_a_pack(data_dir)}")
    return validate_pack(folder)


def installed_packs(data_dir: Path) -> list[PackFiles]:
    """Valid packs under ``<data_dir>/models``, OpenCV packs first (commercially usable, and the most accurate
    measured here), then the others by name; broken ones are logged and left out."""
    from core.paths import BUNDLED_MODELS_DIR

    root = DataLayout(data_dir).models
    out: list[PackFiles] = []
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    if BUNDLED_MODELS_DIR is not None and BUNDLED_MODELS_DIR.is_dir():  # packs baked into the build come last
        names = {f.name for f in folders}
        folders += sorted(p for p in BUNDLED_MODELS_DIR.iterdir() if p.is_dir() and p.name not in names)
    for folder in folders:
        try:
            out.append(validate_pack(folder))
        except ModelPackError as exc:
            log.warning("ignoring model pack %s: %s", folder.name, exc)
    return sorted(out, key=lambda p: p.kind != "opencv")  # stable: name order within each kind


def _install(src_folder: Path, name: str, data_dir: Path, replace: bool) -> PackFiles:
    """Copy a validated folder into models/<name> (temp copy + rename: never a half-installed pack)."""
    files = validate_pack(src_folder)
    models = DataLayout(data_dir).models
    models.mkdir(parents=True, exist_ok=True)
    dest = models / name
    if dest.exists() and not replace:
        raise ModelPackError(f"a pack named '{name}' is already installed in {models}; remove it first or pick another name")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=models))
    try:
        for p in (files.detector, files.recogniser):  # only what the console runs
            shutil.copy2(p, tmp / p.name)
        if (files.folder / "thresholds.yaml").is_file():  # the pack's own calibration, if it has one
            shutil.copy2(files.folder / "thresholds.yaml", tmp / "thresholds.yaml")
        old = None
        if dest.exists():
            old = models / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            dest.rename(old)
        tmp.rename(dest)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("model pack %s installed in %s", name, dest)
    return validate_pack(dest)


def import_pack(source: Path, data_dir: Path, name: str | None = None, replace: bool = True) -> PackFiles:
    """Install a pack from a zip file or a folder into ``<data_dir>/models/<name>``."""
    source = Path(source).expanduser()
    if not source.exists():
        raise ModelPackError(f"{source} does not exist; give a pack zip file or a folder with the .onnx files")
    if source.is_dir():
        return _install(source, name or source.name, data_dir, replace)
    if not zipfile.is_zipfile(source):
        raise ModelPackError(f"{source} is neither a folder nor a zip file; give a pack zip (e.g. buffalo_l.zip) or its folder")
    with tempfile.TemporaryDirectory(prefix="spg_pack_") as tmp:
        try:
            with zipfile.ZipFile(source) as zf:
                for member in zf.namelist():
                    target = (Path(tmp) / member).resolve()
                    if not target.is_relative_to(Path(tmp).resolve()):
                        raise ModelPackError(f"{source.name} contains an unsafe path ({member}); not imported")
                zf.extractall(tmp)
        except zipfile.BadZipFile as exc:
            raise ModelPackError(f"{source.name} is a broken zip file ({exc}); download or copy it again") from None
        root = Path(tmp)
        entries = [p for p in root.iterdir() if not p.name.startswith("__MACOSX")]
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        return _install(root, name or source.stem, data_dir, replace)


def download_pack(name: str, data_dir: Path, progress: ProgressCallback | None = None, timeout_s: float = 30.0) -> PackFiles:
    """Download a known pack with progress, then install it: a buffalo pack from insightface's model zoo, or
    ``sface`` (YuNet + SFace) from OpenCV Zoo with pinned sha256 sums.

    Needs internet. Fails with a clear ModelPackError (never hangs: connect/read timeouts) and installs nothing.
    """
    if name not in KNOWN_PACKS:
        raise ModelPackError(f"unknown pack '{name}'; downloadable packs: {', '.join(KNOWN_PACKS)}")
    import requests

    models = DataLayout(data_dir).models
    models.mkdir(parents=True, exist_ok=True)
    if name in OPENCV_PACKS:
        return _download_opencv_pack(name, data_dir, progress, timeout_s)
    from insightface.utils.storage import model_zoo_download_url

    url = model_zoo_download_url(f"{name}.zip")
    zip_path = models / f".{name}.zip.part"
    try:
        _fetch(url, zip_path, progress, timeout_s)
        return import_pack(zip_path, data_dir, name=name)
    except requests.RequestException as exc:
        raise _offline_error(name, url, exc) from None
    finally:
        zip_path.unlink(missing_ok=True)


def _offline_error(name: str, url: str, exc: Exception) -> ModelPackError:
    return ModelPackError(
        f"could not download {name} from {url} ({exc.__class__.__name__}). This PC may be offline: download the "
        f"pack on a PC with internet and import it with 'app.py models import {name}.zip' (or its folder), "
        "or use engine.kind: dlib."
    )


def _fetch(url: str, dest: Path, progress: ProgressCallback | None, timeout_s: float,
           offset: int = 0, total: int = 0) -> int:
    """Stream ``url`` into ``dest``; progress gets ``offset + done`` of ``total`` (the response's length if 0)."""
    import requests

    with requests.get(url, stream=True, timeout=timeout_s) as r:
        r.raise_for_status()
        total = total or int(r.headers.get("content-length") or 0)
        done = 0
        with open(dest, "wb") as fh:
            for chunk in r.iter_content(chunk_size=1 << 20):
                fh.write(chunk)
                done += len(chunk)
                if progress:
                    progress(offset + done, total)
    return done


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _download_opencv_pack(name: str, data_dir: Path, progress: ProgressCallback | None, timeout_s: float) -> PackFiles:
    import requests

    models = DataLayout(data_dir).models
    total = sum(f.size for f in SFACE_FILES)
    with tempfile.TemporaryDirectory(prefix=f".{name}.download.", dir=models) as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        done = 0
        for f in SFACE_FILES:
            url = f"{OPENCV_ZOO_URL}/{f.path}"
            try:
                done += _fetch(url, folder / f.name, progress, timeout_s, offset=done, total=total)
            except requests.RequestException as exc:
                raise _offline_error(name, url, exc) from None
            got = _sha256(folder / f.name)
            if got != f.sha256:
                raise ModelPackError(
                    f"{f.name} from {url} is not the expected file (sha256 {got[:12]}..., expected {f.sha256[:12]}...): "
                    "the download was damaged or changed upstream, so nothing was installed. Try again, or import a "
                    "checked copy with 'app.py models import PATH'.")
        return _install(folder, name, data_dir, replace=True)
