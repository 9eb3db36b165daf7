"""The numba edge kernel (livebg.guided) against the NumPy/OpenCV steps it replaces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import person_frames
from livebg import guided
from livebg.refine import MatteRefiner, refine_edge


def reference(guide, alpha, radius=4, eps=1e-2, sharpen=2.0, post=1.5):
    """The edge step written out with OpenCV, step by step: contrast, the guide
    and matte averaged to half size (the guide kept in float), thirteen box
    means, the 3x3 solve per pixel, the coefficients' box means scaled up
    bilinearly, applied to the guide, clipped, contrast again."""
    h, w = alpha.shape
    a = np.clip((alpha - 0.5) * sharpen + 0.5, 0.0, 1.0)
    small = cv2.resize(guide.astype(np.float32) / 255.0, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    p = cv2.resize(a, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    r = max(1, radius // 2)

    def box(x):
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)

    chans = [small[..., c] for c in range(3)]
    mean_i = np.stack([box(c) for c in chans], -1)
    mean_p = box(p)
    cov = np.empty((h // 2, w // 2, 3, 3), np.float64)
    for i in range(3):
        for j in range(3):
            cov[..., i, j] = box(chans[i] * chans[j]) - mean_i[..., i] * mean_i[..., j] + (eps if i == j else 0.0)
    cov_ip = np.stack([box(chans[c] * p) - mean_i[..., c] * mean_p for c in range(3)], -1)
    coef_a = np.linalg.solve(cov, cov_ip[..., None])[..., 0]
    coef_b = mean_p - (coef_a * mean_i).sum(-1)
    coef = np.dstack([box(coef_a[..., c].astype(np.float32)) for c in range(3)] + [box(coef_b.astype(np.float32))])
    coef = cv2.resize(coef, (w, h), interpolation=cv2.INTER_LINEAR)
    out = (coef[..., :3] * (guide.astype(np.float32) / 255.0)).sum(-1) + coef[..., 3]
    out = np.clip(out, 0.0, 1.0)
    return np.clip((out - 0.5) * post + 0.5, 0.0, 1.0)


@pytest.fixture(scope="module")
def real():
    """A real frame at livebg's working size and a coarse matte of it (the true
    matte, blurred as a segmentation model's would be)."""
    frames, alphas = person_frames(n=1)
    small = cv2.resize(frames[0], (640, 360), interpolation=cv2.INTER_AREA)
    true = alphas[0].astype(np.float32) / 255.0
    coarse = cv2.GaussianBlur(cv2.resize(true, (640, 360), interpolation=cv2.INTER_AREA), (0, 0), 4)
    return small, coarse


def test_kernel_matches_the_step_by_step_filter_on_a_real_frame(real):
    small, coarse = real
    out = guided.refine_edge_fast(small, coarse, 4, 1e-2, 2.0, 1.5)
    ref = reference(small, coarse)
    assert out.dtype == np.float32 and out.shape == coarse.shape
    assert np.abs(out - ref).max() < 1e-4
    assert 0.0 < out.mean() < 1.0 and out.min() == 0.0 and out.max() == 1.0


@pytest.mark.parametrize("h,w", [(360, 640), (360, 480), (20, 30), (12, 10)])
@pytest.mark.parametrize("radius,eps,sharpen,post", [(4, 1e-2, 2.0, 1.5), (6, 1e-3, 1.0, 1.0), (2, 5e-2, 3.0, 2.0)])
def test_kernel_matches_on_random_inputs(h, w, radius, eps, sharpen, post):
    rng = np.random.default_rng(h * w + radius)
    guide = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.random((h, w), dtype=np.float32)
    if not guided.supported(guide, alpha, radius):
        # The window is larger than the half-size picture (12x10, radius 6):
        # refine_edge takes the NumPy path instead.
        assert (h, w, radius) == (12, 10, 6)
        assert refine_edge(guide, alpha, radius, eps, sharpen, post, fast=True).shape == (h, w)
        return
    out = guided.refine_edge_fast(guide, alpha, radius, eps, sharpen, post)
    assert np.abs(out - reference(guide, alpha, radius, eps, sharpen, post)).max() < 1e-4


def test_refine_edge_uses_the_kernel_and_stays_within_rounding_of_the_numpy_path(real, monkeypatch):
    small, coarse = real
    fast = refine_edge(small, coarse, fast=True)
    np.testing.assert_array_equal(fast, guided.refine_edge_fast(small, coarse, 4, 1e-2, 2.0, 1.5))
    # The NumPy path rounds the half-size guide to 8 bits; nothing else differs.
    monkeypatch.setattr(guided, "supported", lambda *a: False)
    numpy_path = refine_edge(small, coarse, fast=True)
    assert np.abs(fast - numpy_path).max() < 5e-3
    assert np.abs(fast - numpy_path).mean() < 1e-4


@pytest.mark.parametrize("shape", [(359, 640), (360, 641)])
def test_odd_sizes_and_grey_guides_take_the_numpy_path(shape):
    rng = np.random.default_rng(0)
    guide = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.random(shape, dtype=np.float32)
    assert not guided.supported(guide, alpha, 4)
    assert not guided.supported(guide[..., 0], alpha, 4)
    out = refine_edge(guide, alpha, fast=True)
    assert out.shape == shape and np.isfinite(out).all()


def test_the_kernel_is_reentrant_across_threads(real):
    """Work buffers are per thread: two refiners on two threads at once give
    what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    small, coarse = real
    other = np.ascontiguousarray(coarse[::-1])
    want = [guided.refine_edge_fast(small, a, 4, 1e-2, 2.0, 1.5) for a in (coarse, other)]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            got = list(pool.map(lambda a: guided.refine_edge_fast(small, a, 4, 1e-2, 2.0, 1.5), (coarse, other)))
            for g, w_ in zip(got, want):
                np.testing.assert_array_equal(g, w_)


def test_the_refiners_matte_through_the_kernel_is_soft_only_along_the_edge():
    from livebg.matting import open_named

    frames, _ = person_frames(n=3)
    matter = open_named("mediapipe-selfie-onnx")
    try:
        ref = MatteRefiner(matter)
        for f in frames:
            a = ref(f)
    finally:
        matter.close()
    assert a.shape == (360, 640)
    soft = ((a > 0.02) & (a < 0.98)).mean()
    assert 0.0 < soft < 0.1 and (a > 0.5).mean() > 0.1
