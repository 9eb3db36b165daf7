"""The subject's own colours at the edge, free of the old room (live and files).

Where the alpha is fractional (hair, a blurred edge), the camera saw a mix
``I = a F + (1 - a) B`` of the subject's colour F and the room's B; laid
over a new background as it is, the pixel keeps a fringe of the old room.
Here B is estimated from the room just beside the subject (a normalised
blur of the frame, weighted towards where the alpha says room), and the
subject's local colour Fl from just inside; the pixel is then moved by the
room's expected share towards the subject: ``F = I + k (1 - a) (Fl - B)``.

Why not undo the mix exactly, ``F = (I - (1 - a) B) / a``? That is right
only with the true alpha. With a model's alpha it divides the alpha's error
into the colour: where the model says 0.5 and the truth is 0.8 it takes out
more room than there was, and the old room shows again, inverted.
bench/fringe.py measures how much of the old wall still shows in the
output (two walls, the same alpha): with RVM's alpha at 720p the exact
undoing left nearly as much as the camera's own colours did (17.3 against
18.7 levels on the held-out portraits, bench/results/fringe.md), the shift
above with k = 0.7 half as much (9.4, and a visible fringe on 10% of the edge
instead of 39%), and it also came closest to the subject's true colours
(10.8 against 15.8). k was chosen on the tuning portraits (bench/clips.py's
split; 0.5 to 1.0 tried), with RVM's alpha at 640 px.
The shift keeps the pixel's own detail (strands of hair stay strands).

Cheap on purpose (blurs of a copy about 160 px wide, then one numba pass at the
matte's size, bench/speed.py's look section): it runs on every frame. The
compositor adds the correction, at the matte's resolution, to the full-size
frame's colours (livebg.compositing.composite's ``fg_delta``), so the
picture keeps its full detail. Robust Video Matting's own foreground output
was measured too (bench/fringe.py): at its size it left more of the old
room than the camera's colours.
"""

from __future__ import annotations

from livebg import kernelcache

kernelcache.configure()  # before numba: its cache goes to the user's cache folder

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


def _local_mean(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(x * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    return num / np.maximum(den, np.float32(1e-4))[..., None]


@njit(inline="always")
def _tap(i, scale, n):
    """cv2.resize INTER_LINEAR's two source taps and weight for output index i
    (pixel centres aligned, edges clamped). Kept here, not shared with
    guided_kernel's copy: numba's cache of a kernel does not notice a change
    to a function it inlines from another file."""
    s = (np.float32(i) + np.float32(0.5)) * scale - np.float32(0.5)
    i0 = int(np.floor(s))
    f = s - np.float32(i0)
    if i0 < 0:
        i0, f = 0, np.float32(0.0)
    if i0 >= n - 1:
        i0, f = n - 1, np.float32(0.0)
    return i0, min(i0 + 1, n - 1), f


@njit(cache=True, nogil=True, fastmath=True)
def _shift(image, alpha, room, subject, strength, out):
    """Per pixel of the fractional edge: F = I + k (1 - a) (Fl - B), clipped;
    out = F - I (0 off the edge). room (B) and subject (Fl) are the small
    maps, sampled bilinearly here (cv2.resize's INTER_LINEAR taps: pixel
    centres aligned, edges clamped) only where the pixel is on the edge, a
    few percent of the picture: scaling both maps up whole cost more than
    the rest of the step."""
    h, w = alpha.shape
    sh, sw = room.shape[0], room.shape[1]
    ry = np.float32(sh / h)
    rx = np.float32(sw / w)
    lo = np.float32(1.0 / 255.0)
    hi = np.float32(254.0 / 255.0)
    for y in range(h):
        y0, y1, fy = _tap(y, ry, sh)
        for x in range(w):
            a = alpha[y, x]
            if a <= lo or a >= hi:
                for c in range(3):
                    out[y, x, c] = np.float32(0.0)
                continue
            x0, x1, fx = _tap(x, rx, sw)
            share = strength * (np.float32(1.0) - a)
            for c in range(3):
                d00 = subject[y0, x0, c] - room[y0, x0, c]
                d01 = subject[y0, x1, c] - room[y0, x1, c]
                d10 = subject[y1, x0, c] - room[y1, x0, c]
                d11 = subject[y1, x1, c] - room[y1, x1, c]
                top = d00 + (d01 - d00) * fx
                d = top + ((d10 + (d11 - d10) * fx) - top) * fy
                i = np.float32(image[y, x, c])
                f = min(max(i + share * d, np.float32(0.0)), np.float32(255.0))
                out[y, x, c] = f - i


#: The longer side of the small copy the local colours are found on (see foreground_delta).
SMALL_SIDE = 160


def foreground_delta(small: np.ndarray, alpha: np.ndarray, scale: int | None = None, sigma: float = 4.0,
                     strength: float = 0.7, out: np.ndarray | None = None) -> np.ndarray:
    """The correction F - I at the matte's size: float32 (h, w, 3), 0 where the
    alpha is 0 or 1.

    small: the frame at the matte's size, BGR uint8 (h, w, 3); alpha: float32
    (h, w) in [0, 1]. The room's and the subject's local colours are found on
    a ``scale``-times smaller copy with a Gaussian of ``sigma`` (its pixels);
    ``strength`` is k above. scale None: about SMALL_SIDE pixels on the
    longer side, and at least 4 (4 for a 640x360 matte, 8 for 1280x720),
    so the neighbourhood is the same part of the picture whatever the
    matte's size: k was chosen with 640x360 mattes, and at 720p a copy of a
    quarter the size left more of the old wall (bench/fringe.py, RVM's 720p
    alpha: 9.65 levels on the held-out portraits against 9.42 with the
    160 px copy, the colour error the same, 10.83 and 10.81), at four
    times the blurring.
    ``out``: a buffer to write into.
    """
    h, w = alpha.shape
    if scale is None:
        scale = max(4, round(max(h, w) / SMALL_SIDE))
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    sh, sw = max(1, h // scale), max(1, w // scale)
    Is = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32)
    As = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    room = np.square(np.square(1.0 - As))  # where the room shows (weights, not a cut): (1 - a)^4
    subject = np.square(np.square(As))
    B = np.ascontiguousarray(_local_mean(Is, room, sigma).reshape(sh, sw, 3))
    Fl = np.ascontiguousarray(_local_mean(Is, subject, sigma).reshape(sh, sw, 3))
    if out is None or out.shape != (h, w, 3):
        out = np.empty((h, w, 3), np.float32)
    _shift(np.ascontiguousarray(small), alpha, B, Fl, np.float32(strength), out)
    return out


def warmup() -> None:
    """Compile (or load from the cache) the kernel before the first frame."""
    foreground_delta(np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 0.5, np.float32))
