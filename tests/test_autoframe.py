"""livebg.autoframe on real mattes' shapes: a P3M portrait's reference alpha standing right of the
middle and swaying, as the matte would show it."""

from __future__ import annotations

import numpy as np
import pytest

from clips import person_frames
from livebg.autoframe import HEADROOM, MAX_ZOOM, AutoFramer, Window, measure, target

W, H, FPS = 640, 360, 30.0


def _shifted(alphas, dx):
    out = []
    for a in alphas:
        s = np.zeros_like(a)
        if dx >= 0:
            s[:, dx:] = a[:, :a.shape[1] - dx]
        else:
            s[:, :dx] = a[:, -dx:]
        out.append(s.astype(np.float32) / 255.0)
    return out


@pytest.fixture(scope="module")
def swaying():
    """150 frames (5 s) of the portrait's true alpha: centre 15% of the width right of the middle,
    swaying smoothly (to a fraction of a pixel) 30 px either way every 1.3 s, as bench/synth.py's sway
    does at 720p (bench/studio.py measures the same with the model's mattes)."""
    import cv2

    _, alphas = person_frames(1, W, H, amplitude=0)
    a0 = alphas[0].astype(np.float32) / 255.0
    centre = (a0.sum(0) * (np.arange(W) + 0.5)).sum() / a0.sum()
    out = []
    for i in range(150):
        dx = 0.15 * W + W / 2 - centre + 30 * np.sin(2 * np.pi * i / 40)
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        out.append(cv2.warpAffine(a0, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT))
    return out


def _centroid(a):
    return (a.sum(0) * (np.arange(a.shape[1]) + 0.5)).sum() / a.sum(), \
        (a.sum(1) * (np.arange(a.shape[0]) + 0.5)).sum() / a.sum()


def test_measure_a_known_shape():
    a = np.zeros((90, 160), np.float32)
    a[30:, 40:80] = 1.0  # a block from row 30 down, columns 40-79
    p = measure(a, 640, 360)
    assert p.cx == pytest.approx(60 * 4, abs=0.5) and p.top == pytest.approx(30 * 4)
    assert p.width == pytest.approx(36 * 4, abs=8)  # the middle 90% of its columns
    assert measure(np.zeros((90, 160), np.float32), 640, 360) is None


def test_target_centres_with_head_room_within_the_frame():
    from livebg.autoframe import Person

    t = target(Person(cx=400, cy=250, top=100, width=200), W, H)
    assert 1.0 <= t.zoom <= MAX_ZOOM
    x, _ = t.to_output(400, 0, W, H)
    assert x == pytest.approx(W / 2, abs=1)
    _, y = t.to_output(0, 100, W, H)
    assert y == pytest.approx(HEADROOM * H, abs=1)
    far = target(Person(cx=620, cy=250, top=100, width=100), W, H)  # too far right to centre
    assert far.zoom == MAX_ZOOM and far.cx == pytest.approx(W - W / (2 * MAX_ZOOM))


def test_keeps_the_person_centred_without_adding_motion(swaying):
    f = AutoFramer(W, H)
    wins = [f.update(a, i / FPS) for i, a in enumerate(swaying)]
    first = int(1.5 * FPS)
    cin = np.array([_centroid(a) for a in swaying])
    cout = np.array([w.to_output(x, y, W, H) for (x, y), w in zip(cin, wins)])
    zoom = np.array([w.zoom for w in wins])
    assert abs(cin[0, 0] - W / 2) > 0.14 * W  # it does start off-centre
    centred = np.abs(cout[first:, 0] - W / 2) <= 0.08 * W
    assert centred.mean() >= 0.9, centred.mean()
    move_in = np.linalg.norm(np.diff(cin, axis=0), axis=1)[first:]
    move_out = (np.linalg.norm(np.diff(cout, axis=0), axis=1) / zoom[1:])[first:]
    assert move_out.mean() <= move_in.mean() * 1.001
    assert zoom.max() <= MAX_ZOOM + 1e-9 and zoom.min() >= 1.0


def test_a_still_person_is_not_chased():
    """The matte of a still person wobbles by a pixel or two: the framing settles smoothly (never
    turning back) and then stays put."""
    _, alphas = person_frames(1, W, H, amplitude=0)
    rng = np.random.default_rng(0)
    f = AutoFramer(W, H)
    wins = []
    for i in range(240):
        a = np.roll(alphas[0].astype(np.float32) / 255.0, int(rng.integers(-2, 3)), axis=1)
        wins.append(f.update(a, i / FPS))
    path = np.array([(w.cx, w.cy, w.zoom) for w in wins])
    steps = np.diff(path, axis=0)
    for k in range(3):  # each of cx, cy, zoom moves one way only
        moving = steps[:, k][np.abs(steps[:, k]) > 1e-9]
        assert (moving > 0).all() or (moving < 0).all()
    assert np.abs(steps[150:, :2]).max() < 0.05 and np.abs(steps[150:, 2]).max() < 1e-3


def test_apply_crops_and_scales_to_the_same_size():
    img = np.zeros((H, W, 3), np.uint8)
    img[200:210, 500:510] = 255  # a marker
    f = AutoFramer(W, H)
    assert f.apply(img) is img  # the whole picture: untouched
    win = Window(480.0, 220.0, 1.5)
    out = f.apply(img, win)
    assert out.shape == img.shape
    x, y = win.to_output(505, 205, W, H)
    ys, xs = np.nonzero(out[..., 0] > 128)
    assert xs.mean() == pytest.approx(x, abs=1) and ys.mean() == pytest.approx(y, abs=1)
    grey = f.apply(img[..., 0], win)  # a matte (one channel) the same way
    assert grey.shape == (H, W) and np.array_equal(grey, out[..., 0])


def test_no_person_keeps_the_last_aim_and_reset_returns_to_the_whole_picture(swaying):
    """Without a person (or a matte) the framing finishes its move and stays there."""
    f = AutoFramer(W, H)
    for i, a in enumerate(swaying[:60]):
        f.update(a, i / FPS)
    assert f.window.zoom > 1.1
    for i in range(60, 300):
        f.update(np.zeros_like(swaying[0]) if i % 2 else None, i / FPS)
    settled = f.window
    again = f.update(None, 300 / FPS)
    assert abs(again.cx - settled.cx) < 0.01 and abs(again.cy - settled.cy) < 0.01 and abs(again.zoom - settled.zoom) < 1e-3
    f.reset()
    assert f.update(None, 301 / FPS).is_full(W, H)


def test_frame_time_not_frame_count():
    """The same motion at 15 and at 30 frames a second ends in the same place."""
    results = []
    for fps in (15.0, 30.0):
        f = AutoFramer(W, H)
        _, alphas = person_frames(1, W, H, amplitude=0)
        a = _shifted(alphas, 90)[0]
        for i in range(int(2 * fps)):
            f.update(a, i / fps)
        results.append(f.window)
    assert results[0].cx == pytest.approx(results[1].cx, abs=3)
    assert results[0].zoom == pytest.approx(results[1].zoom, abs=0.02)
