"""Frames, the latest-frame slot between live stages, and geometry helpers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Frame:
    """One picture on its way through the pipeline.

    image: BGR uint8 (H, W, 3). index: position in the source (0-based).
    t_capture: time.monotonic() seconds when the source produced it.
    """

    image: np.ndarray
    index: int
    t_capture: float = field(default_factory=time.monotonic)


class LatestSlot:
    """Holds only the newest item: a live stage never queues up latency.

    put() replaces an item nobody took and counts it as dropped; get() waits
    for an item newer than the last one taken.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._fresh = False
        self.dropped = 0

    def put(self, item) -> None:
        with self._cond:
            if self._fresh:
                self.dropped += 1
            self._item = item
            self._fresh = True
            self._cond.notify_all()

    def get(self, timeout: float | None = None):
        """The newest unseen item, or None after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._fresh, timeout):
                return None
            self._fresh = False
            return self._item

    def wait_newer(self, item, timeout: float):
        """The newest item once it is not ``item`` (waiting up to ``timeout`` s), else ``item``."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not item, timeout)
            return self._item

    def peek(self):
        """The newest item, seen or not (None before the first)."""
        with self._cond:
            return self._item

    def wake(self) -> None:
        """Wake waiters (used at shutdown)."""
        with self._cond:
            self._cond.notify_all()


def cover_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``image`` to cover width x height, keeping its aspect, and centre-crop."""
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (sw, sh), interpolation=interp)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])
