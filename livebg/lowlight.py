"""Low light: lift a dark camera picture before matting and compositing.

What it does to each frame:

- exposure, in linear light (the picture's sRGB values turned back into
  light, multiplied, and encoded again), as a camera's longer exposure
  would: the gain that brings the frame's white point (its 99.5th
  percentile of brightness) to WHITE, at most MAX_GAIN (3 stops), and
  not past a mean of MEAN_MAX; where the mean is still under MEAN_MIN, a
  gamma (at most MAX_GAMMA) lifts the shadows the rest of the way
  (:func:`exposure_for`). A frame whose white point is at LIT or above is
  left exactly as it is; the lift comes in gradually down to DARK. It only
  ever brightens, so it can stay on.
- smoothing over time: the exposure is followed on a log scale with a
  time constant of TAU seconds, and changes under 3% are ignored, so the
  picture never pumps when someone moves or a window's light flickers.
- noise kept in check: lifting a dark picture lifts its sensor noise by
  the same factor, so a temporal filter evens out what changes by less
  than a few times the noise from one frame to the next, pixel by pixel,
  and lets real changes (motion) through (:func:`_filter`, one numba
  pass). The noise is estimated from the frames themselves (the median
  change of a sample of pixels).

The curve is one lookup table (cv2.LUT), the filter one pass: about 3 ms
a 720p frame on one core.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from numba import njit, prange

WHITE = 240.0         # the white point aimed at (8-bit, BT.601 luma, the 99.5th percentile)
MEAN_MAX = 160.0      # the mean brightness the gain stops at
MEAN_MIN = 70.0       # the mean brightness the gamma lifts to, where the gain alone falls short
LIT = 225.0           # a frame whose white point is this bright or brighter is left alone;
DARK = 180.0          # one this dark or darker is lifted all the way; in between, part of the way
MAX_GAIN = 8.0        # exposure, in linear light (3 stops)
MAX_GAMMA = 1.6
TAU = 0.7             # seconds
DEADBAND = 0.03       # relative exposure changes ignored
FILTER_K = 3.0        # changes under this many noise deviations are evened out
FILTER_MIN = 0.2      # the least of a new frame taken where nothing moved (about 9 frames averaged)


def _srgb_to_linear(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return 255.0 * np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(v, 1 / 2.4) - 0.055)


_LIN = _srgb_to_linear(np.arange(256))
_LIN_WHITE = float(_srgb_to_linear(np.array([WHITE]))[0])


def curve(gain: float, gamma: float) -> np.ndarray:
    """The tone curve as a float32 table of 256 entries: exposure ``gain`` in
    linear light, then ``gamma`` (> 1 lifts the shadows) on the result."""
    lin = np.clip(_LIN * gain, 0.0, 1.0)
    if gamma != 1.0:
        lin = lin ** (1.0 / gamma)
    return _linear_to_srgb(lin).astype(np.float32)


def exposure_for(sample: np.ndarray) -> tuple[float, float]:
    """(gain, gamma) for a frame, from a sample of its pixels (BGR uint8).

    The gain, in linear light, brings the frame's white point (its 99.5th
    percentile of brightness) to WHITE, as a camera's auto exposure would
    on a well-lit scene, but at most MAX_GAIN, and not past a mean of
    MEAN_MAX (a dim scene with nothing bright in it is lifted, not made
    bright). Then a gamma (at most MAX_GAMMA) lifts the shadows where the
    mean is still under MEAN_MIN. A frame whose white point is at LIT or
    above, or whose mean is at MEAN_MAX or above, gets (1, 1); from LIT
    down to DARK the lift comes in gradually (no step at a threshold)."""
    y = (0.114 * sample[..., 0] + 0.587 * sample[..., 1] + 0.299 * sample[..., 2] + 0.5).astype(np.uint8)
    hist = np.bincount(y.ravel(), minlength=256).astype(np.float64)
    hist /= hist.sum()
    levels = np.arange(256, dtype=np.float64)
    mean = float((hist * levels).sum())
    white = float(np.searchsorted(np.cumsum(hist), 0.995))
    # How dark the frame is: 0 from a white point of LIT up (left alone), 1 from DARK down.
    share = min(max((LIT - white) / (LIT - DARK), 0.0), 1.0)
    if share == 0.0 or mean >= MEAN_MAX:
        return 1.0, 1.0
    gain, gamma = _full_lift(hist, white)
    return gain ** share, gamma ** share


def _full_lift(hist: np.ndarray, white: float) -> tuple[float, float]:
    """exposure_for's gain and gamma for a dark frame (its brightness histogram, white point)."""

    def mean_after(g: float, gm: float) -> float:
        return float((hist * curve(g, gm)).sum())

    gain = min(MAX_GAIN, _LIN_WHITE / max(_LIN[int(white)], 1e-4))
    if mean_after(gain, 1.0) > MEAN_MAX:
        lo, hi = 1.0, gain
        for _ in range(16):  # bisection on log gain
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if mean_after(mid, 1.0) < MEAN_MAX else (lo, mid)
        gain = lo
    gain = max(gain, 1.0)
    if mean_after(gain, 1.0) >= MEAN_MIN:
        return gain, 1.0
    lo, hi = 1.0, MAX_GAMMA
    if mean_after(gain, hi) <= MEAN_MIN:
        return gain, hi
    for _ in range(16):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if mean_after(gain, mid) < MEAN_MIN else (lo, mid)
    return gain, lo


@njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _filter(lifted, prev, out, threshold, k_min, first):
    """The temporal filter: out = prev + k (lifted - prev) with k = (change /
    threshold) squared, at least ``k_min``, at most 1; ``prev`` (float32, the
    last output) is updated in place. ``first``: no history yet, out = lifted."""
    h, n = lifted.shape
    inv = np.float32(1.0) / threshold
    for y in prange(h):
        src = lifted[y]
        p = prev[y]
        o = out[y]
        if first:
            for i in range(n):
                p[i] = np.float32(src[i])
                o[i] = src[i]
        else:
            for i in range(n):
                v = np.float32(src[i])
                d = v - p[i]
                k = d * inv
                k = min(max(k * k, k_min), np.float32(1.0))
                v = p[i] + k * d
                p[i] = v
                o[i] = np.uint8(np.int32(v + np.float32(0.5)))


class LowLight:
    """Lifts dark frames; one per camera (it carries the exposure and the filter from frame to frame).

    ``__call__(image, t)`` returns the lifted frame (a new array), or
    ``image`` itself when there is nothing to lift. t: the frame's time in
    seconds. ``denoise``: the temporal filter (on by default).
    """

    def __init__(self, denoise: bool = True):
        self.denoise = denoise
        self.gain = 1.0
        self.gamma = 1.0
        self.noise = 0.0          # the camera's noise as estimated, 8-bit levels
        self._t: float | None = None
        self._lut_key = None
        self._lut = None
        self._lut8 = None
        self._prev: np.ndarray | None = None
        self._last_in: np.ndarray | None = None
        self._forget = False

    def reset(self) -> None:
        """A new scene (from any thread): exposure measured afresh, the filter emptied."""
        self._forget = True

    def _measure(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        step = max(1, int(round(math.sqrt(h * w / 4000.0))))  # about 4000 pixels
        return image[step // 2::step, step // 2::step]

    def _estimate_noise(self, sample: np.ndarray) -> None:
        """The camera's temporal noise from the change of a sample of pixels since the
        last frame (their median: most of a picture does not move)."""
        last, self._last_in = self._last_in, sample.astype(np.int16)
        if last is None or last.shape != sample.shape:
            return
        d = np.abs(self._last_in - last)
        sigma = float(np.median(d)) / (0.6745 * math.sqrt(2.0))
        sigma = max(sigma, 0.5)
        self.noise = sigma if self.noise == 0.0 else self.noise + 0.1 * (sigma - self.noise)

    def __call__(self, image: np.ndarray, t: float) -> np.ndarray:
        if self._forget or (self._prev is not None and self._prev.shape != image.reshape(image.shape[0], -1).shape):
            self._forget = False
            self.gain, self.gamma, self._t = 1.0, 1.0, None
            self._prev = None
            self._last_in = None
            self.noise = 0.0
        sample = self._measure(image)
        self._estimate_noise(sample)
        gain, gamma = exposure_for(sample)
        if self._t is None:
            self.gain, self.gamma = gain, gamma
        else:
            k = 1.0 - math.exp(-min(max(t - self._t, 0.0), 1.0) / TAU)
            for name, want in (("gain", gain), ("gamma", gamma)):
                have = getattr(self, name)
                step = math.log(want / have)
                if abs(step) > DEADBAND:
                    setattr(self, name, have * math.exp(step * k))
        self._t = t
        if self.gain < 1.02 and self.gamma < 1.02:
            self._prev = None  # nothing to lift: the frame as it is
            return image
        key = (round(self.gain, 3), round(self.gamma, 3))
        if key != self._lut_key:
            self._lut_key, self._lut = key, curve(self.gain, self.gamma)
            self._lut8 = np.clip(self._lut + 0.5, 0, 255).astype(np.uint8)
        lifted = cv2.LUT(image, self._lut8)
        if not self.denoise:
            return lifted
        h = image.shape[0]
        flat = lifted.reshape(h, -1)
        first = self._prev is None
        if first:
            self._prev = np.empty(flat.shape, np.float32)
        # The noise after the lift: the camera's, times the curve's slope at mid-dark levels.
        slope = float(self._lut[48] - self._lut[32]) / 16.0
        threshold = np.float32(max(1.0, FILTER_K * max(self.noise, 1.0) * slope))
        out = np.empty_like(flat)
        _filter(flat, self._prev, out, threshold, np.float32(FILTER_MIN), first)
        return out.reshape(image.shape)


def warmup() -> None:
    """Compile (or load from the cache) the kernel before the first frame."""
    ll = LowLight()
    dark = np.full((8, 8, 3), 20, np.uint8)
    ll(dark, 0.0)
    ll(dark, 0.04)
