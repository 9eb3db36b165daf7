"""Light wrap and colour match: what the compositing kernel needs to apply them.

Both change the person's colour on the way into the blend, inside the one
pass of :func:`livebg.compositing.composite`; this module only prepares
the kernel's inputs, at the matte's size, each frame:

- light wrap: a little of the new background's blurred light on the
  person's edge, so the cut-out look goes. The weight is ``light_wrap``
  times how much background surrounds a pixel (1 - the matte blurred by
  WRAP_SIGMA of the height), so it is largest on the edge and fades a few
  percent of the picture's height inside it; the light is the new
  background blurred (LIGHT_SIGMA). Where the weight is w, the person's
  local average colour moves the share w of the way to the light; the
  fine detail (hair) stays. Both at a quarter of the matte's size.
- colour match: the person's white balance and brightness moved part of
  the way (``color_match``, 0 to 1) toward the background's: per channel,
  the gain (background mean / person mean) ** color_match, limited to
  GAIN_RANGE, from statistics taken every ``every`` frames on small copies
  and smoothed over time so it never flickers.

One Look belongs to one compositing thread (it keeps the smoothed gains
and a cache of the light for a background that does not change).
"""

from __future__ import annotations

import cv2
import numpy as np

# Defaults (configs/default.toml): light wrap on at a subtle level; colour
# match off. The strength the tray turns colour match on with when the
# config has none.
DEFAULT_LIGHT_WRAP = 0.3
DEFAULT_COLOR_MATCH = 0.5

GAIN_RANGE = (0.67, 1.5)
WRAP_SIGMA = 0.02      # the matte's blur for the wrap's weight, as a share of the picture's height
LIGHT_SIGMA = 0.03     # the background's blur for its light, the same way


class Look:
    """light_wrap, color_match: strengths from 0 (off) to 1; they may be changed between frames."""

    def __init__(self, light_wrap: float = 0.0, color_match: float = 0.0, every: int = 6):
        self.light_wrap = float(light_wrap)
        self.color_match = float(color_match)
        self.every = max(1, int(every))
        self._frame = 0
        self._forget = False
        self._gain: np.ndarray | None = None
        self._light_key = None
        self._light_ref = None
        self._light = None
        self._bg_mean = None

    @property
    def active(self) -> bool:
        return self.light_wrap > 0.0 or self.color_match > 0.0

    def reset(self) -> None:
        """Forget the smoothed gains (a new scene); from any thread, applied at the next frame."""
        self._forget = True

    def kernel_args(self, frame: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> dict:
        """Keyword arguments for compositing.composite (empty when both are off)."""
        wrap, match = self.light_wrap, self.color_match
        if wrap <= 0.0 and match <= 0.0:
            self._gain = None
            return {}
        h, w = alpha.shape
        args = {}
        # Both at a quarter of the matte's size: they are smooth, and the kernel scales them.
        qh, qw = max(1, h // 4), max(1, w // 4)
        light, bg_mean = self._background_light(bg, qh, qw, need_light=wrap > 0.0)
        if wrap > 0.0:
            args["wrap"] = wrap_weight(alpha, wrap, (qh, qw))
            args["wrap_light"] = light
        if match > 0.0:
            gain = self._match(frame, alpha, bg_mean, match)
            if gain is not None:
                args["gain"] = gain
        else:
            self._gain = None
        return args

    # -- light wrap -------------------------------------------------------------------
    def _background_light(self, bg: np.ndarray, h: int, w: int, need_light: bool):
        """(the background's blurred light at h x w float32 or None, its mean BGR).
        Cached while the renderer hands over the same picture (images, colours)."""
        key = (id(bg), bg.shape, h, w, need_light)
        if key == self._light_key and self._light_ref is bg:
            return self._light, self._bg_mean
        light, mean = background_light(bg, h, w, need_light)
        self._light_key, self._light_ref, self._light, self._bg_mean = key, bg, light, mean
        return light, mean

    # -- colour match -----------------------------------------------------------------
    def _match(self, frame: np.ndarray, alpha: np.ndarray, bg_mean: np.ndarray, strength: float):
        if self._forget:
            self._forget = False
            self._gain = None
            self._frame = 0
        self._frame += 1
        if self._gain is not None and (self._frame - 1) % self.every:
            return self._gain
        target = match_gain(frame, alpha, bg_mean, strength)
        if self._gain is None:
            self._gain = target
        else:  # about 0.7 s to settle at 30 fps, statistics every 6th frame
            self._gain = (self._gain + 0.4 * (target - self._gain)).astype(np.float32)
        return self._gain


def background_light(bg: np.ndarray, h: int, w: int, need_light: bool = True):
    """(the background's light: it blurred, float32 (h, w, 3), or None; its mean colour, BGR
    float32). The blur is LIGHT_SIGMA of the picture's height."""
    from livebg.compositing import local_average

    small = local_average(bg, h, w)
    mean = small.reshape(-1, 3).mean(axis=0)
    light = None
    if need_light:
        light = cv2.GaussianBlur(small, (0, 0), sigmaX=max(0.5, LIGHT_SIGMA * h))
    return light, mean


def wrap_weight(alpha: np.ndarray, strength: float, size: tuple[int, int] | None = None) -> np.ndarray:
    """float32: ``strength`` x (1 - the matte blurred by WRAP_SIGMA of its height), the light
    wrap's weight, at ``size`` (h, w; default the matte's own)."""
    h, w = alpha.shape
    sh, sw = size or (h, w)
    small = cv2.resize(np.asarray(alpha, np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(0.5, WRAP_SIGMA * sh))
    return np.clip((1.0 - small) * np.float32(strength), 0.0, 1.0).astype(np.float32)


def person_mean(frame: np.ndarray, alpha: np.ndarray) -> np.ndarray | None:
    """The person's mean colour (BGR float32) where the matte is sure, or None."""
    h, w = alpha.shape
    sh, sw = max(1, h // 4), max(1, w // 4)
    a = cv2.resize(np.asarray(alpha, np.float32), (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
    sure = a > 0.9
    if sure.sum() < 16:
        return None
    return small[sure].mean(axis=0).astype(np.float32)


def match_gain(frame: np.ndarray, alpha: np.ndarray, bg_mean: np.ndarray, strength: float) -> np.ndarray:
    """Per-channel gains that move the person's mean colour ``strength`` of
    the way (in log terms) toward the background's mean, limited to GAIN_RANGE."""
    p = person_mean(frame, alpha)
    if p is None:
        return np.ones(3, np.float32)
    ratio = (np.asarray(bg_mean, np.float32) + 1.0) / (p + 1.0)
    gain = np.power(ratio, np.float32(strength))
    return np.clip(gain, *GAIN_RANGE).astype(np.float32)
