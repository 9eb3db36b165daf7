"""ONNX matting models through ONNX Runtime: MODNet and the selfie model as ONNX."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.errors import DeviceError, ModelError
from livebg.matting.base import check_frame, model_path_str, register
from livebg.matting.providers import create_session


def _open_session(path: Path, provider: str, threads: int | None = None):
    try:
        return create_session(model_path_str(path), provider, threads)
    except (ModelError, DeviceError):
        raise
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load {path} as an ONNX model: {first[:300]}") from None


def modnet_input_size(height: int, width: int, ref_size: int = 512, multiple: int = 32) -> tuple[int, int]:
    """MODNet's input size for a frame: the longer side scaled to ``ref_size``,
    both sides rounded down to a multiple of ``multiple`` (at least one multiple)."""
    longer = max(height, width)
    # Integer arithmetic: 512 / 49 * 49 is 511.99... in floating point.
    rh = max(multiple, height * ref_size // longer // multiple * multiple)
    rw = max(multiple, width * ref_size // longer // multiple * multiple)
    return rh, rw


def modnet_preprocess(bgr: np.ndarray, ref_size: int = 512) -> np.ndarray:
    """BGR uint8 frame -> MODNet's input: float32 [1, 3, H, W], RGB, (x - 127.5) / 127.5."""
    rh, rw = modnet_input_size(bgr.shape[0], bgr.shape[1], ref_size)
    interp = cv2.INTER_AREA if rh < bgr.shape[0] else cv2.INTER_LINEAR
    small = cv2.resize(bgr, (rw, rh), interpolation=interp)
    rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32)
    rgb = (rgb - 127.5) / 127.5
    return np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])


def _check_interface(session, path, inputs: dict, outputs: tuple[str, ...]):
    got_in = {i.name: i.shape for i in session.get_inputs()}
    got_out = tuple(o.name for o in session.get_outputs())
    for name, rank in inputs.items():
        if name not in got_in or len(got_in[name]) != rank:
            raise ModelError(
                f"{path} does not have the expected interface: wants input '{name}' of rank {rank}, "
                f"has inputs {sorted(got_in)}"
            )
    for name in outputs:
        if name not in got_out:
            raise ModelError(f"{path} does not have the expected interface: wants output '{name}', has {list(got_out)}")


@register("onnx-modnet")
class ModNet:
    """MODNet (photographic portrait matting): a real alpha matte, not a mask."""

    is_matting = True

    def __init__(self, path: Path, name: str = "modnet", provider: str = "auto", ref_size: int = 512,
                 threads: int | None = None, **_):
        self.name = name
        self.ref_size = int(ref_size)
        self.session, used = _open_session(path, provider, threads)
        _check_interface(self.session, path, {"input": 4}, ("output",))
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        check_frame(bgr)
        x = modnet_preprocess(bgr, self.ref_size)
        (out,) = self.session.run(["output"], {"input": x})
        return np.clip(out[0, 0], 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        self.session = None


@register("onnx-selfie")
class SelfieOnnx:
    """The square MediaPipe selfie model exported to ONNX (256x256, RGB in [0, 1]).

    The same network as the .tflite MediaPipe runs (its masks agree to 1e-5);
    through ONNX Runtime a call costs about two thirds of the CPU it costs
    through MediaPipe's Tasks graph, and start-up skips MediaPipe's import: so
    it is the default model (see livebg.matting.DEFAULT_MODELS).

    One ONNX Runtime thread per call by default: the network is small, so
    handing each call to a worker pool costs more CPU than it saves, and
    livebg runs it beside other busy threads (and, for the mirror image, on
    a second instance at the same time)."""

    def __init__(self, path: Path, name: str = "mediapipe-selfie-onnx", provider: str = "auto",
                 threads: int | None = 1, **_):
        self.name = name
        self.session, used = _open_session(path, provider, threads)
        _check_interface(self.session, path, {"pixel_values": 4}, ("alphas",))
        shape = self.session.get_inputs()[0].shape
        h, w = shape[2], shape[3]
        self.input_size = (h if isinstance(h, int) else 256, w if isinstance(w, int) else 256)
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        check_frame(bgr)
        h, w = self.input_size
        small = cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        # BGR -> RGB, to float in [0, 1] and to NCHW in one pass.
        x = cv2.dnn.blobFromImage(small, scalefactor=1.0 / 255.0, swapRB=True)
        (out,) = self.session.run(["alphas"], {"pixel_values": x})
        return np.clip(out[0, 0], 0.0, 1.0).astype(np.float32, copy=False)

    def close(self) -> None:
        self.session = None
