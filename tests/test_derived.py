"""Model graphs livebg derives at load (livebg.matting.derived): the selfie
model's upsampling by scale, on the real model file and real portraits; the
cache of derived graphs, and what happens when a cached copy is damaged."""

from __future__ import annotations

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from clips import SHARED, load_portrait
from livebg.matting import open_named
from livebg.matting.derived import derived_model, resizes_by_scale, selfie_fixed

SELFIE = SHARED / "models" / "mediapipe_selfie.onnx"


def _released_mask(bgr: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(SELFIE), providers=["CPUExecutionProvider"])
    small = cv2.resize(bgr, (256, 256), interpolation=cv2.INTER_AREA)
    (out,) = s.run(["alphas"], {"pixel_values": cv2.dnn.blobFromImage(small, 1 / 255, swapRB=True)})
    return np.clip(out[0, 0], 0.0, 1.0)


@pytest.mark.parametrize("name", ["p_09ba26b4", "p_514ca06a"])
def test_the_selfie_model_runs_its_derived_graph_to_the_same_mask(name):
    image, _ = load_portrait(name)
    m = open_named("mediapipe-selfie-onnx")
    try:
        got = m.predict(image).alpha
    finally:
        m.close()
    want = _released_mask(image)
    assert got.shape == want.shape == (256, 256) and want.max() > 0.9
    # the same arithmetic but for the upsampling's rounding (blocked kernels): about 3e-6 at most
    assert np.abs(got - want).max() < 1e-5


def test_the_selfie_graph_has_its_three_upsamplings_by_scale():
    import onnx

    made = selfie_fixed(SELFIE)
    assert made is not None
    m = onnx.load_from_string(made)
    resizes = [n for n in m.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 3 and all(len(n.input) == 3 for n in resizes)  # scales, no sizes
    assert resizes_by_scale(m) == 0  # nothing left to change


def test_a_resize_to_a_size_not_twice_its_input_is_left_alone():
    from onnx import TensorProto, helper, numpy_helper

    sizes = numpy_helper.from_array(np.array([1, 4, 48, 48], np.int64), "sizes")
    g = helper.make_graph([helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")], "r",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [sizes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert resizes_by_scale(m) == 0
    sizes = numpy_helper.from_array(np.array([1, 4, 64, 64], np.int64), "sizes")
    m.graph.initializer[0].CopyFrom(sizes)
    assert resizes_by_scale(m) == 1 and len(m.graph.node[0].input) == 3


def test_a_damaged_derived_copy_is_made_again_and_a_model_with_nothing_to_change_runs_as_it_is(
        tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEBG_CACHE_DIR", str(tmp_path))
    first = derived_model(SELFIE, "selfie-scales", 1, selfie_fixed)
    assert isinstance(first, str) and first.startswith(str(tmp_path))
    with open(first, "wb") as f:
        f.write(b"not a model")
    image, _ = load_portrait("p_09ba26b4")
    m = open_named("mediapipe-selfie-onnx")
    try:
        assert np.abs(m.predict(image).alpha - _released_mask(image)).max() < 1e-5
    finally:
        m.close()
    with open(first, "rb") as f:
        assert f.read(11) != b"not a model"  # made again
    # RVM's graph has no Resize by size twice its input: nothing derived, None
    assert selfie_fixed(SHARED / "models" / "rvm_mobilenetv3_fp32.onnx") is None
