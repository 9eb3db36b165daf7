"""Where the person is: the crop a model runs on, found from the previous matte.

The model runs on a crop around the person, so a small model sees the
person at a higher resolution and without squeezing the frame's aspect
ratio. The whole frame is looked at again regularly, and whenever the matte
touches the crop's border, so nobody entering the picture is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    def as_int(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0 = int(np.clip(round(self.x0), 0, width - 1))
        y0 = int(np.clip(round(self.y0), 0, height - 1))
        x1 = int(np.clip(round(self.x1), x0 + 1, width))
        y1 = int(np.clip(round(self.y1), y0 + 1, height))
        return x0, y0, x1, y1


class PersonTracker:
    """Chooses the crop the model sees, from the previous matte.

    Coordinates are fractions of the frame, so the tracker does not care at
    which resolution the matte is kept. ``margin`` pads the person's box on
    each side (as a fraction of its size) and the box is widened towards a
    square, the model's shape, where the frame allows. The crop has
    hysteresis: it stays exactly where it is while the person stays inside
    it and it is not much too large, because every move of the crop changes
    what the model sees and so makes the matte flicker. ``slack`` is the
    extra room given when the crop does move, so small motions fit in it.
    """

    def __init__(self, margin: float = 0.02, slack: float = 0.04, full_every: int = 30, min_size: float = 0.2,
                 max_excess: float = 1.5):
        self.margin = margin
        self.slack = slack
        self.full_every = full_every
        self.min_size = min_size
        self.max_excess = max_excess
        self.reset()

    def reset(self) -> None:
        self._box: Box | None = None
        self._since_full = 0
        self.moves = 0

    def needs_full_look(self) -> bool:
        """True when the whole frame should be searched this frame (regularly,
        or because the person reached the crop's border)."""
        self._since_full += 1
        if self._box is None or self._since_full >= self.full_every:
            self._since_full = 0
            return True
        return False

    def crop(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels of a width x height frame to run the model on."""
        if self._box is None:
            return 0, 0, width, height
        b = self._box
        return Box(b.x0 * width, b.y0 * height, b.x1 * width, b.y1 * height).as_int(width, height)

    def _target(self, rows, cols, h, w, width, height, pad) -> Box:
        y0, y1 = rows[0] / h, (rows[-1] + 1) / h
        x0, x1 = cols[0] / w, (cols[-1] + 1) / w
        bw, bh = x1 - x0, y1 - y0
        x0, x1 = x0 - bw * pad, x1 + bw * pad
        y0, y1 = y0 - bh * pad, y1 + bh * pad
        side_px = max((x1 - x0) * width, (y1 - y0) * height, self.min_size * min(width, height))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        half_w = max(min(side_px / width, 1.0) / 2, (x1 - x0) / 2)
        half_h = max(min(side_px / height, 1.0) / 2, (y1 - y0) / 2)
        x0, x1 = _shift_inside(cx - half_w, cx + half_w)
        y0, y1 = _shift_inside(cy - half_h, cy + half_h)
        return Box(x0, y0, x1, y1)

    def update(self, alpha: np.ndarray, crop: tuple[int, int, int, int], frame_size: tuple[int, int]) -> None:
        """Learn the person's box from the matte (alpha covers the whole frame)."""
        h, w = alpha.shape
        width, height = frame_size
        mask = alpha > 0.5
        rows = np.flatnonzero(mask.any(1))
        cols = np.flatnonzero(mask.any(0))
        if rows.size == 0 or mask.mean() < 0.005:
            self._box = None  # nobody (or almost nobody) in view: look at everything
            return
        need = self._target(rows, cols, h, w, width, height, self.margin)
        # If the person touches the edge of a crop that is not the frame edge,
        # they may extend beyond it: look at the whole frame next time.
        cx0, cy0, cx1, cy1 = crop
        touches = ((cx0 > 0 and cols[0] <= cx0 * w / width + 1) or (cx1 < width and cols[-1] >= cx1 * w / width - 2)
                   or (cy0 > 0 and rows[0] <= cy0 * h / height + 1) or (cy1 < height and rows[-1] >= cy1 * h / height - 2))
        if touches:
            self._since_full = self.full_every
        b = self._box
        eps = 1e-6
        inside = b is not None and (b.x0 <= need.x0 + eps and b.y0 <= need.y0 + eps
                                    and b.x1 >= need.x1 - eps and b.y1 >= need.y1 - eps)
        area = lambda q: (q.x1 - q.x0) * (q.y1 - q.y0)  # noqa: E731
        if inside and not touches and area(b) <= self.max_excess * area(need):
            return
        self._box = self._target(rows, cols, h, w, width, height, self.margin + self.slack)
        self.moves += 1


def _shift_inside(lo: float, hi: float) -> tuple[float, float]:
    """Move [lo, hi] inside [0, 1] keeping its length (clipped if longer than 1)."""
    if hi - lo >= 1.0:
        return 0.0, 1.0
    if lo < 0:
        hi, lo = hi - lo, 0.0
    if hi > 1:
        lo, hi = lo - (hi - 1), 1.0
    return max(0.0, lo), min(1.0, hi)
