"""Long synthetic webcam clips with known alpha: the widened clip benchmark.

bench/synth.py makes 2-second clips of one portrait, still then swaying.
This module makes 10-second 720p clips at 30 fps of the kinds a webcam
sees, from the same 15 evaluation portraits (and their reference mattes):

==========  ==============================================================
kind        what happens
==========  ==============================================================
still       a talking head: breathing-sized drift, a small nod
sway        1 s still, then leaning side to side (synth.py's "sway", with
            amplitude and period drawn per clip)
walk        walking across the frame and back (with a gait bob), partly
            leaving the picture at each side
lean        leaning in towards the camera and back out (zoom 0.85-1.45)
turn        still spells broken by fast turns: a quick tilt and shift of
            the whole upper body (up to ~40 px a frame, motion blurred)
enter       1 s of empty room, then the person walks in from one side and
            settles near the middle
object      swaying while holding a synthetic object (mug, book or phone,
            anti-aliased, partly over the body, its own motion); its alpha
            is part of the truth
hat         swaying with a synthetic beanie or cap on the head (dark or
            knitted stripes, optionally a pom-pom), part of the truth
cuts        a different person and room every 2 s (hard cuts, 5 subjects)
==========  ==============================================================

Every clip is deterministic from its spec (kind, portraits, backgrounds,
seed). Backgrounds are all still pictures in ../shared/data/backgrounds,
the animated rotating_earth.webm, and seeded procedural cluttered rooms
(book shelves, frames, a lamp, a plant, a window). Fast motion is motion
blurred (sub-frame renders averaged; the true alpha is the same average,
as a real exposure gives). Then webcam-like sensor noise and an H.264
round trip, as bench/synth.py does.

The 15 portraits are split once into a tuning set (8) and a held-out set
(7): every choice is made on ``TUNING``; ``HELDOUT`` only reports.

The H.264 stream of each clip is cached (``LIVEBG_CLIP_CACHE``, default
/tmp/livebg-clips); the true alpha is re-rendered on each read (cheap), so
:func:`stream` yields (frame, alpha) pairs one at a time without holding
a whole 10-second clip in memory.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livebg.frames import cover_fit  # noqa: E402  (the compositor's own scaling)

SHARED = Path(os.environ.get("LIVEBG_SHARED_DATA", ROOT.parent / "shared" / "data"))
EVAL = SHARED / "eval"
CACHE = Path(os.environ.get("LIVEBG_CLIP_CACHE", "/tmp/livebg-clips"))
VERSION = 4  # bump when rendering changes: invalidates the cache

W, H, FPS, N = 1280, 720, 30, 300

HANDMADE = ("4", "9", "boy-1518482_1920_12")
# The split: 8 tuning portraits (one hand-made hair matte: the boy's fine
# hair; the front-facing hat of p_07141906; the microphone of p_818e689d)
# and 7 held out (the other two hand-made hair mattes, and the real hat seen
# from behind, p_bc5cfad1, that RVM is known to drop).
TUNING = ("boy-1518482_1920_12", "p_07141906", "p_22fc0130", "p_51c916fc",
          "p_818e689d", "p_a09f6d7a", "p_bd6af989", "p_71bcce3a")
HELDOUT = ("4", "9", "p_09ba26b4", "p_514ca06a", "p_bac3c1ff", "p_bc5cfad1", "p_d684dae3")

KINDS = ("still", "sway", "walk", "lean", "turn", "enter", "object", "hat", "cuts")
SINGLE_KINDS = KINDS[:-1]

STILL_BACKGROUNDS = ("0001.png", "0002.png", "background_bauhaus.png", "beach.jpg", "beach.png", "blue.jpg",
                     "ocean.jpeg", "sky.jpg", "sunset.jpg", "total_landscaping.jpg")
VIDEO_BACKGROUND = "rotating_earth.webm"


# --------------------------------------------------------------------------- portraits

@dataclass
class Subject:
    """A portrait prepared for placement: padded so that moving it never shows
    its picture's border above the body (sides and bottom repeat the edge;
    above the picture the alpha is 0)."""

    name: str
    image: np.ndarray   # BGR uint8, padded
    alpha: np.ndarray   # float32 0..1, padded
    pad: int            # padding on every side, pixels of the original
    box: tuple[float, float, float, float]  # person box (x0, y0, x1, y1) in padded pixels, alpha > 0.5
    head: tuple[float, float, float]        # head centre x, head top y, head width (padded pixels)
    top_cut: bool       # the hair touches the picture's top edge: never show that edge
    handmade: bool
    bottom: float       # padded row placed at the frame's bottom edge: above the rows where the body
                        # runs out of the picture's sides, so no cut body edge ever shows


def _load_portrait(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    if name in HANDMADE:
        img_name = "boy-1518482_1920_12.png" if name.startswith("boy") else f"{name}_image.png"
        a_name = "boy-1518482_1920_12.png" if name.startswith("boy") else f"{name}_alpha.png"
        image = cv2.imread(str(EVAL / "images" / img_name), cv2.IMREAD_COLOR)
        alpha = cv2.imread(str(EVAL / "alpha" / a_name), cv2.IMREAD_UNCHANGED)
        if alpha.ndim == 3:
            alpha = alpha[..., 0]
        return image, alpha, True
    image = cv2.imread(str(EVAL / "images" / f"{name}.jpg"), cv2.IMREAD_COLOR)
    alpha = cv2.imread(str(EVAL / "pseudo_alpha" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
    return image, alpha, False


def all_portraits() -> tuple[str, ...]:
    return tuple(sorted(TUNING + HELDOUT))


@lru_cache(maxsize=16)
def subject(name: str, hat: int = -1) -> Subject:
    """The portrait ``name``, padded; with hat >= 0 a seeded synthetic hat drawn on."""
    image, alpha8, handmade = _load_portrait(name)
    ih, iw = alpha8.shape
    # Work at most 1440 px high: the clips are 720p, and this keeps warps cheap.
    if ih > 1440:
        s = 1440 / ih
        image = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        alpha8 = cv2.resize(alpha8, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        ih, iw = alpha8.shape
    alpha = alpha8.astype(np.float32) / 255.0
    pad = max(ih, iw)
    img_p = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    # The alpha is 0 beyond the picture, except below it (the body goes on down).
    a_low = cv2.copyMakeBorder(alpha, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
    a_p = cv2.copyMakeBorder(a_low, pad, 0, pad, pad, cv2.BORDER_CONSTANT, value=0)
    # Where the body runs out of a side of the picture (a run of alpha > 0.5 in the
    # side column reaching the bottom), the frame's bottom edge goes above that run.
    cut = ih
    for col in (alpha[:, 0], alpha[:, -1]):
        on = col > 0.5
        if on[-1]:
            k = ih - 1
            while k > 0 and on[k - 1]:
                k -= 1
            cut = min(cut, k)
    cut = max(cut - int(0.01 * ih), int(0.5 * ih))
    m = alpha > 0.5
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    box = (cols[0] + pad, rows[0] + pad, cols[-1] + 1 + pad, rows[-1] + 1 + pad)
    top = int(rows[0])
    bh = rows[-1] - rows[0]
    # Head: the rows from the top of the person down to 12% of its height.
    head_rows = m[top:top + max(4, int(0.12 * bh))]
    ys, xs = np.nonzero(head_rows)
    hx = float(xs.mean())
    probe = m[min(ih - 1, top + int(0.09 * bh))]
    pc = np.flatnonzero(probe)
    # The run of the probe row that contains the head centre.
    if pc.size:
        runs = np.split(pc, np.flatnonzero(np.diff(pc) > 1) + 1)
        run = min(runs, key=lambda r: 0 if r[0] <= hx <= r[-1] else min(abs(r[0] - hx), abs(r[-1] - hx)))
        hw = float(run[-1] - run[0] + 1)
        hx = float((run[0] + run[-1]) / 2)
    else:
        hw = 0.2 * (cols[-1] - cols[0])
    hw = float(np.clip(hw, 0.08 * bh, 0.5 * bh))
    top_cut = bool(alpha[0].max() > 0.5)
    sub = Subject(name, img_p, a_p, pad, box, (hx + pad, top + pad, hw), top_cut, handmade, float(cut + pad))
    if hat >= 0:
        sub = _with_hat(sub, hat)
    return sub


# --------------------------------------------------------------------------- drawing helpers

SS = 4  # supersampling for anti-aliased synthetic shapes


def _aa_canvas(h: int, w: int):
    return np.zeros((h * SS, w * SS), np.uint8)


def _down(mask_ss: np.ndarray) -> np.ndarray:
    h, w = mask_ss.shape[0] // SS, mask_ss.shape[1] // SS
    return cv2.resize(mask_ss, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def _pts(p) -> np.ndarray:
    return np.round(np.asarray(p, np.float64) * SS).astype(np.int32)


def _knit(h: int, w: int, rng, colours) -> np.ndarray:
    """A knitted-looking texture: stripes of colours with a fine ribbing and noise."""
    out = np.zeros((h, w, 3), np.float32)
    stripe = max(3, int(h / rng.integers(4, 8)))
    for y in range(h):
        out[y] = colours[(y // stripe) % len(colours)]
    x = np.arange(w, dtype=np.float32)
    rib = 0.85 + 0.15 * np.abs(np.sin(x * np.pi / max(2.0, w / 40)))
    out *= rib[None, :, None]
    out += rng.normal(0, 8, out.shape).astype(np.float32)
    return np.clip(out, 0, 255)


def _with_hat(sub: Subject, seed: int) -> Subject:
    """The subject with a synthetic hat: a beanie (dome + turned-up band, maybe a
    pom-pom) or a cap (dome + brim), dark or knitted, drawn anti-aliased over the
    head in the portrait's own pixels, so it moves exactly with the person."""
    rng = np.random.default_rng(1000 + seed)
    hx, top, hw = sub.head
    kind = ("beanie", "cap")[int(rng.integers(0, 2))]
    width = hw * rng.uniform(1.05, 1.2)
    dome_h = width * rng.uniform(0.42, 0.55)
    band_h = width * rng.uniform(0.14, 0.2) if kind == "beanie" else width * 0.08
    base_y = top + width * rng.uniform(0.28, 0.38)   # the hat's lower edge, over the forehead
    x0 = int(hx - width * 1.1)
    y0 = int(base_y - dome_h - band_h - width * 0.45)
    x1, y1 = int(hx + width * 1.1), int(base_y + width * 0.15)
    h, w = y1 - y0, x1 - x0
    cx, by = hx - x0, base_y - y0
    shape = _aa_canvas(h, w)
    # Dome: upper half ellipse from the top of the band.
    cv2.ellipse(shape, tuple(_pts((cx, by - band_h))), tuple(_pts((width / 2, dome_h))), 0, 180, 360, 255, -1,
                cv2.LINE_AA, shift=0)
    band = np.array([[cx - width / 2 - 1, by - band_h - 1], [cx + width / 2 + 1, by - band_h - 1],
                     [cx + width / 2 * 1.02, by], [cx - width / 2 * 1.02, by]])
    cv2.fillPoly(shape, [_pts(band)], 255, cv2.LINE_AA)
    if kind == "cap":
        side = 1 if rng.integers(0, 2) else -1
        cv2.ellipse(shape, tuple(_pts((cx + side * width * 0.35, by - band_h * 0.5))),
                    tuple(_pts((width * 0.55, width * 0.09))), float(side * -4), 0, 360, 255, -1, cv2.LINE_AA)
    pom = kind == "beanie" and rng.random() < 0.6
    if pom:
        r = width * 0.13
        cv2.circle(shape, tuple(_pts((cx, by - band_h - dome_h - r * 0.4))), int(r * SS), 255, -1, cv2.LINE_AA)
    a = _down(shape)
    dark = rng.random() < 0.5
    if dark:
        base = np.array([rng.integers(15, 45), rng.integers(15, 45), rng.integers(15, 50)], np.float32)
        colour = np.clip(base[None, None] + rng.normal(0, 5, (h, w, 3)).astype(np.float32), 0, 255)
    else:
        palette = [np.array(rng.integers(20, 235, 3), np.float32) for _ in range(int(rng.integers(2, 4)))]
        colour = _knit(h, w, rng, palette)
    # Shading: darker towards the hat's sides and top.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 1.0 - 0.35 * np.clip(((xx - cx) / (width / 2)) ** 2, 0, 1) - 0.15 * np.clip((by - yy) / (dome_h + band_h), 0, 1)
    colour = colour * shade[..., None]
    # The band a little darker (beanie) so the fold reads.
    band_zone = (yy > by - band_h) & (yy <= by)
    colour[band_zone] *= 0.85
    img = sub.image.copy()
    alpha = sub.alpha.copy()
    ys, xs = slice(y0, y1), slice(x0, x1)
    a3 = a[..., None]
    img[ys, xs] = np.clip(colour * a3 + img[ys, xs].astype(np.float32) * (1 - a3) + 0.5, 0, 255).astype(np.uint8)
    alpha[ys, xs] = a + alpha[ys, xs] * (1 - a)
    box = (sub.box[0], min(sub.box[1], y0 + float(np.flatnonzero(a.max(1) > 0.5)[0])), sub.box[2], sub.box[3])
    return Subject(sub.name + f"+hat{seed}", img, alpha, sub.pad, box, sub.head, sub.top_cut, sub.handmade, sub.bottom)


def _object_sprite(kind: str, size: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """A held object's colour (float32 BGR) and alpha, ``size`` px tall, anti-aliased."""
    if kind == "mug":
        bw, bh = size * 0.78, size
        w, h = int(bw * 1.55) + 4, int(bh) + 4
        m = _aa_canvas(h, w)
        x0, y0 = 2, 2
        body = np.array([[x0, y0], [x0 + bw, y0], [x0 + bw, y0 + bh * 0.9], [x0 + bw * 0.92, y0 + bh],
                         [x0 + bw * 0.08, y0 + bh], [x0, y0 + bh * 0.9]])
        cv2.fillPoly(m, [_pts(body)], 255, cv2.LINE_AA)
        # Handle: a thick ring to the right; its hole shows the background.
        cv2.ellipse(m, tuple(_pts((x0 + bw, y0 + bh * 0.45))), tuple(_pts((bw * 0.33, bh * 0.27))), 0, -90, 90, 255,
                    int(max(2, bw * 0.11) * SS), cv2.LINE_AA)
        a = _down(m)
        c = np.array(rng.integers(30, 240, 3), np.float32)
        colour = np.ones((h, w, 3), np.float32) * c
        xx = np.arange(w, dtype=np.float32)
        colour *= (0.7 + 0.45 * np.sin(np.clip((xx - x0) / bw, 0, 1) * np.pi))[None, :, None]
        # A logo band.
        yy = np.arange(h)
        colour[(yy > y0 + bh * 0.35) & (yy < y0 + bh * 0.55)] *= 0.55
    elif kind == "book":
        bw, bh = size * 0.72, size
        w, h = int(bw) + 4, int(bh) + 4
        m = _aa_canvas(h, w)
        cv2.fillPoly(m, [_pts([[2, 2], [2 + bw, 2], [2 + bw, 2 + bh], [2, 2 + bh]])], 255, cv2.LINE_AA)
        a = _down(m)
        c = np.array(rng.integers(20, 220, 3), np.float32)
        colour = np.ones((h, w, 3), np.float32) * c
        # Spine, a title block and text lines.
        colour[:, : max(2, int(bw * 0.08))] *= 0.6
        t = np.array(rng.integers(150, 255, 3), np.float32)
        colour[int(bh * 0.15):int(bh * 0.3), int(bw * 0.2):int(bw * 0.85)] = t
        for k in range(4):
            y = int(bh * (0.45 + 0.08 * k))
            colour[y:y + max(1, int(bh * 0.02)), int(bw * 0.2):int(bw * 0.8)] = t * 0.8
    else:  # phone
        bw, bh = size * 0.5, size
        w, h = int(bw) + 4, int(bh) + 4
        m = _aa_canvas(h, w)
        r = bw * 0.14
        cv2.rectangle(m, tuple(_pts((2 + r, 2))), tuple(_pts((2 + bw - r, 2 + bh))), 255, -1, cv2.LINE_AA)
        cv2.rectangle(m, tuple(_pts((2, 2 + r))), tuple(_pts((2 + bw, 2 + bh - r))), 255, -1, cv2.LINE_AA)
        for cx_, cy_ in ((2 + r, 2 + r), (2 + bw - r, 2 + r), (2 + r, 2 + bh - r), (2 + bw - r, 2 + bh - r)):
            cv2.circle(m, tuple(_pts((cx_, cy_))), int(r * SS), 255, -1, cv2.LINE_AA)
        a = _down(m)
        colour = np.full((h, w, 3), 25, np.float32)
        if rng.random() < 0.6:  # the screen towards the camera
            s = np.array(rng.integers(120, 255, 3), np.float32)
            colour[int(bh * 0.06):int(bh * 0.94), int(bw * 0.08):int(bw * 0.92)] = s
        else:  # the back, with a camera bump
            cv2.circle(colour, (int(bw * 0.3), int(bh * 0.12)), max(2, int(bw * 0.12)), (70, 70, 70), -1, cv2.LINE_AA)
    colour += rng.normal(0, 4, colour.shape).astype(np.float32)
    return np.clip(colour, 0, 255), a


# --------------------------------------------------------------------------- backgrounds

def procedural_room(seed: int, width: int = W, height: int = H) -> np.ndarray:
    """A cluttered room: a wall with a gradient and texture, book shelves, picture
    frames, a window, a lamp's glow, a plant, a door; slightly defocused."""
    rng = np.random.default_rng(5000 + seed)
    wall = np.array(rng.integers(60, 220, 3), np.float32)
    yy = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    img = np.ones((height, width, 3), np.float32) * wall * (0.8 + 0.3 * (1 - yy))
    img += rng.normal(0, 6, (height // 8 + 1, width // 8 + 1, 3)).astype(np.float32).repeat(8, 0).repeat(8, 1)[:height, :width]
    # Window with bright light.
    if rng.random() < 0.6:
        wx, wy = int(rng.integers(0, width - 300)), int(rng.integers(20, 200))
        ww_, wh_ = int(rng.integers(180, 360)), int(rng.integers(200, 380))
        cv2.rectangle(img, (wx, wy), (wx + ww_, wy + wh_), (235, 240, 245), -1)
        cv2.rectangle(img, (wx, wy), (wx + ww_, wy + wh_), (90, 90, 90), 8)
        cv2.line(img, (wx + ww_ // 2, wy), (wx + ww_ // 2, wy + wh_), (90, 90, 90), 6)
    # Book shelves.
    for _ in range(int(rng.integers(1, 3))):
        sx, sy = int(rng.integers(-100, width - 200)), int(rng.integers(80, 420))
        sw_, rows_ = int(rng.integers(250, 600)), int(rng.integers(2, 5))
        shelf_col = np.array(rng.integers(40, 160, 3), np.float64)
        for r_ in range(rows_):
            y_base = sy + r_ * 110
            cv2.rectangle(img, (sx, y_base + 95), (sx + sw_, y_base + 108), shelf_col.tolist(), -1)
            x = sx + 4
            while x < sx + sw_ - 10:
                bw_ = int(rng.integers(10, 34))
                bh_ = int(rng.integers(55, 95))
                col = rng.integers(10, 250, 3).tolist()
                if rng.random() < 0.2:  # skin-like and hair-like colours, to confuse a person model
                    col = [int(rng.integers(90, 140)), int(rng.integers(120, 170)), int(rng.integers(170, 230))] \
                        if rng.random() < 0.5 else [int(rng.integers(15, 50))] * 3
                cv2.rectangle(img, (x, y_base + 95 - bh_), (x + bw_, y_base + 95), col, -1)
                x += bw_ + int(rng.integers(0, 4))
    # Picture frames.
    for _ in range(int(rng.integers(1, 4))):
        fx, fy = int(rng.integers(0, width - 150)), int(rng.integers(20, 350))
        fw_, fh_ = int(rng.integers(80, 220)), int(rng.integers(80, 200))
        cv2.rectangle(img, (fx, fy), (fx + fw_, fy + fh_), rng.integers(0, 80, 3).tolist(), -1)
        inner = rng.integers(30, 250, 3).astype(np.float64)
        cv2.rectangle(img, (fx + 10, fy + 10), (fx + fw_ - 10, fy + fh_ - 10), inner.tolist(), -1)
        for _ in range(3):
            cv2.circle(img, (int(fx + rng.integers(15, max(16, fw_ - 15))), int(fy + rng.integers(15, max(16, fh_ - 15)))),
                       int(rng.integers(5, 25)), rng.integers(0, 255, 3).tolist(), -1, cv2.LINE_AA)
    # Lamp glow.
    if rng.random() < 0.7:
        lx, ly = int(rng.integers(0, width)), int(rng.integers(50, 400))
        glow = np.zeros((height, width), np.float32)
        cv2.circle(glow, (lx, ly), int(rng.integers(30, 70)), 1.0, -1, cv2.LINE_AA)
        glow = cv2.GaussianBlur(glow, (0, 0), 25)
        img += glow[..., None] * np.array([120, 200, 255], np.float32)
    # Plant: green blobs on a stem.
    if rng.random() < 0.7:
        px, py = int(rng.integers(0, width)), int(rng.integers(350, 600))
        for _ in range(40):
            ang = rng.uniform(0, 2 * np.pi)
            rr = rng.uniform(10, 120)
            cv2.ellipse(img, (int(px + rr * np.cos(ang)), int(py - 60 + rr * np.sin(ang) * 0.8)),
                        (int(rng.integers(8, 22)), int(rng.integers(4, 10))), float(rng.uniform(0, 180)), 0, 360,
                        (float(rng.integers(20, 70)), float(rng.integers(90, 170)), float(rng.integers(20, 80))), -1,
                        cv2.LINE_AA)
        cv2.rectangle(img, (px - 40, py + 40), (px + 40, py + 130), rng.integers(40, 200, 3).tolist(), -1)
    # Door or cupboard edge.
    if rng.random() < 0.5:
        dx_ = int(rng.integers(0, width - 100))
        cv2.rectangle(img, (dx_, int(rng.integers(60, 200))), (dx_ + int(rng.integers(150, 260)), height),
                      rng.integers(40, 200, 3).tolist(), -1)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.6, 2.0))
    return np.clip(img, 0, 255).astype(np.uint8)


@lru_cache(maxsize=12)
def _still_background(name: str) -> np.ndarray:
    if name.startswith("proc:"):
        return procedural_room(int(name[5:]))
    return cover_fit(cv2.imread(str(SHARED / "backgrounds" / name), cv2.IMREAD_COLOR), W, H)


class Background:
    """A still picture (a file, or "proc:<seed>") or the animated video (looped)."""

    def __init__(self, name: str):
        self.name = name
        self._video = name.endswith(".webm")
        self._container = None
        self._index = -1
        self._frame = None

    def at(self, i: int) -> np.ndarray:
        """Frame i (frames are asked for in order; the video is decoded as it goes)."""
        if not self._video:
            return _still_background(self.name)
        import av

        if self._container is None or i < self._index:
            self._container = av.open(str(SHARED / "backgrounds" / self.name))
            self._decoder = self._container.decode(video=0)
            self._index = -1
        while self._index < i:
            try:
                f = next(self._decoder)
            except StopIteration:  # loop
                self._container = av.open(str(SHARED / "backgrounds" / self.name))
                self._decoder = self._container.decode(video=0)
                f = next(self._decoder)
            self._index += 1
            self._frame = None
            last = f
        if self._frame is None:
            self._frame = cover_fit(last.to_ndarray(format="bgr24"), W, H)
        return self._frame


# --------------------------------------------------------------------------- motion

@dataclass(frozen=True)
class Pose:
    dx: float = 0.0     # pixels, horizontal shift of the person's anchor from the frame centre
    dy: float = 0.0     # pixels, vertical
    zoom: float = 1.0   # times the subject's base scale
    angle: float = 0.0  # degrees, about the anchor (the bottom centre of the person)


def _smoothstep(x: float) -> float:
    x = min(1.0, max(0.0, x))
    return x * x * (3 - 2 * x)


class Motion:
    """Pose as a function of time (seconds) for one clip kind, with seeded parameters."""

    def __init__(self, kind: str, seed: int, frame_w: int = W, person_w: float = 500.0, zoom_min: float = 0.85):
        self.kind = kind
        rng = np.random.default_rng(2000 + seed)
        self.rng_params = rng.uniform(0, 1, 16)
        self.sign = 1 if rng.random() < 0.5 else -1
        self.frame_w = frame_w
        self.person_w = person_w
        self.zoom_min = zoom_min

    def __call__(self, t: float) -> Pose:
        p = self.rng_params
        k = self.kind
        if k == "still":
            return Pose(3 * math.sin(2 * math.pi * t / (3.5 + p[0])) + 1.5 * math.sin(2 * math.pi * t / 1.7),
                        2 * math.sin(2 * math.pi * t / (4 + p[1])) + 3 * _smoothstep((t - 5) / 0.4) * (1 - _smoothstep((t - 5.6) / 0.4)),
                        1 + 0.006 * math.sin(2 * math.pi * t / 3.1), 0.8 * math.sin(2 * math.pi * t / (5 + p[2])))
        if k in ("sway", "object", "hat"):
            if t < 1.0:
                return Pose(0, 0, 1, 0)
            amp = 40 + 50 * p[3]
            period = 1.2 + 1.2 * p[4]
            u = (t - 1.0) / period
            ramp = _smoothstep((t - 1.0) / 0.5)
            return Pose(ramp * amp * math.sin(2 * math.pi * u), 0, 1 + 0.04 * ramp * math.sin(math.pi * u),
                        ramp * 3 * math.sin(2 * math.pi * u + 0.5))
        if k == "walk":
            # Across and back: from one side to the other over 4.5 s, a pause, then back.
            span = 0.5 * self.frame_w + 0.25 * self.person_w
            x_of = lambda s: -span + 2 * span * _smoothstep(s)  # noqa: E731
            if t < 4.5:
                x = x_of(t / 4.5)
            elif t < 5.5:
                x = span
            else:
                x = x_of(1 - (t - 5.5) / 4.5)
            walking = (t < 4.5) or (t >= 5.5)
            bob = 8 * abs(math.sin(2 * math.pi * t * 0.9)) if walking else 0
            return Pose(self.sign * x, bob, 1.0, 1.5 * math.sin(2 * math.pi * t * 0.9) if walking else 0)
        if k == "lean":
            # In, hold, out past the start, back: zoom between zoom_min and 1.45.
            z_hi = 1.35 + 0.1 * p[5]
            cyc = 3.2 + 0.8 * p[6]
            u = (t % cyc) / cyc
            z = 1 + (z_hi - 1) * math.sin(math.pi * u) ** 2 if (t // cyc) % 2 == 0 else 1 - (1 - self.zoom_min) * math.sin(math.pi * u) ** 2
            return Pose(20 * math.sin(2 * math.pi * t / 4.3), 0, z, 0)
        if k == "turn":
            # Holds broken by fast turns (8 frames) to alternating sides.
            seg = 1.4 + 0.4 * p[7]
            n_seg = int(t // seg)
            u = (t % seg) / seg
            targets = [0.0] + [((-1) ** j) * (60 + 60 * p[(8 + j) % 16]) for j in range(1, 12)]
            angs = [0.0] + [((-1) ** j) * (4 + 5 * p[(9 + j) % 16]) for j in range(1, 12)]
            a, b = targets[n_seg], targets[n_seg + 1]
            aa, ab = angs[n_seg], angs[n_seg + 1]
            f = _smoothstep((u * seg - (seg - 0.27)) / 0.27)  # the last 8 frames of each hold: the turn
            return Pose(self.sign * (a + (b - a) * f), 0, 1 + 0.03 * math.sin(math.pi * f), self.sign * (aa + (ab - aa) * f))
        if k == "enter":
            start = 0.5 * self.frame_w + 0.6 * self.person_w
            if t < 1.0:
                return Pose(self.sign * start * 1.5, 0, 1, 0)
            f = _smoothstep((t - 1.0) / 1.8)
            x = self.sign * start * (1 - f)
            settle = _smoothstep((t - 2.8) / 0.5)
            return Pose(x + settle * 30 * math.sin(2 * math.pi * (t - 2.8) / 2.5), 6 * abs(math.sin(2 * math.pi * t)) * (1 - f),
                        1, 2 * (1 - f) * math.sin(2 * math.pi * t))
        if k == "cuts":
            amp = 30 + 30 * p[10]
            return Pose(amp * math.sin(2 * math.pi * t / (1.5 + p[11])), 0, 1 + 0.02 * math.sin(2 * math.pi * t / 2.3), 0)
        raise ValueError(k)


# --------------------------------------------------------------------------- clips

@dataclass(frozen=True)
class ClipSpec:
    kind: str
    portraits: tuple[str, ...]          # one, or one per 2-second segment for "cuts"
    backgrounds: tuple[str, ...]        # one per segment
    seed: int
    n: int = N
    noise: float = 3.0
    crf: int = 23
    obj: str = ""                       # held object kind for "object"

    @property
    def name(self) -> str:
        who = self.portraits[0] if len(self.portraits) == 1 else f"{len(self.portraits)}subjects"
        return f"{self.kind}:{who}"

    def key(self) -> str:
        blob = json.dumps(asdict(self) | {"v": VERSION, "w": W, "h": H}, sort_keys=True)
        return hashlib.sha1(blob.encode()).hexdigest()[:16]


SEGMENT = 60  # frames per subject in "cuts" clips


def _base_scale(sub: Subject, rng) -> float:
    """Frame pixels per portrait pixel: the person's top at 6-14% of the frame height
    (or the picture's top above the frame when the hair touches it)."""
    x0, y0, x1, y1 = sub.box
    person_h = sub.bottom - y0  # from the person's top to the row at the frame's bottom
    want_top = rng.uniform(0.06, 0.14) * H
    s = (H + 3 - want_top) / person_h
    if sub.top_cut:
        s = max(s, (H + 3) / (sub.bottom - sub.pad) * 1.02)  # the picture's top stays above the frame
    # Not wider than 85% of the frame, unless it is a close-up that is cut anyway.
    return float(s)


class Renderer:
    """Renders frame i of a clip: the composite (float32 BGR, before noise) and the true alpha."""

    def __init__(self, spec: ClipSpec):
        self.spec = spec
        rng = np.random.default_rng(spec.seed)
        self.segments = []
        n_seg = len(spec.portraits)
        for j, name in enumerate(spec.portraits):
            sub = subject(name, hat=spec.seed if spec.kind == "hat" else -1)
            scale = _base_scale(sub, rng)
            pw = (sub.box[2] - sub.box[0]) * scale
            zmin = 1.0 if sub.top_cut else 0.85
            motion = Motion(spec.kind, spec.seed * 7 + j, W, pw, zmin)
            self.segments.append((sub, scale, motion, Background(spec.backgrounds[j % len(spec.backgrounds)])))
        self.n_seg = n_seg
        self.obj = None
        if spec.kind == "object":
            orng = np.random.default_rng(3000 + spec.seed)
            sub, scale = self.segments[0][0], self.segments[0][1]
            person_h = (sub.box[3] - sub.box[1]) * scale
            kind = spec.obj or ("mug", "book", "phone")[spec.seed % 3]
            size = {"mug": 0.2, "book": 0.34, "phone": 0.26}[kind] * min(person_h, 1.1 * H)
            colour, a = _object_sprite(kind, size, orng)
            side = 1 if orng.random() < 0.5 else -1
            # Anchor in portrait pixels: beside the torso edge, at chest height.
            hx, top, hw = sub.head
            ay = top + hw * orng.uniform(1.4, 1.8)
            # Centred on the body's edge at that height: half over the body, half over the room.
            row = np.flatnonzero(sub.alpha[int(ay)] > 0.5)
            if row.size:
                runs = np.split(row, np.flatnonzero(np.diff(row) > 1) + 1)
                run = min(runs, key=lambda r: 0 if r[0] <= hx <= r[-1] else min(abs(r[0] - hx), abs(r[-1] - hx)))
                ax = float(run[-1] if side > 0 else run[0])
            else:
                ax = hx + side * hw
            self.obj = (colour, a, (ax, ay), orng.uniform(0, 1, 4))

    def segment(self, i: int) -> int:
        return 0 if self.n_seg == 1 else min(i // SEGMENT, self.n_seg - 1)

    def _matrix(self, sub: Subject, scale: float, pose: Pose) -> np.ndarray:
        x0, y0, x1, y1 = sub.box
        ax, ay = (x0 + x1) / 2, sub.bottom  # bottom centre of what the frame shows
        s = scale * pose.zoom
        th = math.radians(pose.angle)
        c, si = s * math.cos(th), s * math.sin(th)
        tx, ty = W / 2 + pose.dx, H + 3 + pose.dy
        # p' = R S (p - anchor) + target
        return np.array([[c, -si, tx - c * ax + si * ay], [si, c, ty - si * ax - c * ay]], np.float64)

    def _pose(self, i: int, t: float):
        j = self.segment(i)
        sub, scale, motion, bg = self.segments[j]
        t_local = t - (j * SEGMENT / FPS if self.n_seg > 1 else 0.0)
        return j, sub, scale, motion(t_local), bg

    def _render_at(self, i: int, t: float, with_image: bool):
        j, sub, scale, pose, bg = self._pose(i, t)
        m = self._matrix(sub, scale, pose)
        a = cv2.warpAffine(sub.alpha, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        fg = cv2.warpAffine(sub.image, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) if with_image else None
        if self.obj is not None:
            colour, oa, (ax, ay), q = self.obj
            # The object's own motion: lifted and lowered, tilted.
            lift = 60 * math.sin(2 * math.pi * t / (2.5 + q[0])) * scale
            tilt = 12 * math.sin(2 * math.pi * t / (3.1 + q[1]) + q[2] * 6)
            px, py = m @ np.array([ax, ay, 1.0])
            py += lift
            oh, ow = oa.shape
            rot = cv2.getRotationMatrix2D((ow / 2, oh / 2), tilt + pose.angle, 1.0)
            rot[0, 2] += px - ow / 2
            rot[1, 2] += py - oh / 2
            oa_f = cv2.warpAffine(oa, rot, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            if with_image:
                oc_f = cv2.warpAffine(colour, rot, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            a_person = a
            a = oa_f + a_person * (1 - oa_f)
            if with_image:
                bgf = bg.at(i).astype(np.float32)
                person = fg.astype(np.float32) * a_person[..., None] + bgf * (1 - a_person[..., None])
                img = oc_f * oa_f[..., None] + person * (1 - oa_f[..., None])
                return img, a
        if not with_image:
            return None, a
        a3 = a[..., None]
        img = fg.astype(np.float32) * a3 + bg.at(i).astype(np.float32) * (1 - a3)
        return img, a

    def _subsamples(self, i: int) -> int:
        """Sub-frame renders for motion blur: by how far the person's anchor moves in
        half a frame time (a 1/60 s exposure), one per 4 px."""
        t = i / FPS
        j0, s0, sc0, p0, _ = self._pose(i, t)
        j1, s1, sc1, p1, _ = self._pose(i, t + 0.5 / FPS)
        if j0 != j1:
            return 1
        move = math.hypot(p1.dx - p0.dx, p1.dy - p0.dy) + abs(p1.zoom - p0.zoom) * 600 + abs(p1.angle - p0.angle) * 8
        return int(min(6, max(1, math.ceil(move / 4))))

    def frame(self, i: int, with_image: bool = True):
        k = self._subsamples(i)
        t = i / FPS
        if k == 1:
            return self._render_at(i, t, with_image)
        img_acc, a_acc = None, None
        for q in range(k):
            img, a = self._render_at(i, t + (q / k) * 0.5 / FPS, with_image)
            a_acc = a if a_acc is None else a_acc + a
            if with_image:
                img_acc = img if img_acc is None else img_acc + img
        return (img_acc / k if with_image else None), a_acc / k


def _encode(spec: ClipSpec, path: Path) -> None:
    import av

    r = Renderer(spec)
    cv2.setRNGSeed(spec.seed + 17)
    noise = np.empty((H, W, 3), np.float32)
    tmp = path.with_suffix(".part")
    with av.open(str(tmp), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"crf": str(spec.crf), "preset": "veryfast"}
        for i in range(spec.n):
            img, _ = r.frame(i)
            cv2.randn(noise, (0.0, 0.0, 0.0), (spec.noise,) * 3)
            img += noise
            f = np.clip(img + 0.5, 0, 255).astype(np.uint8)
            vf = av.VideoFrame.from_ndarray(f, format="bgr24")
            vf.pts = i
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    tmp.rename(path)


def clip_path(spec: ClipSpec) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{spec.kind}-{spec.key()}.mp4"
    if not path.exists():
        _encode(spec, path)
    return path


def _decoded(spec: ClipSpec, limit: int | None):
    """Yields (i, frame BGR uint8 as decoded from H.264, the clip's renderer)."""
    import av

    r = Renderer(spec)
    n = spec.n if limit is None else min(limit, spec.n)
    with av.open(str(clip_path(spec))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i >= n:
                break
            yield i, f.to_ndarray(format="bgr24"), r


def stream(spec: ClipSpec, limit: int | None = None):
    """Yields (i, frame BGR uint8 as decoded from H.264, true alpha float32, segment index)."""
    for i, frame, r in _decoded(spec, limit):
        _, a = r.frame(i, with_image=False)
        yield i, frame, a, r.segment(i)


def frames(spec: ClipSpec, limit: int | None = None):
    """Yields (i, decoded frame, segment index) without rendering the truth."""
    for i, frame, r in _decoded(spec, limit):
        yield i, frame, r.segment(i)


# --------------------------------------------------------------------------- the clip sets

def _backgrounds_cycle(offset: int) -> list[str]:
    """All still backgrounds, the video, and procedural rooms, in a seeded order."""
    names = list(STILL_BACKGROUNDS) + [VIDEO_BACKGROUND] + [f"proc:{k}" for k in range(6)]
    rng = np.random.default_rng(99 + offset)
    return [names[k] for k in rng.permutation(len(names))]


def clip_set(which: str, rounds: int = 1, n: int = N) -> list[ClipSpec]:
    """The clips of one portrait set ('tuning' or 'heldout'): per round, every
    single-subject kind once (portraits assigned round-robin, shifted per
    round), and one "cuts" clip of 5 of the set's portraits."""
    people = TUNING if which == "tuning" else HELDOUT
    base = 0 if which == "tuning" else 500
    bgs = _backgrounds_cycle(base)
    specs = []
    # Portraits for the hat: a head whose top shows; for held objects: any.
    for r in range(rounds):
        for k, kind in enumerate(SINGLE_KINDS):
            who = people[(k + 3 * r) % len(people)]
            seed = base + 100 * r + k
            bg = bgs[(k + 5 * r) % len(bgs)]
            specs.append(ClipSpec(kind, (who,), (bg,), seed, n=n, noise=float(2.0 + (seed % 4)),
                                  obj=("mug", "book", "phone")[(k + r) % 3] if kind == "object" else ""))
        seed = base + 100 * r + 50
        order = np.random.default_rng(seed).permutation(len(people))[:5]
        cut_bgs = tuple(bgs[(8 + j + 5 * r) % len(bgs)] for j in range(5))
        specs.append(ClipSpec("cuts", tuple(people[q] for q in order), cut_bgs, seed, n=n))
    return specs


def contact_sheet(specs: list[ClipSpec], path: Path, frames=(0, 45, 150, 280)) -> None:
    """One row per clip: a few frames and their true alpha, small."""
    rows = []
    for spec in specs:
        want = set(f for f in frames if f < spec.n)
        tiles = []
        for i, f, a, _ in stream(spec, max(want) + 1):
            if i in want:
                t = cv2.resize(f, (256, 144), interpolation=cv2.INTER_AREA)
                m = cv2.cvtColor((cv2.resize(a, (256, 144), interpolation=cv2.INTER_AREA) * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
                tiles += [t, m]
        row = np.hstack(tiles)
        cv2.putText(row, spec.name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="Render (cache) the clip sets and a contact sheet of them.")
    ap.add_argument("--set", default="tuning", choices=["tuning", "heldout"])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--sheet", default=str(ROOT / "artifacts" / "clips"))
    args = ap.parse_args()
    specs = clip_set(args.set, args.rounds)
    for s in specs:
        t0 = time.time()
        clip_path(s)
        print(f"{s.name:40s} {s.backgrounds} {time.time() - t0:.1f} s", flush=True)
    contact_sheet(specs, Path(f"{args.sheet}-{args.set}.jpg"))

