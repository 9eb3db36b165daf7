"""The refiner for stateless models (the selfie models, MODNet): the model on a
tracked crop, the edge refined, the matte smoothed over time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from livebg.matting.base import Matter
from livebg.refine.base import Matte, new_timings
from livebg.refine.edges import contrast, drop_small_regions, refine_edge
from livebg.refine.smoothing import TemporalSmoother
from livebg.refine.tracking import PersonTracker


@dataclass
class CropStep:
    """CropRefiner.begin()'s result, for finish() and learn()."""

    frame: np.ndarray
    small: np.ndarray   # the frame at working size (the guide)
    crop: tuple[int, int, int, int]
    coarse: np.ndarray  # the model's matte of the crop, at working size
    model_s: float      # seconds the model took


@dataclass
class CropGuess:
    """CropRefiner.guess()'s result, for begin()."""

    frame: np.ndarray
    small: np.ndarray
    crop: tuple[int, int, int, int]
    coarse: np.ndarray | None
    error: Exception | None  # what the model raised instead
    model_s: float


class CropRefiner:
    """Runs a stateless matter on a tracked crop, refines the edge, smooths over time.

    Returns the matte at the working resolution (``work_height`` rows, the
    frame's aspect ratio); the compositor scales it to the frame. The
    defaults are livebg's pipeline for a segmentation model, chosen by
    bench/quality.py (see the README for the measured table):

    - crop: model on a tracked crop around the person (with hysteresis),
      padded by only 2% (margin) plus 4% of slack: the tighter the crop, the
      more pixels the model spends on the person (0.12 + 0.08 measured worse
      on every metric: MAD 0.54x naive against 0.47x, Grad 0.62x against 0.57x);
    - specks: islands of the matte under 3% of the largest one are dropped
      (background objects the model fires on, which come and go);
    - flip: the crop and its mirror image, averaged (two model runs; on a
      second instance of the model at the same time, see use_twin());
    - sharpen, then a guided filter (radius, eps) steered by the frame,
      then post_sharpen: a segmentation mask is a blurred confidence map, so
      its contrast is raised around 0.5 before and after the edge-aware
      filter (:func:`livebg.refine.edges.refine_edge`);
    - smoothing: motion-gated temporal smoothing of the coarse mask, before
      the guided filter, so the edge still snaps to the current frame.

    A matting model (MODNet) already gives a soft alpha, so for it the
    contrast and guided-filter steps are off (see :func:`livebg.refine.for_matter`).
    """

    needs_feedback = True  # the crop of frame k + 1 comes from frame k's finished matte

    def __init__(self, matter: Matter, work_height: int = 360, crop: bool = True, guided: bool = True,
                 radius: int = 4, eps: float = 1e-2, sharpen: float = 2.0, post_sharpen: float = 1.5,
                 smoothing: float = 0.6, motion: float = 0.25, flip: bool = True,
                 tracker: PersonTracker | None = None, min_speck: float = 0.03):
        if matter.caps.recurrent:
            raise ValueError(f"{matter.name} carries state from frame to frame: CropRefiner runs views "
                             f"that would corrupt it (use livebg.refine.for_matter)")
        self.matter = matter
        self._twin: tuple[Matter, ThreadPoolExecutor] | None = None
        self.min_speck = min_speck
        self.work_height = work_height
        self.use_crop = crop
        self.guided = guided
        self.radius = radius
        self.eps = eps
        self.sharpen = sharpen
        self.post_sharpen = post_sharpen
        self.tracker = tracker or PersonTracker()
        self.smoother = TemporalSmoother(smoothing, motion)
        self.flip = flip
        self._size: tuple[int, int] | None = None
        self.timings = new_timings("model", "smoothing", "edge")

    @classmethod
    def naive(cls, matter: Matter, work_height: int = 720) -> "CropRefiner":
        """The baseline: the model on the whole frame, no refinement, no smoothing."""
        return cls(matter, work_height=work_height, crop=False, guided=False, sharpen=1.0, post_sharpen=1.0,
                   smoothing=0.0, flip=False)

    def reset(self) -> None:
        self.tracker.reset()
        self.smoother.reset()

    # -- the second model instance -------------------------------------------
    @property
    def wants_twin(self) -> bool:
        """True when a second instance of the model would take the mirror image's call."""
        return self.flip and self._twin is None

    def use_twin(self, matter: Matter | None) -> None:
        """Run the mirror image's model call on ``matter``, a second instance of
        the same model, on a helper thread while the crop's own call runs: the
        same matte in about half the model time where there is a core to spare.
        The refiner owns it from here (closes it); None goes back to one model."""
        old, self._twin = self._twin, None
        if old is not None:
            old[1].shutdown(wait=True)
            old[0].close()
        if matter is not None:
            self._twin = (matter, ThreadPoolExecutor(1, thread_name_prefix="livebg-twin"))

    def close(self) -> None:
        """Close the model and its second instance."""
        self.use_twin(None)
        self.matter.close()

    # -- the model ----------------------------------------------------------
    def work_size(self, height: int, width: int) -> tuple[int, int]:
        wh = min(self.work_height, height)
        return wh, max(1, round(width * wh / height))

    def _model_input_side(self) -> int:
        size = self.matter.input_size
        return int(max(size)) if size else self.matter.side

    def _predict(self, part: np.ndarray) -> np.ndarray:
        return self.matter.predict(part).alpha

    def _coarse(self, frame: np.ndarray, small: np.ndarray, crop, wh: int, ww: int) -> np.ndarray:
        """The model's matte for ``crop`` of the frame, pasted into a working-size matte.

        The crop is taken from the working-size copy of the frame when that
        still has at least the model's input resolution there (resizing a
        small image is much cheaper), else from the full frame.
        """
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = crop
        sx, sy = ww / width, wh / height
        ax0, ay0 = int(round(x0 * sx)), int(round(y0 * sy))
        ax1, ay1 = max(ax0 + 1, int(round(x1 * sx))), max(ay0 + 1, int(round(y1 * sy)))
        if min(ax1 - ax0, ay1 - ay0) >= self._model_input_side():
            part = small[ay0:ay1, ax0:ax1]
        else:
            part = frame[y0:y1, x0:x1]
        if self.flip:
            # The model's errors are not mirror-symmetric: averaging the crop's
            # matte with its mirror image's cancels part of them. (Mirroring
            # every other frame instead, and letting the smoothing average,
            # measured as flicker: dtSSD 1.1x naive.)
            coarse, mirrored = self._model_and_flipped(part)
            coarse = 0.5 * (coarse + mirrored[:, ::-1])
        else:
            coarse = self._predict(part)
        alpha = np.zeros((wh, ww), np.float32)
        alpha[ay0:ay1, ax0:ax1] = cv2.resize(coarse, (ax1 - ax0, ay1 - ay0), interpolation=cv2.INTER_LINEAR)
        return alpha

    def _model_and_flipped(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's matte of ``part`` and of its mirror image (not mirrored back)."""
        size = self.matter.input_size
        if size:
            # Scaled to the model's input once, for both calls: INTER_AREA is
            # mirror-symmetric (the same bytes as scaling the mirrored crop).
            part = cv2.resize(part, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)
        else:
            part = np.ascontiguousarray(part)
        flipped = np.ascontiguousarray(part[:, ::-1])
        twin = self._twin
        if twin is None:
            return self._predict(part), self._predict(flipped)
        twin_matter, pool = twin
        job = pool.submit(lambda: twin_matter.predict(flipped).alpha)
        try:
            coarse = self._predict(part)
        finally:
            mirrored = job.result()  # waited for even when the first call failed: never left running
        return coarse, mirrored

    def _small(self, frame: np.ndarray) -> tuple[np.ndarray, int, int]:
        height, width = frame.shape[:2]
        wh, ww = self.work_size(height, width)
        small = frame if (wh, ww) == (height, width) else cv2.resize(frame, (ww, wh), interpolation=cv2.INTER_AREA)
        return small, wh, ww

    # -- a frame, in halves ---------------------------------------------------
    def guess(self, frame: np.ndarray) -> CropGuess:
        """The model's coarse matte of ``frame`` on the crop the tracker gives now,
        before it has seen the previous frame's matte: for begin(), which uses
        it when that matte leaves the crop where it was (it mostly does: the
        crop holds still while the person stays inside it). Changes nothing, so
        it may run while the previous frame's finish() does (see
        livebg.process). A model failure is kept for begin()."""
        height, width = frame.shape[:2]
        small, wh, ww = self._small(frame)
        crop = self.tracker.crop(width, height) if self.use_crop else (0, 0, width, height)
        t0 = time.perf_counter()
        try:
            coarse, error = self._coarse(frame, small, crop, wh, ww), None
        except Exception as e:
            coarse, error = None, e
        return CropGuess(frame, small, crop, coarse, error, time.perf_counter() - t0)

    def begin(self, frame: np.ndarray, ahead: CropGuess | None = None) -> CropStep:
        """The tracker's crop and the model's coarse matte of it. ``ahead``:
        guess() for this frame, used when its crop is the one the tracker
        gives now (the same model call on the same pixels: the same result)."""
        height, width = frame.shape[:2]
        if self._size != (height, width):
            if self._size is not None:
                self.reset()  # another picture size: nothing of the old one applies
            self._size = (height, width)
        if ahead is not None and ahead.frame is frame:
            small = ahead.small
            wh, ww = small.shape[:2]
        else:
            ahead = None
            small, wh, ww = self._small(frame)
        full = (0, 0, width, height)
        if self.use_crop and self.tracker.needs_full_look():
            # Look at the whole frame to find where the person is, but keep
            # matting the crop: switching resolution for one frame would flicker.
            self.tracker.update(self._coarse(frame, small, full, wh, ww), full, (width, height))
        crop = self.tracker.crop(width, height) if self.use_crop else full
        if ahead is not None and ahead.crop == crop:
            if ahead.error is not None:
                raise ahead.error
            return CropStep(frame, small, crop, ahead.coarse, ahead.model_s)
        t0 = time.perf_counter()
        alpha = self._coarse(frame, small, crop, wh, ww)
        return CropStep(frame, small, crop, alpha, time.perf_counter() - t0)

    def finish(self, step: CropStep) -> Matte:
        """Smoothing, edge and specks: the finished matte (frames in order)."""
        t1 = time.perf_counter()
        alpha = self.smoother(step.coarse)
        t2 = time.perf_counter()
        if self.guided:
            alpha = refine_edge(step.small, alpha, self.radius, self.eps, self.sharpen, self.post_sharpen)
        else:
            alpha = contrast(alpha, self.sharpen * self.post_sharpen)
        if self.min_speck > 0:
            alpha = drop_small_regions(alpha, self.min_speck)
        t3 = time.perf_counter()
        self.timings["model"].append(step.model_s)
        self.timings["smoothing"].append(t2 - t1)
        self.timings["edge"].append(t3 - t2)
        return Matte(alpha, frame=step.frame, picture=step.small)

    def learn(self, step: CropStep, matte: Matte) -> None:
        """Show the tracker the finished matte: where the next crop goes."""
        if self.use_crop:
            self.tracker.update(matte.alpha, step.crop, (step.frame.shape[1], step.frame.shape[0]))

    def __call__(self, frame: np.ndarray) -> Matte:
        step = self.begin(frame)
        matte = self.finish(step)
        self.learn(step, matte)
        return matte
