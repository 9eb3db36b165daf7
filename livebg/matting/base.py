"""The matting interface: what a model says it can do, and what it returns.

A *matter* runs one model. It takes a BGR uint8 frame and returns a
:class:`Prediction` for the whole frame at the model's output size (the
refinement and the compositor scale it to the frame). What a model can do
is declared in its :class:`Capabilities`, never guessed from its class.

Recurrent models (Robust Video Matting) carry state from one frame to the
next. The matter itself holds none: ``predict(frame, state)`` takes the
state the previous frame left and returns the next one in the prediction,
so exactly one owner (the refiner of :mod:`livebg.refine`) keeps it, and
resets it when the picture stops being a continuation. ``state=None``
starts afresh.

Concrete kinds are listed in :data:`KINDS` by the manifest's ``kind``
(imported only when opened), so the manifest, the command line and the
runners cannot drift apart.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

#: Manifest kind -> "module:Class" of the runner, imported on first use.
KINDS: dict[str, str] = {
    "onnx-selfie": "livebg.matting.selfie:SelfieOnnx",
    "mediapipe-tflite": "livebg.matting.mediapipe_selfie:MediaPipeSelfie",
    "onnx-modnet": "livebg.matting.modnet:ModNet",
    "onnx-rvm": "livebg.matting.rvm:Rvm",
    "onnx-isnet": "livebg.matting.isnet:IsNet",
}


def runner(kind: str):
    """The class that runs ``kind`` (KeyError for an unknown kind)."""
    module, name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Capabilities:
    """What a model does, as its runner declares it.

    soft_alpha: a true matte, with fractional alpha at hair (MODNet, RVM),
        rather than a segmentation model's confidence map (the selfie
        models), which refinement treats differently.
    recurrent: carries state from frame to frame (Prediction.state).
    foreground: predicts the foreground colour of semi-transparent pixels.
    resizable: takes any input size; ``Matter.side`` may change between frames.
    video: fast enough for video (live and ``process``); False for a model
        meant for still pictures only (seconds a picture).
    deferred: ``predict(frame, state, defer=True)`` may leave the full-size
        step undone (alpha None), to be done by ``finish(prediction,
        foreground)`` on any thread: the model's thread then only runs the
        network (RVM: its guided refiner's last step, 2 ms of numba at 720p).
    """

    soft_alpha: bool = False
    recurrent: bool = False
    foreground: bool = False
    resizable: bool = False
    video: bool = True
    deferred: bool = False


@dataclass
class Prediction:
    """A model's answer for one frame.

    alpha: float32 (h, w) in [0, 1], the model's output size, frame aspect.
    foreground: uint8 BGR (h, w, 3) colours of the subject where alpha is
        fractional (free of the old background), or None.
    state: the recurrent state after this frame (None for stateless models).
    coarse: a deferred prediction's unfinished part (alpha and foreground
        are None until the model's ``finish`` makes them); the model's own.
    """

    alpha: "np.ndarray"
    foreground: "np.ndarray | None" = None
    state: Any = None
    coarse: Any = None


class Matter(Protocol):
    name: str                 # the manifest name, or the model file's path as given
    runtime: str              # what runs it, e.g. "onnxruntime CPUExecutionProvider"
    caps: Capabilities
    input_size: tuple[int, int] | None  # (h, w) the network needs; None when resizable
    side: int                 # for resizable models: the longer side of the input, in pixels
    ladder: tuple[int, ...]   # for resizable models: the sides it may run at live, largest first

    def predict(self, bgr: "np.ndarray", state: Any = None) -> Prediction:
        """The model on a BGR uint8 frame (validated by check_frame). A model
        whose caps say ``deferred`` also takes ``defer=True`` and has
        ``finish(prediction, foreground) -> Prediction``, which makes the
        alpha (and, asked, the foreground) of a deferred prediction."""
        ...

    def close(self) -> None:
        ...


def check_frame(bgr) -> None:
    """Validate a frame at the matting boundary (TypeError/ValueError)."""
    import numpy as np

    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8:
        raise TypeError(f"frame must be a uint8 array, got {getattr(bgr, 'dtype', type(bgr))}")
    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.shape[0] < 1 or bgr.shape[1] < 1:
        raise ValueError(f"frame must be (H, W, 3) with H, W >= 1, got {bgr.shape}")
