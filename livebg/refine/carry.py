"""Carrying a matte to a later frame along the picture's motion.

Live, a slow model mattes every second or third frame, and every frame in
between is composited with the newest matte: computed on frame k and laid
over frame k + n, it trails behind a moving person (a ghost of the old room
on one side, a cut on the other). Here the matte is moved to the frame it
is laid over, by the dense optical flow between the two frames (DIS, on a
small grey copy: about a millisecond), instead.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livebg.refine.base import Matte


def thumbnail(frame: np.ndarray, height: int = 90) -> np.ndarray:
    """The small grey copy of a frame that motion is measured on."""
    h, w = frame.shape[:2]
    tw = max(8, round(w * height / h))
    return cv2.cvtColor(cv2.resize(frame, (tw, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)


class MatteCarrier:
    """Moves a matte from the frame it was computed on to another frame.

    ``carry(matte, source_thumb, target_frame)``: the matte (alpha and
    foreground) warped by the flow from the target frame back to the source
    frame, so each pixel of the target takes the matte of where it was. One
    instance per thread (the flow object keeps work buffers).
    """

    def __init__(self, height: int = 90):
        self.height = height
        self._local = threading.local()

    def _dis(self):
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        return dis

    def carry(self, matte: Matte, source_thumb: np.ndarray, target: np.ndarray) -> Matte:
        thumb = thumbnail(target, self.height)
        if thumb.shape != source_thumb.shape:
            return matte
        flow = self._dis().calc(thumb, source_thumb, None)  # for each target pixel: where it was in the source
        h, w = matte.alpha.shape
        th, tw = thumb.shape
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= np.float32(w / tw)
        flow[..., 1] *= np.float32(h / th)
        grid = _grid(h, w)
        map_x = grid[0] + flow[..., 0]
        map_y = grid[1] + flow[..., 1]
        alpha = cv2.remap(matte.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fg = None
        if matte.foreground is not None:
            fg = cv2.remap(matte.foreground, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return Matte(alpha, fg)


_grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    g = _grids.get((h, w))
    if g is None:
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        g = _grids[(h, w)] = (gx, gy)
    return g
