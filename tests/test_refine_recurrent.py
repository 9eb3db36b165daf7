"""The refiner for recurrent models, with the real Robust Video Matting model:
one owner of its memory, never advanced by anything but the frame itself, and
started afresh exactly when the picture stops being a continuation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import person_frames
from livebg.backgrounds import open_background
from livebg.matting import open_named
from livebg.refine import CropRefiner, RecurrentRefiner, for_matter
from livebg.refine.recurrent import CutDetector
from livebg.stage import Stage


class Counting:
    """The real RVM, counting the calls and the states it is given."""

    def __init__(self, side=320):
        self.m = open_named("rvm")
        self.m.side = side
        self.name, self.runtime, self.caps, self.input_size = self.m.name, self.m.runtime, self.m.caps, None
        self.ladder = self.m.ladder
        self.calls = []  # the state object each call was given (None: a fresh start)

    @property
    def side(self):
        return self.m.side

    @side.setter
    def side(self, v):
        self.m.side = v

    def predict(self, bgr, state=None, defer=False):
        self.calls.append(state)
        return self.m.predict(bgr, state, defer)

    def finish(self, p, foreground=True):
        return self.m.finish(p, foreground)

    def close(self):
        self.m.close()


@pytest.fixture(scope="module")
def clip():
    frames, _ = person_frames(12, width=640, height=360, amplitude=20)
    return frames


def test_every_frame_advances_the_state_once_and_nothing_else_does(clip):
    m = Counting()
    ref = RecurrentRefiner(m, warm_start=3, foreground=True)
    try:
        mattes = [ref(f) for f in clip]
    finally:
        ref.close()
    # The first frame three times (a fresh start settles), then one call a frame,
    # each given the state the call before it returned.
    assert len(m.calls) == 3 + len(clip) - 1
    assert m.calls[0] is None and all(s is not None for s in m.calls[1:])
    assert len({id(s) for s in m.calls[1:]}) == len(m.calls) - 1
    assert ref.resets == 1
    a = mattes[-1]
    assert a.alpha.dtype == np.float32 and a.alpha.shape == (180, 320)
    assert a.foreground.dtype == np.uint8 and a.foreground.shape == (180, 320, 3)
    assert 0.05 < (a.alpha > 0.5).mean() < 0.9  # a person, not nothing and not everything


def test_a_fresh_start_gives_what_the_first_frame_run_three_times_gives(clip):
    m = open_named("rvm")
    m.side = 320
    state = None
    for _ in range(3):
        p = m.predict(clip[0], state)
        state = p.state
    ref = RecurrentRefiner(open_named("rvm"), warm_start=3)
    ref.matter.side = 320
    try:
        m0 = ref(clip[0])
        np.testing.assert_array_equal(m0.alpha, p.alpha)
        assert m0.foreground is None  # made only when asked: livebg's compositing does not use it
    finally:
        ref.close()
        m.close()


def test_reset_size_change_and_a_new_input_size_start_afresh(clip):
    m = Counting()
    ref = RecurrentRefiner(m, warm_start=2)
    try:
        for f in clip[:3]:
            ref(f)
        assert ref.resets == 1
        ref.reset()
        ref(clip[3])
        assert ref.resets == 2 and m.calls[-2] is None  # a fresh start: two runs of the frame
        ref(cv2.resize(clip[4], (480, 270)))  # another picture size
        assert ref.resets == 3
        ref(cv2.resize(clip[5], (480, 270)))
        assert ref.resets == 3
        m.side = 256                           # the live ladder stepped down
        ref(cv2.resize(clip[6], (480, 270)))
        assert ref.resets == 4
    finally:
        ref.close()


def test_a_scene_cut_starts_afresh_and_motion_does_not():
    frames, _ = person_frames(10, width=640, height=360, amplitude=60)
    other, _ = person_frames(6, width=640, height=360, name="p_22fc0130",
                             background=np.full((360, 640, 3), (30, 160, 220), np.uint8))
    cut = CutDetector()
    said = [cut(f) for f in frames + other]
    assert said == [False] * 10 + [True] + [False] * 5


def test_the_refiner_for_a_recurrent_model_runs_no_other_view():
    m = open_named("rvm")
    assert m.caps.recurrent and m.caps.foreground and m.caps.soft_alpha
    ref = for_matter(m)
    assert isinstance(ref, RecurrentRefiner) and not ref.needs_feedback and ref.guess(None) is None
    with pytest.raises(ValueError, match="state"):
        CropRefiner(m)
    opened = []
    stage = Stage(open_named("rvm"), open_background("none"), open_twin=opened.append)
    assert opened == []  # no second instance: it would need a state of its own
    stage.close()
    ref.close()
