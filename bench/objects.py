"""Object photos for the general-subject cutout: real ones whose licence allows
showing them, and synthetic ones with a known alpha.

* :func:`sample_photos`: scikit-image's sample photographs (``pip install
  scikit-image``, a bench tool only), each with the licence its docstring
  states: the coffee cup and the cat Chelsea (both CC0 by their
  photographers), the DSCOVR rocket launch (SpaceX, public domain) and the
  astronaut Eileen Collins (NASA, public domain; a person, so ``--subject
  auto`` should pick the person pipeline there).
* :func:`synthetic_objects`: product-like objects drawn here (a mug with a
  handle, a glossy ball, a bottle with a label, a plant with thin stems and
  leaves), rendered with 4x4 supersampling so their true alpha, including
  the anti-aliased edges, is known, and put on the permissively licensed
  shared backgrounds (pymatting's beach, backscrub's). These give
  SAD/MSE/Grad/Conn for objects, where no reference matte exists otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LIVEBG_SHARED_DATA", ROOT.parent / "shared" / "data"))

#: scikit-image sample photos used, with the licence their docstrings state.
SAMPLE_PHOTOS = {
    "coffee": "CC0 (photographer Rachel Michetti), scikit-image sample data",
    "chelsea": "CC0 (photographer Stefan van der Walt), scikit-image sample data",
    "rocket": "public domain (SpaceX), scikit-image sample data",
    "astronaut": "public domain (NASA), scikit-image sample data",
}


@dataclass
class Sample:
    name: str
    image: np.ndarray              # BGR uint8
    alpha: np.ndarray | None       # float32 in [0, 1], or None when unknown
    licence: str
    person: bool = False           # what --subject auto should pick: person (True) or object


def sample_photos() -> list[Sample]:
    try:
        import skimage.data
    except ImportError as e:  # a bench tool, not a livebg dependency
        raise SystemExit("scikit-image is needed for the sample photos: pip install scikit-image") from e
    out = []
    for name, licence in SAMPLE_PHOTOS.items():
        rgb = getattr(skimage.data, name)()
        out.append(Sample(name, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), None, licence, person=name == "astronaut"))
    return out


# ---------------------------------------------------------------- synthetic objects

SS = 4  # supersampling factor for the coverage (alpha) of the drawn shapes


def _coverage(h: int, w: int, draw) -> np.ndarray:
    """Anti-aliased coverage of shapes drawn by ``draw(mask, scale)`` on a SSx grid."""
    big = np.zeros((h * SS, w * SS), np.uint8)
    draw(big, SS)
    return cv2.resize(big.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)


def _shade_cylinder(h, w, x0, x1, base_bgr, gloss=0.6):
    """Colour of a lit cylinder between columns x0 and x1: darker at the sides, a highlight left of centre."""
    xs = (np.arange(w, dtype=np.float32) - x0) / max(1, x1 - x0)
    t = np.clip(xs, 0, 1) * 2 - 1
    light = 0.45 + 0.55 * np.sqrt(np.clip(1 - t * t, 0, 1))
    spec = gloss * np.exp(-((t + 0.35) / 0.08) ** 2)
    col = np.asarray(base_bgr, np.float32)[None, :] * light[:, None] + 255 * spec[:, None]
    return np.broadcast_to(np.clip(col, 0, 255)[None], (h, w, 3)).astype(np.float32)


def _background(name: str, h: int, w: int) -> np.ndarray:
    bg = cv2.imread(str(SHARED / "backgrounds" / name), cv2.IMREAD_COLOR)
    if bg is None:
        raise SystemExit(f"background {name} not found under {SHARED / 'backgrounds'}")
    s = max(h / bg.shape[0], w / bg.shape[1])
    bg = cv2.resize(bg, (round(bg.shape[1] * s) + 1, round(bg.shape[0] * s) + 1), interpolation=cv2.INTER_LINEAR)
    return bg[:h, :w].astype(np.float32)


def _mug(h, w):
    cx, top, bot, r = w // 2 - w // 12, h // 4, 3 * h // 4, w // 6

    def body(m, s):
        cv2.rectangle(m, ((cx - r) * s, top * s), ((cx + r) * s, bot * s), 255, -1)
        cv2.ellipse(m, (cx * s, bot * s), (r * s, r * s // 4), 0, 0, 180, 255, -1)
        cv2.ellipse(m, (cx * s, top * s), (r * s, r * s // 4), 0, 0, 360, 255, -1)

    def handle(m, s):
        cv2.ellipse(m, ((cx + r) * s, (top + bot) // 2 * s), (r * s * 6 // 10, (bot - top) * s * 3 // 10),
                    0, -90, 90, 255, max(1, r * s // 5))

    a_body, a_handle = _coverage(h, w, body), _coverage(h, w, handle)
    colour = _shade_cylinder(h, w, cx - r, cx + r, (40, 60, 190))
    handle_col = np.full((h, w, 3), (30, 45, 150), np.float32)
    alpha = np.clip(a_body + a_handle * (1 - a_body), 0, 1)
    fg = (colour * a_body[..., None] + handle_col * (a_handle * (1 - a_body))[..., None]) / np.maximum(alpha, 1e-6)[..., None]
    rim = _coverage(h, w, lambda m, s: cv2.ellipse(m, (cx * s, top * s), ((r - 4) * s, (r - 4) * s // 4), 0, 0, 360, 255, -1))
    fg = fg * (1 - rim[..., None]) + np.array((20, 40, 60), np.float32) * rim[..., None]  # coffee inside
    return fg, alpha


def _ball(h, w):
    cx, cy, r = w // 2, h // 2, min(h, w) // 3
    alpha = _coverage(h, w, lambda m, s: cv2.circle(m, (cx * s, cy * s), r * s, 255, -1))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (xx - cx) / r, (yy - cy) / r
    nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    light = np.clip(0.25 + 0.75 * (-0.4 * nx - 0.5 * ny + 0.77 * nz), 0.1, 1)
    spec = np.clip(-0.4 * nx - 0.5 * ny + 0.77 * nz, 0, 1) ** 40
    fg = np.array((30, 170, 240), np.float32) * light[..., None] + 255 * spec[..., None]
    return np.clip(fg, 0, 255), alpha


def _bottle(h, w):
    cx, r, neck = w // 2, w // 9, w // 25

    def shape(m, s):
        cv2.rectangle(m, ((cx - r) * s, (h * 2 // 5) * s), ((cx + r) * s, (h * 7 // 8) * s), 255, -1)
        cv2.ellipse(m, (cx * s, (h * 2 // 5) * s), (r * s, r * s), 0, 180, 360, 255, -1)
        cv2.rectangle(m, ((cx - neck) * s, (h // 8) * s), ((cx + neck) * s, (h * 2 // 5) * s), 255, -1)

    alpha = _coverage(h, w, shape)
    fg = _shade_cylinder(h, w, cx - r, cx + r, (60, 120, 30), gloss=0.8)
    label = np.zeros((h, w), np.float32)
    label[h * 11 // 20: h * 3 // 4, :] = 1.0
    fg = fg * (1 - label[..., None]) + _shade_cylinder(h, w, cx - r, cx + r, (235, 235, 240), gloss=0.1) * label[..., None]
    return fg, alpha


def _plant(h, w):
    """Thin stems and leaves: fine structure with many edges and holes."""
    rng = np.random.default_rng(7)
    base = (w // 2, h * 7 // 8)

    def shape(m, s):
        cv2.rectangle(m, ((w // 2 - w // 10) * s, (h * 3 // 4) * s), ((w // 2 + w // 10) * s, (h * 15 // 16) * s), 255, -1)
        for k in range(9):
            ang = np.deg2rad(-90 + rng.uniform(-55, 55))
            length = rng.uniform(0.35, 0.6) * h
            x1 = int(base[0] + np.cos(ang) * length)
            y1 = int(base[1] + np.sin(ang) * length)
            cv2.line(m, (base[0] * s, base[1] * s), (x1 * s, y1 * s), 255, max(1, s * 2))
            cv2.ellipse(m, (x1 * s, y1 * s), (int(h * 0.07) * s, int(h * 0.025) * s),
                        float(np.rad2deg(ang)), 0, 360, 255, -1)

    alpha = _coverage(h, w, shape)
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32) / h
    green = np.stack([40 + 30 * yy, 140 - 40 * yy, 50 + 10 * yy], -1)
    pot = np.zeros((h, w), np.float32)
    pot[h * 3 // 4:, :] = 1
    fg = green * (1 - pot[..., None]) + np.array((60, 90, 170), np.float32) * pot[..., None]
    return fg.astype(np.float32), alpha


SYNTHETIC = {
    "mug": (_mug, "beach.png"),
    "ball": (_ball, "background_bauhaus.png"),
    "bottle": (_bottle, "total_landscaping.jpg"),
    "plant": (_plant, "beach.png"),
}


def synthetic_objects(height: int = 720, width: int = 960) -> list[Sample]:
    out = []
    for name, (make, bg_name) in SYNTHETIC.items():
        fg, alpha = make(height, width)
        bg = _background(bg_name, height, width)
        img = fg * alpha[..., None] + bg * (1 - alpha[..., None])
        out.append(Sample(f"synthetic-{name}", np.clip(img + 0.5, 0, 255).astype(np.uint8), alpha.astype(np.float32),
                          f"drawn here; background {bg_name}"))
    return out
