"""The edge step of the matte (contrast, fast colour guided filter, contrast) in numba.

:func:`livebg.refine.edges.refine_edge` is this; written as NumPy/OpenCV
calls (:func:`livebg.refine.guided.fast_guided_filter` between two contrast
steps) it takes about 25 full passes over 640x360 planes (two resizes,
thirteen box filters, the 3x3 solve as whole-array arithmetic, a four-channel
upscale, the final dot product and two clips), each allocating its result.
Here the same arithmetic runs in three numba passes over small buffers, with
OpenCV's SIMD box filter (faster than a numba one here) in between:

1. the contrast step and the 2x2 averaging of the guide and the matte to half
   size, with the nine products the filter needs, in one pass;
2. the box means (BORDER_REFLECT) of those thirteen planes, then the 3x3
   solve for the linear coefficients per pixel, in one pass;
3. the box means of the four coefficient planes;
4. at working size: the coefficients scaled up bilinearly (cv2.resize's
   INTER_LINEAR taps for exactly 2x), applied to the full-size guide,
   clipped, and the second contrast step, in one pass.

It differs from the NumPy version only in not rounding the half-size guide to
8 bits (at most 3e-3 apart on a real frame; tests/test_guided.py). Single-
threaded on purpose: it runs on the matting thread beside other busy threads.
A 640x360 matte takes 2.5 to 2.9 ms here, the NumPy version 6 to 11 ms
(`python bench/speed.py --only edge`).
"""

from __future__ import annotations

import threading

from livebg import kernelcache

kernelcache.configure()  # before numba: its cache goes to the user's cache folder, not into the package

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def _prepare(guide, alpha, pre, planes):
    """Contrast, 2x2 average to half size, and the products the filter needs:
    planes[0:3] the guide (B, G, R in [0, 1]), [3] the matte, [4:10] the
    guide's products (bb, bg, br, gg, gr, rr), [10:13] guide times matte."""
    sh, sw = planes.shape[1], planes.shape[2]
    inv255 = np.float32(1.0 / 255.0)
    for y in range(sh):
        for x in range(sw):
            pb = np.float32(0.0)
            pg = np.float32(0.0)
            pr = np.float32(0.0)
            pp = np.float32(0.0)
            for dy in range(2):
                for dx in range(2):
                    yy = 2 * y + dy
                    xx = 2 * x + dx
                    pb += np.float32(guide[yy, xx, 0])
                    pg += np.float32(guide[yy, xx, 1])
                    pr += np.float32(guide[yy, xx, 2])
                    a = (alpha[yy, xx] - np.float32(0.5)) * pre + np.float32(0.5)
                    pp += min(max(a, np.float32(0.0)), np.float32(1.0))
            b_ = pb * np.float32(0.25) * inv255
            g_ = pg * np.float32(0.25) * inv255
            r_ = pr * np.float32(0.25) * inv255
            p = pp * np.float32(0.25)
            planes[0, y, x] = b_
            planes[1, y, x] = g_
            planes[2, y, x] = r_
            planes[3, y, x] = p
            planes[4, y, x] = b_ * b_
            planes[5, y, x] = b_ * g_
            planes[6, y, x] = b_ * r_
            planes[7, y, x] = g_ * g_
            planes[8, y, x] = g_ * r_
            planes[9, y, x] = r_ * r_
            planes[10, y, x] = b_ * p
            planes[11, y, x] = g_ * p
            planes[12, y, x] = r_ * p


@njit(cache=True, nogil=True)
def _solve(means, eps, coef):
    """The linear coefficients per pixel from the box means:
    a = (cov(I) + eps)^-1 cov(I, p) through the adjugate, b = mean(p) - a . mean(I)."""
    sh, sw = means.shape[1], means.shape[2]
    for y in range(sh):
        for x in range(sw):
            mb = means[0, y, x]
            mg = means[1, y, x]
            mr = means[2, y, x]
            mp = means[3, y, x]
            vbb = means[4, y, x] - mb * mb + eps
            vbg = means[5, y, x] - mb * mg
            vbr = means[6, y, x] - mb * mr
            vgg = means[7, y, x] - mg * mg + eps
            vgr = means[8, y, x] - mg * mr
            vrr = means[9, y, x] - mr * mr + eps
            cb = means[10, y, x] - mb * mp
            cg = means[11, y, x] - mg * mp
            cr = means[12, y, x] - mr * mp
            i_bb = vgg * vrr - vgr * vgr
            i_bg = vgr * vbr - vbg * vrr
            i_br = vbg * vgr - vgg * vbr
            i_gg = vbb * vrr - vbr * vbr
            i_gr = vbr * vbg - vbb * vgr
            i_rr = vbb * vgg - vbg * vbg
            inv = np.float32(1.0) / (vbb * i_bb + vbg * i_bg + vbr * i_br)
            ab = (i_bb * cb + i_bg * cg + i_br * cr) * inv
            ag = (i_bg * cb + i_gg * cg + i_gr * cr) * inv
            ar = (i_br * cb + i_gr * cg + i_rr * cr) * inv
            coef[0, y, x] = ab
            coef[1, y, x] = ag
            coef[2, y, x] = ar
            coef[3, y, x] = mp - ab * mb - ag * mg - ar * mr


@njit(cache=True, nogil=True)
def _apply(guide, cm, post, out):
    """The coefficients' box means scaled up 2x, applied to the guide, clipped, contrast again."""
    h, w = out.shape
    sh, sw = cm.shape[1], cm.shape[2]
    inv255 = np.float32(1.0 / 255.0)
    # Scaled up 2x bilinearly (source position (x + 0.5) / 2 - 0.5, clamped
    # at the borders as cv2.resize does), applied to the full guide, clipped,
    # contrast again. Each output row first mixes two coefficient rows
    # (vectorised); across, output pixel 2k takes 1/4 of column k - 1 and 3/4
    # of column k, pixel 2k + 1 3/4 of k and 1/4 of k + 1.
    rows = np.empty((4, sw + 2), np.float32)  # one column of padding on each side
    q = np.float32(0.25)
    tq = np.float32(0.75)
    for y in range(h):
        k = y // 2
        if y % 2 == 0:
            y0, y1, fy = max(k - 1, 0), k, tq
        else:
            y0, y1, fy = k, min(k + 1, sh - 1), q
        gy = np.float32(1.0) - fy
        for c in range(4):
            a0 = cm[c, y0]
            a1 = cm[c, y1]
            rc = rows[c]
            for x in range(sw):
                rc[x + 1] = a0[x] * gy + a1[x] * fy
            rc[0] = rc[1]
            rc[sw + 1] = rc[sw]
        for k in range(sw):
            for half in range(2):
                x = 2 * k + half
                if half == 0:
                    j0, w0, j1, w1 = k, q, k + 1, tq
                else:
                    j0, w0, j1, w1 = k + 1, tq, k + 2, q
                v = (rows[3, j0] * w0 + rows[3, j1] * w1
                     + (rows[0, j0] * w0 + rows[0, j1] * w1) * (np.float32(guide[y, x, 0]) * inv255)
                     + (rows[1, j0] * w0 + rows[1, j1] * w1) * (np.float32(guide[y, x, 1]) * inv255)
                     + (rows[2, j0] * w0 + rows[2, j1] * w1) * (np.float32(guide[y, x, 2]) * inv255))
                v = min(max(v, np.float32(0.0)), np.float32(1.0))
                v = (v - np.float32(0.5)) * post + np.float32(0.5)
                out[y, x] = min(max(v, np.float32(0.0)), np.float32(1.0))


@njit(cache=True, nogil=True)
def apply_upsampled(guide, cm, out):
    """The stills' guided upsampling, last step: the coefficients' box means
    ``cm`` (4, h, w) scaled up bilinearly to the guide's size (any factor,
    cv2.resize's INTER_LINEAR positions and border clamping), applied to the
    full-size guide (uint8 BGR), clipped to [0, 1], into ``out`` (H, W):
    one pass, without the five full-size planes the NumPy version makes
    (a 12-megapixel photo: 0.1 s instead of 0.6)."""
    h, w = out.shape
    sh, sw = cm.shape[1], cm.shape[2]
    inv255 = np.float32(1.0 / 255.0)
    sy_scale = np.float32(sh / h)
    sx_scale = np.float32(sw / w)
    # Per column: the two source columns and the weight of the second.
    xi0 = np.empty(w, np.int64)
    xi1 = np.empty(w, np.int64)
    xf = np.empty(w, np.float32)
    for x in range(w):
        fx = (np.float32(x) + np.float32(0.5)) * sx_scale - np.float32(0.5)
        i = int(np.floor(fx))
        f = fx - np.float32(i)
        if i < 0:
            i, f = 0, np.float32(0.0)
        if i >= sw - 1:
            i, f = sw - 1, np.float32(0.0)
        xi0[x] = i
        xi1[x] = min(i + 1, sw - 1)
        xf[x] = f
    row = np.empty((4, sw), np.float32)
    for y in range(h):
        fy = (np.float32(y) + np.float32(0.5)) * sy_scale - np.float32(0.5)
        j = int(np.floor(fy))
        g = fy - np.float32(j)
        if j < 0:
            j, g = 0, np.float32(0.0)
        if j >= sh - 1:
            j, g = sh - 1, np.float32(0.0)
        j1 = min(j + 1, sh - 1)
        for c in range(4):
            for x in range(sw):
                row[c, x] = cm[c, j, x] * (np.float32(1.0) - g) + cm[c, j1, x] * g
        for x in range(w):
            i0, i1, f = xi0[x], xi1[x], xf[x]
            e = np.float32(1.0) - f
            v = (row[3, i0] * e + row[3, i1] * f
                 + (row[0, i0] * e + row[0, i1] * f) * (np.float32(guide[y, x, 0]) * inv255)
                 + (row[1, i0] * e + row[1, i1] * f) * (np.float32(guide[y, x, 1]) * inv255)
                 + (row[2, i0] * e + row[2, i1] * f) * (np.float32(guide[y, x, 2]) * inv255))
            out[y, x] = min(max(v, np.float32(0.0)), np.float32(1.0))


def supported(guide: np.ndarray, alpha: np.ndarray, radius: int) -> bool:
    """True when :func:`refine_edge_fast` applies: a BGR uint8 guide and a matte
    of the same even size (the usual working sizes are: 640x360, 480x360), larger
    than the filter's window at half size."""
    h, w = alpha.shape[:2]
    r = max(1, radius // 2)
    return (guide.dtype == np.uint8 and guide.ndim == 3 and guide.shape[2] == 3 and guide.shape[:2] == (h, w)
            and h % 2 == 0 and w % 2 == 0 and min(h, w) // 2 > 2 * r)


_local = threading.local()


def _buffers(sh: int, sw: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (13, sh, sw) float32 work buffers, kept per thread and size: 3 MB a
    call at 640x360 would otherwise be mapped and faulted in afresh each time."""
    bufs = getattr(_local, "bufs", None)
    if bufs is None or bufs[0].shape != (13, sh, sw):
        bufs = _local.bufs = (np.empty((13, sh, sw), np.float32), np.empty((13, sh, sw), np.float32))
    return bufs


def refine_edge_fast(guide: np.ndarray, alpha: np.ndarray, radius: int, eps: float, sharpen: float,
                     post_sharpen: float) -> np.ndarray:
    """refine_edge() in one kernel (see the module's docstring);
    ``radius`` is at working size, as there (the filter runs at half size)."""
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    guide = np.ascontiguousarray(guide)
    h, w = alpha.shape
    r = max(1, radius // 2)
    planes, means = _buffers(h // 2, w // 2)
    _prepare(guide, alpha, np.float32(sharpen), planes)
    # Box means by OpenCV: its SIMD box filter is faster than a numba one here.
    ksize = (2 * r + 1, 2 * r + 1)
    for i in range(13):
        cv2.boxFilter(planes[i], -1, ksize, dst=means[i], borderType=cv2.BORDER_REFLECT)
    coef, cm = planes[:4], means[:4]  # reused: the products are no longer needed
    _solve(means, np.float32(eps), coef)
    for i in range(4):
        cv2.boxFilter(coef[i], -1, ksize, dst=cm[i], borderType=cv2.BORDER_REFLECT)
    out = np.empty((h, w), np.float32)
    _apply(guide, cm, np.float32(post_sharpen), out)
    return out


def warmup() -> None:
    """Compile (or load from cache) the kernel before the first real frame."""
    refine_edge_fast(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), 4, 1e-2, 2.0, 1.5)
