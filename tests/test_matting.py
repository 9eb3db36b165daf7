"""Matting with the real models on real portraits with known mattes.

The three hand-made mattes (eval/alpha) and a few P3M portraits with
P3M-Net's predicted mattes (eval/pseudo_alpha) are the references; the
measured numbers are in ../shared/data/SOURCES.md. The MODNet code path
runs on the MODNet-shaped perf proxy, whose weights are random: only its
contract (sizes, ranges, preprocessing) is checked there, never quality.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames, write_clip
from conftest import MODELS, run_livebg
from livebg.errors import ModelError
from livebg.matting import open_matter, open_named
from livebg.matting.base import Capabilities, Prediction
from livebg.matting.modnet import ModNet, modnet_input_size, modnet_preprocess
from livebg.matting.selfie import SelfieOnnx

EVAL = SHARED / "eval"
PROXY = SHARED / "perf-proxy" / "modnet_arch_random_weights.onnx"

HAND_MADE = [
    ("4_image.png", "alpha/4_alpha.png"),
    ("9_image.png", "alpha/9_alpha.png"),
    ("boy-1518482_1920_12.png", "alpha/boy-1518482_1920_12.png"),
]
P3M = [(f"{n}.jpg", f"pseudo_alpha/{n}.png") for n in ("p_07141906", "p_22fc0130", "p_514ca06a", "p_d684dae3")]

MODEL_SIZES = {  # the segmentation models (RVM: tests/test_matting_rvm.py)
    "mediapipe-selfie": (256, 256),
    "mediapipe-selfie-landscape": (144, 256),
    "mediapipe-selfie-onnx": (256, 256),
}


@functools.lru_cache(maxsize=None)
def _load(image_name: str, alpha_name: str):
    image = cv2.imread(str(EVAL / "images" / image_name), cv2.IMREAD_COLOR)
    alpha = cv2.imread(str(EVAL / alpha_name), cv2.IMREAD_UNCHANGED)
    assert image is not None and alpha is not None, image_name
    if alpha.ndim == 3:
        alpha = alpha[..., 0]  # the hand-made mattes are stored as 3-channel PNGs
    assert alpha.shape == image.shape[:2]
    image.setflags(write=False)
    return image, alpha.astype(np.float32) / 255.0


@pytest.fixture
def matter_for():
    opened = []

    def open_(name):
        m = open_named(name)
        opened.append(m)
        return m

    yield open_
    for m in opened:
        m.close()


# ---------------------------------------------------------------- quality of the real models

@pytest.mark.parametrize("image_name,alpha_name", HAND_MADE + P3M, ids=[i for i, _ in HAND_MADE + P3M])
@pytest.mark.parametrize("model", sorted(MODEL_SIZES))
def test_real_model_on_real_portrait(model, image_name, alpha_name, matter_for):
    image, ref = _load(image_name, alpha_name)
    matter = matter_for(model)
    alpha = matter.predict(image).alpha
    assert alpha.dtype == np.float32 and alpha.ndim == 2
    assert alpha.shape == MODEL_SIZES[model] == tuple(matter.input_size)
    assert np.isfinite(alpha).all() and alpha.min() >= 0.0 and alpha.max() <= 1.0
    full = cv2.resize(alpha, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    pred, truth = full > 0.5, ref > 0.5
    iou = (pred & truth).sum() / (pred | truth).sum()
    mad = np.abs(full - ref).mean()
    assert iou > 0.85, f"{model} on {image_name}: IoU {iou:.3f}"
    assert mad < 0.06, f"{model} on {image_name}: MAD {mad:.4f}"


def test_matters_are_deterministic_and_named(matter_for):
    image, _ = _load(*HAND_MADE[0])
    for name in MODEL_SIZES:
        m = matter_for(name)
        assert m.name == name
        np.testing.assert_array_equal(m.predict(image).alpha, m.predict(image).alpha)
    assert "onnxruntime" in matter_for("mediapipe-selfie-onnx").runtime
    assert "mediapipe" in matter_for("mediapipe-selfie").runtime


def test_tflite_and_onnx_selfie_agree(matter_for):
    """The same network through MediaPipe and through ONNX Runtime."""
    image, _ = _load(*P3M[0])
    a = matter_for("mediapipe-selfie").predict(image).alpha
    b = matter_for("mediapipe-selfie-onnx").predict(image).alpha
    assert ((a > 0.5) == (b > 0.5)).mean() > 0.99
    # Given the same 256x256 input they are the same to float rounding, which is
    # why the ONNX export can be the default without changing livebg's mattes.
    assert np.abs(a - b).max() < 1e-3


# ---------------------------------------------------------------- MODNet code path (random-weight proxy)

@pytest.mark.parametrize("hw,expected", [
    ((720, 1280), (288, 512)),
    ((1280, 720), (512, 288)),
    ((1080, 1080), (512, 512)),
    ((1080, 1920), (288, 512)),
    ((480, 640), (384, 512)),
    ((100, 50), (512, 256)),     # small frames are scaled up to the reference size
    ((10, 1000), (32, 512)),     # a side that would round to 0 stays one multiple
    ((1000, 3), (512, 32)),
    ((1, 1), (512, 512)),
    ((49, 49), (512, 512)),      # 512 / 49 * 49 is 511.999... in floating point
])
def test_modnet_input_size(hw, expected):
    assert modnet_input_size(*hw) == expected


def test_modnet_input_size_longer_side_is_ref_size():
    """For every frame size: multiples of 32, at least 32, longer side exactly the reference size."""
    wrong = []
    for h in range(1, 1500, 7):
        for w in (1, max(1, h // 3), h, h * 2 + 1):
            rh, rw = modnet_input_size(h, w)
            assert rh % 32 == 0 and rw % 32 == 0 and rh >= 32 and rw >= 32
            if max(rh, rw) != 512:
                wrong.append(((h, w), (rh, rw)))
    assert not wrong, f"{len(wrong)} sizes lose a step, e.g. {wrong[:5]}"


def test_modnet_input_size_other_ref_sizes():
    assert modnet_input_size(720, 1280, side=256) == (128, 256)
    assert modnet_input_size(720, 1280, side=320, multiple=16) == (176, 320)


def test_modnet_preprocess_channel_order_and_range():
    red = np.zeros((720, 1280, 3), np.uint8)
    red[:] = (0, 0, 255)  # BGR
    x = modnet_preprocess(red)
    assert x.dtype == np.float32 and x.shape == (1, 3, 288, 512) and x.flags.c_contiguous
    np.testing.assert_allclose(x[0, 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(x[0, 1], -1.0, atol=1e-6)
    np.testing.assert_allclose(x[0, 2], -1.0, atol=1e-6)


def test_modnet_preprocess_value_mapping():
    # A real picture already at MODNet's size, so no resampling changes the values.
    frames, _ = person_frames(1, width=512, height=288)
    bgr = frames[0]
    x = modnet_preprocess(bgr)
    assert x.shape == (1, 3, 288, 512)
    rgb = bgr[..., ::-1].astype(np.float64)
    np.testing.assert_allclose(x[0], ((rgb - 127.5) / 127.5).transpose(2, 0, 1), atol=1e-6)
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_modnet_proxy_contract(matter_for):
    m = matter_for(str(PROXY))
    assert isinstance(m, ModNet)
    assert m.name == str(PROXY) and m.runtime.startswith("onnxruntime ")  # the name opens it again
    assert m.caps == Capabilities(soft_alpha=True, resizable=True) and m.side == 512
    frames, _ = person_frames(1, width=1280, height=720)
    for frame in (frames[0], cv2.resize(frames[0], (333, 333))):
        alpha = m.predict(frame).alpha
        assert alpha.dtype == np.float32
        assert alpha.shape == modnet_input_size(*frame.shape[:2])
        assert np.isfinite(alpha).all() and alpha.min() >= 0.0 and alpha.max() <= 1.0


# ---------------------------------------------------------------- auto

def test_auto_picks_robust_video_matting_for_files_and_live_where_it_keeps_up():
    assert not (MODELS / "modnet_photographic_portrait_matting.onnx").exists()
    m, why = open_matter("auto", purpose="file")
    try:
        assert m.name == "rvm" and m.caps.recurrent and why.startswith("picked rvm")
        assert "MODNet" not in why  # RVM came first: nothing before it failed
    finally:
        m.close()
    # Live, at the largest size where a matte takes at most two frames' time
    # (at 1 fps any size fits, whatever the machine); a budget no size fits
    # takes the selfie model instead, with the reason.
    m, why = open_matter("auto", purpose="live", fps=1)
    try:
        assert m.name == "rvm" and m.side == m.ladder[0] and "within the 1600 ms" in why
    finally:
        m.close()
    m, why = open_matter("auto", purpose="live", fps=1000, frame_size=(720, 1280))
    try:
        assert m.name == "mediapipe-selfie-onnx" and "rvm: RVM takes" in why and "over the 2 ms" in why
    finally:
        m.close()


def test_a_model_for_stills_is_refused_for_video():
    with pytest.raises(ModelError, match="is for still pictures") as e:
        open_matter("imgly-isnet", purpose="file")
    assert "\n" not in str(e.value) and "livebg cutout --subject object" in str(e.value)


def test_auto_for_stills_is_robust_video_matting_too():
    m, why = open_matter("auto", purpose="still")
    try:
        assert m.name == "rvm" and why.startswith("picked rvm")
    finally:
        m.close()


def test_auto_without_rvm_picks_the_selfie_model_on_onnx_runtime(tmp_path, monkeypatch):
    for name in ("mediapipe_selfie.onnx", "selfie_segmentation.tflite"):
        (tmp_path / name).write_bytes((MODELS / name).read_bytes())
    monkeypatch.setenv("LIVEBG_MODEL_DIR", str(tmp_path))
    m, why = open_matter("auto", offline=True, purpose="file")
    try:
        assert m.name == "mediapipe-selfie-onnx" and isinstance(m, SelfieOnnx)
        assert "rvm: model rvm (rvm_mobilenetv3_fp32.onnx) is not present" in why
        assert "MODNet is not present" in why
        image, _ = _load(*P3M[0])
        assert m.predict(image).alpha.shape == (256, 256)
    finally:
        m.close()


def test_auto_falls_back_to_the_tflite_when_the_onnx_export_cannot_be_had(tmp_path, monkeypatch):
    """Only the .tflite here, and offline: the same model through MediaPipe, and the reason."""
    (tmp_path / "selfie_segmentation.tflite").write_bytes((MODELS / "selfie_segmentation.tflite").read_bytes())
    monkeypatch.setenv("LIVEBG_MODEL_DIR", str(tmp_path))
    m, why = open_matter("auto", offline=True)
    try:
        assert m.name == "mediapipe-selfie" and "mediapipe" in m.runtime
        assert "mediapipe-selfie-onnx: model mediapipe-selfie-onnx (mediapipe_selfie.onnx) is not present" in why
        image, _ = _load(*P3M[0])
        assert m.predict(image).alpha.shape == (256, 256)
    finally:
        m.close()
    (tmp_path / "selfie_segmentation.tflite").unlink()
    with pytest.raises(ModelError) as e:
        open_matter("auto", offline=True)
    # Nothing wrong but the missing files (a first start offline): the short way to the default model.
    assert str(e.value).startswith("the default model mediapipe-selfie-onnx is not here and downloading is off")
    assert "`livebg models import mediapipe_selfie.onnx`" in str(e.value)


def test_auto_gives_every_candidates_reason_when_they_fail_differently(tmp_path, monkeypatch):
    """A damaged default model and no fallback: each candidate's own reason, not only the last one's."""
    data = bytearray((MODELS / "mediapipe_selfie.onnx").read_bytes())
    data[len(data) // 2] ^= 1
    (tmp_path / "mediapipe_selfie.onnx").write_bytes(bytes(data))
    monkeypatch.setenv("LIVEBG_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelError) as e:
        open_matter("auto", offline=True)
    text = str(e.value)
    assert text.startswith("no model could be opened: ")
    for why in ("rvm: model rvm (rvm_mobilenetv3_fp32.onnx) is not present", "modnet: MODNet is not present",
                "mediapipe-selfie-onnx: model file", "is corrupt: sha256",
                "mediapipe-selfie: model mediapipe-selfie (selfie_segmentation.tflite) is not present"):
        assert why in text, text


def test_named_model_reason():
    m, why = open_matter("mediapipe-selfie-onnx", provider="cpu")
    try:
        assert isinstance(m, SelfieOnnx) and "as asked" in why and "CPUExecutionProvider" in why
    finally:
        m.close()


# ---------------------------------------------------------------- wrong or broken model files

@pytest.mark.parametrize("name", ["SINet_Softmax.onnx", "prisma_nchw.onnx"])
def test_wrong_interface_is_a_model_error(name):
    path = MODELS / name
    with pytest.raises(ModelError) as e:
        open_named(str(path))
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "not a model livebg can run" in msg


def test_wrong_interface_through_the_cli(tmp_path):
    frames, _ = person_frames(10, width=160, height=120)
    clip = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    r = run_livebg("process", clip, "-o", out, "--model", MODELS / "SINet_Softmax.onnx", timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("livebg: error:") and "SINet_Softmax.onnx" in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.mp4"]  # no half-written temporary left


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_corrupt_model_file_is_a_model_error(tmp_path, suffix):
    bad = tmp_path / f"x{suffix}"
    bad.write_bytes(np.random.default_rng(3).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError) as e:
        open_named(str(bad))
    assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_missing_model_file_and_unknown_name(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        open_named(str(tmp_path / "nothing.onnx"))
    with pytest.raises(ModelError, match="unknown model"):
        open_named("no-such-model")


# ---------------------------------------------------------------- frame validation

@pytest.mark.parametrize("model", sorted(MODEL_SIZES) + ["proxy"])
def test_frames_are_validated(model, matter_for):
    m = matter_for(str(PROXY) if model == "proxy" else model)
    with pytest.raises(TypeError):
        m.predict(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(TypeError):
        m.predict([[[0, 0, 0]]])
    for shape in [(64, 64), (64, 64, 4), (64, 64, 1), (0, 64, 3), (64, 0, 3)]:
        with pytest.raises(ValueError):
            m.predict(np.zeros(shape, np.uint8))
    # A valid frame still works after the refusals.
    assert m.predict(np.zeros((64, 96, 3), np.uint8)).alpha.ndim == 2


# ---------------------------------------------------------------- declared capabilities

@pytest.mark.parametrize("model", sorted(MODEL_SIZES))
def test_segmentation_models_declare_a_stateless_mask(model, matter_for):
    m = matter_for(model)
    assert m.caps == Capabilities()  # no soft alpha, no state, no foreground, fixed size
    p = m.predict(np.zeros((64, 96, 3), np.uint8))
    assert isinstance(p, Prediction) and p.foreground is None and p.state is None
