"""The edge step (contrast, colour guided filter, contrast), its numba kernel
(livebg.refine.guided_kernel) against the NumPy/OpenCV steps it replaces,
the guided filter itself, and speck removal."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames
from livebg.refine import guided_kernel
from livebg.refine.edges import drop_small_regions, refine_edge
from livebg.refine.guided import fast_guided_filter, guided_upsample


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
    out = guided_kernel.refine_edge_fast(small, coarse, 4, 1e-2, 2.0, 1.5)
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
    if not guided_kernel.supported(guide, alpha, radius):
        # The window is larger than the half-size picture (12x10, radius 6):
        # refine_edge takes the NumPy path instead.
        assert (h, w, radius) == (12, 10, 6)
        assert refine_edge(guide, alpha, radius, eps, sharpen, post).shape == (h, w)
        return
    out = guided_kernel.refine_edge_fast(guide, alpha, radius, eps, sharpen, post)
    assert np.abs(out - reference(guide, alpha, radius, eps, sharpen, post)).max() < 1e-4


def test_refine_edge_uses_the_kernel_and_stays_within_rounding_of_the_numpy_path(real):
    small, coarse = real
    fast = refine_edge(small, coarse)
    np.testing.assert_array_equal(fast, guided_kernel.refine_edge_fast(small, coarse, 4, 1e-2, 2.0, 1.5))
    # The NumPy path rounds the half-size guide to 8 bits; nothing else differs.
    numpy_path = refine_edge(small, coarse, use_kernel=False)
    assert np.abs(fast - numpy_path).max() < 5e-3
    assert np.abs(fast - numpy_path).mean() < 1e-4


@pytest.mark.parametrize("shape", [(359, 640), (360, 641)])
def test_odd_sizes_and_grey_guides_take_the_numpy_path(shape):
    rng = np.random.default_rng(0)
    guide = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    alpha = rng.random(shape, dtype=np.float32)
    assert not guided_kernel.supported(guide, alpha, 4)
    assert not guided_kernel.supported(guide[..., 0], alpha, 4)
    out = refine_edge(guide, alpha)
    assert out.shape == shape and np.isfinite(out).all()


def test_the_kernel_is_reentrant_across_threads(real):
    """Work buffers are per thread: two refiners on two threads at once give
    what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    small, coarse = real
    other = np.ascontiguousarray(coarse[::-1])
    want = [guided_kernel.refine_edge_fast(small, a, 4, 1e-2, 2.0, 1.5) for a in (coarse, other)]
    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            got = list(pool.map(lambda a: guided_kernel.refine_edge_fast(small, a, 4, 1e-2, 2.0, 1.5), (coarse, other)))
            for g, w_ in zip(got, want):
                np.testing.assert_array_equal(g, w_)


def test_the_refiners_matte_through_the_kernel_is_soft_only_along_the_edge():
    from livebg.matting import open_named
    from livebg.refine import CropRefiner

    frames, _ = person_frames(n=3)
    ref = CropRefiner(open_named("mediapipe-selfie-onnx"))
    try:
        for f in frames:
            a = ref(f).alpha
    finally:
        ref.close()
    assert a.shape == (360, 640)
    soft = ((a > 0.02) & (a < 0.98)).mean()
    assert 0.0 < soft < 0.1 and (a > 0.5).mean() > 0.1


def test_guided_filter_snaps_a_blurry_mask_to_the_image_edge():
    img = np.zeros((120, 160, 3), np.uint8)
    img[:, :80] = (180, 120, 60)   # a blue-grey wall
    img[:, 80:] = (40, 110, 220)   # an orange shirt
    blurry = np.zeros((120, 160), np.float32)
    blurry[:, 77:] = 1  # the model's edge 3 px off, and soft
    blurry = cv2.GaussianBlur(blurry, (0, 0), 2)
    refined = refine_edge(img, blurry)
    truth = np.zeros(160, np.float32)
    truth[80:] = 1
    row_b, row_r = blurry[60], refined[60]
    # The subject side is solid right up to the picture's edge, with a step there ...
    assert (row_r[80:] > 0.99).all() and not (row_b[80:83] > 0.99).all()
    assert row_r[80] - row_r[79] > 0.2
    # ... and the edge is closer to the truth overall. (A 3 px offset on a flat
    # wall is not removed: nothing in the picture says where the edge is there.)
    assert np.abs(row_r - truth).sum() < np.abs(row_b - truth).sum()


def test_fast_guided_filter_agrees_with_the_full_one():
    g = cv2.resize(cv2.imread(str(SHARED / "eval" / "images" / "p_514ca06a.jpg")), (640, 360))
    a = cv2.GaussianBlur((cv2.cvtColor(g, cv2.COLOR_BGR2GRAY) > 100).astype(np.float32), (0, 0), 3)
    # The exact guided filter at full size (OpenCV's), as the reference.
    full = np.clip(cv2.ximgproc.guidedFilter(g.astype(np.float32) / 255.0, a, 4, 1e-2), 0, 1)
    fast = fast_guided_filter(g, a, 4, 1e-2)
    assert fast.shape == a.shape and fast.dtype == np.float32
    assert np.abs(full - fast).mean() < 0.01
    assert np.abs(fast - a).mean() > 0.01  # it did filter


def test_drop_small_regions_removes_small_islands_and_keeps_a_hand():
    a = np.zeros((90, 160), np.float32)
    a[20:90, 50:110] = 1.0          # the person: 4200 px
    a[30:45, 120:135] = 0.8         # a raised hand, apart from the body: 225 px (5%)
    a[5:9, 5:9] = 0.9               # a speck on the wall: 16 px (0.4%)
    a[5:9, 5:9][0, 0] = 0.05        # (soft edge below the level stays out of the count)
    out = drop_small_regions(a, 0.03)
    assert out[5:9, 5:9].max() <= 0.05 and (out[6:9, 6:9] == 0).all()
    assert np.array_equal(out[20:90, 50:110], a[20:90, 50:110]) and np.array_equal(out[30:45, 120:135], a[30:45, 120:135])
    assert drop_small_regions(a[:, :40], 0.03) is not None  # one island only: nothing to drop
    assert np.array_equal(drop_small_regions(np.zeros((8, 8), np.float32), 0.03), np.zeros((8, 8)))

def test_drop_small_regions_with_a_halo_clears_the_fringe_too():
    a = np.zeros((100, 100), np.float32)
    a[20:100, 30:80] = 1.0              # the subject
    a[5:10, 5:10] = 0.9                 # a stray blob ...
    a[4:11, 4:11] = np.maximum(a[4:11, 4:11], 0.3)  # ... with a soft fringe below the level
    out = drop_small_regions(a, 0.1, level=0.5, halo=0.05)  # grown by a 5 px disc
    assert out[4:11, 4:11].max() == 0.0
    assert np.array_equal(out[20:100, 30:80], a[20:100, 30:80])
    # Without the halo only the blob itself goes.
    assert drop_small_regions(a, 0.1, level=0.5)[4, 4] == pytest.approx(0.3)


def test_guided_upsample_follows_the_full_size_edge():
    """A matte fitted at a quarter size, applied at full size: the edge lands
    on the full-size picture's edge, not on the blocky small one."""
    full = np.zeros((200, 200, 3), np.uint8)
    full[:, 101:] = (200, 180, 160)
    small = cv2.resize(full, (50, 50), interpolation=cv2.INTER_AREA)
    alpha = (cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) > 90).astype(np.float32)
    up = guided_upsample(alpha, small, full, radius=2, eps=1e-4)
    assert up.shape == (200, 200) and up.dtype == np.float32
    assert (up[:, :97] < 0.05).all() and (up[:, 101:] > 0.95).all()
    assert (up[:, 101] - up[:, 99] > 0.8).all()  # one step, where the full-size picture has it


def test_speck_kernels_count_and_keep_as_numpy_does():
    """matte_kernel's label areas and lookup against np.bincount and fancy indexing
    on a real labelling with many regions."""
    from livebg.refine import matte_kernel

    rng = np.random.default_rng(5)
    alpha = cv2.GaussianBlur(rng.random((90, 160), dtype=np.float32), (0, 0), 2)
    n, labels = cv2.connectedComponents((alpha > 0.5).astype(np.uint8), connectivity=8)
    assert n > 3
    np.testing.assert_array_equal(matte_kernel.areas(labels, n), np.bincount(labels.ravel(), minlength=n))
    lut = rng.random(n).astype(np.float32)
    np.testing.assert_array_equal(matte_kernel.keep(alpha, labels, lut), alpha * lut[labels])
