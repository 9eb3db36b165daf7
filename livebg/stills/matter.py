"""The best matting livebg has for still pictures (no frame budget here)."""

from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from livebg.refine.edges import drop_small_regions
from livebg.refine.guided import guided_upsample
from livebg.stills.solver import matting_refine


def person_box(alpha: np.ndarray, threshold: float = 0.5):
    """(x0, y0, x1, y1) around the pixels above ``threshold``, or None."""
    ys, xs = np.nonzero(alpha > threshold)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def square_around(box, width: int, height: int, pad: float = 0.05):
    """A square around ``box``, grown by ``pad`` of its side on every side, cut to the picture."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * pad)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    X0, Y0 = int(math.floor(cx - side / 2)), int(math.floor(cy - side / 2))
    X1, Y1 = int(math.ceil(cx + side / 2)), int(math.ceil(cy + side / 2))
    return max(0, X0), max(0, Y0), min(width, X1), min(height, Y1)


def _resize_to(x: np.ndarray, width: int, height: int) -> np.ndarray:
    if x.shape[1] == width and x.shape[0] == height:
        return x
    interp = cv2.INTER_AREA if width < x.shape[1] and height < x.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(x, (width, height), interpolation=interp)


class StillMatter:
    """The best matting for stills: model choice, two passes, refinement.

    ``model``: "auto" (MODNet when its file is present, else the MediaPipe
    selfie model), or a model name or file as for the live path. The model
    runs under a lock, so one StillMatter can serve several threads.
    """

    #: Longest side of the working picture for the edge solve (then guided upsampling).
    WORK_SIZE = 1024
    #: Paddings (of the person's box, on every side) of the square crops of the second pass.
    CROP_PADS = (0.05, 0.10, 0.15)
    #: Standard deviations of the views' disagreement taken off the alpha prior (and added
    #: to the optimistic estimate that decides the sure background).
    DOUBT = 1.0

    def __init__(self, model: str = "auto", provider: str = "auto", offline: bool = False):
        from livebg.matting import open_matter

        self._matter, self.why = open_matter(model or "auto", provider, offline, purpose="still")
        self.name = self._matter.name
        # A true matte (MODNet) needs no segmentation clean-up: one view, no doubt.
        self.is_matting = self._matter.caps.soft_alpha
        self._lock = threading.Lock()

    def model_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The model's own output for the whole picture, at the model's size."""
        with self._lock:
            return self._matter.predict(np.ascontiguousarray(bgr)).alpha

    def raw_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The model on the whole picture, scaled bilinearly to its size (no refinement)."""
        h, w = bgr.shape[:2]
        a = self.model_alpha(bgr)
        return np.clip(cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def _crop_boxes(self, box, scale: float, width: int, height: int) -> list:
        """Full-size squares around ``box`` (working-size pixels), one per padding; None for the
        whole picture, where a square would cover nearly all of it anyway."""
        fx0, fy0, fx1, fy1 = (int(v / scale) for v in box)
        person = (fx0, fy0, min(width, fx1 + 1), min(height, fy1 + 1))
        pads = self.CROP_PADS if not self.is_matting else self.CROP_PADS[:1]
        boxes = []
        for pad in pads:
            X0, Y0, X1, Y1 = square_around(person, width, height, pad)
            boxes.append((X0, Y0, X1, Y1) if (X1 - X0) * (Y1 - Y0) < 0.9 * width * height else None)
        return boxes

    def views(self, bgr: np.ndarray, box, scale: float, w: int, h: int) -> np.ndarray:
        """The model's alpha for each view of the person, at the working size (w, h): float32 (n, h, w).

        A view is a square crop around ``box`` (or the whole picture, see
        :meth:`_crop_boxes`), as it is and mirrored (not for a matting
        model: one crop, as it is). Outside its crop a view is 0."""
        H, W = bgr.shape[:2]
        mirror = not self.is_matting
        done: dict = {}
        out = []
        for crop in self._crop_boxes(box, scale, W, H):
            if crop not in done:
                X0, Y0, X1, Y1 = crop if crop is not None else (0, 0, W, H)
                x0, y0 = int(round(X0 * scale)), int(round(Y0 * scale))
                x1, y1 = max(x0 + 1, int(round(X1 * scale))), max(y0 + 1, int(round(Y1 * scale)))
                part = np.ascontiguousarray(bgr[Y0:Y1, X0:X1])
                found = [self.model_alpha(part)]
                if mirror:
                    found.append(self.model_alpha(np.ascontiguousarray(part[:, ::-1]))[:, ::-1])
                placed = []
                for a in found:
                    full = np.zeros((h, w), np.float32)
                    full[y0:y1, x0:x1] = _resize_to(np.ascontiguousarray(a), x1 - x0, y1 - y0)
                    placed.append(full)
                done[crop] = placed
            out.extend(done[crop])
        return np.clip(np.stack(out), 0.0, 1.0)

    #: A recurrent video matting model (RVM) on a still: the picture's longer side, the
    #: network's internal size, and how many times the picture is run so the memory
    #: settles; the picture and its mirror image are two such "videos", averaged.
    #: Measured on the 15 portraits against other sizes, runs and no mirror
    #: (python bench/quality_stills.py; the README's stills table).
    VIDEO_SIDE, VIDEO_BASE, VIDEO_RUNS = 768, 512, 8

    def _video_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """A recurrent model on a still: a short video of the picture (and of its
        mirror image), the state settling over the runs; then guided upsampling."""
        m = self._matter
        H, W = bgr.shape[:2]
        found = []
        with self._lock:
            m.side, m.base = self.VIDEO_SIDE, self.VIDEO_BASE
            for mirrored in (False, True):
                x = np.ascontiguousarray(bgr[:, ::-1]) if mirrored else bgr
                state = None
                for _ in range(self.VIDEO_RUNS):
                    p = m.predict(x, state)
                    state = p.state
                found.append(p.alpha[:, ::-1] if mirrored else p.alpha)
        a = np.ascontiguousarray(np.mean(found, axis=0, dtype=np.float32))
        if a.shape == (H, W):
            return a
        small = _resize_to(bgr, a.shape[1], a.shape[0])
        return guided_upsample(a, small, bgr)

    def alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The refined alpha for the whole picture: float32 (H, W) in [0, 1]."""
        if self._matter.caps.recurrent:
            return self._video_alpha(bgr)
        H, W = bgr.shape[:2]
        scale = min(1.0, self.WORK_SIZE / max(H, W))
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        small = _resize_to(bgr, w, h)
        box = person_box(_resize_to(self.model_alpha(bgr), w, h))
        if box is None:
            return np.zeros((H, W), np.float32)  # nobody here
        # Second pass: views of a square around the person, in full-size pixels.
        views = self.views(bgr, box, scale, w, h)
        if self.is_matting:
            coarse = views.mean(axis=0)
        else:
            mean, spread = views.mean(axis=0), views.std(axis=0)
            # Stray blobs far smaller than the main subject (and their soft fringe): false detections.
            low = drop_small_regions(np.clip(mean - self.DOUBT * spread, 0.0, 1.0), 0.1, level=0.5, halo=0.01)
            high = np.clip(mean + self.DOUBT * spread, 0.0, 1.0)
            coarse = matting_refine(small, low, upper=high)
        if scale == 1.0:
            return coarse.astype(np.float32, copy=False)
        return guided_upsample(coarse, small, bgr)

    def close(self) -> None:
        self._matter.close()
