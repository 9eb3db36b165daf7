"""The matting interface and the registry of model kinds.

A matter takes a BGR uint8 frame and returns the alpha matte for the whole
frame as float32 (h, w) in [0, 1] at the model's working resolution; the
compositor scales it to the frame. Concrete kinds register a factory here,
keyed by the manifest's ``kind``, so the command line and the manifest
cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np


class Matter(Protocol):
    name: str      # model name, e.g. "mediapipe-selfie"
    runtime: str   # what runs it, e.g. "onnxruntime CPUExecutionProvider"

    def __call__(self, bgr: np.ndarray) -> np.ndarray:
        """Alpha for the whole frame: float32 (h, w) in [0, 1]."""
        ...

    def close(self) -> None:
        ...


# kind -> factory(path, name, provider, options) -> Matter
KINDS: dict[str, Callable[..., Matter]] = {}


def register(kind: str):
    def deco(factory):
        KINDS[kind] = factory
        return factory
    return deco


def check_frame(bgr: np.ndarray) -> None:
    """Validate a frame at the matting boundary (TypeError/ValueError)."""
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8:
        raise TypeError(f"frame must be a uint8 array, got {getattr(bgr, 'dtype', type(bgr))}")
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[0] < 1 or bgr.shape[1] < 1:
        raise ValueError(f"frame must be (H, W, 3) with H, W >= 1, got {bgr.shape}")


def model_path_str(path: Path) -> str:
    return str(Path(path).resolve())
