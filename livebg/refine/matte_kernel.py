"""The light pipeline's per-frame matte passes in numba: the temporal
smoothing and the speck removal's two full passes.

As NumPy, the smoothing is five whole-array operations on 640x360 planes,
each allocating its result, and the speck removal a cast to 64-bit labels, a
bincount and a fancy-indexed lookup: together about a fifth of the finishing
thread's time in ``livebg process`` (py-spy). Here each is one pass, without
the GIL, so the model and encoder threads run beside it.
"""

from __future__ import annotations

from livebg import kernelcache

kernelcache.configure()  # before numba: its cache goes to the user's cache folder, not into the package

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402


@njit(cache=True, nogil=True)
def _smooth(alpha, state, out, strength, inv_motion):
    keep = np.float32(1.0) - strength
    for i in range(alpha.shape[0]):
        for j in range(alpha.shape[1]):
            s = state[i, j]
            d = alpha[i, j] - s
            gate = min(abs(d) * inv_motion, np.float32(1.0))
            out[i, j] = s + (keep + strength * gate) * d


def smooth(alpha: np.ndarray, state: np.ndarray, strength: float, motion: float) -> np.ndarray:
    """state + w (alpha - state), w = (1 - strength) + strength min(|alpha - state| / motion, 1),
    as a new float32 array (alpha and state: float32, the same shape)."""
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    out = np.empty_like(alpha)
    _smooth(alpha, np.ascontiguousarray(state, dtype=np.float32), out, np.float32(strength),
            np.float32(1.0 / motion))
    return out


@njit(cache=True, nogil=True)
def _areas(labels, n):
    areas = np.zeros(n, np.int64)
    for i in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            areas[labels[i, j]] += 1
    return areas


@njit(cache=True, nogil=True)
def _keep(alpha, labels, lut, out):
    for i in range(alpha.shape[0]):
        for j in range(alpha.shape[1]):
            out[i, j] = alpha[i, j] * lut[labels[i, j]]


def areas(labels: np.ndarray, n: int) -> np.ndarray:
    """The pixel count of each label 0..n-1 (int32 labels, all < n)."""
    return _areas(labels, n)


def keep(alpha: np.ndarray, labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """alpha * lut[labels] as a new float32 array."""
    alpha = np.ascontiguousarray(alpha, dtype=np.float32)
    out = np.empty_like(alpha)
    _keep(alpha, labels, lut.astype(np.float32, copy=False), out)
    return out


def warmup() -> None:
    """Compile (or load from the cache) the kernels before the first frame."""
    a = np.zeros((4, 4), np.float32)
    lab = np.zeros((4, 4), np.int32)
    smooth(a, a, 0.5, 0.25)
    keep(a, lab, areas(lab, 1).astype(np.float32))
