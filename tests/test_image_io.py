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
