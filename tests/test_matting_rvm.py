"""Robust Video Matting's runner (livebg.matting.rvm) on real portraits: its
contract (sizes, the state it returns, the foreground colours) and its quality
against the reference mattes, run as a video of one picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import SHARED, load_portrait
from livebg.matting import open_named
from livebg.matting.base import Capabilities


@pytest.fixture(scope="module")
def rvm():
    m = open_named("rvm")
    yield m
    m.close()


def test_contract(rvm):
    assert rvm.caps == Capabilities(soft_alpha=True, recurrent=True, foreground=True, resizable=True)
    image, _ = load_portrait("p_514ca06a")
    frame = cv2.resize(image, (640, 360), interpolation=cv2.INTER_AREA)
    rvm.side = 320
    p = rvm.predict(frame)
    assert p.alpha.shape == (180, 320) and p.alpha.dtype == np.float32
    assert 0.0 <= p.alpha.min() and p.alpha.max() <= 1.0 and p.alpha.max() > 0.9
    assert p.foreground.shape == (180, 320, 3) and p.foreground.dtype == np.uint8
    assert len(p.state) == 4 and all(s.dtype == np.float32 and s.ndim == 4 for s in p.state)
    # The state is what changes the answer, and the runner keeps none itself.
    np.testing.assert_array_equal(rvm.predict(frame).alpha, p.alpha)
    assert np.abs(rvm.predict(frame, p.state).alpha - p.alpha).max() > 0.05
    rvm.side = 1280
    assert rvm.predict(frame).alpha.shape == (360, 640)  # never scaled up
    with pytest.raises(TypeError):
        rvm.predict(frame.astype(np.float32))


@pytest.mark.parametrize("name", ["p_09ba26b4", "p_22fc0130", "p_d684dae3"])
def test_its_matte_on_a_real_portrait(rvm, name):
    """A portrait over another room, run as a still video (the state settles):
    the alpha matches the reference, and the foreground output is the
    picture's size, in the picture's colours where the subject is solid."""
    image, alpha = load_portrait(name)
    s = 360 / image.shape[0]
    F = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(alpha, (F.shape[1], F.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    room = cv2.imread(str(SHARED / "backgrounds" / "total_landscaping.jpg"))
    room = cv2.resize(room, (F.shape[1], F.shape[0]), interpolation=cv2.INTER_AREA).astype(np.float32)
    comp = np.clip(F * a[..., None] + room * (1 - a[..., None]) + 0.5, 0, 255).astype(np.uint8)
    rvm.side, rvm.base = 640, 480
    state = None
    for _ in range(5):
        p = rvm.predict(comp, state)
        state = p.state
    assert np.abs(p.alpha - a).mean() < 0.03
    solid = cv2.erode((a > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(p.foreground.astype(float) - comp)[solid].mean() < 6
