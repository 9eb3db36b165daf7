"""The refiner for recurrent matting models (Robust Video Matting).

The model's memory is only right while the picture is a continuation of
the frames it has seen. This refiner is its one owner:

- the state is carried from frame to frame, and only the frame itself is
  ever run through the model: no mirror view, no speculative crop, no
  second instance (each would advance or corrupt the memory);
- it is dropped, and the model starts afresh, when the picture stops being
  a continuation: ``reset()`` (camera reconnected or resumed, mirror
  toggled, a long gap: the live pipeline calls it), a new frame size, a
  change of the model's input size, and a scene cut it sees itself (the
  whole picture changed at once);
- a fresh start runs the first frame several times, so the memory settles
  before the first matte is used (the model's first frames are its worst).

For a model that can defer its full-size step (``caps.deferred``: RVM),
``begin`` runs only the network and ``finish`` makes the matte, so in
``livebg process`` the model's thread goes on to the next frame meanwhile.
The subject's colours are made only when ``foreground`` is set: livebg's
compositing takes the edge's colours from its own step
(:mod:`livebg.refine.decontaminate`), which leaks less of the old room
than RVM's ``fgr`` (bench/fringe.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from livebg.matting.base import Matter, Prediction
from livebg.refine.base import Matte, new_timings


class CutDetector:
    """Says when the picture changed all at once (a cut to another scene, a
    camera switch), from a small grey copy of each frame: the mean absolute
    change, and how much of the picture changed a lot."""

    def __init__(self, threshold: float = 0.12, share: float = 0.6, size: tuple[int, int] = (64, 36)):
        self.threshold = threshold  # mean absolute change, grey levels / 255
        self.share = share          # ... and at least this share of the pixels changed by more than 0.1
        self.size = size
        self._last: np.ndarray | None = None

    def reset(self) -> None:
        self._last = None

    def __call__(self, frame: np.ndarray) -> bool:
        grey = cv2.cvtColor(cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        grey = grey.astype(np.float32) * np.float32(1.0 / 255.0)
        last, self._last = self._last, grey
        if last is None:
            return False
        diff = np.abs(grey - last)
        return bool(diff.mean() > self.threshold and (diff > 0.1).mean() > self.share)


@dataclass
class RecurrentStep:
    frame: np.ndarray
    prediction: Prediction  # deferred (alpha None) when the model can defer
    model_s: float
    fresh: bool  # the model started afresh on this frame


class RecurrentRefiner:
    """Runs a recurrent matter on every frame, owning its state.

    warm_start: how many times a fresh start runs its first frame.
    cut: the scene-cut detector (None: never reset on its own).
    """

    needs_feedback = False  # the next frame's model call needs nothing from this frame's finish()

    def __init__(self, matter: Matter, warm_start: int = 3, cut: CutDetector | None = None,
                 foreground: bool = False):
        if not matter.caps.recurrent:
            raise ValueError(f"{matter.name} is not recurrent: use livebg.refine.for_matter")
        self.matter = matter
        self.warm_start = max(1, int(warm_start))
        self.cut = cut if cut is not None else CutDetector()
        self.foreground = foreground  # make the model's foreground colours too (Matte.foreground)
        self._state = None
        self._key: tuple | None = None  # frame size and model input size the state belongs to
        self.resets = 0                 # fresh starts, for reports and tests
        self.timings = new_timings("model", "finish")

    def reset(self) -> None:
        """Forget the model's memory: the next frame starts afresh."""
        self._state = None
        self.cut.reset()

    def guess(self, frame: np.ndarray):
        return None  # nothing can be run ahead without the state

    def begin(self, frame: np.ndarray, ahead=None) -> RecurrentStep:
        key = (frame.shape[:2], self.matter.side)
        cut = self.cut(frame)
        if key != self._key or cut:
            self._key = key
            self._state = None
        t0 = time.perf_counter()
        fresh = self._state is None
        runs = self.warm_start if fresh else 1
        state = self._state
        for _ in range(runs):
            p = self.matter.predict(frame, state, defer=True) if self.matter.caps.deferred \
                else self.matter.predict(frame, state)
            state = p.state
        self._state = state
        if fresh:
            self.resets += 1
        return RecurrentStep(frame, p, time.perf_counter() - t0, fresh)

    def finish(self, step: RecurrentStep) -> Matte:
        t0 = time.perf_counter()
        p = step.prediction
        if p.alpha is None:
            p = self.matter.finish(p, self.foreground)
        self.timings["model"].append(step.model_s)
        self.timings["finish"].append(time.perf_counter() - t0)
        return Matte(p.alpha, p.foreground)

    def learn(self, step: RecurrentStep, matte: Matte) -> None:
        pass

    def __call__(self, frame: np.ndarray) -> Matte:
        return self.finish(self.begin(frame))

    def close(self) -> None:
        self.matter.close()
