"""IMG.LY's general-subject background-removal model (an IS-Net) through ONNX Runtime.

IS-Net is the network of Qin et al., "Highly Accurate Dichotomous Image
Segmentation" (ECCV 2022); IMG.LY trained it for any subject (people,
products, animals) and publish it, AGPL-3.0, in their npm package
@imgly/background-removal-data. It takes one fixed size, 1024x1024 RGB
scaled as (x - 128) / 256, and gives a soft alpha (already in [0, 1]) at
that size, besides side outputs livebg does not ask for.

It is far heavier than the selfie models (seconds a picture on a laptop
CPU), so livebg uses it for still pictures only (``livebg cutout
--subject object``), never for the live path.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.matting.base import Capabilities, Prediction, check_frame
from livebg.matting.providers import check_interface, open_session


def isnet_input(bgr: np.ndarray, size: tuple[int, int] = (1024, 1024)) -> np.ndarray:
    """BGR uint8 picture -> the network's input: float32 [1, 3, h, w], RGB, (x - 128) / 256.

    The whole picture is squeezed to the input size (as IMG.LY's own library
    does): nothing is cut off, and the alpha is scaled back the same way."""
    h, w = size
    if bgr.shape[:2] != (h, w):
        interp = cv2.INTER_AREA if bgr.shape[0] > h and bgr.shape[1] > w else cv2.INTER_LINEAR
        bgr = cv2.resize(bgr, (w, h), interpolation=interp)
    return cv2.dnn.blobFromImage(bgr, scalefactor=1.0 / 256.0, mean=(128.0, 128.0, 128.0), swapRB=True)


class IsNet:
    """General-subject matting: whatever stands out as the subject, not only a person.

    Fixed input size (the manifest's ``input_size``, 1024x1024); the alpha
    comes back at that size, squeezed like the input."""

    # Soft edges (a matte rather than a person mask), no state, no foreground colours; stills only.
    caps = Capabilities(soft_alpha=True, video=False)

    def __init__(self, path: Path, name: str = "imgly-isnet", provider: str = "auto",
                 input_size: tuple[int, int] = (1024, 1024), threads: int | None = None, **_):
        self.name = name
        # No memory arena: the activations at 1024x1024 (0.9 GB) are given back after each
        # picture, for the full-size steps that follow (bench/cutout_speed.py).
        self.session, used = open_session(path, provider, threads, arena=False)
        check_interface(self.session, path, {"input": 4}, ("output",))
        shape = self.session.get_inputs()[0].shape
        h, w = shape[2], shape[3]
        self.input_size = (h if isinstance(h, int) else int(input_size[0]),
                           w if isinstance(w, int) else int(input_size[1]))
        self.side = max(self.input_size)
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def predict(self, bgr: np.ndarray, state=None) -> Prediction:
        check_frame(bgr)
        (out,) = self.session.run(["output"], {"input": isnet_input(bgr, self.input_size)})
        return Prediction(np.clip(out[0, 0], 0.0, 1.0).astype(np.float32, copy=False))

    def close(self) -> None:
        self.session = None
