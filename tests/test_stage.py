"""The stage: one frame's matting and compositing, a second model instance for
the mirror view, model swaps, and the live size ladder for a resizable model."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from clips import person_frames
from livebg.backgrounds import Background, open_background
from livebg.matting import open_named
from livebg.matting.base import Capabilities, Prediction
from livebg.refine import for_matter
from livebg.stage import Stage


@pytest.fixture(scope="module")
def frames():
    return person_frames(12)[0]


def test_flip_call_on_a_second_instance_gives_the_same_matte(frames):
    plain = for_matter(open_named("mediapipe-selfie"))
    paired = for_matter(open_named("mediapipe-selfie"))
    try:
        paired.use_twin(open_named("mediapipe-selfie"))
        for f in frames:
            assert np.array_equal(plain(f).alpha, paired(f).alpha)
        paired.use_twin(None)  # back to one instance, one call after the other
        assert np.array_equal(plain(frames[0]).alpha, paired(frames[0]).alpha)
    finally:
        plain.close()
        paired.close()


class Tracked:
    """The real model, recording when it is closed."""

    closed: list = []

    def __init__(self, name="mediapipe-selfie"):
        self.m = open_named(name)
        self.name, self.runtime, self.caps = self.m.name, self.m.runtime, self.m.caps
        self.input_size, self.side = self.m.input_size, self.m.side

    def predict(self, bgr, state=None):
        return self.m.predict(bgr)

    def close(self):
        Tracked.closed.append(self)
        self.m.close()


def test_the_stage_opens_closes_and_replaces_the_second_instance_with_its_model(frames):
    Tracked.closed = []
    twins = []

    def open_twin(name):
        twins.append(Tracked(name))
        return twins[-1]

    first = Tracked()
    stage = Stage(first, open_background("color:#00ff00"), open_twin=open_twin)
    assert len(twins) == 1 and stage.model_name == "mediapipe-selfie"
    assert stage.matte(frames[0]) is not None
    stage.set_matter(Tracked())  # a new model: the old one and its second instance go, a new twin comes
    assert Tracked.closed == [twins[0], first] and len(twins) == 2
    stage.close()
    assert set(map(id, Tracked.closed[2:])) == {id(twins[1]), id(stage.matter)}


def test_without_a_spare_core_there_is_no_second_instance(frames, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    opened = []
    stage = Stage(open_named("mediapipe-selfie"), open_background("none"), open_twin=opened.append)
    try:
        assert opened == [] and stage.matte(frames[0]) is not None
    finally:
        stage.close()


def test_resizable_model_steps_down_when_slow_and_up_when_fast():
    """A stand-in matter with a settable size: the ladder logic itself is what is tested."""

    class Sized:
        name, runtime, input_size, side = "sized", "test", None, 512
        ladder = (512, 448, 384, 320, 256, 224, 192, 160)
        caps = Capabilities(soft_alpha=True, resizable=True)

        def predict(self, bgr, state=None):
            return Prediction(np.zeros((8, 8), np.float32))

        def close(self):
            pass

    stage = Stage(Sized(), Background())
    assert stage.matte_size == 512
    stage.timings["matting"] = collections.deque([0.120] * 8, maxlen=2000)
    assert stage.adapt_resolution(0.066) == 448 == stage.matte_size  # too slow: one step down
    assert stage.adapt_resolution(0.066) is None          # no fresh measurements yet
    stage.timings["matting"].extend([0.010] * 8)
    assert stage.adapt_resolution(0.066) == 512           # plenty of room: back up
    stage.timings["matting"].extend([0.060] * 8)
    assert stage.adapt_resolution(0.066) is None          # fits, and the next size up would not
    fixed = Stage(open_named("mediapipe-selfie"), Background())
    fixed.timings["matting"].extend([0.5] * 8)
    assert fixed.matte_size is None and fixed.adapt_resolution(0.066) is None
    fixed.close()


def test_composite_passes_through_when_off_or_without_a_matte(frames):
    stage = Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"))
    try:
        m = stage.matte(frames[0])
        out = stage.composite(frames[0], m)
        assert out is not frames[0] and not np.array_equal(out, frames[0])
        assert stage.composite(frames[0], None) is frames[0]
        stage.enabled = False
        assert stage.composite(frames[0], m) is frames[0]
    finally:
        stage.close()


def test_decontamination_takes_the_old_rooms_colour_out_of_the_edge():
    """A portrait over a loud green room composited onto grey, with the true matte:
    the hair's edge comes out less green with the stage's decontamination on."""
    import cv2

    from clips import load_portrait
    from livebg.refine import Matte

    image, alpha = load_portrait("p_d684dae3")
    s = 720 / image.shape[0]
    F = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, (F.shape[1], F.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    frame = np.clip(F * a[..., None] + np.float32([30, 200, 40]) * (1 - a[..., None]) + 0.5, 0, 255).astype(np.uint8)
    matte = Matte(cv2.resize(a, (a.shape[1] // 2, a.shape[0] // 2), interpolation=cv2.INTER_AREA))
    band = (a > 0.1) & (a < 0.9)
    green = {}
    for on in (False, True):
        stage = Stage(open_named("mediapipe-selfie"), open_background("color:#808080"), decontaminate=on)
        try:
            out = stage.composite(frame, matte).astype(np.float32)
        finally:
            stage.close()
        green[on] = (out[..., 1] - (out[..., 0] + out[..., 2]) / 2)[band].mean()
    assert green[True] < 0.7 * green[False], green


def test_the_edge_colours_take_the_refiners_copy_of_the_same_frame_only(frames):
    """A matte from the crop refiner carries its frame scaled to the matte's size;
    compositing that frame takes it (the same output as scaling the frame again,
    without the second resize), and compositing another frame with that matte
    (the live path's last good matte) scales the other frame, not the copy."""
    from livebg.refine import Matte

    stage = Stage(open_named("mediapipe-selfie"), open_background("color:#808080"), decontaminate=True)
    try:
        for f in frames[:6]:
            matte = stage.matte(f)
        assert matte.frame is frames[5] and matte.picture is not None and matte.alpha.max() > 0.9
        assert matte.picture.shape[:2] == matte.alpha.shape != frames[5].shape[:2]
        bare = Matte(matte.alpha)
        np.testing.assert_array_equal(stage.composite(frames[5], matte, reuse=False),
                                      stage.composite(frames[5], bare, reuse=False))
        np.testing.assert_array_equal(stage.composite(frames[8], matte, reuse=False),
                                      stage.composite(frames[8], bare, reuse=False))
        wrong = Matte(matte.alpha, frame=frames[8], picture=np.zeros_like(matte.picture))
        assert not np.array_equal(stage.composite(frames[8], wrong, reuse=False),
                                  stage.composite(frames[8], bare, reuse=False))  # the copy is what it takes
    finally:
        stage.close()
