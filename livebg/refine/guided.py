"""The colour guided filter (He, Sun and Tang), in NumPy/OpenCV: the one
implementation the live edge step, the stills' upsampling and the stills'
matting solver share.

In windows of radius r the alpha is fitted as a linear function of the
colour, ``alpha ~ a . I + b`` (a ridge ``eps`` on ``a``); the fitted
coefficients, averaged over the windows covering each pixel, are applied
to the guide. Fitting on a smaller copy and applying the coefficients,
scaled up, to the full-size guide is He and Sun's "fast guided filter":
edges follow the full-size picture at a fraction of the cost.

:mod:`livebg.refine.guided_kernel` is the live edge step's numba version
of the same arithmetic (held equal to this one by the tests).
"""

from __future__ import annotations

import cv2
import numpy as np


def box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over the (2r+1)^2 window around each pixel, borders reflected."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def window_stats(I: np.ndarray, mean) -> tuple[list[np.ndarray], dict]:
    """Per-window means of the three colour planes of ``I`` (float (h, w, 3))
    and their 3x3 covariance (the six distinct entries, keyed (i, j), i <= j);
    ``mean`` is the window mean to use."""
    mu = [mean(np.ascontiguousarray(I[..., c])) for c in range(3)]
    cov = {}
    for i in range(3):
        for j in range(i, 3):
            cov[i, j] = mean(I[..., i] * I[..., j]) - mu[i] * mu[j]
    return mu, cov


def inverse_sym3(c: dict, eps: float):
    """Element-wise inverse of symmetric 3x3 matrices [[c00 c01 c02] [. c11 c12] [. . c22]] + eps I,
    by the adjugate. Returns the six distinct entries (i00, i01, i02, i11, i12, i22)."""
    a, b, cc = c[0, 0] + eps, c[0, 1], c[0, 2]
    d, e, f = c[1, 1] + eps, c[1, 2], c[2, 2] + eps
    A = d * f - e * e
    B = cc * e - b * f
    C = b * e - cc * d
    det = a * A + b * B + cc * C
    inv = 1.0 / det
    return A * inv, B * inv, C * inv, (a * f - cc * cc) * inv, (b * cc - a * e) * inv, (a * d - b * b) * inv


def linear_coefficients(I: np.ndarray, p: np.ndarray, mean, eps: float, stats=None):
    """The guided filter's per-window fit of ``p`` in the colours ``I``:
    (a0, a1, a2, b) planes. ``stats``: window_stats(I, mean) and its inverse, if known."""
    mu, inv = stats if stats is not None else _stats(I, mean, eps)
    mp = mean(p)
    cv = [mean(I[..., c] * p) - mu[c] * mp for c in range(3)]
    i00, i01, i02, i11, i12, i22 = inv
    a0 = i00 * cv[0] + i01 * cv[1] + i02 * cv[2]
    a1 = i01 * cv[0] + i11 * cv[1] + i12 * cv[2]
    a2 = i02 * cv[0] + i12 * cv[1] + i22 * cv[2]
    b = mp - a0 * mu[0] - a1 * mu[1] - a2 * mu[2]
    return a0, a1, a2, b


def _stats(I, mean, eps):
    mu, cov = window_stats(I, mean)
    return mu, inverse_sym3(cov, eps)


def guided_upsample(alpha: np.ndarray, guide_small: np.ndarray, guide_full: np.ndarray,
                    radius: int = 4, eps: float = 1e-4, kernel: bool = False) -> np.ndarray:
    """Bring ``alpha`` (h, w) to the size of ``guide_full`` (H, W, 3) along its edges.

    The local linear models are fitted in windows of ``radius`` on the small
    guide (BGR uint8, (h, w, 3)), averaged, scaled up bilinearly and applied
    to the full-size guide. Returns float32 (H, W) in [0, 1]. ``kernel``:
    the last step (the full-size one) as one numba pass
    (:func:`livebg.refine.guided_kernel.apply_upsampled`, equal to 1e-5),
    for big pictures.
    """
    I = guide_small.astype(np.float32) * np.float32(1.0 / 255.0)
    p = alpha.astype(np.float32, copy=False)
    mean = lambda x: box_mean(x, radius)  # noqa: E731
    coeffs = linear_coefficients(I, p, mean, eps)
    H, W = guide_full.shape[:2]
    if kernel and guide_full.dtype == np.uint8 and guide_full.ndim == 3 and guide_full.shape[2] == 3:
        from livebg.refine.guided_kernel import apply_upsampled

        out = np.empty((H, W), np.float32)
        apply_upsampled(np.ascontiguousarray(guide_full), np.stack([mean(c) for c in coeffs]), out)
        return out
    up = lambda x: cv2.resize(mean(x), (W, H), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    out = up(coeffs[3])
    for c in range(3):
        out += up(coeffs[c]) * (guide_full[..., c].astype(np.float32) * np.float32(1.0 / 255.0))
    return np.clip(out, 0.0, 1.0, out=out)


def fast_guided_filter(guide_bgr: np.ndarray, alpha: np.ndarray, radius: int, eps: float, step: int = 2) -> np.ndarray:
    """Colour guided filter of ``alpha`` (same size as the BGR uint8 guide), its
    coefficients fitted on a ``step``-times smaller copy (``radius`` is at full size)."""
    h, w = alpha.shape
    sh, sw = max(1, h // step), max(1, w // step)
    small = cv2.resize(guide_bgr, (sw, sh), interpolation=cv2.INTER_AREA)
    p = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    return guided_upsample(p, small, guide_bgr, max(1, radius // step), eps)
