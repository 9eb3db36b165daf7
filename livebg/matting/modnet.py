"""MODNet photographic portrait matting through ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.matting.base import Capabilities, Prediction, check_frame
from livebg.matting.providers import check_interface, open_session


def modnet_input_size(height: int, width: int, side: int = 512, multiple: int = 32) -> tuple[int, int]:
    """MODNet's input size for a frame: the longer side scaled to ``side``,
    both sides rounded down to a multiple of ``multiple`` (at least one multiple)."""
    longer = max(height, width)
    # Integer arithmetic: 512 / 49 * 49 is 511.99... in floating point.
    rh = max(multiple, height * side // longer // multiple * multiple)
    rw = max(multiple, width * side // longer // multiple * multiple)
    return rh, rw


def modnet_preprocess(bgr: np.ndarray, side: int = 512) -> np.ndarray:
    """BGR uint8 frame -> MODNet's input: float32 [1, 3, H, W], RGB, (x - 127.5) / 127.5."""
    rh, rw = modnet_input_size(bgr.shape[0], bgr.shape[1], side)
    interp = cv2.INTER_AREA if rh < bgr.shape[0] else cv2.INTER_LINEAR
    small = cv2.resize(bgr, (rw, rh), interpolation=interp)
    return cv2.dnn.blobFromImage(small, scalefactor=1.0 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=True)


class ModNet:
    """MODNet (photographic portrait matting): a real alpha matte, not a mask.
    Any input size (sides multiples of 32): ``side`` is the longer one, 512 by
    default (the authors' reference), stepped down live when the machine is slow."""

    caps = Capabilities(soft_alpha=True, resizable=True)
    input_size = None
    #: Input sizes (longer side) it may run at live, largest first.
    ladder = (512, 448, 384, 320, 256, 224, 192, 160)

    def __init__(self, path: Path, name: str = "modnet", provider: str = "auto", ref_size: int = 512,
                 threads: int | None = None, **_):
        self.name = name
        self.side = int(ref_size)
        self.session, used = open_session(path, provider, threads)
        check_interface(self.session, path, {"input": 4}, ("output",))
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def predict(self, bgr: np.ndarray, state=None) -> Prediction:
        check_frame(bgr)
        x = modnet_preprocess(bgr, self.side)
        (out,) = self.session.run(["output"], {"input": x})
        return Prediction(np.clip(out[0, 0], 0.0, 1.0).astype(np.float32, copy=False))

    def close(self) -> None:
        self.session = None
