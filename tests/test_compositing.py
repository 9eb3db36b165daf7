"""livebg.compositing.composite against a plain NumPy float reference.

The reference upsamples the matte bilinearly with half-pixel centres (what
cv2.resize INTER_LINEAR does on float32, checked here too), blends
fg * a + bg * (1 - a) in float64 and rounds; the fused kernel must agree
within one level everywhere.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames
from livebg.compositing import composite, warmup
from livebg.frames import cover_fit


def _taps(n_out: int, n_in: int):
    f = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    f = np.maximum(f, 0.0)
    lo = np.minimum(np.floor(f).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, f - lo


def reference_upsample(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    a = alpha.astype(np.float64)
    y0, y1, wy = _taps(height, a.shape[0])
    x0, x1, wx = _taps(width, a.shape[1])
    top = a[y0][:, x0] * (1 - wx) + a[y0][:, x1] * wx
    bot = a[y1][:, x0] * (1 - wx) + a[y1][:, x1] * wx
    return top * (1 - wy)[:, None] + bot * wy[:, None]


def reference_composite(fg, alpha, bg):
    a = np.clip(reference_upsample(alpha, fg.shape[0], fg.shape[1]), 0.0, 1.0)[..., None]
    out = fg.astype(np.float64) * a + bg.astype(np.float64) * (1.0 - a)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def _random_case(rng, frame_hw, alpha_hw):
    h, w = frame_hw
    fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.random(alpha_hw, dtype=np.float32)
    # Some exact 0 and 1 areas, as a real matte has.
    alpha[: max(1, alpha_hw[0] // 4)] = 0.0
    alpha[-max(1, alpha_hw[0] // 4):] = 1.0
    return fg, alpha, bg


def _assert_close(got, want):
    assert got.dtype == np.uint8 and got.shape == want.shape
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 1, f"max difference {diff.max()} at {np.unravel_index(diff.argmax(), diff.shape)}"
    # Off-by-one only where the float32 kernel and the float64 reference round a .5 differently.
    assert (diff == 0).mean() > 0.99


CASES = [
    ((720, 1280), (144, 256)),   # the landscape model's matte on a 720p frame
    ((720, 1280), (256, 256)),   # square matte, non-square frame
    ((101, 77), (101, 77)),      # alpha the frame's size, odd sizes
    ((37, 53), (256, 256)),      # alpha larger than the frame
    ((255, 257), (17, 9)),       # odd, non-square both ways
    ((1, 1), (3, 5)),
    ((5, 200), (1, 1)),          # a 1x1 matte is a constant
    ((480, 3), (7, 200)),        # matte wider than the frame, taller frame
    # Whole-number widening ratios have their own loops in the kernel:
    ((720, 1280), (360, 640)),   # 2: the working matte on a 720p frame
    ((1080, 1920), (360, 640)),  # 3: on a 1080p frame
    ((90, 148), (30, 37)),       # 4, odd matte width
    ((31, 3), (9, 1)),           # 3 from a one-column matte
    ((17, 10), (17, 5)),         # 2 across, 1 down
]


def test_reference_upsampling_is_cv2_inter_linear():
    """The reference itself: the same numbers as cv2.resize INTER_LINEAR on float32."""
    rng = np.random.default_rng(1)
    for (h, w), ahw in CASES:
        alpha = rng.random(ahw, dtype=np.float32)
        ours = reference_upsample(alpha, h, w)
        theirs = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.parametrize("frame_hw,alpha_hw", CASES, ids=[f"{f[0]}x{f[1]}-a{a[0]}x{a[1]}" for f, a in CASES])
def test_matches_reference(frame_hw, alpha_hw):
    rng = np.random.default_rng(frame_hw[0] * 7919 + alpha_hw[1])
    fg, alpha, bg = _random_case(rng, frame_hw, alpha_hw)
    keep = fg.copy(), alpha.copy(), bg.copy()
    got = composite(fg, alpha, bg)
    _assert_close(got, reference_composite(fg, alpha, bg))
    # Inputs are left alone.
    for before, after in zip(keep, (fg, alpha, bg)):
        np.testing.assert_array_equal(before, after)


def test_real_portrait_over_real_background():
    frames, alphas = person_frames(1, width=640, height=360)
    fg = frames[0]
    bg = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "beach.png"), cv2.IMREAD_COLOR), 640, 360)
    alpha = cv2.resize(alphas[0], (160, 90), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    got = composite(fg, alpha, bg)
    _assert_close(got, reference_composite(fg, alpha, bg))
    # The person is kept and the wall replaced by the beach where the matte is sure.
    full = reference_upsample(alpha, 360, 640)
    person, wall = full > 0.99, full < 0.01
    assert person.sum() > 10000 and wall.sum() > 10000
    assert np.abs(got[person].astype(int) - fg[person]).max() <= 3
    assert np.abs(got[wall].astype(int) - bg[wall]).max() <= 3


def test_alpha_zero_gives_background_exactly_and_one_gives_foreground():
    rng = np.random.default_rng(5)
    fg = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    for ahw in [(97, 131), (13, 29), (256, 256)]:
        np.testing.assert_array_equal(composite(fg, np.zeros(ahw, np.float32), bg), bg)
        np.testing.assert_array_equal(composite(fg, np.ones(ahw, np.float32), bg), fg)


def test_alpha_outside_0_1_is_clamped():
    rng = np.random.default_rng(6)
    fg = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    np.testing.assert_array_equal(composite(fg, np.full((10, 15), 1.7, np.float32), bg), fg)
    np.testing.assert_array_equal(composite(fg, np.full((10, 15), -0.4, np.float32), bg), bg)


def test_out_buffer_is_used_and_fully_written():
    rng = np.random.default_rng(7)
    fg, alpha, bg = _random_case(rng, (120, 161), (30, 40))
    expected = composite(fg, alpha, bg)
    out = np.full_like(fg, 123)
    got = composite(fg, alpha, bg, out=out)
    assert got is out
    np.testing.assert_array_equal(out, expected)
    # Reused for a second frame: overwritten, not blended into.
    got2 = composite(bg, alpha, fg, out=out)
    assert got2 is out
    np.testing.assert_array_equal(out, composite(bg, alpha, fg))


def test_float64_and_strided_alpha_accepted():
    rng = np.random.default_rng(8)
    fg, alpha, bg = _random_case(rng, (90, 160), (36, 64))
    want = composite(fg, alpha, bg)
    np.testing.assert_array_equal(composite(fg, alpha.astype(np.float64), bg), want)
    strided = np.ascontiguousarray(alpha.T).T  # same values, Fortran order
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(composite(fg, strided, bg), want)
    _assert_close(composite(fg, alpha.astype(np.float64), bg), reference_composite(fg, alpha, bg))


@pytest.mark.parametrize("fg_dtype,bg_dtype", [(np.float32, np.uint8), (np.uint8, np.uint16), (np.int32, np.int32)])
def test_non_uint8_frames_are_type_errors(fg_dtype, bg_dtype):
    fg = np.zeros((8, 8, 3), fg_dtype)
    bg = np.zeros((8, 8, 3), bg_dtype)
    with pytest.raises(TypeError, match="uint8"):
        composite(fg, np.zeros((4, 4), np.float32), bg)


@pytest.mark.parametrize("fg_shape,bg_shape,alpha_shape", [
    ((8, 8, 3), (8, 9, 3), (4, 4)),     # frames differ
    ((8, 8, 3), (9, 8, 3), (4, 4)),
    ((8, 8), (8, 8), (4, 4)),           # grey frames
    ((8, 8, 4), (8, 8, 4), (4, 4)),     # BGRA frames
    ((8, 8, 3), (8, 8, 3), (16,)),      # 1-D alpha
    ((8, 8, 3), (8, 8, 3), (4, 4, 1)),  # 3-D alpha
    ((8, 8, 3), (8, 8, 3), (0, 4)),     # empty alpha
    ((8, 8, 3), (8, 8, 3), (4, 0)),
])
def test_bad_shapes_are_value_errors(fg_shape, bg_shape, alpha_shape):
    with pytest.raises(ValueError):
        composite(np.zeros(fg_shape, np.uint8), np.zeros(alpha_shape, np.float32), np.zeros(bg_shape, np.uint8))


def test_empty_frame_is_a_value_error():
    """A 0-row frame is a shape error like the others (not a ZeroDivisionError from the kernel)."""
    with pytest.raises(ValueError):
        composite(np.zeros((0, 8, 3), np.uint8), np.ones((4, 4), np.float32), np.zeros((0, 8, 3), np.uint8))


def test_warmup_runs():
    warmup()  # compiles or loads the kernel; must not raise
    out = composite(np.full((4, 4, 3), 200, np.uint8), np.full((2, 2), 0.5, np.float32), np.zeros((4, 4, 3), np.uint8))
    assert (out == 100).all()


def test_non_contiguous_frames_and_out_buffer():
    """Views (a crop, every other column) work, and a non-contiguous ``out`` is written in place."""
    rng = np.random.default_rng(9)
    big_fg = rng.integers(0, 256, (130, 2 * 170, 3), dtype=np.uint8)
    big_bg = rng.integers(0, 256, (130, 2 * 170, 3), dtype=np.uint8)
    fg, bg = big_fg[5:125, ::2], big_bg[7:127, 1::2]
    alpha = rng.random((30, 40), dtype=np.float32)
    want = composite(np.ascontiguousarray(fg), alpha, np.ascontiguousarray(bg))
    holder = np.zeros((140, 200, 3), np.uint8)
    out = holder[10:130, 20:190]
    assert not out.flags.c_contiguous
    got = composite(fg, alpha, bg, out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    assert not holder[:10].any() and not holder[:, :20].any() and not holder[:, 190:].any()  # nothing outside


def test_same_result_on_any_number_of_threads():
    """Rows are split into one block per thread, each block carrying its own interpolated matte rows:
    the split must not show."""
    import numba

    rng = np.random.default_rng(10)
    fg, alpha, bg = _random_case(rng, (181, 243), (37, 61))
    want = reference_composite(fg, alpha, bg)
    n = numba.get_num_threads()
    results = []
    try:
        for k in sorted({1, n}):
            numba.set_num_threads(k)
            results.append(composite(fg, alpha, bg))
    finally:
        numba.set_num_threads(n)
    for got in results:
        _assert_close(got, want)
        np.testing.assert_array_equal(got, results[0])


def test_exact_in_practice():
    """The float32 blend rounds like the float64 reference nearly everywhere (stricter than _assert_close)."""
    rng = np.random.default_rng(11)
    fg, alpha, bg = _random_case(rng, (720, 1280), (360, 640))
    diff = np.abs(composite(fg, alpha, bg).astype(np.int16) - reference_composite(fg, alpha, bg))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.9999


# ---------------------------------------------------------------- foreground corrections in the same pass
# (fg_delta for a matting model's foreground colours; gain for colour match; wrap and wrap_light for light wrap)

def reference_composite_look(fg, alpha, bg, fg_delta=None, gain=None, wrap=None, wrap_light=None):
    """The documented formula in float64: out = bg + a ((fg + up(fg_delta)) gain + up(e) - bg), rounded
    and clamped, e = wrap (wrap_light - gain x the frame's local average), each plane upsampled like
    the alpha. (Here the wrap is at the alpha's size.)"""
    from livebg.compositing import local_average

    H, W = fg.shape[:2]
    h, w = alpha.shape
    g = np.ones(3) if gain is None else np.asarray(gain, np.float64)
    e = np.zeros((h, w, 3))
    if fg_delta is not None:
        e += g * fg_delta  # (fg + up(delta)) g = fg g + up(g delta): the same
    if wrap is not None:
        e += wrap[..., None].astype(np.float64) * (wrap_light - g * local_average(fg, h, w))
    up_e = np.stack([reference_upsample(e[..., c], H, W) for c in range(3)], axis=-1)
    a = np.clip(reference_upsample(alpha, H, W), 0.0, 1.0)[..., None]
    t = fg.astype(np.float64) * g + up_e
    out = bg.astype(np.float64) + a * (t - bg)
    return np.clip(np.floor(out + 0.5), 0, 255).astype(np.uint8)


def _look_inputs(rng, alpha_hw):
    h, w = alpha_hw
    return {"fg_delta": rng.normal(0, 20, (h, w, 3)).astype(np.float32),
            "gain": (1.2, 0.9, 1.05),
            "wrap": (rng.random((h, w)) * 0.6).astype(np.float32),
            "wrap_light": (rng.random((h, w, 3)) * 255).astype(np.float32)}


def test_no_corrections_is_the_plain_kernel_bit_for_bit():
    for (h, w), ahw in CASES:
        rng = np.random.default_rng(h * 31 + ahw[0])
        fg, alpha, bg = _random_case(rng, (h, w), ahw)
        np.testing.assert_array_equal(composite(fg, alpha, bg, fg_delta=None, gain=None, wrap=None, wrap_light=None),
                                      composite(fg, alpha, bg))


@pytest.mark.parametrize("which", [("fg_delta",), ("gain",), ("wrap", "wrap_light"), ("fg_delta", "gain"),
                                   ("fg_delta", "gain", "wrap", "wrap_light")])
@pytest.mark.parametrize("frame_hw,alpha_hw", CASES, ids=[f"{f[0]}x{f[1]}-a{a[0]}x{a[1]}" for f, a in CASES])
def test_corrections_match_reference(frame_hw, alpha_hw, which):
    rng = np.random.default_rng(frame_hw[1] * 7 + alpha_hw[0])
    fg, alpha, bg = _random_case(rng, frame_hw, alpha_hw)
    kw = {k: v for k, v in _look_inputs(rng, alpha_hw).items() if k in which}
    keep = {k: np.array(v, copy=True) for k, v in kw.items()}
    got = composite(fg, alpha, bg, **kw)
    diff = np.abs(got.astype(np.int16) - reference_composite_look(fg, alpha, bg, **kw))
    # One level where float32 and float64 round a .5 differently (more such ties with more terms).
    assert diff.max() <= 1 and (diff == 0).mean() > 0.98, (diff.max(), (diff == 0).mean())
    for k, v in kw.items():
        np.testing.assert_array_equal(np.asarray(v), keep[k])  # inputs left alone


def test_fg_delta_is_added_and_clamped():
    """A correction of +300 makes the person white and -300 black; where the alpha is 0 the background
    stays exactly; a zero correction is the plain blend."""
    rng = np.random.default_rng(12)
    fg, alpha, bg = _random_case(rng, (72, 128), (36, 64))
    for value, want in ((300.0, 255), (-300.0, 0)):
        delta = np.full((36, 64, 3), value, np.float32)
        out = composite(fg, np.ones((36, 64), np.float32), bg, fg_delta=delta)
        assert (out == want).all()
        np.testing.assert_array_equal(composite(fg, np.zeros((36, 64), np.float32), bg, fg_delta=delta), bg)
    np.testing.assert_array_equal(composite(fg, alpha, bg, fg_delta=np.zeros((36, 64, 3), np.float32)),
                                  composite(fg, alpha, bg))


def test_full_wrap_is_the_light_and_unit_gain_changes_nothing():
    """On a flat person (no detail to keep) a full wrap gives the light itself."""
    rng = np.random.default_rng(13)
    _, _, bg = _random_case(rng, (90, 160), (45, 80))
    fg = np.full((90, 160, 3), 200, np.uint8)
    one = np.ones((45, 80), np.float32)
    light = np.full((45, 80, 3), 77.0, np.float32)
    assert (composite(fg, one, bg, wrap=one, wrap_light=light) == 77).all()
    fg, alpha, bg = _random_case(rng, (90, 160), (45, 80))
    np.testing.assert_array_equal(composite(fg, alpha, bg, gain=(1.0, 1.0, 1.0)), composite(fg, alpha, bg))


def test_corrections_same_on_any_number_of_threads():
    import numba

    rng = np.random.default_rng(14)
    fg, alpha, bg = _random_case(rng, (181, 243), (37, 61))
    kw = _look_inputs(rng, (37, 61))
    n = numba.get_num_threads()
    results = []
    try:
        for k in sorted({1, n}):
            numba.set_num_threads(k)
            results.append(composite(fg, alpha, bg, **kw))
    finally:
        numba.set_num_threads(n)
    for got in results[1:]:
        np.testing.assert_array_equal(got, results[0])


@pytest.mark.parametrize("kw,error", [
    ({"fg_delta": np.zeros((10, 10, 3), np.float32)}, ValueError),       # not the alpha's size
    ({"fg_delta": np.zeros((4, 6), np.float32)}, ValueError),            # no channels
    ({"fg_delta": np.zeros((4, 6, 3), np.int32)}, TypeError),
    ({"wrap": np.zeros((4, 6), np.float32)}, ValueError),                # wrap without its light
    ({"wrap_light": np.zeros((4, 6, 3), np.float32)}, ValueError),
    ({"gain": (1.0, 2.0)}, ValueError),
    ({"gain": (1.0, float("nan"), 1.0)}, ValueError),
    ({"fg_delta": [[0.0]]}, ValueError),
])
def test_bad_corrections_are_clear_errors(kw, error):
    with pytest.raises(error):
        composite(np.zeros((8, 12, 3), np.uint8), np.zeros((4, 6), np.float32), np.zeros((8, 12, 3), np.uint8), **kw)


def test_wrap_smaller_than_the_alpha_is_folded_then_scaled():
    """Light wrap's fields may come at a quarter of the matte's size: its correction is formed there
    (with the frame averaged down to that size) and scaled to the frame from there, bilinearly like
    the alpha; a foreground correction beside it from the alpha's size."""
    from livebg.compositing import local_average

    rng = np.random.default_rng(15)
    fg, alpha, bg = _random_case(rng, (720, 1280), (360, 640))
    m = (rng.random((90, 160)) * 0.5).astype(np.float32)
    light = (rng.random((90, 160, 3)) * 255).astype(np.float32)
    delta = rng.normal(0, 10, (360, 640, 3)).astype(np.float32)
    g = np.array([1.1, 1.0, 0.9])
    got = composite(fg, alpha, bg, wrap=m, wrap_light=light, fg_delta=delta, gain=tuple(g))
    small = (light - local_average(fg, 90, 160) * g.astype(np.float32)) * m[..., None]
    up_w = np.stack([reference_upsample(small[..., c].astype(np.float64), 720, 1280) for c in range(3)], axis=-1)
    up_d = np.stack([reference_upsample(delta[..., c].astype(np.float64), 720, 1280) for c in range(3)], axis=-1)
    a = np.clip(reference_upsample(alpha, 720, 1280), 0, 1)[..., None]
    want = np.clip(np.floor(bg + a * ((fg + up_d) * g + up_w - bg) + 0.5), 0, 255)
    diff = np.abs(got.astype(np.int16) - want)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.98
    # The local average is an average: on a smooth picture, the area average's.
    smooth = cv2.GaussianBlur(fg, (0, 0), 6)
    assert np.abs(local_average(smooth, 90, 160) - cv2.resize(smooth, (160, 90), interpolation=cv2.INTER_AREA)).max() < 3
    with pytest.raises(ValueError, match="wrap_light"):
        composite(fg, alpha, bg, wrap=np.zeros((90, 160), np.float32), wrap_light=np.zeros((90, 40, 3), np.float32))
