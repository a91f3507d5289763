"""Image files on any path, Windows included.

``cv2.imread`` / ``cv2.imwrite`` open files with the narrow (ANSI code page) API on Windows, so they fail on
a path with letters outside that code page - e.g. the data folder of a user named "José" or "Siti Ñ" under
``C:\\Users\\...``. Reading the bytes with Python and decoding them with ``cv2.imdecode`` (and encoding with
``cv2.imencode``) works on every path on every OS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np


def read_image(path: Path | str, flags: int = cv2.IMREAD_COLOR) -> np.ndarray | None:
    """The decoded image, or None when the file is missing, unreadable or not an image (like cv2.imread)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    return cv2.imdecode(data, flags)


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
