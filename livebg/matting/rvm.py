"""Robust Video Matting (Lin et al., WACV 2022) through ONNX Runtime.

A true matting model with a memory: a recurrent network that carries four
feature maps (r1..r4) from one frame to the next, and predicts the alpha and
the subject's colour (``fgr``: decontaminated, free of the old background).
Inside, the frame is scaled by ``downsample_ratio`` for the network's base
and the result brought back to the input size by its own guided-filter
refiner; its authors advise a base of about 256-512 px (0.375 for 720p
portraits, 0.25 for 1080p).

The state belongs to whoever calls :meth:`Rvm.predict` (livebg's
recurrent refiner, :mod:`livebg.refine.recurrent`): this object holds
none, so no stray call can corrupt it.

The release graph is run without its full-size first and last steps
(:mod:`livebg.matting.rvm_graph`): numba does them
(:mod:`livebg.matting.rvm_kernel`), to the same numbers, and
``predict(..., defer=True)`` leaves the last one to :meth:`Rvm.finish`, so
the thread that finishes the frame does it, not the model's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.matting import rvm_kernel
from livebg.matting.base import Capabilities, Prediction, check_frame
from livebg.matting.providers import check_interface, open_session
from livebg.matting.derived import open_derived
from livebg.matting.rvm_graph import cut_model

_STATE = ("r1i", "r2i", "r3i", "r4i")
_OUTPUTS = ["fgr", "pha", "r1o", "r2o", "r3o", "r4o"]


def initial_state() -> tuple[np.ndarray, ...]:
    """The state a first frame starts from (what the authors feed)."""
    zero = np.zeros((1, 1, 1, 1), np.float32)
    return zero, zero, zero, zero


class Rvm:
    """The MobileNetV3 RVM release (rvm_mobilenetv3_fp32.onnx).

    side: the longer side of the picture the model is given (a larger frame
    is scaled down to it); base: the longer side of the network's internal
    picture, so ``downsample_ratio = min(1, base / side)``. For files the
    manifest's ref_size, 1280: a 720p frame as it is, at the authors' 0.375
    (the network sees 480x270, its own refiner works at full size). 640 (the
    same 480x270 inside, the refiner at 640x360) was tried for speed: the
    whole `livebg process` command went from 1.15x to 1.49x the plain loop's
    frame rate (before the graph was cut), and the tuning clips measured the same, but the first
    held-out clips of bench/quality.py measured 5-10% worse MAD; files are
    where livebg gives the best matte it has, so they keep 1280. Both may change
    between frames (the live ladder lowers ``side``); a change of size makes
    the state meaningless, and the refiner resets it.
    """

    caps = Capabilities(soft_alpha=True, recurrent=True, foreground=True, resizable=True, deferred=True)
    input_size = None
    #: Input sizes (longer side) it may run at live, largest first.
    ladder = (640, 576, 512, 448, 384, 320, 256)

    def __init__(self, path: Path, name: str = "rvm", provider: str = "auto", ref_size: int = 1280,
                 base: int = 480, threads: int | None = None, **_):
        self.name = name
        self.side = int(ref_size)
        self.base = int(base)
        self._small = self._coefficients = None  # the cut graph's tensor names (None: the graph runs whole)
        # The cached cut; one that does not load (damaged) is cut again, once.
        self.session, used = open_derived(lambda fresh: cut_model(path, fresh=fresh), provider, threads)
        if self.session is not None:
            self._small = next(i.name for i in self.session.get_inputs() if i.name not in _STATE)
            self._coefficients = [o.name for o in self.session.get_outputs() if o.name not in _OUTPUTS]
            rvm_kernel.warmup()  # compiled once per machine, then loaded from numba's cache
        else:  # the release file as it is
            self.session, used = open_session(path, provider, threads)
            check_interface(self.session, path, {"src": 4, "r1i": 4, "r2i": 4, "r3i": 4, "r4i": 4,
                                                 "downsample_ratio": 1}, tuple(_OUTPUTS))
        self.provider = used
        self.runtime = f"onnxruntime {used}"

    def input_shape(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the picture the model is given for a height x width frame."""
        longer = max(height, width)
        if longer <= self.side:
            return height, width
        s = self.side / longer
        return max(1, round(height * s)), max(1, round(width * s))

    def ratio(self, height: int, width: int) -> float:
        return min(1.0, self.base / max(height, width))

    def predict(self, bgr: np.ndarray, state=None, defer: bool = False) -> Prediction:
        """alpha float32 and foreground BGR uint8 at the model's input size, and the next state.

        defer: leave the full-size step to :meth:`finish` (the Prediction's alpha
        and foreground are None until then; its state is final)."""
        check_frame(bgr)
        h, w = self.input_shape(*bgr.shape[:2])
        small = bgr if (h, w) == bgr.shape[:2] else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        feeds = dict(zip(_STATE, state if state is not None else initial_state()))
        ratio = self.ratio(h, w)
        if self._small is None:
            feeds["src"] = cv2.dnn.blobFromImage(small, scalefactor=1.0 / 255.0, swapRB=True)
            feeds["downsample_ratio"] = np.array([ratio], np.float32)
            fgr, pha, *rec = self.session.run(_OUTPUTS, feeds)
            alpha = np.clip(pha[0, 0], 0.0, 1.0).astype(np.float32, copy=False)
            # RGB planes in [0, 1] -> interleaved BGR uint8, rounded.
            fg = cv2.merge([fgr[0, 2], fgr[0, 1], fgr[0, 0]])
            fg = cv2.convertScaleAbs(fg, alpha=255.0)
            return Prediction(alpha, fg, tuple(rec))
        feeds[self._small] = rvm_kernel.network_input(small, *rvm_kernel.base_size(h, w, ratio), ratio)
        a, b, *rec = self.session.run([*self._coefficients, *_OUTPUTS[2:]], feeds)
        p = Prediction(None, None, tuple(rec), coarse=(small, a[0], b[0]))
        return p if defer else self.finish(p)

    def finish(self, p: Prediction, foreground: bool = True) -> Prediction:
        """A deferred prediction made whole: the alpha and, with ``foreground``,
        the subject's colours (a finished prediction is returned as it is)."""
        if p.alpha is not None:
            return p
        small, a, b = p.coarse
        alpha, fg = rvm_kernel.full_size(small, a, b, foreground)
        return Prediction(alpha, fg, p.state)

    def close(self) -> None:
        self.session = None
