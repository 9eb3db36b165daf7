"""Reading pictures (upright, as BGR) and encoding the results."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from livebg.errors import InputError, LivebgError

#: Output formats: name -> file suffix.
FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}
#: Suffixes that keep an alpha channel, and every suffix an output may have.
ALPHA_SUFFIXES = (".png", ".webp")
OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """A picture file as BGR uint8 (H, W, 3), turned upright by its EXIF orientation.

    Raises InputError with a one-line reason: missing, a folder, empty,
    unreadable, or not a picture OpenCV can decode.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder")
    if p.is_dir():
        raise InputError("is a folder")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except PermissionError:
        raise InputError("cannot read: permission denied") from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None
    if data.size == 0:
        raise InputError("empty file (0 bytes)")
    # imdecode, like imread, applies the EXIF orientation with IMREAD_COLOR
    # (JPEG, PNG and WebP); grey and 16-bit pictures come back as 8-bit BGR.
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError("not a picture that can be decoded (JPEG, PNG or WebP expected)")
    return image


def encode(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """Encode BGR or BGRA uint8 as PNG, JPEG (BGR only) or WebP (``quality`` 1-100 for JPEG and WebP)."""
    suffix = suffix.lower()
    if suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif suffix in (".jpg", ".jpeg"):
        if image.ndim == 3 and image.shape[2] == 4:
            raise ValueError("JPEG has no alpha channel")
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    else:
        raise ValueError(f"unsupported output format {suffix}")
    ok, buf = cv2.imencode(suffix, image, params)
    if not ok:
        raise LivebgError(f"could not encode the picture as {suffix}")
    return buf.tobytes()
