"""Robust Video Matting's runner (livebg.matting.rvm) on real portraits: its
contract (sizes, the state it returns, the foreground colours) and its quality
against the reference mattes, run as a video of one picture."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from clips import SHARED, load_portrait, person_frames
from livebg.matting import open_named
from livebg.matting import rvm as rvm_module
from livebg.matting.base import Capabilities
from livebg.matting.rvm_graph import cut, cut_model

RELEASE = SHARED / "models" / "rvm_mobilenetv3_fp32.onnx"


@pytest.fixture(scope="module")
def rvm():
    m = open_named("rvm")
    yield m
    m.close()


def test_contract(rvm):
    assert rvm.caps == Capabilities(soft_alpha=True, recurrent=True, foreground=True, resizable=True, deferred=True)
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


def _whole_graph(frames, side_hw, ratio):
    """The release file run whole by ONNX Runtime, as its authors do: alpha,
    foreground (BGR uint8) and state for each frame, the state carried."""
    import onnxruntime as ort

    s = ort.InferenceSession(str(RELEASE), providers=["CPUExecutionProvider"])
    state = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    out = []
    for f in frames:
        small = cv2.resize(f, side_hw[::-1], interpolation=cv2.INTER_AREA) if f.shape[:2] != side_hw else f
        fgr, pha, *state = s.run(None, {"src": cv2.dnn.blobFromImage(small, 1 / 255, swapRB=True),
                                        "r1i": state[0], "r2i": state[1], "r3i": state[2], "r4i": state[3],
                                        "downsample_ratio": np.array([ratio], np.float32)})
        fg = cv2.convertScaleAbs(cv2.merge([fgr[0, 2], fgr[0, 1], fgr[0, 0]]), alpha=255.0)
        out.append((pha[0, 0], fg, state))
    return out


@pytest.mark.parametrize("size,side,base", [((720, 1280), 1280, 480),   # files: the authors' 0.375
                                            ((360, 640), 576, 480),     # live ladder: a ratio 324 x 0.833 = 270
                                            ((270, 480), 640, 480),     # ratio 1: the network at the picture's size
                                            ((217, 385), 1280, 231)])   # odd sizes
def test_the_cut_graph_and_numba_give_what_the_whole_graph_gives(rvm, size, side, base):
    """RVM without its full-size steps in the graph (livebg.matting.rvm_graph,
    rvm_kernel) against the official file run whole, over frames with the
    state carried: the same alpha to float rounding, the same colours to a level."""
    frames, _ = person_frames(3, width=size[1], height=size[0], amplitude=15)
    assert rvm._small is not None  # the cut is in use
    rvm.side, rvm.base = side, base
    h, w = rvm.input_shape(*size)
    want = _whole_graph(frames, (h, w), rvm.ratio(h, w))
    state = None
    for f, (alpha, fg, st) in zip(frames, want):
        p = rvm.predict(f, state)
        state = p.state
        assert p.alpha.shape == alpha.shape == (h, w)
        assert np.abs(p.alpha - alpha).max() < 2e-5
        assert np.abs(p.foreground.astype(int) - fg).max() <= 1
        assert max(float(np.abs(a - b).max()) for a, b in zip(p.state, st)) < 2e-4


def test_a_deferred_prediction_is_finished_on_request(rvm):
    frames, _ = person_frames(2, width=640, height=360)
    rvm.side, rvm.base = 640, 480
    d = rvm.predict(frames[0], defer=True)
    assert d.alpha is None and d.foreground is None and len(d.state) == 4
    whole = rvm.predict(frames[0])
    done = rvm.finish(d, foreground=False)
    np.testing.assert_array_equal(done.alpha, whole.alpha)
    assert done.foreground is None and done.state is d.state
    np.testing.assert_array_equal(rvm.finish(d).foreground, whole.foreground)
    assert rvm.finish(whole) is whole  # a finished one as it is


def _check_cut_in_use(frame, want):
    """A fresh RVM runs the cut graph and gives ``want`` for ``frame``."""
    m = open_named("rvm")
    try:
        assert m._small is not None
        np.testing.assert_array_equal(m.predict(frame).alpha, want)
    finally:
        m.close()


def test_the_cut_is_cached_and_a_damaged_cached_copy_is_cut_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(tmp_path))
    first = cut_model(RELEASE)
    assert isinstance(first, str) and first.startswith(str(tmp_path))
    assert cut_model(RELEASE) == first and not list(tmp_path.rglob("*.part-*"))
    frames, _ = person_frames(1, width=320, height=180)
    good = open_named("rvm")
    want = good.predict(frames[0]).alpha
    good.close()
    with open(first, "wb") as f:
        f.write(b"not a model")  # damaged: the next start cuts the release file again
    _check_cut_in_use(frames[0], want)
    with open(first, "rb") as f:
        assert f.read(11) != b"not a model"


def test_a_cut_that_will_not_load_runs_the_file_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(rvm_module, "cut_model", lambda path, fresh=False: b"not a model")
    frames, _ = person_frames(1, width=320, height=180)
    m = open_named("rvm")
    try:
        assert m._small is None
        p = m.predict(frames[0])
        assert p.alpha.shape == (180, 320) and p.alpha.max() > 0.9
    finally:
        m.close()


def test_a_graph_of_another_shape_is_run_whole(monkeypatch):
    """Another model's graph has no such cut (None), and an RVM without the cut
    (cut_model returning None, as for another export) runs the file whole."""
    assert cut(SHARED / "models" / "mediapipe_selfie.onnx") is None
    assert cut(SHARED / "models" / "imgly_isnet_medium.onnx") is None
    monkeypatch.setattr(rvm_module, "cut_model", lambda path, fresh=False: None)
    m = open_named("rvm")
    try:
        assert m._small is None
        frames, _ = person_frames(1, width=320, height=180)
        p = m.predict(frames[0], defer=True)
        assert p.alpha is not None and m.finish(p) is p  # nothing deferred
    finally:
        m.close()


def test_convolutions_over_a_small_concatenated_part_are_split_to_the_same_result():
    """split_small_parts on a small graph of the decoder's shape (features and the
    three-channel picture concatenated, a 3x3 convolution, its activation):
    the split graph gives what the original gives, to float rounding, and
    the convolution reading the concatenation is gone."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from livebg.matting.rvm_graph import split_small_parts

    rng = np.random.default_rng(3)
    weights = [numpy_helper.from_array(rng.normal(size=(16, 19, 3, 3)).astype(np.float32), "W"),
               numpy_helper.from_array(rng.normal(size=16).astype(np.float32), "B"),
               numpy_helper.from_array(rng.normal(size=(16, 3, 1, 1)).astype(np.float32), "F")]
    nodes = [helper.make_node("Conv", ["picture", "F"], ["features"]),
             helper.make_node("Concat", ["features", "picture"], ["both"], axis=1),
             helper.make_node("Conv", ["both", "W", "B"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["out"])]
    graph = helper.make_graph(nodes, "decoder-like",
                              [helper.make_tensor_value_info("picture", TensorProto.FLOAT, [1, 3, "h", "w"])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    before = model.SerializeToString()
    assert split_small_parts(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "Concat" not in ops and ops.count("Conv") == 3 and ops.count("Add") == 1
    x = rng.random((1, 3, 37, 50), dtype=np.float32)

    def run(m):
        return ort.InferenceSession(m, providers=["CPUExecutionProvider"]).run(None, {"picture": x})[0]

    want, got = run(before), run(model.SerializeToString())
    assert want.shape == got.shape == (1, 16, 37, 50)
    assert np.abs(want - got).max() < 1e-4 * np.abs(want).max()
    assert split_small_parts(model) == 0  # nothing left to split


def test_the_cut_graph_has_its_small_parts_split():
    made = cut(RELEASE)
    import onnx

    m = onnx.load_from_string(made.model)
    # the four decoder blocks that read the picture, and the refiner's three-part one
    assert sum(n.name.endswith("_conv_rest") for n in m.graph.node) == 5


def test_a_cut_kept_in_memory_is_used(monkeypatch):
    """Where the cache folder cannot be written, cut_model() hands the cut graph
    over as bytes: it is run from memory, to the same matte."""
    frames, _ = person_frames(1, width=320, height=180)
    m = open_named("rvm")
    want = m.predict(frames[0]).alpha
    m.close()
    made = cut(RELEASE).model
    monkeypatch.setattr(rvm_module, "cut_model", lambda path, fresh=False: made)
    _check_cut_in_use(frames[0], want)
