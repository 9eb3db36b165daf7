"""Per-pixel compositing: foreground over background through the alpha matte.

The kernel is fused on purpose: the low-resolution matte is upsampled
bilinearly, blended and rounded to uint8 in one pass over the output, so no
full-resolution float alpha or intermediate image is ever allocated.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _axis_taps(n_out: int, n_in: int):
    """Source index pairs and weights for half-pixel-centred bilinear scaling."""
    i0 = np.empty(n_out, np.int32)
    i1 = np.empty(n_out, np.int32)
    w1 = np.empty(n_out, np.float32)
    scale = n_in / n_out
    for i in range(n_out):
        f = (i + 0.5) * scale - 0.5
        if f < 0.0:
            f = 0.0
        lo = int(f)
        if lo > n_in - 1:
            lo = n_in - 1
        hi = lo + 1 if lo + 1 < n_in else n_in - 1
        i0[i] = lo
        i1[i] = hi
        w1[i] = f - lo
    return i0, i1, w1


@njit(parallel=True, cache=True, fastmath=True)
def _composite(fg, alpha, bg, out):
    H, W = fg.shape[0], fg.shape[1]
    h, w = alpha.shape
    y0, y1, wy = _axis_taps(H, h)
    x0, x1, wx = _axis_taps(W, w)
    for y in prange(H):
        ra = alpha[y0[y]]
        rb = alpha[y1[y]]
        fy = wy[y]
        for x in range(W):
            fx = wx[x]
            top = ra[x0[x]] + (ra[x1[x]] - ra[x0[x]]) * fx
            bot = rb[x0[x]] + (rb[x1[x]] - rb[x0[x]]) * fx
            a = top + (bot - top) * fy
            if a < 0.0:
                a = 0.0
            elif a > 1.0:
                a = 1.0
            for c in range(3):
                v = bg[y, x, c] + (np.float32(fg[y, x, c]) - bg[y, x, c]) * a + 0.5
                out[y, x, c] = np.uint8(v)
    return out


def composite(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Blend ``fg`` over ``bg`` with ``alpha`` upsampled to the frame size.

    fg, bg: uint8 (H, W, 3), same shape. alpha: float32 (h, w) in [0, 1], any
    size (it is scaled bilinearly to H x W). Returns uint8 (H, W, 3), written
    into ``out`` when given. Raises TypeError/ValueError on wrong dtypes/shapes.
    """
    if fg.dtype != np.uint8 or bg.dtype != np.uint8:
        raise TypeError(f"frames must be uint8, got {fg.dtype} and {bg.dtype}")
    if fg.ndim != 3 or fg.shape[2] != 3 or fg.shape != bg.shape:
        raise ValueError(f"foreground {fg.shape} and background {bg.shape} must both be (H, W, 3)")
    if fg.shape[0] == 0 or fg.shape[1] == 0:
        raise ValueError(f"frames must not be empty, got shape {fg.shape}")
    if alpha.ndim != 2 or alpha.size == 0:
        raise ValueError(f"alpha must be a non-empty 2-D array, got shape {alpha.shape}")
    if alpha.dtype != np.float32:
        alpha = alpha.astype(np.float32)
    if out is None:
        out = np.empty_like(fg)
    elif out.dtype != np.uint8 or out.shape != fg.shape:
        # The kernel runs without bounds checks: a wrong buffer would be written past its end.
        raise ValueError(f"out must be uint8 of shape {fg.shape}, got {out.dtype} {out.shape}")
    return _composite(fg, np.ascontiguousarray(alpha), bg, out)


def warmup() -> None:
    """Compile (or load from cache) the kernel before the first real frame."""
    composite(np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2), np.float32), np.zeros((4, 4, 3), np.uint8))
