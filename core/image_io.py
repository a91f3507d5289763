"""Image files on any path, Windows included; the one place image files are read and decoded.

``cv2.imread`` / ``cv2.imwrite`` open files with the narrow (ANSI code page) API on Windows, so they fail on
a path with letters outside that code page - e.g. the data folder of a user named "José" or "Siti Ñ" under
``C:\\Users\\...``. Reading the bytes with Python and decoding them with ``cv2.imdecode`` (and encoding with
``cv2.imencode``) works on every path on every OS.

A small file can claim an enormous picture (a 3.5 MB PNG of 60000 x 60000 pixels): decoding it costs
gigabytes or ends in a ``cv2.error``. So the dimensions are read from the file's header first (Pillow's
lazy open parses the header only) and a picture above ``max_pixels`` is refused with
:class:`ImageTooLarge` before anything is decoded. A file whose header no reader understands is not an
image (None), like ``cv2.imread``.
"""

from __future__ import annotations

import io
import logging
import struct
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MAX_MEGAPIXELS = 40.0
"""A 40 MP photo is larger than any phone or camera picture an outlet takes; its decode costs ~120 MB."""


def max_pixels_of(megapixels: float | None) -> int:
    return int((DEFAULT_MAX_MEGAPIXELS if megapixels is None else megapixels) * 1_000_000)


DEFAULT_MAX_PIXELS = max_pixels_of(DEFAULT_MAX_MEGAPIXELS)


class ImageTooLarge(ValueError):
    """The file's header announces more pixels than allowed; nothing was decoded."""

    def __init__(self, label: str, width: int, height: int, max_pixels: int):
        self.label, self.width, self.height, self.max_pixels = label, width, height, max_pixels
        super().__init__(
            f"{label}: the picture is {width} x {height} pixels, more than the limit of {max_pixels / 1e6:g} million pixels "
            "(engine.max_image_megapixels); use a smaller copy of the photo"
        )


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header, without decoding pixels; None if no reader knows the format.

    Each Pillow format plugin registered for ``Image.open`` parses only the header when its image object
    is made. They are asked directly because ``Image.open`` itself refuses very large sizes without saying
    which (its decompression-bomb guard): here the caller's limit decides, with the size in its message.
    """
    from PIL import Image

    Image.init()
    prefix = data[:16]
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        try:
            verdict = accept(prefix) if accept is not None else True
            if not verdict or isinstance(verdict, str):  # a str is Pillow's "almost, but not this format"
                continue
            with factory(io.BytesIO(data), "") as im:
                w, h = im.size
            return int(w), int(h)
        except (SyntaxError, IndexError, TypeError, ValueError, KeyError, OSError, EOFError, struct.error):
            continue
    return None


def decode_image(data: bytes | np.ndarray, label: str = "image", flags: int = cv2.IMREAD_COLOR,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """Decode image bytes; None when they are not an image. :class:`ImageTooLarge` (nothing decoded) when
    the header announces more than ``max_pixels`` pixels."""
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    if buf.size == 0:
        return None
    size = header_size(buf.tobytes())
    if size is None:
        return None
    w, h = size
    if w * h > max_pixels:
        raise ImageTooLarge(label, w, h, max_pixels)
    try:
        return cv2.imdecode(buf, flags)
    except cv2.error as exc:  # a header that lied about the data: not an image this program can read
        log.warning("%s: cannot be decoded (%s)", label, str(exc).strip().splitlines()[-1] if str(exc) else exc)
        return None


def read_image(path: Path | str, flags: int = cv2.IMREAD_COLOR,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray | None:
    """The decoded image, or None when the file is missing, unreadable or not an image (like cv2.imread).
    :class:`ImageTooLarge` when its header announces more than ``max_pixels`` pixels."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    return decode_image(data, str(path), flags, max_pixels)


def write_image(path: Path | str, image: np.ndarray, params: Sequence[int] = ()) -> bool:
    """Encode by the file's suffix and write; False on failure (like cv2.imwrite)."""
    path = Path(path)
    ok, buf = cv2.imencode(path.suffix or ".png", image, list(params))
    if not ok:
        return False
    try:
        path.write_bytes(buf.tobytes())
    except OSError:
        return False
    return True
