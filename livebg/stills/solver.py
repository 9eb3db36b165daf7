"""Re-solving a soft mask's edges as a matting problem on the colour picture.

The matting Laplacian of Levin, Lischinski and Weiss (2008), with the large
windows and box-filter products of He, Sun and Tang (2010) (the guided
filter's local linear models, :mod:`livebg.refine.guided`), solved by
conjugate gradients with the mask as a prior.
"""

from __future__ import annotations

import cv2
import numpy as np

from livebg.refine.guided import inverse_sym3, linear_coefficients, window_stats


def _box_sum(x: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each pixel; outside the picture counts 0."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=False, borderType=cv2.BORDER_CONSTANT)


class _MattingLaplacian:
    """Matrix-free product with the matting Laplacian of ``I`` (float (h, w, 3)).

    For windows w_k of radius r, alpha^T L alpha is the sum over windows of
    the residual of the best local linear fit alpha ~ a_k . I + b_k
    (ridge eps on a_k). Its gradient is, per pixel i,
    (L p)_i = sum_{k: i in w_k} (p_i - a_k . I_i - b_k), with a_k, b_k the
    fit for p: a handful of box sums whatever the window size.
    """

    def __init__(self, I: np.ndarray, r: int, eps: float):
        self.I = I
        self.r = r
        ones = np.ones(I.shape[:2], np.float32)
        self.count = _box_sum(ones, r)  # pixels in each window = windows on each pixel
        self._inv_n = 1.0 / self.count
        mean = lambda x: _box_sum(x, r) * self._inv_n  # noqa: E731
        mu, cov = window_stats(I, mean)
        self._stats = (mu, inverse_sym3(cov, eps))
        self._mean = mean

    def __call__(self, p: np.ndarray) -> np.ndarray:
        I = self.I
        a0, a1, a2, b = linear_coefficients(I, p, self._mean, 0.0, self._stats)
        r = self.r
        return self.count * p - (_box_sum(a0, r) * I[..., 0] + _box_sum(a1, r) * I[..., 1]
                                 + _box_sum(a2, r) * I[..., 2] + _box_sum(b, r))


def _conjugate_gradients(apply, rhs: np.ndarray, x0: np.ndarray, iterations: int, tol: float) -> np.ndarray:
    x = x0.astype(np.float32, copy=True)
    r = rhs - apply(x)
    p = r.copy()
    rs = float(np.vdot(r, r))
    stop = tol * tol * float(np.vdot(rhs, rhs))
    for _ in range(iterations):
        if rs <= stop:
            break
        ap = apply(p)
        step = rs / max(float(np.vdot(p, ap)), 1e-30)
        x += step * p
        r -= step * ap
        rs_new = float(np.vdot(r, r))
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def matting_refine(image: np.ndarray, prior: np.ndarray, *, upper: np.ndarray | None = None,
                   band: float = 0.01, radius: int = 3, eps: float = 1e-4, known_weight: float = 100.0,
                   prior_weight: float = 0.2, iterations: int = 200, tol: float = 1e-4) -> np.ndarray:
    """Re-solve a soft mask's edges as a matting problem on the colour picture.

    image: BGR uint8 (h, w, 3); prior: float (h, w) in [0, 1], e.g. a
    segmentation model's output at this size. Pixels farther than ``band``
    (a fraction of the longer side) from the prior's 0.5 contour are held
    at 0 or 1 (weight ``known_weight``); inside the band the prior only
    nudges (weight ``prior_weight``) and the matting Laplacian (windows of
    ``radius``, ridge ``eps``) decides. ``upper``, an optimistic estimate
    (>= the prior), makes the background sure only where it too is below
    0.5 (and ``band`` away from its contour): between the two the
    Laplacian decides. Returns float32 (h, w) in [0, 1].
    """
    h, w = prior.shape
    I = image.astype(np.float32) * (1.0 / 255.0)
    p = np.clip(prior.astype(np.float32), 0.0, 1.0)
    k = max(1, int(round(band * max(h, w))))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    inside = p > 0.5
    outside = ~inside if upper is None else np.asarray(upper) <= 0.5
    sure_fg = cv2.erode(inside.astype(np.uint8), se, borderType=cv2.BORDER_REPLICATE).astype(bool)
    sure_bg = cv2.erode(outside.astype(np.uint8), se, borderType=cv2.BORDER_REPLICATE).astype(bool)
    target = np.where(sure_fg, np.float32(1.0), np.where(sure_bg, np.float32(0.0), p)).astype(np.float32)
    weight = np.where(sure_fg | sure_bg, np.float32(known_weight), np.float32(prior_weight)).astype(np.float32)
    if not (~(sure_fg | sure_bg)).any():
        return target
    lap = _MattingLaplacian(I, radius, eps)
    x = _conjugate_gradients(lambda v: lap(v) + weight * v, weight * target, target, iterations, tol)
    return np.clip(x, 0.0, 1.0)
