"""InsightFace model packs: find, validate, import (zip or folder) and download them.

A pack is a folder holding one detector ONNX (SCRFD / RetinaFace) and one recogniser ONNX (ArcFace-style),
e.g. ``buffalo_l`` (det_10g.onnx + w600k_r50.onnx, plus landmark / gender-age models this console
never loads), ``buffalo_s`` / ``buffalo_sc`` or the test pack. Installed packs live in
``<data_dir>/models/<name>/``. Downloads go through insightface's own mechanism
(``insightface.utils.storage`` release URL + ``download_file``), with a progress callback.

The buffalo packs' weights are licensed for non-commercial research only; for commercial use pick the
dlib offline engine (public-domain weights).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.engine.base import ModelPackError
from core.paths import DataLayout

log = logging.getLogger(__name__)

KNOWN_PACKS = ("buffalo_l", "buffalo_s", "buffalo_sc")
PACK_LICENCE = "InsightFace model weights: non-commercial research use only"
ProgressCallback = Callable[[int, int], None]
"""progress(done_bytes, total_bytes); total is 0 when unknown."""

# models in buffalo packs that the console never runs (landmarks, gender/age)
_IGNORED_STEMS = ("1k3d68", "2d106det", "genderage", "landmark", "attribute")
_DET_HINTS = ("det_", "scrfd", "retinaface", "yunet", "detect")
_REC_HINTS = ("w600k", "glint", "arcface", "mobilefacenet", "ms1m", "webface", "_rec", "rec_", "r50", "r100", "recog")


@dataclass(frozen=True)
class PackFiles:
    folder: Path
    detector: Path
    recogniser: Path

    @property
    def name(self) -> str:
        return self.folder.name


def how_to_get_a_pack(data_dir: Path | None = None) -> str:
    where = DataLayout(data_dir).models if data_dir else Path("<data_dir>/models")
    return (
        "To get one: on a PC with internet run 'app.py models download buffalo_l' (or buffalo_s / buffalo_sc); "
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
    return PackFiles(folder, dets[0], recs[0])


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
    """Valid packs under ``<data_dir>/models`` (broken ones are logged and left out)."""
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
    return out


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
    """Download a buffalo pack with insightface's model-zoo URL, with progress; then install it.

    Needs internet. Fails with a clear ModelPackError (never hangs: connect/read timeouts).
    """
    if name not in KNOWN_PACKS:
        raise ModelPackError(f"unknown pack '{name}'; downloadable packs: {', '.join(KNOWN_PACKS)}")
    import requests
    from insightface.utils.storage import model_zoo_download_url

    url = model_zoo_download_url(f"{name}.zip")
    models = DataLayout(data_dir).models
    models.mkdir(parents=True, exist_ok=True)
    zip_path = models / f".{name}.zip.part"
    try:
        with requests.get(url, stream=True, timeout=timeout_s) as r:
            r.raise_for_status()
            total = int(r.headers.get("content-length") or 0)
            done = 0
            with open(zip_path, "wb") as fh:
                for chunk in r.iter_content(chunk_size=1 << 20):
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        return import_pack(zip_path, data_dir, name=name)
    except requests.RequestException as exc:
        raise ModelPackError(
            f"could not download {name} from {url} ({exc.__class__.__name__}). This PC may be offline: download the "
            f"pack on a PC with internet and import it with 'app.py models import {name}.zip', or use engine.kind: dlib."
        ) from None
    finally:
        zip_path.unlink(missing_ok=True)
