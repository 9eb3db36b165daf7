"""Moving test clips with known alpha, made from the shared evaluation portraits.

Each portrait is composited through its reference matte over a background,
first still, then moving (sliding and slightly zooming), with webcam-like
sensor noise, and the result is H.264-compressed, as a real webcam stream
would be before it reaches livebg. The true alpha of every frame is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEBG_SHARED_DATA", ROOT.parent / "shared" / "data"))
EVAL = SHARED / "eval"


@dataclass
class Portrait:
    name: str
    image: np.ndarray   # BGR uint8
    alpha: np.ndarray   # uint8
    handmade: bool


def portraits() -> list[Portrait]:
    """The 3 hand-made mattes and the 12 P3M pseudo mattes."""
    out = []
    for p in sorted((EVAL / "alpha").glob("*.png")):
        img_name = p.name.replace("_alpha", "_image")
        image = cv2.imread(str(EVAL / "images" / img_name), cv2.IMREAD_COLOR)
        alpha = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if alpha.ndim == 3:
            alpha = alpha[..., 0]
        out.append(Portrait(p.stem.replace("_alpha", ""), image, alpha, True))
    for p in sorted((EVAL / "pseudo_alpha").glob("*.png")):
        image = cv2.imread(str(EVAL / "images" / (p.stem + ".jpg")), cv2.IMREAD_COLOR)
        alpha = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        out.append(Portrait(p.stem, image, alpha, False))
    return out


BACKGROUNDS = ["beach.png", "background_bauhaus.png", "total_landscaping.jpg", "sky.jpg", "0001.png", "sunset.jpg"]


def background(i: int, width: int, height: int) -> np.ndarray:
    from livebg.frames import cover_fit

    img = cv2.imread(str(SHARED / "backgrounds" / BACKGROUNDS[i % len(BACKGROUNDS)]), cv2.IMREAD_COLOR)
    return cover_fit(img, width, height)


def place(portrait: Portrait, width: int, height: int, dx: float, zoom: float):
    """The portrait scaled to the frame height (times zoom), centred, shifted by dx;
    returns foreground (float32 BGR) and alpha (float32) on the canvas."""
    ih, iw = portrait.image.shape[:2]
    scale = height * zoom / ih
    # The portrait's bottom edge sits a little below the frame, as a body continues below a webcam's view.
    m = np.float32([[scale, 0, width / 2 - iw * scale / 2 + dx], [0, scale, height - ih * scale + 3]])
    fg = cv2.warpAffine(portrait.image, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(portrait.alpha, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return fg.astype(np.float32), a.astype(np.float32) / 255.0


# A lean from side to side and a little towards the camera: 60 px either way
# over 40 frames peaks at about 9 px a frame (280 px/s at 720p), a brisk
# movement for someone in a call. The "fast" variant (140 px over 20 frames,
# 44 px a frame at its peak) is far beyond what a call looks like; it is kept
# as a stress case.
MOTIONS = {"sway": (60.0, 40, 0.05), "fast": (140.0, 20, 0.06)}


def motion(i: int, still: int, kind: str = "sway") -> tuple[float, float]:
    """(dx in pixels, zoom) of frame i: still for the first ``still`` frames, then moving."""
    if i < still:
        return 0.0, 1.0
    amplitude, period, zoom = MOTIONS[kind]
    t = (i - still) / period
    return amplitude * np.sin(2 * np.pi * t), 1.0 + zoom * np.sin(np.pi * min(t, 1.0))


def make_clip(portrait: Portrait, bg: np.ndarray, n: int = 60, still: int = 20, noise: float = 3.0,
              seed: int = 0, crf: int = 23, kind: str = "sway", offset: float = 0.0):
    """Frames as a webcam would deliver them after H.264 (decoded BGR) and true alphas (float32).
    offset: where the person stands, in pixels right of the middle."""
    import av

    height, width = bg.shape[:2]
    rng = np.random.default_rng(seed)
    raw, alphas = [], []
    for i in range(n):
        dx, zoom = motion(i, still, kind)
        fg, a = place(portrait, width, height, dx + offset, zoom)
        img = fg * a[..., None] + bg.astype(np.float32) * (1 - a[..., None])
        img += rng.normal(0, noise, img.shape).astype(np.float32)
        raw.append(np.clip(img + 0.5, 0, 255).astype(np.uint8))
        alphas.append(a)
    # H.264 round trip in memory, as a webcam stream is compressed before it arrives.
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": str(crf), "preset": "veryfast"}
        for k, f in enumerate(raw):
            vf = av.VideoFrame.from_ndarray(f, format="bgr24")
            vf.pts = k
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    buf.seek(0)
    with av.open(buf) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    return frames, alphas
