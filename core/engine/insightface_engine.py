"""InsightFace engine: a pack's detector + recogniser ONNX loaded through ``insightface.model_zoo``.

Only detection and recognition run (a buffalo pack's landmark and gender/age models are never loaded).
Execution providers: ``engine.providers`` (``auto`` = TensorRT, CUDA, DirectML, CPU), filtered by what
this onnxruntime build offers, falling back down the list when one fails to start; ``info.provider`` is
the one actually running. onnxruntime and insightface are imported when the engine is built, not when
this module is imported.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from core.config import EngineConfig
from core.engine.base import DetectedFace, EngineError, EngineInfo, FaceEngine, ModelPackError, l2_normalise
from core.engine.calibration import resolve_threshold
from core.engine.licence import licence_for
from core.engine.packs import PackFiles, validate_pack

log = logging.getLogger(__name__)

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider", "CPUExecutionProvider")
_ALIASES = {
    "tensorrt": "TensorrtExecutionProvider", "trt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider", "gpu": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider", "dml": "DmlExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def provider_candidates(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """The providers to try, in order: requested (``auto`` expands to the preferred list) that are available,
    always ending with CPU."""
    wanted: list[str] = []
    for name in requested or ["auto"]:
        names = PREFERRED_PROVIDERS if str(name).lower() == "auto" else (_ALIASES.get(str(name).lower(), str(name)),)
        for n in names:
            if n not in wanted:
                wanted.append(n)
    out = [p for p in wanted if p in available]
    skipped = [p for p in wanted if p not in available and str(p) != "CPUExecutionProvider"]
    if skipped and [r for r in requested if str(r).lower() != "auto"]:
        log.warning("execution provider(s) %s not available in this onnxruntime build; available: %s",
                    ", ".join(skipped), ", ".join(available))
    if "CPUExecutionProvider" not in out:
        out.append("CPUExecutionProvider")
    return out


_GRAPH_LEVELS = {"disable": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED",
                 "all": "ORT_ENABLE_ALL"}


def session_options(cfg: EngineConfig) -> Any:
    """ONNX Runtime session options from ``engine.*``: threads per session, graph optimisation, arena, spinning.

    A fresh object per session: the detector's sessions per input size copy theirs from the first."""
    import onnxruntime

    so = onnxruntime.SessionOptions()
    so.intra_op_num_threads = int(cfg.intra_op_threads)
    so.inter_op_num_threads = int(cfg.inter_op_threads)
    so.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, _GRAPH_LEVELS[cfg.graph_optimization])
    so.enable_cpu_mem_arena = bool(cfg.cpu_arena)
    so.enable_mem_pattern = True
    spin = "1" if cfg.thread_spinning else "0"
    so.add_session_config_entry("session.intra_op.allow_spinning", spin)
    so.add_session_config_entry("session.inter_op.allow_spinning", spin)
    return so


class InsightFaceEngine(FaceEngine):
    def __init__(self, cfg: EngineConfig, pack: PackFiles | Path):
        files = pack if isinstance(pack, PackFiles) else validate_pack(Path(pack))
        if files.kind != "insightface":
            raise ModelPackError(f"model pack {files.folder} is an OpenCV pack ({files.detector.name}); the InsightFace "
                                 "engine runs SCRFD / RetinaFace packs. Set engine.kind: auto (or opencv) for this pack.")
        self.cfg = cfg
        self.files = files
        try:
            import onnxruntime
            from insightface.model_zoo import get_model
        except ImportError as exc:  # pragma: no cover - install problem
            raise EngineError(f"the InsightFace engine needs onnxruntime and insightface ({exc}); "
                              "reinstall with the README's install command") from None
        available = onnxruntime.get_available_providers()
        candidates = provider_candidates(cfg.providers, available)
        self._det: Any = None  # insightface's model_zoo objects (untyped library)
        self._rec: Any = None
        last_exc: Exception | None = None
        for i in range(len(candidates)):
            providers = candidates[i:]
            try:
                det = get_model(str(files.detector), providers=providers, sess_options=session_options(cfg))
                rec = get_model(str(files.recogniser), providers=providers, sess_options=session_options(cfg))
            except Exception as exc:  # noqa: BLE001 - try the next provider
                last_exc = exc
                log.warning("could not start %s with %s (%s); trying the next provider", files.name, providers[0], exc)
                continue
            if det is None or getattr(det, "taskname", "") != "detection":
                raise ModelPackError(f"{files.detector} is not a face detector insightface can load; the pack is broken. "
                                     "Import or download it again.")
            if rec is None or getattr(rec, "taskname", "") != "recognition":
                raise ModelPackError(f"{files.recogniser} is not a face recogniser insightface can load; the pack is "
                                     "broken. Import or download it again.")
            self._det, self._rec = det, rec
            break
        if self._det is None:
            raise ModelPackError(f"could not load model pack {files.folder}: {last_exc}. The pack may be broken: "
                                 "import or download it again, or set engine.kind: dlib.")
        # insightface's norm_crop calls a scikit-image method deprecated in 0.26; harmless, silence it once
        warnings.filterwarnings("ignore", message=r".*`estimate` is deprecated", category=FutureWarning)
        size = int(cfg.det_size)
        self._det.prepare(0, input_size=(size, size), det_thresh=float(cfg.det_threshold))
        self._aspect = AspectDetector.wrap(self._det, files.detector)
        self._rec_session = batchable_session(self._rec.session, files.recogniser)
        self._rec_input = self._rec.input_name
        self._rec_output = self._rec.output_names[0]
        self._chip = int(self._rec.input_size[0])
        self._mean = float(self._rec.input_mean)
        self._std = float(self._rec.input_std)
        dim = self._rec.output_shape[1] if len(self._rec.output_shape) > 1 else None
        if not isinstance(dim, int):
            dim = int(self.embed_chips([np.zeros((self._chip, self._chip, 3), np.uint8)]).shape[1])
        provider = self._rec_session.get_providers()[0]
        model_id = f"insightface/{files.recogniser.stem}"
        threshold, margin = resolve_threshold(model_id, cfg.threshold, cfg.margin, files.folder)
        self.info = EngineInfo(
            name="insightface",
            model_id=model_id,
            embedding_dim=int(dim),
            threshold=threshold,
            margin=margin,
            provider=provider,
            pack_path=str(files.folder),
            licence=licence_for("insightface", files.folder.name, files.recogniser.stem),
        )
        log.info("InsightFace engine: pack %s (%s + %s), %d-d, provider %s, threshold %.2f margin %.2f",
                 files.folder, files.detector.name, files.recogniser.name, dim, provider, threshold, margin)

    def detect(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        return self.detect_at(image_bgr, int(self.cfg.det_size))

    def detect_at(self, image_bgr: np.ndarray, longest: int) -> list[DetectedFace]:
        if image_bgr is None or image_bgr.size == 0:
            return []
        if self._aspect is None:  # a detector that is not SCRFD (RetinaFace packs): insightface's own path
            size = aspect_input_size(image_bgr.shape[1], image_bgr.shape[0], longest)
            bboxes, kpss = self._det.detect(image_bgr, input_size=size)
        else:
            bboxes, kpss = self._aspect.detect(image_bgr, longest)
        faces = []
        for i in range(0 if bboxes is None else bboxes.shape[0]):
            kps = kpss[i] if kpss is not None else _kps_from_box(bboxes[i, :4])
            faces.append(DetectedFace(bbox=bboxes[i, :4].astype(np.float32), landmarks=np.asarray(kps, np.float32).reshape(5, 2),
                                      score=float(bboxes[i, 4])))
        return faces

    def detector_session(self, width: int, height: int) -> tuple[Any, str, list[str]]:
        """(ONNX Runtime session, input name, output names) the detector runs for a ``width`` x ``height``
        input: what ``benchmarks/pipeline.py`` times alone as the floor of a detection."""
        det = self._aspect._det if self._aspect is not None else self._det
        return det._session_for_input_size((int(width), int(height))), det.input_name, list(det.output_names)

    def align(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray:
        from insightface.utils import face_align

        chip: np.ndarray = face_align.norm_crop(image_bgr, landmark=np.asarray(face.landmarks, np.float32),
                                                image_size=self._chip)
        return chip

    def embed_chips(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.info.embedding_dim if hasattr(self, "info") else 0), np.float32)
        import cv2

        blob = cv2.dnn.blobFromImages(list(chips), 1.0 / self._std, (self._chip, self._chip),
                                      (self._mean, self._mean, self._mean), swapRB=True)
        out = self._rec_session.run([self._rec_output], {self._rec_input: blob.astype(np.float32, copy=False)})[0]
        return l2_normalise(out.reshape(out.shape[0], -1))


STRIDE = 32
"""SCRFD's coarsest feature map: its input sides must be multiples of this."""


def aspect_input_size(width: int, height: int, longest: int, stride: int = STRIDE) -> tuple[int, int]:
    """Detector input (w, h) for a ``width`` x ``height`` image: the image's own aspect with the longer side
    ``longest`` (to the nearest ``stride``), the shorter side rounded UP to a multiple of ``stride`` so the
    whole image fits. A 16:9 frame at 640 gets 640x384 (6 % padding) instead of a 640x640 letterbox (44 %)."""
    side = max(stride, int(round(int(longest) / stride)) * stride)
    w, h = max(1, int(width)), max(1, int(height))
    short = max(stride, -(-int(np.ceil(side * min(w, h) / max(w, h))) // stride) * stride)
    return (side, short) if w >= h else (short, side)


class AspectDetector:
    """SCRFD fed the image's own aspect ratio, with the pre-processing done once into reused buffers.

    The image is resized (bilinear, as insightface does) into a zero-padded uint8 canvas of the input size,
    then one 256-entry lookup per channel writes RGB, ``(x - mean) / std`` and the CHW layout into a reused
    float blob in a single pass (``cv2.LUT``), about 30x cheaper than ``cv2.dnn.blobFromImage`` plus the
    canvas insightface allocates per frame. The session run and the NMS stay insightface's own (its session per
    input size, ``SCRFD.nms``); its anchor decoding is done for the anchors over the threshold only (the same
    numbers, without decoding the thousands that are dropped).
    """

    def __init__(self, scrfd: Any):
        self._det = scrfd
        self._canvas: dict[tuple[int, int], tuple[np.ndarray, list[int]]] = {}

    @classmethod
    def wrap(cls, det: Any, model_path: Path) -> AspectDetector | None:
        """An AspectDetector over ``det``'s session, or None when ``det`` is not SCRFD."""
        from insightface.model_zoo.scrfd import SCRFD

        if not isinstance(det, SCRFD):
            return None
        fast = _scrfd_with_reused_blob()(model_file=str(model_path), session=det.session)
        fast.det_thresh, fast.nms_thresh = det.det_thresh, det.nms_thresh
        return cls(fast)

    def detect(self, image: np.ndarray, longest: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 5) boxes + scores and (N, 5, 2) landmarks in ``image`` coordinates, after NMS."""
        import cv2

        h, w = image.shape[:2]
        iw, ih = aspect_input_size(w, h, longest)
        scale = min(iw / w, ih / h)
        nw, nh = min(iw, max(1, int(round(w * scale)))), min(ih, max(1, int(round(h * scale))))
        canvas, used = self._canvas.get((iw, ih)) or (np.zeros((ih, iw, 3), np.uint8), [iw, ih])
        self._canvas[(iw, ih)] = (canvas, [nw, nh])
        if used != [nw, nh]:  # a differently shaped image left pixels in what is padding now
            canvas[:] = 0
        view = canvas[:nh, :nw]
        if (nw, nh) == (w, h):
            view[:] = image
        else:
            view[:] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        scores, boxes, kpss = self._det.forward(canvas, self._det.det_thresh)
        if not sum(s.size for s in scores):
            return np.zeros((0, 5), np.float32), (np.zeros((0, 5, 2), np.float32) if self._det.use_kps else None)
        ratio = np.array([nw / w, nh / h], np.float32)
        dets = np.hstack([np.concatenate(boxes) / np.tile(ratio, 2), np.concatenate(scores).reshape(-1, 1)])
        order = np.argsort(-dets[:, 4], kind="stable")
        dets = dets[order].astype(np.float32)
        kps = (np.concatenate(kpss) / ratio)[order] if self._det.use_kps else None
        keep = self._det.nms(dets)
        return dets[keep], (kps[keep].astype(np.float32) if kps is not None else None)


def _scrfd_with_reused_blob() -> type:
    """insightface's SCRFD whose input blob is written into a reused buffer by a per-channel lookup.

    Built on first use because insightface is imported only when an engine is built."""
    import cv2
    from insightface.model_zoo.scrfd import SCRFD

    class ReusedBlobSCRFD(SCRFD):  # type: ignore[misc]  # insightface is untyped
        def _prepare_input_blob(self, img: np.ndarray, input_size: tuple[int, int]) -> np.ndarray:
            h, w = img.shape[:2]
            blobs: dict[tuple[int, int], np.ndarray] = self.__dict__.setdefault("_reused_blobs", {})
            blob = blobs.get((w, h))
            if blob is None:
                blob = blobs[(w, h)] = np.empty((1, 3, h, w), np.float32)
                self._lut = ((np.arange(256, dtype=np.float32) - self.input_mean) / self.input_std).astype(np.float32)
            for c, channel in enumerate(reversed(cv2.split(img))):  # BGR -> RGB planes
                cv2.LUT(channel, self._lut, dst=blob[0, c])
            return blob

        def _centres(self, height: int, width: int, stride: int) -> np.ndarray:
            """Anchor centres of one stride's feature map, as insightface lays them out (cached per size)."""
            key = (height, width, stride)
            centres: np.ndarray | None = self.center_cache.get(key)
            if centres is None:
                ys, xs = np.mgrid[:height, :width]
                centres = (np.stack([xs, ys], axis=-1).astype(np.float32) * stride).reshape(-1, 2)
                if self._num_anchors > 1:
                    centres = np.repeat(centres, self._num_anchors, axis=0)
                if len(self.center_cache) < 100:
                    self.center_cache[key] = centres
            return centres

        def forward(self, img: np.ndarray, threshold: float) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                     list[np.ndarray]]:
            """insightface's ``SCRFD.forward`` with boxes and landmarks decoded for the anchors that pass the
            threshold only (insightface decodes all of them, 5040 at 640x384, then keeps a handful): the
            same arithmetic on fewer rows, so the same numbers."""
            blob = self._prepare_input_blob(img, tuple(img.shape[0:2][::-1]))
            outs = self._session_for_input_size((blob.shape[3], blob.shape[2])).run(
                self.output_names, {self.input_name: blob})
            if self.batched:
                outs = [o[0] for o in outs]
            scores_list: list[np.ndarray] = []
            bboxes_list: list[np.ndarray] = []
            kpss_list: list[np.ndarray] = []
            fmc = self.fmc
            for idx, stride in enumerate(self._feat_stride_fpn):
                scores = outs[idx]
                pos = np.where(scores >= threshold)[0]
                centres = self._centres(blob.shape[2] // stride, blob.shape[3] // stride, stride)[pos]
                dist = outs[idx + fmc][pos] * stride
                scores_list.append(scores[pos])
                bboxes_list.append(np.stack([centres[:, 0] - dist[:, 0], centres[:, 1] - dist[:, 1],
                                             centres[:, 0] + dist[:, 2], centres[:, 1] + dist[:, 3]], axis=-1))
                if self.use_kps:
                    kps = outs[idx + fmc * 2][pos] * stride
                    kps[:, 0::2] += centres[:, :1]
                    kps[:, 1::2] += centres[:, 1:2]
                    kpss_list.append(kps.reshape(kps.shape[0], kps.shape[1] // 2, 2))
            return scores_list, bboxes_list, kpss_list

    return ReusedBlobSCRFD


def batchable_session(session: Any, model_path: Path) -> Any:  # onnxruntime.InferenceSession (untyped library)
    """``session``, or a new one on the same providers whose graph declares a free batch dimension.

    Some recognisers (buffalo_s's w600k_mbf.onnx) declare batch 1 on their output although they compute any
    batch; onnxruntime then prints "Expected shape from model of {1,512} does not match actual shape of
    {N,512}" on stderr for every batched run. The graph is loaded with ``onnx``, the first dimension of its
    inputs and outputs renamed to a symbolic ``N``, its stored intermediate shapes (also batch 1, and only
    hints) dropped for onnxruntime to infer again, and the session built from those bytes (insightface's
    ``get_model`` only takes a path, so its own session is kept for nothing but what it reads at load time).
    """
    fixed = [d for io in (*session.get_inputs(), *session.get_outputs()) for d in io.shape[:1] if isinstance(d, int)]
    if not fixed:
        return session
    import onnx
    import onnxruntime

    model = onnx.load(str(model_path))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims):
            dims[0].dim_param = "N"  # one name for every batch dim; setting it clears dim_value (a protobuf oneof)
    del model.graph.value_info[:]
    providers = session.get_providers()
    options = session.get_provider_options()
    log.info("%s declares a fixed batch size; running it with a free batch dimension", model_path.name)
    return onnxruntime.InferenceSession(model.SerializeToString(), sess_options=session.get_session_options(),
                                        providers=providers,
                                        provider_options=[options.get(p, {}) for p in providers])


def _kps_from_box(b: np.ndarray) -> np.ndarray:
    """Rough landmarks for a detector without keypoints (not used by the shipped packs)."""
    x1, y1, x2, y2 = [float(v) for v in b]
    w, h = x2 - x1, y2 - y1
    rel = np.array([[0.34, 0.46], [0.66, 0.46], [0.5, 0.64], [0.37, 0.82], [0.63, 0.82]], np.float32)
    return rel * [w, h] + [x1, y1]
