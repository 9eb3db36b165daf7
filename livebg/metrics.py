"""Alpha-matte error measures, in the units the matting literature reports.

Every function takes float arrays with values in [0, 1] (a predicted and a
reference matte of the same shape; for :func:`dtssd`, two sequences of
such frames) and returns one float, already scaled the way published
tables print it (Rhemann et al. 2009 for SAD/MSE/Grad/Conn, Erofeev et al.
2015 for dtSSD, the scales of Lin et al. 2021 "Robust Video Matting"):

==========  ====================================================  ========
function    what                                                  scale
==========  ====================================================  ========
``mad``     mean absolute difference                               x 1e3
``mse``     mean squared difference                                x 1e3
``sad``     sum of absolute differences                            / 1e3
``grad``    sum of squared differences of the gradient magnitude   / 1e3
            (Gaussian-derivative filters, sigma 1.4)
``conn``    connectivity error (threshold step 0.1)                / 1e3
``dtssd``   RMS of the difference between the predicted and true   x 1e2
            frame-to-frame change, averaged over frame pairs
==========  ====================================================  ========

``SCALES`` holds these factors, so ``mad(p, t) / SCALES["mad"]`` is the plain
mean. The measures are taken over the whole picture (no trimap). Lower is
better for all of them; identical mattes give 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

SCALES = {"mad": 1e3, "mse": 1e3, "sad": 1e-3, "grad": 1e-3, "conn": 1e-3, "dtssd": 1e2}

__all__ = ["SCALES", "mad", "mse", "sad", "grad", "conn", "dtssd", "gradient_magnitude"]


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(true, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and reference {t.shape} differ in shape")
    if p.size == 0:
        raise ValueError("empty matte")
    return p, t


def mad(pred, true) -> float:
    """Mean absolute difference x 1e3."""
    p, t = _pair(pred, true)
    return float(np.abs(p - t).mean() * SCALES["mad"])


def mse(pred, true) -> float:
    """Mean squared difference x 1e3."""
    p, t = _pair(pred, true)
    return float(np.square(p - t).mean() * SCALES["mse"])


def sad(pred, true) -> float:
    """Sum of absolute differences / 1e3."""
    p, t = _pair(pred, true)
    return float(np.abs(p - t).sum() * SCALES["sad"])


def _gauss_derivative_kernels(sigma: float, epsilon: float = 1e-2):
    """Separable taps of the x-derivative-of-Gaussian filter, L2-normalised as a 2-D kernel.

    The half size is where the Gaussian falls below ``epsilon`` of its peak
    height times sqrt(2 pi) sigma (the usual choice in the matting benchmark).
    """
    half = int(math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * epsilon))))
    u = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-u * u / (2.0 * sigma * sigma)) / (sigma * math.sqrt(2.0 * math.pi))
    dg = -u * g / (sigma * sigma)
    # 2-D kernel k[y, x] = g[y] * dg[x]; its L2 norm factors into the two 1-D norms.
    norm = math.sqrt(float((g * g).sum()) * float((dg * dg).sum()))
    return g, dg / norm


def gradient_magnitude(alpha, sigma: float = 1.4) -> np.ndarray:
    """|grad alpha| with Gaussian-derivative filters (replicated borders)."""
    a = np.asarray(alpha, dtype=np.float64)
    g, dg = _gauss_derivative_kernels(sigma)
    gx = cv2.sepFilter2D(a, cv2.CV_64F, dg[::-1].copy(), g, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(a, cv2.CV_64F, g, dg[::-1].copy(), borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def grad(pred, true, sigma: float = 1.4) -> float:
    """Gradient error: sum of squared differences of the gradient magnitudes / 1e3."""
    p, t = _pair(pred, true)
    d = gradient_magnitude(p, sigma) - gradient_magnitude(t, sigma)
    return float(np.square(d).sum() * SCALES["grad"])


def _largest_component(mask: np.ndarray) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=4)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


def conn(pred, true, step: float = 0.1, theta: float = 0.15) -> float:
    """Connectivity error (Rhemann et al. 2009) / 1e3.

    For each threshold t = step, 2 step, ..., 1 the source region is the
    largest 4-connected component where both mattes are >= t. A pixel's
    level l is the last threshold at which it still belongs to the source
    region (1 if it always does). Its degree of connectivity is
    phi = 1 - d [d >= theta] with d = alpha - l; the error is the summed
    absolute difference of phi between the two mattes.
    """
    p, t = _pair(pred, true)
    if p.ndim != 2:
        raise ValueError(f"conn needs a 2-D matte, got shape {p.shape}")
    n = int(round(1.0 / step))
    steps = np.arange(n + 1) * step
    level = np.full(p.shape, -1.0)
    for i in range(1, n + 1):
        omega = _largest_component((p >= steps[i]) & (t >= steps[i]))
        level[(level == -1.0) & ~omega] = steps[i - 1]
    level[level == -1.0] = 1.0
    dp = p - level
    dt = t - level
    phi_p = 1.0 - dp * (dp >= theta)
    phi_t = 1.0 - dt * (dt >= theta)
    return float(np.abs(phi_p - phi_t).sum() * SCALES["conn"])


def dtssd(pred_seq: Sequence, true_seq: Sequence) -> float:
    """Temporal coherence error x 1e2: for each pair of consecutive frames, the
    RMS over pixels of (pred_t - pred_t-1) - (true_t - true_t-1), averaged
    over the pairs. Sequences of one frame give 0."""
    if len(pred_seq) != len(true_seq):
        raise ValueError(f"sequences differ in length: {len(pred_seq)} and {len(true_seq)}")
    if len(pred_seq) == 0:
        raise ValueError("empty sequence")
    errors = []
    prev = None
    for pf, tf in zip(pred_seq, true_seq):
        p, t = _pair(pf, tf)
        if prev is not None:
            pp, tp = prev
            if pp.shape != p.shape:
                raise ValueError(f"frame shapes change within the sequence: {pp.shape} then {p.shape}")
            d = (p - pp) - (t - tp)
            errors.append(math.sqrt(float(np.square(d).mean())))
        prev = (p, t)
    return float(np.mean(errors) * SCALES["dtssd"]) if errors else 0.0
