"""The subject's own colours at a fractional edge (livebg.refine.decontaminate):
a fringe of the old room is taken out, the rest of the picture left as it is."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import load_portrait
from livebg.refine.decontaminate import foreground_delta


def _over(name, room_bgr, width=640, height=360):
    image, alpha = load_portrait(name)
    s = height / image.shape[0]
    F = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, (F.shape[1], F.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    x0 = (width - F.shape[1]) // 2
    Fc = np.zeros((height, width, 3), np.float32)
    ac = np.zeros((height, width), np.float32)
    Fc[:, x0:x0 + F.shape[1]] = F[:, :width - x0]
    ac[:, x0:x0 + F.shape[1]] = a[:, :width - x0]
    room = np.empty_like(Fc)
    room[:] = room_bgr
    comp = np.clip(Fc * ac[..., None] + room * (1 - ac[..., None]) + 0.5, 0, 255).astype(np.uint8)
    return comp, ac, Fc


@pytest.mark.parametrize("name", ["p_d684dae3", "p_514ca06a", "p_09ba26b4"])
def test_a_green_room_leaves_less_green_in_the_hair(name):
    """Over a loud green room, laid over grey: how much greener than the
    subject's own colours the hair comes out (the fringe), before and after."""
    comp, a, F = _over(name, (30, 200, 40))
    delta = foreground_delta(comp, a)
    grey = np.full_like(F, 128)
    band = (a > 0.1) & (a < 0.9)

    def green_excess(colours):
        out = colours * a[..., None] + grey * (1 - a[..., None])
        truth = F * a[..., None] + grey * (1 - a[..., None])
        g = lambda x: x[..., 1] - (x[..., 0] + x[..., 2]) / 2  # noqa: E731
        return (g(out) - g(truth))[band].mean()

    before = green_excess(comp.astype(np.float32))
    after = green_excess(np.clip(comp + delta, 0, 255))
    assert before > 10 and after < 0.6 * before, (before, after)


def test_solid_subject_and_plain_room_are_left_exactly_as_they_are():
    comp, a, _ = _over("p_514ca06a", (90, 120, 200))
    delta = foreground_delta(comp, a)
    assert delta.shape == comp.shape and delta.dtype == np.float32
    assert (delta[a >= 254 / 255] == 0).all() and (delta[a <= 1 / 255] == 0).all()
    assert np.abs(delta[(a > 0.1) & (a < 0.9)]).mean() > 1  # and it does act on the edge


@pytest.mark.parametrize("shape", [(360, 640), (97, 131), (7, 5)])
def test_edge_only_sampling_is_the_maps_scaled_up_whole(shape):
    """The kernel samples the room's and subject's small maps only at edge pixels;
    written out as the maps scaled up whole by cv2.resize (INTER_LINEAR) and the
    formula F = I + 0.7 (1 - a) (Fl - B), clipped, it is the same to rounding."""
    from livebg.refine.decontaminate import _local_mean

    h, w = shape
    rng = np.random.default_rng(h)
    small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a = np.clip(cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 2) * 4 - 1.5, 0, 1)
    sh, sw = max(1, h // 4), max(1, w // 4)
    Is = cv2.resize(small, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32).reshape(sh, sw, 3)
    As = cv2.resize(a, (sw, sh), interpolation=cv2.INTER_AREA).reshape(sh, sw)
    B = cv2.resize(_local_mean(Is, (1 - As) ** 4, 4.0).reshape(sh, sw, 3), (w, h), interpolation=cv2.INTER_LINEAR)
    Fl = cv2.resize(_local_mean(Is, As ** 4, 4.0).reshape(sh, sw, 3), (w, h), interpolation=cv2.INTER_LINEAR)
    I = small.astype(np.float32)
    edge = ((a > 1 / 255) & (a < 254 / 255))[..., None]
    want = np.where(edge, np.clip(I + 0.7 * (1 - a[..., None]) * (Fl.reshape(h, w, 3) - B.reshape(h, w, 3)), 0, 255)
                    - I, 0)
    np.testing.assert_allclose(foreground_delta(small, a), want, atol=2e-3)


def test_the_small_copy_is_the_same_part_of_the_picture_at_any_matte_size():
    """The local colours come from a copy about 160 px wide: a quarter of a
    640x360 matte, an eighth of a 1280x720 one (at least a quarter of a small one)."""
    rng = np.random.default_rng(7)
    for (h, w), scale in (((360, 640), 4), ((720, 1280), 8), ((97, 131), 4), ((1080, 1920), 12)):
        small = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        a = np.clip(cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 2) * 4 - 1.5, 0, 1)
        np.testing.assert_array_equal(foreground_delta(small, a), foreground_delta(small, a, scale=scale))
    # A 720p frame and its 640x360 copy get about the same correction at the edge.
    comp, a, _ = _over("p_d684dae3", (30, 200, 40))
    big = cv2.resize(comp, (1280, 720), interpolation=cv2.INTER_LINEAR)
    a_big = cv2.resize(a, (1280, 720), interpolation=cv2.INTER_LINEAR)
    half = cv2.resize(foreground_delta(big, a_big), (comp.shape[1], comp.shape[0]), interpolation=cv2.INTER_AREA)
    band = (a > 0.1) & (a < 0.9)
    here = foreground_delta(comp, a)[band]
    assert np.abs(half[band] - here).mean() < 0.1 * np.abs(here).mean()  # 0.07 (0.14 with a quarter-size copy)
