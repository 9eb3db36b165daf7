"""The two full-size steps cut out of Robust Video Matting's graph
(:mod:`livebg.matting.rvm_graph`), in numba.

- :func:`network_input`: the picture scaled to the network's base, as the
  graph's first Resize does it, straight from the BGR uint8 frame to the
  network's RGB planes in [0, 1] (the graph took the whole frame as floats:
  a 720p blob is 11 MB written and read again for a 480x270 picture);
- :func:`full_size`: the guided-filter refiner's last step, ``A * [R, G, B,
  grey] + b`` with A and b scaled up to the picture, for the alpha only,
  or the alpha and the foreground colours.

Both scale the way ONNX Runtime's linear Resize does with
``pytorch_half_pixel``: source coordinate ``(x + 0.5) / scale - 0.5``,
clamped to the picture, two taps, in float32. The results match the whole
graph's to float rounding (tests/test_matting_rvm.py).
"""

from __future__ import annotations

from livebg import kernelcache

kernelcache.configure()  # before numba: its cache goes to the user's cache folder, not into the package

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


def base_size(height: int, width: int, ratio: float) -> tuple[int, int]:
    """The network's picture size for ``downsample_ratio`` ``ratio``, computed as
    ONNX Runtime computes a Resize's output from its scales (float32 product, truncated)."""
    r = np.float32(ratio)
    return max(1, int(np.float32(height) * r)), max(1, int(np.float32(width) * r))


@njit(cache=True, nogil=True)
def _taps(n_out, n_in, scale):
    """Per output index: the two source indices and the second one's weight."""
    lo = np.empty(n_out, np.int32)
    hi = np.empty(n_out, np.int32)
    w = np.empty(n_out, np.float32)
    top = np.float32(n_in - 1)
    for x in range(n_out):
        s = (np.float32(x) + np.float32(0.5)) / scale - np.float32(0.5) if n_out > 1 else np.float32(0.0)
        s = min(max(s, np.float32(0.0)), top)
        a = min(int(s), n_in - 1)
        lo[x] = a
        hi[x] = min(a + 1, n_in - 1)
        w[x] = s - np.float32(a)
    return lo, hi, w


@njit(cache=True, nogil=True)
def _network_input(bgr, out, scale):
    h, w = out.shape[1], out.shape[2]
    y0, y1, wy = _taps(h, bgr.shape[0], scale)
    x0, x1, wx = _taps(w, bgr.shape[1], scale)
    one = np.float32(1.0)
    inv = np.float32(1.0 / 255.0)
    for i in range(h):
        a, b, fy = y0[i], y1[i], wy[i]
        for j in range(w):
            c, d, fx = x0[j], x1[j], wx[j]
            for k in range(3):  # B, G, R in; R, G, B out
                top = (one - fx) * np.float32(bgr[a, c, k]) + fx * np.float32(bgr[a, d, k])
                bottom = (one - fx) * np.float32(bgr[b, c, k]) + fx * np.float32(bgr[b, d, k])
                out[2 - k, i, j] = ((one - fy) * top + fy * bottom) * inv


def network_input(bgr: np.ndarray, height: int, width: int, ratio: float) -> np.ndarray:
    """(1, 3, height, width) float32 RGB in [0, 1]: ``bgr`` (uint8, (H, W, 3))
    scaled by ``ratio`` as RVM's graph scales its input (``ratio`` 1: as it is)."""
    out = np.empty((1, 3, height, width), np.float32)
    _network_input(np.ascontiguousarray(bgr), out[0], np.float32(ratio))
    return out


@njit(cache=True, nogil=True)
def _lerp_row(m, c, y0, y1, fy, row):
    one = np.float32(1.0)
    for k in range(m.shape[2]):
        row[k] = (one - fy) * m[c, y0, k] + fy * m[c, y1, k]


@njit(cache=True, nogil=True)
def _full_size(bgr, A, B, alpha, fg, with_fg):
    H, W = alpha.shape
    h, w = A.shape[1], A.shape[2]
    y0, y1, wy = _taps(H, h, np.float32(H) / np.float32(h))
    x0, x1, wx = _taps(W, w, np.float32(W) / np.float32(w))
    one = np.float32(1.0)
    zero = np.float32(0.0)
    inv = np.float32(1.0 / 255.0)
    third = np.float32(3.0)
    channels = 4 if with_fg else 1
    ra = np.empty((4, w), np.float32)  # A and b of this output row, scaled in y
    rb = np.empty((4, w), np.float32)
    for i in range(H):
        for c in range(channels):
            ch = 3 - c  # the alpha's coefficients (channel 3) first
            _lerp_row(A, ch, y0[i], y1[i], wy[i], ra[ch])
            _lerp_row(B, ch, y0[i], y1[i], wy[i], rb[ch])
        for j in range(W):
            c0, c1, fx = x0[j], x1[j], wx[j]
            r = np.float32(bgr[i, j, 2]) * inv
            g = np.float32(bgr[i, j, 1]) * inv
            b = np.float32(bgr[i, j, 0]) * inv
            grey = (r + g + b) / third
            a = ((one - fx) * ra[3, c0] + fx * ra[3, c1]) * grey + (one - fx) * rb[3, c0] + fx * rb[3, c1]
            alpha[i, j] = min(max(a, zero), one)
            if with_fg:
                for ch in range(3):  # R, G, B planes of A and b
                    v = r if ch == 0 else (g if ch == 1 else b)
                    f = ((one - fx) * ra[ch, c0] + fx * ra[ch, c1]) * v + (one - fx) * rb[ch, c0] \
                        + fx * rb[ch, c1] + v
                    f = min(max(f, zero), one)
                    fg[i, j, 2 - ch] = np.uint8(np.int32(f * np.float32(255.0) + np.float32(0.5)))


def full_size(bgr: np.ndarray, A: np.ndarray, B: np.ndarray, foreground: bool = False):
    """The alpha (float32 (H, W) in [0, 1]) and, with ``foreground``, the subject's
    colours (uint8 BGR (H, W, 3), else None) for the picture ``bgr`` (uint8
    (H, W, 3)) from the refiner's coefficients A and b ((4, h, w) float32 each)."""
    H, W = bgr.shape[:2]
    alpha = np.empty((H, W), np.float32)
    fg = np.empty((H, W, 3) if foreground else (0, 0, 3), np.uint8)
    _full_size(np.ascontiguousarray(bgr), np.ascontiguousarray(A, dtype=np.float32),
               np.ascontiguousarray(B, dtype=np.float32), alpha, fg, bool(foreground))
    return alpha, (fg if foreground else None)


def warmup() -> None:
    """Compile (or load from the cache) both kernels."""
    frame = np.zeros((4, 6, 3), np.uint8)
    network_input(frame, 2, 3, 0.5)
    coef = np.zeros((4, 2, 3), np.float32)
    full_size(frame, coef, coef, True)
    full_size(frame, coef, coef, False)
