"""livebg.look (light wrap, colour match) and the Stage's compositing with them, on a real
portrait over real backgrounds; the blur leaving the person out as the Stage uses it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clips import SHARED, person_frames
from livebg import compositing
from livebg.backgrounds import open_background
from livebg.frames import cover_fit
from livebg.look import GAIN_RANGE, WRAP_SIGMA, Look, match_gain, person_mean, wrap_weight
from livebg.matting import open_named
from livebg.stage import Stage

W, H = 640, 360


@pytest.fixture(scope="module")
def scene():
    """A P3M portrait over a grey-green wall, its true alpha at the working size, and the beach."""
    frames, alphas = person_frames(1, W, H, amplitude=0)
    beach = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "beach.png"), cv2.IMREAD_COLOR), W, H)
    alpha = cv2.resize(alphas[0], (W // 2, H // 2), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return frames[0], alpha, beach, alphas[0].astype(np.float32) / 255.0


def _rings(true_alpha, k):
    inside = (true_alpha > 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    return d_in, (d_in > 0) & (d_in <= k)


def test_off_means_no_corrections(scene):
    frame, alpha, beach, _ = scene
    assert Look().kernel_args(frame, alpha, beach) == {}
    assert not Look().active and Look(light_wrap=0.1).active


def test_wrap_weight_is_on_the_edge(scene):
    _, alpha, _, _ = scene
    m = wrap_weight(alpha, 0.3)
    assert m.shape == alpha.shape and m.dtype == np.float32
    assert m.min() >= 0.0 and m.max() <= 0.3 + 1e-6
    deep = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    edge = (alpha > 0.3) & (alpha < 0.7)
    assert deep.sum() > 100 and edge.sum() > 100
    assert m[deep].max() < 0.01 and m[edge].mean() > 0.1


def test_light_wrap_brings_the_background_onto_the_edge_only(scene):
    """At the edge the person takes on some of the beach's light (its average closer to the blurred beach's);
    deeper inside than four times the wrap's blur (WRAP_SIGMA of the height), nothing changes."""
    frame, alpha, beach, true = scene
    plain = compositing.composite(frame, alpha, beach)
    look = Look(light_wrap=0.5)
    wrapped = compositing.composite(frame, alpha, beach, **look.kernel_args(frame, alpha, beach))
    d_in, ring = _rings(true, 4)
    light = cv2.GaussianBlur(beach.astype(np.float32), (0, 0), 8)
    # The edge's average colour moves toward the light's (its detail stays: compare averages).
    before = np.abs((plain.astype(np.float32) - light)[ring].mean(0)).sum()
    after = np.abs((wrapped.astype(np.float32) - light)[ring].mean(0)).sum()
    assert after < 0.85 * before, (after, before)
    deep = d_in > 4 * WRAP_SIGMA * H
    assert np.abs(wrapped.astype(np.int16) - plain)[deep].max() <= 1
    clear = cv2.resize(alpha, (W, H), interpolation=cv2.INTER_LINEAR) == 0
    assert clear.sum() > 1000 and np.array_equal(wrapped[clear], plain[clear])  # the background is untouched


def test_colour_match_moves_the_person_part_of_the_way(scene):
    frame, alpha, beach, true = scene
    bg_mean = cv2.resize(beach, (W // 8, H // 8), interpolation=cv2.INTER_AREA).reshape(-1, 3).mean(0)
    p = person_mean(frame, alpha)
    g_half, g_full = match_gain(frame, alpha, bg_mean, 0.5), match_gain(frame, alpha, bg_mean, 1.0)
    assert (g_half >= GAIN_RANGE[0]).all() and (g_half <= GAIN_RANGE[1]).all()
    # Half the strength is half the way in log terms (where the range does not cut it).
    inside = (g_full > GAIN_RANGE[0]) & (g_full < GAIN_RANGE[1])
    np.testing.assert_allclose(np.log(g_half[inside]), 0.5 * np.log(g_full[inside]), rtol=1e-4)
    look = Look(color_match=0.5)
    out = compositing.composite(frame, alpha, beach, **look.kernel_args(frame, alpha, beach))
    sure = true > 0.99
    after = out[sure].reshape(-1, 3).mean(0)
    assert np.abs(after - bg_mean).sum() < np.abs(p - bg_mean).sum() - 10
    assert match_gain(frame, np.zeros_like(alpha), bg_mean, 0.5).tolist() == [1.0, 1.0, 1.0]  # no person


def test_colour_match_settles_smoothly(scene):
    """A new background: the gains move toward the new target over several frames, never in one jump."""
    frame, alpha, beach, _ = scene
    look = Look(color_match=1.0, every=1)
    first = look.kernel_args(frame, alpha, beach)["gain"].copy()
    blue = np.zeros_like(beach)
    blue[:] = (200, 60, 30)
    target = match_gain(frame, alpha, blue.reshape(-1, 3).mean(0).astype(np.float32), 1.0)
    seen = [look.kernel_args(frame, alpha, blue)["gain"].copy() for _ in range(12)]
    steps = np.abs(np.diff(np.log(np.array([first] + seen)), axis=0)).max(axis=1)
    total = np.abs(np.log(target) - np.log(first)).max()
    assert total > 0.2 and steps.max() < 0.5 * total
    np.testing.assert_allclose(seen[-1], target, rtol=0.02)
    look.reset()
    np.testing.assert_allclose(look.kernel_args(frame, alpha, blue)["gain"], target, rtol=1e-5)


def test_background_light_is_cached_for_a_still_background(scene):
    frame, alpha, beach, _ = scene
    look = Look(light_wrap=0.3)
    a = look.kernel_args(frame, alpha, beach)["wrap_light"]
    assert look.kernel_args(frame, alpha, beach)["wrap_light"] is a
    assert look.kernel_args(frame, alpha, beach.copy())["wrap_light"] is not a


# ---------------------------------------------------------------- the Stage

@pytest.fixture(scope="module")
def clip():
    room = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "background_bauhaus.png"), cv2.IMREAD_COLOR), W, H)
    frames, alphas = person_frames(12, W, H, background=room, amplitude=40)
    return frames, [a.astype(np.float32) / 255.0 for a in alphas], room


def test_stage_blur_leaves_the_person_out(clip):
    """The Stage hands the matte to the blur: around the person the output is the room, not a glow."""
    frames, alphas, room = clip
    stage = Stage(open_named("mediapipe-selfie"), open_background("blur"))
    try:
        truth = open_background("blur").render(room).astype(np.int16)
        errs, glows = [], []
        for frame, true in zip(frames, alphas):
            matte = stage.matte(frame)
            out = stage.composite(frame, matte, reuse=False)
            band = cv2.distanceTransform((true <= 0.01).astype(np.uint8), cv2.DIST_L2, 5)
            band = (band >= 4) & (band <= 30)
            errs.append(np.abs(out.astype(np.int16) - truth)[band].mean())
            glows.append(np.abs(open_background("blur").render(frame).astype(np.int16) - truth)[band].mean())
        assert np.mean(errs) < 0.6 * np.mean(glows), (np.mean(errs), np.mean(glows))
        stage.reset()
        assert stage.background._forget
    finally:
        stage.close()


def test_stage_applies_the_look_and_it_can_change_between_frames(clip):
    frames, _, _ = clip
    beach = str(SHARED / "backgrounds" / "beach.png")
    stage = Stage(open_named("mediapipe-selfie"), open_background(beach))
    try:
        matte = stage.matte(frames[0])
        plain = stage.composite(frames[0], matte, reuse=False)
        stage.look.light_wrap = 0.6
        stage.look.color_match = 0.5
        styled = stage.composite(frames[0], matte, reuse=False)
        assert np.abs(styled.astype(np.int16) - plain).mean() > 0.5
        stage.look.light_wrap = stage.look.color_match = 0.0
        np.testing.assert_array_equal(stage.composite(frames[0], matte, reuse=False), plain)
    finally:
        stage.close()


@settings(max_examples=120, deadline=None)
@given(h=st.integers(1, 90), w=st.integers(1, 90), ah=st.integers(1, 50), aw=st.integers(1, 50),
       wrap=st.sampled_from([0.0, 0.3, 1.0]), match=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 3))
def test_look_on_frames_and_mattes_of_any_size(h, w, ah, aw, wrap, match, seed):
    """Whatever the sizes (a matte bigger than the frame, one pixel, odd shapes), the look's
    arguments fit the kernel and the result is a frame of the right size."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    alpha = rng.random((ah, aw), dtype=np.float32)
    out = compositing.composite(frame, alpha, bg, **Look(wrap, match).kernel_args(frame, alpha, bg))
    assert out.shape == frame.shape and out.dtype == np.uint8
