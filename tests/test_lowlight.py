"""livebg.lowlight on a real portrait clip darkened to a third of its light, with sensor noise."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import person_frames
from livebg.lowlight import MAX_GAIN, LowLight, _linear_to_srgb, _srgb_to_linear, curve, exposure_for

W, H, FPS = 640, 360, 30.0


def third_of_the_light(img: np.ndarray) -> np.ndarray:
    return np.clip(_linear_to_srgb(_srgb_to_linear(img) / 3.0) + 0.5, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def clips():
    """(normal, dark) frames of the same scene (the dark one with a third of the light), with the
    same sensor noise added after, and the true alphas."""
    frames, alphas = person_frames(40, W, H, amplitude=20)
    rng = np.random.default_rng(3)
    noise = [rng.normal(0, 2.5, (H, W, 3)) for _ in frames]
    normal = [np.clip(f + n + 0.5, 0, 255).astype(np.uint8) for f, n in zip(frames, noise)]
    dark = [np.clip(third_of_the_light(f) + n + 0.5, 0, 255).astype(np.uint8) for f, n in zip(frames, noise)]
    return normal, dark, [a > 250 for a in alphas]


def _luma(x):
    return cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32)


def test_curve():
    np.testing.assert_allclose(curve(1.0, 1.0), np.arange(256), atol=0.01)
    c = curve(3.0, 1.2)
    assert (np.diff(c) >= 0).all() and c[0] == 0 and c[255] == 255
    assert (c[1:] > np.arange(1, 256) - 0.5).all()  # only ever brighter


def test_exposure_for_a_well_lit_and_a_dark_frame(clips):
    normal, dark, _ = clips
    assert exposure_for(normal[0][::8, ::8]) == (1.0, 1.0)
    gain, gamma = exposure_for(dark[0][::8, ::8])
    assert 2.0 < gain <= MAX_GAIN and gamma >= 1.0


def test_lifts_the_person_back_to_their_brightness(clips):
    normal, dark, persons = clips
    ll = LowLight()
    lifted = [ll(f, i / FPS) for i, f in enumerate(dark)]
    for got, want, person in zip(lifted[5:], normal[5:], persons[5:]):
        ratio = _luma(got)[person].mean() / _luma(want)[person].mean()
        assert 0.85 <= ratio <= 1.15, ratio
    assert _luma(dark[10])[persons[10]].mean() < 0.7 * _luma(normal[10])[persons[10]].mean()


def test_a_well_lit_picture_is_left_alone(clips):
    normal, _, _ = clips
    ll = LowLight()
    for i, f in enumerate(normal[:5]):
        assert ll(f, i / FPS) is f


def test_noise_is_filtered_where_nothing_moves_and_motion_passes():
    """A still dark scene with noise: the lifted frames vary much less from frame to frame with the
    filter than without; a bright square that jumps is where it is now, not smeared."""
    rng = np.random.default_rng(5)
    base = np.full((H, W, 3), 25.0)
    base[:, W // 2:] = 45.0
    outs = {}
    for denoise in (False, True):
        ll = LowLight(denoise=denoise)
        frames = []
        for i in range(30):
            f = np.clip(base + rng.normal(0, 3, base.shape) + 0.5, 0, 255).astype(np.uint8)
            frames.append(ll(f, i / FPS).astype(np.float32))
        outs[denoise] = np.stack(frames[10:]).std(axis=0).mean()
        moving = base.copy()
        moving[100:140, 100:140] = 120.0
        moved = ll(np.clip(moving + 0.5, 0, 255).astype(np.uint8), 1.0)
        assert moved[110:130, 110:130].mean() > 200  # the new square shows at once, whole
    assert outs[True] < 0.7 * outs[False], outs


def test_exposure_follows_smoothly(clips):
    """The light drops suddenly: the lift follows within a few seconds, never in one jump, and stays."""
    normal, dark, _ = clips
    ll = LowLight()
    gains = []
    for i in range(10):
        ll(normal[i], i / FPS)
        gains.append(ll.gain)
    for i in range(10, 100):  # three seconds of the dark picture
        ll(dark[i % len(dark)], i / FPS)
        gains.append(ll.gain)
    g = np.array(gains)
    assert (g[:10] == 1.0).all()
    assert np.abs(np.diff(np.log(g))).max() < 0.25 * np.log(g[-1])
    assert np.abs(np.diff(g[-5:])).max() < 0.01 * g[-1]
    ll.reset()
    ll(normal[0], 2.0)
    assert ll.gain == 1.0
