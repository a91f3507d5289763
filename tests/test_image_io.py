"""Image files in folders with spaces and non-ASCII letters (Windows user names), via core.image_io."""

from __future__ import annotations

import cv2
import numpy as np

from core.image_io import read_image, write_image


def test_jpeg_round_trip_in_a_non_ascii_folder(tmp_path):
    folder = tmp_path / "Users" / "José Müller" / "unknown faces"
    folder.mkdir(parents=True)
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :30] = (0, 0, 255)
    assert write_image(folder / "cam 01__Ñ.jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    back = read_image(folder / "cam 01__Ñ.jpg")
    assert back is not None and back.shape == img.shape
    assert np.abs(back.astype(int) - img.astype(int)).mean() < 3


def test_missing_or_broken_file_reads_as_none_like_imread(tmp_path):
    assert read_image(tmp_path / "nope.jpg") is None
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    assert read_image(tmp_path / "broken.jpg") is None
    assert write_image(tmp_path / "no such folder" / "x.jpg", np.zeros((4, 4, 3), np.uint8)) is False


# --- hostile files (issue 11 item 9) ------------------------------------------------------------------
def png_claiming(path, width: int, height: int, rows: int = 4) -> None:
    """A PNG whose header says ``width`` x ``height`` (8-bit grey) with only ``rows`` rows of data: tiny on
    disk, but a decoder would allocate the whole announced picture."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (rows * (width + 1)), 9)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_huge_png_is_refused_from_its_header_before_decoding(tmp_path):
    import time

    import pytest

    from core.image_io import ImageTooLarge

    bomb = tmp_path / "bomb.png"
    png_claiming(bomb, 60000, 60000)
    # the failure: OpenCV's decoder dies on the announced size with an error nobody catches
    with pytest.raises(cv2.error):
        cv2.imdecode(np.fromfile(str(bomb), np.uint8), cv2.IMREAD_COLOR)
    with pytest.raises(ImageTooLarge) as exc:
        read_image(bomb)
    msg = str(exc.value)
    assert "bomb.png" in msg and "60000 x 60000" in msg and "40 million pixels" in msg
    assert "engine.max_image_megapixels" in msg

    big = tmp_path / "big.png"
    png_claiming(big, 20000, 20000)
    t0 = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        read_image(big)
    assert time.perf_counter() - t0 < 0.5  # header only: no 400 MP decode


def test_the_pixel_limit_is_a_setting_and_normal_photos_pass(tmp_path):
    import pytest

    from core.config import EngineConfig
    from core.image_io import ImageTooLarge, max_pixels_of

    photo = tmp_path / "p.png"
    assert write_image(photo, np.zeros((300, 400, 3), np.uint8))
    assert read_image(photo).shape == (300, 400, 3)
    limit = max_pixels_of(EngineConfig(max_image_megapixels=0.1).max_image_megapixels)
    with pytest.raises(ImageTooLarge, match="400 x 300 pixels"):
        read_image(photo, max_pixels=limit)
