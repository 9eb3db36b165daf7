"""Motion-gated temporal smoothing of the matte."""

from __future__ import annotations

import numpy as np
import pytest

from livebg.refine.smoothing import TemporalSmoother


def test_smoother_steadies_small_changes_and_follows_big_ones():
    s = TemporalSmoother(0.6, motion=0.25)
    base = np.full((4, 4), 0.5, np.float32)
    s(base)
    small = s(base + 0.05)
    assert 0.5 < small[0, 0] < 0.53  # mostly held
    s.reset()
    s(base)
    big = s(base + 0.4)
    assert big[0, 0] == pytest.approx(0.9)  # taken as it is: no lag on motion
    off = TemporalSmoother(0.0)
    off(base)
    assert off(base + 0.05)[0, 0] == pytest.approx(0.55)
    with pytest.raises(ValueError):
        TemporalSmoother(1.0)
