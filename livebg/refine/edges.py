"""Turning a segmentation model's blurry confidence map into an edge that sits
on the picture's edge, and dropping the specks a model fires on."""

from __future__ import annotations

import cv2
import numpy as np

from livebg.refine import guided_kernel, matte_kernel
from livebg.refine.guided import fast_guided_filter


def contrast(alpha: np.ndarray, gain: float) -> np.ndarray:
    """Raise the contrast around 0.5 by ``gain``, clipped to [0, 1]."""
    if gain == 1.0:
        return alpha
    return np.clip((alpha - 0.5) * gain + 0.5, 0.0, 1.0)


def refine_edge(guide_bgr: np.ndarray, alpha: np.ndarray, radius: int = 4, eps: float = 1e-2,
                sharpen: float = 2.0, post_sharpen: float = 1.5, use_kernel: bool = True) -> np.ndarray:
    """Contrast around 0.5, guided filter (coefficients at half size), contrast
    again: a segmentation mask's blurry confidence ramp becomes an edge that
    sits on the picture's edge. (The guided filter alone only fixes what lies
    within its radius, and leaves the local mean on flat regions beside the edge.)

    guide_bgr: BGR uint8 (h, w, 3); alpha: float32 (h, w). The numba kernel
    (livebg.refine.guided_kernel) does it where it applies (even sizes),
    2-4x cheaper; ``use_kernel=False`` takes the NumPy path (the benchmark's
    baseline)."""
    if use_kernel and guided_kernel.supported(guide_bgr, alpha, radius):
        return guided_kernel.refine_edge_fast(guide_bgr, alpha, radius, eps, sharpen, post_sharpen)
    alpha = contrast(alpha, sharpen)
    alpha = fast_guided_filter(guide_bgr, alpha, radius, eps)
    return contrast(alpha, post_sharpen)


def drop_small_regions(alpha: np.ndarray, min_share: float, level: float = 0.1, halo: float = 0.0) -> np.ndarray:
    """Zero the small islands of the matte: connected regions (alpha > level,
    8-connected) under ``min_share`` of the largest one.

    Segmentation models fire on person-coloured things in the background (a
    traffic cone, a lamp, a feather); those specks come and go from frame to
    frame, which a viewer sees as flicker. A raised hand is a separate
    region too, but far larger than the share. ``halo`` (a fraction of the
    longer side) also clears the soft fringe around a dropped region.
    """
    mask = (alpha > level).astype(np.uint8)
    # Labels alone first (a fifth of the cost with statistics): most frames
    # have one region, or none, and need no more.
    n, labels = cv2.connectedComponentsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    if n <= 2:
        return alpha
    areas = matte_kernel.areas(labels, n)[1:]
    small = np.flatnonzero(areas < min_share * areas.max()) + 1
    if small.size == 0:
        return alpha
    if halo <= 0.0:
        lut = np.ones(n, np.float32)
        lut[small] = 0.0
        return matte_kernel.keep(alpha, labels, lut)
    drop = np.zeros(n, bool)
    drop[small] = True
    dropped = drop[labels]
    k = max(3, int(round(halo * max(alpha.shape))) | 1)
    grown = cv2.dilate(dropped.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    out = alpha.copy()
    out[grown & (labels == 0) | dropped] = 0.0
    return out


def warmup() -> None:
    """Compile (or load from the cache) the edge kernel before the first frame."""
    guided_kernel.warmup()
    matte_kernel.warmup()
