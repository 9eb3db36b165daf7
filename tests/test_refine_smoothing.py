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


def test_the_kernel_is_the_formula_on_random_mattes():
    """The numba pass (livebg.refine.matte_kernel) against the smoothing written
    as NumPy: w = (1 - s) + s min(|a - prev| / motion, 1), prev + w (a - prev)."""
    rng = np.random.default_rng(3)
    s = TemporalSmoother(0.6, motion=0.25)
    prev = rng.random((37, 53), dtype=np.float32)
    s(prev)
    for _ in range(3):
        a = np.clip(prev + rng.normal(0, 0.2, prev.shape).astype(np.float32), 0, 1)
        d = a - prev
        want = prev + ((1 - 0.6) + 0.6 * np.minimum(np.abs(d) / 0.25, 1.0)) * d
        got = s(a)
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert got is not prev and got.dtype == np.float32
        prev = got
