"""What refinement hands on to compositing, and the interface every refiner has.

A refiner owns everything that carries over from one frame to the next:
the model (and a second instance of it, if it uses one), the tracked crop,
the temporal smoothing and a recurrent model's state. ``reset()`` forgets
all of it at once; the live pipeline calls it whenever the picture stops
being a continuation (camera reconnected or resumed, mirror toggled, a long
gap), and a refiner resets itself when the frame size changes.

A frame's matte comes in two halves, so that ``process`` can run the model
on one frame while the previous one is finished on another thread:

- ``begin(frame)``: the model's part. Frames in order.
- ``finish(step)``: smoothing, edges: the finished :class:`Matte`. In order.
- ``learn(step, matte)``: what the next ``begin`` must know of this
  frame's finished matte (the crop to track), when ``needs_feedback``.
- ``guess(frame)``: the model's part ahead of time, before the previous
  frame's ``learn``, for ``begin(frame, ahead=...)`` to take when it still
  applies (None when the refiner cannot guess).

``refiner(frame)`` does all of it for one frame.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from livebg.matting.base import Matter


@dataclass
class Matte:
    """The matte of one frame, at the refiner's working size (the frame's aspect).

    alpha: float32 (h, w) in [0, 1].
    foreground: BGR uint8 (h, w, 3), the subject's colours where alpha is
        fractional (free of the old background), or None: the frame's own.
    """

    alpha: np.ndarray
    foreground: np.ndarray | None = None
    #: The frame the matte was made from (``frame``) scaled to the matte's size
    #: with INTER_AREA (``picture``), where the refiner made that copy anyway:
    #: the compositor's edge colours take it instead of scaling the frame again,
    #: when it composites that same frame.
    frame: np.ndarray | None = None
    picture: np.ndarray | None = None


class Refiner(Protocol):
    matter: Matter
    needs_feedback: bool
    timings: dict[str, collections.deque]

    def guess(self, frame: np.ndarray) -> Any: ...

    def begin(self, frame: np.ndarray, ahead: Any = None) -> Any: ...

    def finish(self, step: Any) -> Matte: ...

    def learn(self, step: Any, matte: Matte) -> None: ...

    def reset(self) -> None: ...

    def __call__(self, frame: np.ndarray) -> Matte: ...

    def close(self) -> None: ...


def new_timings(*names: str) -> dict[str, collections.deque]:
    """Seconds per step of the last frames, for `livebg bench`."""
    return {k: collections.deque(maxlen=2000) for k in names}
