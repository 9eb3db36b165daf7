"""The refiner for stateless models (CropRefiner) with the real MediaPipe selfie
model: against the naive pipeline on real portraits, its shape, its state."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from synth import background, make_clip, portraits  # noqa: E402

from livebg import metrics  # noqa: E402
from livebg.matting import open_named  # noqa: E402
from livebg.refine import CropRefiner, Matte, for_matter  # noqa: E402


@pytest.fixture(scope="module")
def selfie():
    m = open_named("mediapipe-selfie")
    yield m
    m.close()


@pytest.mark.parametrize("index", [1, 5])  # a hand-made matte and a P3M one
def test_default_pipeline_beats_naive_on_real_portraits(selfie, index):
    p = portraits()[index]
    frames, trues = make_clip(p, background(index, 1280, 720), n=30, still=10, seed=index)
    results = {}
    for name, ref in (("naive", CropRefiner.naive(selfie)), ("livebg", CropRefiner(selfie))):
        preds = [cv2.resize(ref(f).alpha, (1280, 720), interpolation=cv2.INTER_LINEAR) for f in frames]
        assert all(a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1 for a in preds)
        results[name] = (np.mean([metrics.mad(a, t) for a, t in zip(preds, trues)]),
                         np.mean([metrics.mse(a, t) for a, t in zip(preds, trues)]),
                         metrics.dtssd(preds, trues))
    n, l = results["naive"], results["livebg"]
    assert l[0] < 0.8 * n[0] and l[1] < 0.8 * n[1] and l[2] < n[2], results


def test_refiner_output_follows_the_frame_aspect(selfie):
    ref = CropRefiner(selfie)
    m = ref(np.zeros((480, 640, 3), np.uint8))
    assert isinstance(m, Matte) and m.foreground is None
    assert m.alpha.shape == (360, 480) and m.alpha.dtype == np.float32
    small = ref(np.zeros((100, 200, 3), np.uint8)).alpha  # smaller than the working size: kept as is
    assert small.shape == (100, 200)


def test_a_new_frame_size_starts_afresh(selfie):
    """Nothing of a 720p picture's history applies to a 480p one: the tracker
    and the smoother forget it, so the mattes are a fresh refiner's."""
    frames, _ = make_clip(portraits()[5], background(5, 1280, 720), n=4, still=4)
    ref = CropRefiner(selfie)
    for f in frames:
        ref(f)
    assert ref.tracker.crop(1280, 720) != (0, 0, 1280, 720)
    fresh = CropRefiner(selfie)
    for f in frames[:2]:
        small = cv2.resize(f, (640, 480))
        np.testing.assert_array_equal(ref(small).alpha, fresh(small).alpha)


def test_begin_finish_learn_in_halves_is_the_same_as_one_call(selfie):
    """process runs a frame's matte in halves (the model ahead of time, on another
    thread): the matte is exactly the one a single call gives."""
    frames, _ = make_clip(portraits()[1], background(1, 1280, 720), n=8, still=2)
    whole, halves = CropRefiner(selfie), CropRefiner(selfie)
    for f in frames:
        want = whole(f).alpha
        ahead = halves.guess(f)
        step = halves.begin(f, ahead)
        got = halves.finish(step)
        halves.learn(step, got)
        np.testing.assert_array_equal(got.alpha, want)


def test_for_matter_follows_the_declared_capabilities(selfie):
    ref = for_matter(selfie)
    assert isinstance(ref, CropRefiner) and ref.flip and ref.guided  # a mask: both views, edge step
    bare = for_matter(selfie, refine=False)
    assert not bare.flip and not bare.guided and not bare.use_crop


def test_a_recurrent_model_is_refused_by_the_crop_refiner():
    """Mirror views and re-runs of a frame would corrupt a recurrent model's state."""
    from livebg.matting.base import Capabilities

    class Recurrent:
        name, runtime, caps, input_size, side = "r", "test", Capabilities(recurrent=True), None, 256

    with pytest.raises(ValueError, match="state"):
        CropRefiner(Recurrent())
