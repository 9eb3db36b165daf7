"""Carrying a matte to a later frame along the motion (live, where a slow model
mattes every second or third frame)."""

from __future__ import annotations

import cv2
import numpy as np

from clips import person_frames
from livebg.refine.base import Matte
from livebg.refine.carry import MatteCarrier, thumbnail


def test_a_carried_matte_fits_the_later_frame_far_better_than_the_stale_one():
    """A person sliding sideways (up to about 13 px a frame at 720p): the true
    matte of frame k, laid over frame k + 2 as it is, misses by a band on
    both sides; carried along the flow it nearly fits."""
    frames, alphas = person_frames(40, amplitude=80)
    truths = [a.astype(np.float32) / 255.0 for a in alphas]
    carrier = MatteCarrier()
    stale, carried = [], []
    for k in range(0, 36, 3):
        small = cv2.resize(truths[k], (640, 360), interpolation=cv2.INTER_AREA)
        fg = np.full((360, 640, 3), 77, np.uint8)
        moved = carrier.carry(Matte(small, fg), thumbnail(frames[k]), frames[k + 2])
        assert moved.alpha.shape == (360, 640) and moved.alpha.dtype == np.float32
        assert moved.foreground.shape == (360, 640, 3) and (moved.foreground == 77).all()
        up = lambda a: cv2.resize(a, (1280, 720), interpolation=cv2.INTER_LINEAR)  # noqa: E731
        stale.append(np.abs(up(small) - truths[k + 2]).mean())
        carried.append(np.abs(up(moved.alpha) - truths[k + 2]).mean())
    assert np.mean(carried) < 0.5 * np.mean(stale), (np.mean(carried), np.mean(stale))


def test_nothing_moves_where_nothing_moved():
    frames, alphas = person_frames(2, amplitude=0)
    a = cv2.resize(alphas[0].astype(np.float32) / 255.0, (640, 360), interpolation=cv2.INTER_AREA)
    moved = MatteCarrier().carry(Matte(a), thumbnail(frames[0]), frames[1])
    assert moved.foreground is None
    assert np.abs(moved.alpha - a).max() < 0.05 and np.abs(moved.alpha - a).mean() < 1e-3


def test_a_frame_of_another_size_leaves_the_matte_as_it_is():
    frames, alphas = person_frames(2)
    m = Matte(np.zeros((360, 640), np.float32))
    assert MatteCarrier().carry(m, thumbnail(frames[0]), cv2.resize(frames[1], (640, 640))) is m
