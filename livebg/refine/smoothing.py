"""Temporal smoothing of the matte: steady where nothing moves, no drag where something does."""

from __future__ import annotations

import numpy as np

from livebg.refine import matte_kernel


class TemporalSmoother:
    """Motion-gated exponential smoothing.

    Where the matte barely changes from one frame to the next (a still
    person, model noise at the border) the new value is blended into the
    running value with weight ``1 - strength``; where it changes a lot (the
    person moved) the new value is taken as it is, so motion does not lag.
    strength 0 disables smoothing.
    """

    def __init__(self, strength: float = 0.6, motion: float = 0.25):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.motion = float(motion)
        self._state: np.ndarray | None = None

    def reset(self) -> None:
        self._state = None

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        if self.strength == 0.0 or self._state is None or self._state.shape != alpha.shape:
            self._state = alpha.astype(np.float32, copy=True)
            return self._state
        self._state = matte_kernel.smooth(alpha, self._state, self.strength, self.motion)
        return self._state
