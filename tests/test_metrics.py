"""livebg.metrics on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from livebg import metrics
from livebg.metrics import SCALES, conn, dtssd, grad, mad, mse, sad

RNG = np.random.default_rng(7)
PAIRWISE = (mad, mse, sad, grad, conn)


def _random_matte(h=24, w=32):
    a = RNG.random((h, w))
    a[:, : w // 3] = 0.0
    a[:, 2 * w // 3:] = 1.0
    return a


@pytest.mark.parametrize("fn", PAIRWISE)
def test_identical_mattes_score_zero(fn):
    a = _random_matte()
    assert fn(a, a) == 0.0
    assert fn(np.zeros((5, 5)), np.zeros((5, 5))) == 0.0
    assert fn(np.ones((5, 5)), np.ones((5, 5))) == 0.0


@pytest.mark.parametrize("fn", PAIRWISE)
def test_symmetric(fn):
    p, t = _random_matte(), _random_matte()
    assert fn(p, t) == pytest.approx(fn(t, p), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("fn", PAIRWISE)
def test_shape_mismatch_is_an_error(fn):
    with pytest.raises(ValueError):
        fn(np.zeros((4, 4)), np.zeros((4, 5)))


def test_one_wrong_pixel_by_hand():
    p = np.zeros((4, 4))
    t = np.zeros((4, 4))
    t[1, 2] = 1.0
    assert mad(p, t) == pytest.approx(1 / 16 * 1e3)
    assert mse(p, t) == pytest.approx(1 / 16 * 1e3)
    assert sad(p, t) == pytest.approx(1 / 1000)


def test_half_grey_against_black_by_hand():
    p = np.full((10, 20), 0.5)
    t = np.zeros((10, 20))
    assert mad(p, t) == pytest.approx(0.5 * 1e3)
    assert mse(p, t) == pytest.approx(0.25 * 1e3)
    assert sad(p, t) == pytest.approx(0.5 * 200 / 1000)


def test_scales_are_the_documented_ones():
    p, t = _random_matte(), _random_matte()
    d = p - t
    assert mad(p, t) / SCALES["mad"] == pytest.approx(np.abs(d).mean())
    assert mse(p, t) / SCALES["mse"] == pytest.approx((d * d).mean())
    assert sad(p, t) / SCALES["sad"] == pytest.approx(np.abs(d).sum())


def test_grad_ignores_a_constant_offset():
    t = _random_matte() * 0.8
    assert grad(t + 0.1, t) == pytest.approx(0.0, abs=1e-12)
    assert sad(t + 0.1, t) == pytest.approx(0.1 * t.size / 1000)


def test_grad_sees_a_missing_edge_and_is_isotropic():
    t = np.zeros((40, 40))
    t[:, 20:] = 1.0  # a vertical edge
    flat = np.full_like(t, 0.5)
    g = grad(flat, t)
    assert g > 0
    # a step of height 1 gives the same error turned by 90 degrees
    assert grad(flat.T, t.T) == pytest.approx(g)
    # and a quarter of it at half the height (squared magnitudes)
    assert grad(flat, t * 0.5) == pytest.approx(g / 4)


def test_gradient_magnitude_of_a_ramp_is_flat_inside():
    ramp = np.tile(np.linspace(0, 1, 50), (30, 1))
    m = metrics.gradient_magnitude(ramp)
    inner = m[10:-10, 10:-10]
    assert inner.std() < 1e-9 * max(1.0, inner.mean())
    assert inner.mean() > 0


def test_conn_one_cut_off_pixel_by_hand():
    # Pixel 2 leaves the source region at the first threshold (level 0):
    # phi_pred = 1 - 0 (d = 0 < 0.15), phi_true = 1 - 1 = 0; error 1.
    p = np.array([[1.0, 1.0, 0.0]])
    t = np.ones((1, 3))
    assert conn(p, t) == pytest.approx(1 / 1000)


def test_conn_split_region_by_hand():
    # At thresholds above 0.5 the prediction splits into {0} and {2, 3}; the
    # larger part stays the source, pixels 0 and 1 get level 0.5.
    # Pixel 0: d = 0.5 in both -> no difference. Pixel 1: phi_pred = 1
    # (d = 0), phi_true = 1 - 0.5 = 0.5 -> 0.5. Total 0.5 / 1000.
    p = np.array([[1.0, 0.5, 1.0, 1.0]])
    t = np.ones((1, 4))
    assert conn(p, t) == pytest.approx(0.5 / 1000)


def test_conn_needs_2d():
    with pytest.raises(ValueError):
        conn(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)))


def test_dtssd_by_hand():
    still = [np.zeros((3, 3))] * 3
    flips = [np.zeros((3, 3)), np.ones((3, 3)), np.zeros((3, 3))]
    # each frame pair: the true change is +-1 everywhere, the predicted 0 -> RMS 1
    assert dtssd(still, flips) == pytest.approx(1.0 * 1e2)
    assert dtssd(flips, still) == pytest.approx(1.0 * 1e2)
    one_pixel = [np.zeros((2, 2)), np.zeros((2, 2))]
    one_pixel[1][0, 0] = 1.0
    assert dtssd([np.zeros((2, 2))] * 2, one_pixel) == pytest.approx(np.sqrt(1 / 4) * 1e2)


def test_dtssd_ignores_a_constant_error_and_one_frame():
    seq = [_random_matte() * 0.5 for _ in range(4)]
    assert dtssd([a + 0.2 for a in seq], seq) == pytest.approx(0.0, abs=1e-12)
    assert dtssd(seq[:1], seq[1:2]) == 0.0
    with pytest.raises(ValueError):
        dtssd(seq, seq[:2])
    with pytest.raises(ValueError):
        dtssd([], [])


def test_lower_is_better_on_a_blurred_matte():
    import cv2

    t = np.zeros((64, 64))
    cv2.circle(t, (32, 32), 20, 1.0, -1)
    slightly = cv2.GaussianBlur(t, (0, 0), 1.0)
    very = cv2.GaussianBlur(t, (0, 0), 4.0)
    for fn in PAIRWISE:
        assert fn(slightly, t) < fn(very, t), fn.__name__
