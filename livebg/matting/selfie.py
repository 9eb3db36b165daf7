"""MediaPipe's square selfie segmentation model as ONNX, through ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.errors import ModelError
from livebg.matting.base import Capabilities, Prediction, check_frame
from livebg.matting.derived import derived_model, open_derived, selfie_fixed
from livebg.matting.providers import check_interface, open_session


class SelfieOnnx:
    """The square MediaPipe selfie model exported to ONNX (256x256, RGB in [0, 1]).

    The same network as the .tflite MediaPipe runs (its masks agree to 1e-5);
    through ONNX Runtime a call costs about two thirds of the CPU it costs
    through MediaPipe's Tasks graph, and start-up skips MediaPipe's import: so
    it is the default light model.

    One ONNX Runtime thread per call by default: the network is small, so
    handing each call to a worker pool costs more CPU than it saves, and
    livebg runs it beside other busy threads (and, for the mirror image, on
    a second instance at the same time)."""

    caps = Capabilities()  # a segmentation mask: stateless, no foreground, fixed size

    def __init__(self, path: Path, name: str = "mediapipe-selfie-onnx", provider: str = "auto",
                 threads: int | None = 1, **_):
        self.name = name
        # Its upsampling by a constant scale (livebg.matting.derived: the same
        # mask to 1e-5, 3-10% less CPU a call here in three runs of `python
        # bench/speed.py --only parts`), else the file as it is.
        self.session, used = open_derived(
            lambda fresh: derived_model(path, "selfie-scales", 1, selfie_fixed, fresh), provider, threads)
        try:
            if self.session is not None:
                check_interface(self.session, path, {"pixel_values": 4}, ("alphas",))
        except ModelError:
            self.session = None
        if self.session is None:
            self.session, used = open_session(path, provider, threads)
            check_interface(self.session, path, {"pixel_values": 4}, ("alphas",))
        shape = self.session.get_inputs()[0].shape
        h, w = shape[2], shape[3]
        self.input_size = (h if isinstance(h, int) else 256, w if isinstance(w, int) else 256)
        self.side = max(self.input_size)
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def predict(self, bgr: np.ndarray, state=None) -> Prediction:
        check_frame(bgr)
        h, w = self.input_size
        small = bgr if bgr.shape[:2] == (h, w) else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        # BGR -> RGB, to float in [0, 1] and to NCHW in one pass.
        x = cv2.dnn.blobFromImage(small, scalefactor=1.0 / 255.0, swapRB=True)
        (out,) = self.session.run(["alphas"], {"pixel_values": x})
        return Prediction(np.clip(out[0, 0], 0.0, 1.0).astype(np.float32, copy=False))

    def close(self) -> None:
        self.session = None
