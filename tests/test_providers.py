"""livebg.matting.providers: choosing ONNX Runtime execution providers and
reporting the one really in use, on the real shared selfie model.

choose_providers is pure (lists in, list out). create_session runs the
installed onnxruntime: whether CUDA starts depends on the machine, so the
CUDA test first asks onnxruntime itself (a plain session) and then checks
livebg does the right thing for that machine - CUDA in use where it starts,
a DeviceError saying it could not start where it is listed but cannot,
a DeviceError listing what is available where it is not listed at all.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from clips import SHARED
from livebg.errors import DeviceError
from livebg.matting.providers import PREFERENCE, SHORT_NAMES, choose_providers, create_session, short_name

MODEL = SHARED / "models" / "mediapipe_selfie.onnx"

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DML = "DmlExecutionProvider"
COREML = "CoreMLExecutionProvider"
TRT = "TensorrtExecutionProvider"


# ---------------------------------------------------------------- choose_providers (pure)

@pytest.mark.parametrize("available,expected", [
    ([TRT, CUDA, CPU], [CUDA, CPU]),                         # TensorRT dropped
    ([CPU, CUDA], [CUDA, CPU]),                              # preference order, not the given order
    ([CPU, COREML], [COREML, CPU]),
    ([CPU, DML, "AzureExecutionProvider"], [DML, CPU]),      # unknown providers dropped
    ([COREML, DML, CUDA, CPU], [CUDA, DML, COREML, CPU]),
    ([CPU], [CPU]),
    (["OpenVINOExecutionProvider"], [CPU]),                  # nothing known: CPU still
    ([], [CPU]),
])
def test_auto_orders_by_preference(available, expected):
    assert choose_providers("auto", available) == expected
    assert choose_providers("", available) == expected


@pytest.mark.parametrize("short,full", sorted(SHORT_NAMES.items()))
def test_short_names_map_to_full_names(short, full):
    available = list(PREFERENCE)
    chosen = choose_providers(short, available)
    assert chosen[0] == full
    assert chosen == ([CPU] if full == CPU else [full, CPU])  # the CPU stays as the fallback
    assert choose_providers(short.upper(), available)[0] == full
    assert choose_providers(full, available)[0] == full  # full names work too
    assert short_name(full) == short


@pytest.mark.parametrize("requested,available", [
    ("cuda", [CPU]),
    ("coreml", [CUDA, CPU]),
    ("directml", [TRT, CUDA, CPU]),
    ("tpu", [CUDA, CPU]),
    ("tensorrt", [TRT, CUDA, CPU]),  # no short name for TensorRT on purpose
])
def test_unavailable_or_unknown_lists_available(requested, available):
    with pytest.raises(DeviceError) as e:
        choose_providers(requested, available)
    msg = str(e.value)
    assert f"'{requested}'" in msg and "not available" in msg
    listed = msg.split("available:")[1]
    for p in available:
        if p in PREFERENCE:
            assert short_name(p) in listed
    assert "tensorrt" not in listed.lower()


# ---------------------------------------------------------------- create_session (real onnxruntime)

def _run(session):
    x = np.random.default_rng(0).random((1, 3, 256, 256), dtype=np.float32)
    (out,) = session.run(["alphas"], {"pixel_values": x})
    assert out.shape == (1, 1, 256, 256)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_cpu():
    session, used = create_session(str(MODEL), "cpu")
    assert used == CPU
    assert session.get_providers() == [CPU]
    _run(session)


def test_auto_reports_what_is_really_in_use():
    session, used = create_session(str(MODEL), "auto")
    assert used == session.get_providers()[0]
    assert used in ort.get_available_providers()
    assert used != TRT
    _run(session)


def _cuda_really_starts() -> bool:
    """Ask onnxruntime directly, without livebg: does a CUDA session come up here?"""
    if CUDA not in ort.get_available_providers():
        return False
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    s = ort.InferenceSession(str(MODEL), sess_options=opts, providers=[CUDA, CPU])
    return s.get_providers()[0] == CUDA


def test_cuda_in_use_or_a_clear_error():
    listed = CUDA in ort.get_available_providers()
    if _cuda_really_starts():
        session, used = create_session(str(MODEL), "cuda")
        assert used == CUDA and session.get_providers()[0] == CUDA
        _run(session)
        return
    with pytest.raises(DeviceError) as e:
        create_session(str(MODEL), "cuda")
    msg = str(e.value)
    assert "\n" not in msg and "'cuda'" in msg
    if listed:  # onnxruntime-gpu on a machine with no usable GPU: it falls back silently, we do not
        assert "could not start" in msg and "cpu" in msg
    else:
        assert "not available" in msg and "cpu" in msg.split("available:")[1]


# ---------------------------------------------------------------- what really starts here (livebg devices, --provider)

def test_probe_model_is_a_real_onnx_model():
    """The one-node model livebg writes out by hand loads and runs: y = x."""
    import numpy as np

    from livebg.matting.providers import _probe_model

    s = ort.InferenceSession(_probe_model(), providers=[CPU])
    (y,) = s.run(None, {"x": np.array([2.5], np.float32)})
    assert y.tolist() == [2.5] and s.get_providers() == [CPU]


def test_survey_says_what_really_starts():
    """As onnxruntime itself says with a real model: CUDA counts only where a
    session on it comes up (onnxruntime-gpu lists it everywhere)."""
    from livebg.matting.providers import require, starts, survey

    good, bad = survey()
    assert good and good[-1] == CPU and TRT not in good + bad
    assert (CUDA in good) == _cuda_really_starts() and starts(CUDA) == _cuda_really_starts()
    assert set(good + bad) == {p for p in PREFERENCE if p in ort.get_available_providers()}
    require("cpu")
    require("auto")
    if CUDA in good:
        require("cuda")
    else:
        with pytest.raises(DeviceError) as e:
            require("cuda")
        assert "\n" not in str(e.value) and "providers that start here: cpu" in str(e.value)
