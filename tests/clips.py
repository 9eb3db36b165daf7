"""Test clips made from the shared evaluation portraits, with known alpha.

A portrait with its reference matte is composited over a background and
moved, so every frame's true alpha is known: tests can check that the person
is kept and the background replaced, pixel region by pixel region.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(os.environ.get("LIVEBG_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
P3M = "p_07141906"


def load_portrait(name: str = P3M):
    image = cv2.imread(str(SHARED / "eval" / "images" / f"{name}.jpg"), cv2.IMREAD_COLOR)
    alpha = cv2.imread(str(SHARED / "eval" / "pseudo_alpha" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    if image is None or alpha is None:
        raise FileNotFoundError(f"portrait {name} not found under {SHARED}")
    return image, alpha


def person_frames(n: int, width: int = 1280, height: int = 720, name: str = P3M, background=None, amplitude: int = 80):
    """n frames (BGR) of the portrait sliding left and right over ``background``
    (BGR, any size; default a plain grey-green wall), and their true alphas (uint8)."""
    image, alpha = load_portrait(name)
    scale = height / image.shape[0]
    pw = round(image.shape[1] * scale)
    image = cv2.resize(image, (pw, height), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (pw, height), interpolation=cv2.INTER_AREA)
    if background is None:
        background = np.zeros((height, width, 3), np.uint8)
        background[:] = (90, 120, 100)
        background[:, ::64] = (70, 90, 80)  # some texture so a blur is visible
    else:
        from livebg.frames import cover_fit
        background = cover_fit(background, width, height)
    frames, alphas = [], []
    for i in range(n):
        x0 = (width - pw) // 2 + int(round(amplitude * np.sin(2 * np.pi * i / max(n, 30))))
        canvas = background.astype(np.float32).copy()
        a_full = np.zeros((height, width), np.float32)
        xs, xe = max(0, x0), min(width, x0 + pw)
        a = alpha[:, xs - x0:xe - x0].astype(np.float32) / 255.0
        a_full[:, xs:xe] = a
        canvas[:, xs:xe] = image[:, xs - x0:xe - x0] * a[..., None] + canvas[:, xs:xe] * (1 - a[..., None])
        frames.append(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
        alphas.append(np.clip(a_full * 255 + 0.5, 0, 255).astype(np.uint8))
    return frames, alphas


def write_clip(path: Path, frames, fps: float = 30.0) -> Path:
    from livebg.video import VideoWriter

    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, kind="h264") as wr:
        for f in frames:
            wr.write(f)
    return path


def read_all(path: Path, fmt: str = "bgr24"):
    """All frames of a video file, its average rate and its size."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format=fmt) for f in c.decode(s)]
        return frames, float(s.average_rate), (s.codec_context.width, s.codec_context.height)
