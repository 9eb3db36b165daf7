"""From a coarse segmentation to a clean, steady alpha matte.

The steps, each with explicit, resettable state where it has any:

1. PersonTracker: the model runs on a crop around the person (found in the
   previous matte), so a 256x256 model sees the person at a higher
   resolution and without squeezing the frame's aspect ratio. The whole
   frame is looked at again regularly, and whenever the matte touches the
   crop's border, so nobody entering the picture is missed.
2. Edge refinement: a guided filter steered by the full-colour frame turns
   the blurry, blocky mask into an edge that follows the image (hair,
   shoulders, fingers).
3. TemporalSmoother: steadies what stands still without dragging what moves.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import cv2
import numpy as np

from livebg import guided


class TemporalSmoother:
    """Motion-gated exponential smoothing.

    Where the matte barely changes from one frame to the next (a still
    person, model noise at the border) the new value is blended into the
    running value with weight ``1 - strength``; where it changes a lot (the
    person moved) the new value is taken as it is, so motion does not lag.
    strength 0 disables smoothing.
    """

    def __init__(self, strength: float = 0.6, motion: float = 0.25):
        if not 0.0 <= strength < 1.0:
            raise ValueError(f"strength must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.motion = float(motion)
        self._state: np.ndarray | None = None

    def reset(self) -> None:
        self._state = None

    def warp(self, map_x: np.ndarray, map_y: np.ndarray) -> None:
        """Move the running matte along the motion (maps as for cv2.remap), so
        that smoothing averages the same scene point across frames."""
        if self._state is not None and self._state.shape == map_x.shape:
            self._state = cv2.remap(self._state, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def __call__(self, alpha: np.ndarray) -> np.ndarray:
        if self.strength == 0.0 or self._state is None or self._state.shape != alpha.shape:
            self._state = alpha.astype(np.float32, copy=True)
            return self._state
        delta = alpha - self._state
        gate = np.minimum(np.abs(delta) * (1.0 / self.motion), 1.0)
        weight = (1.0 - self.strength) + self.strength * gate
        self._state = self._state + weight * delta
        return self._state


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


def guided_refine(guide_bgr: np.ndarray, alpha: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-aware refinement of ``alpha`` (same size as the guide) by a guided filter.

    eps is in units of the guide scaled to [0, 1] (OpenCV would otherwise
    read a uint8 guide in 0-255 units, making any small eps no regulariser).
    """
    guide = guide_bgr.astype(np.float32) * (1.0 / 255.0) if guide_bgr.dtype == np.uint8 else guide_bgr
    out = cv2.ximgproc.guidedFilter(guide, alpha, radius, eps)
    return np.clip(out, 0.0, 1.0, out=out)


def fast_guided_filter(guide_bgr: np.ndarray, alpha: np.ndarray, radius: int, eps: float, step: int = 2) -> np.ndarray:
    """Colour guided filter (He et al.) with its linear coefficients computed on
    a ``step``-times smaller copy and applied at full size (He and Sun's "fast
    guided filter"): the same edge-following, several times cheaper."""
    h, w = alpha.shape
    sh, sw = max(1, h // step), max(1, w // step)
    I = cv2.resize(guide_bgr, (sw, sh), interpolation=cv2.INTER_AREA).astype(np.float32) * (1.0 / 255.0)
    p = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    r = max(1, radius // step)
    box = lambda x: cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)  # noqa: E731
    b_, g_, r_ = I[..., 0], I[..., 1], I[..., 2]
    mb, mg, mr, mp = box(b_), box(g_), box(r_), box(p)
    # Covariance of the guide's colours (3x3, symmetric) plus eps, and of colour with alpha.
    vbb = box(b_ * b_) - mb * mb + eps
    vbg = box(b_ * g_) - mb * mg
    vbr = box(b_ * r_) - mb * mr
    vgg = box(g_ * g_) - mg * mg + eps
    vgr = box(g_ * r_) - mg * mr
    vrr = box(r_ * r_) - mr * mr + eps
    cb = box(b_ * p) - mb * mp
    cg = box(g_ * p) - mg * mp
    cr = box(r_ * p) - mr * mp
    # a = inverse(cov) @ c, through the adjugate (closed form for 3x3).
    i_bb = vgg * vrr - vgr * vgr
    i_bg = vgr * vbr - vbg * vrr
    i_br = vbg * vgr - vgg * vbr
    i_gg = vbb * vrr - vbr * vbr
    i_gr = vbr * vbg - vbb * vgr
    i_rr = vbb * vgg - vbg * vbg
    det = vbb * i_bb + vbg * i_bg + vbr * i_br
    inv = 1.0 / det
    ab = (i_bb * cb + i_bg * cg + i_br * cr) * inv
    ag = (i_bg * cb + i_gg * cg + i_gr * cr) * inv
    ar = (i_br * cb + i_gr * cg + i_rr * cr) * inv
    b = mp - ab * mb - ag * mg - ar * mr
    coeff = cv2.merge([box(ab), box(ag), box(ar), box(b)])
    coeff = cv2.resize(coeff, (w, h), interpolation=cv2.INTER_LINEAR)
    full = guide_bgr.astype(np.float32) * (1.0 / 255.0)
    out = coeff[..., 0] * full[..., 0] + coeff[..., 1] * full[..., 1] + coeff[..., 2] * full[..., 2] + coeff[..., 3]
    return np.clip(out, 0.0, 1.0, out=out)


def refine_edge(guide_bgr: np.ndarray, alpha: np.ndarray, radius: int = 4, eps: float = 1e-2,
                sharpen: float = 2.0, post_sharpen: float = 1.5, fast: bool = False) -> np.ndarray:
    """Contrast around 0.5, guided filter, contrast again: a segmentation
    mask's blurry confidence ramp becomes an edge that sits on the picture's
    edge. (The guided filter alone only fixes what lies within its radius,
    and leaves the local mean on flat regions beside the edge.)"""
    if fast:
        if guided.supported(guide_bgr, alpha, radius):  # the same steps in numba, 2-4x cheaper
            return guided.refine_edge_fast(guide_bgr, alpha, radius, eps, sharpen, post_sharpen)
    if sharpen != 1.0:
        alpha = np.clip((alpha - 0.5) * sharpen + 0.5, 0.0, 1.0)
    if fast and guide_bgr.ndim == 3:
        alpha = fast_guided_filter(guide_bgr, alpha, radius, eps)
    else:
        alpha = guided_refine(guide_bgr, alpha, radius, eps)
    if post_sharpen != 1.0:
        alpha = np.clip((alpha - 0.5) * post_sharpen + 0.5, 0.0, 1.0)
    return alpha


def drop_specks(alpha: np.ndarray, min_share: float, level: float = 0.1) -> np.ndarray:
    """Zero the small islands of the matte: connected regions (alpha > level)
    under ``min_share`` of the largest one. Segmentation models fire on
    person-coloured things in the background (a traffic cone, a lamp); those
    specks come and go from frame to frame, which a viewer sees as flicker.
    A raised hand is a separate region too, but far larger than the share."""
    mask = (alpha > level).astype(np.uint8)
    # Labels alone first (a fifth of the cost with statistics): most frames
    # have one region, or none, and need no more.
    n, labels = cv2.connectedComponentsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)
    if n <= 2:
        return alpha
    areas = np.bincount(labels.ravel(), minlength=n)[1:]
    small = np.flatnonzero(areas < min_share * areas.max()) + 1
    if small.size == 0:
        return alpha
    lut = np.ones(n, np.float32)
    lut[small] = 0.0
    return alpha * lut[labels]


@dataclass
class MatteStep:
    """MatteRefiner.model_step()'s result, for finish_step()."""

    frame: np.ndarray
    small: np.ndarray   # the frame at working size (the guide)
    crop: tuple[int, int, int, int]
    coarse: np.ndarray  # the model's matte of the crop, at working size
    model_s: float      # seconds the model took


@dataclass
class MatteGuess:
    """MatteRefiner.guess()'s result, for model_step()."""

    frame: np.ndarray
    small: np.ndarray
    crop: tuple[int, int, int, int]
    coarse: np.ndarray | None
    error: Exception | None  # what the model raised instead
    model_s: float


class MatteRefiner:
    """Runs a matter on a tracked crop, refines the edge, smooths over time.

    Returns the matte at the working resolution (``work_height`` rows, the
    frame's aspect ratio); the compositor scales it to the frame. The
    defaults are livebg's default pipeline for a segmentation model, chosen
    by bench/quality.py (see the README for the measured table):

    - crop: model on a tracked crop around the person (with hysteresis),
      padded by only 2% (margin) plus 4% of slack: the tighter the crop, the
      more pixels the model spends on the person (0.12 + 0.08 measured worse
      on every metric: MAD 0.54x naive against 0.47x, Grad 0.62x against 0.57x);
    - specks: islands of the matte under 3% of the largest one are dropped
      (background objects the model fires on, which come and go);
    - flip: the crop and its mirror image, averaged (two model runs);
    - sharpen, then a guided filter (radius, eps) steered by the frame,
      then post_sharpen: a segmentation mask is a blurred confidence map, so
      its contrast is raised around 0.5 before and after the edge-aware
      filter; fast_guide computes the filter's coefficients at half size
      (half the time, the same scores on bench/quality.py's clips);
    - smoothing: motion-gated temporal smoothing of the coarse mask, before
      the guided filter, so the edge still snaps to the current frame;
    - flow: optionally carry the smoothing along the optical flow (off by
      default: it measured no better here and costs a few milliseconds).

    A matting model (MODNet) already gives a soft alpha, so for it the
    contrast and guided-filter steps are off (see :func:`for_matter`).
    """

    def __init__(self, matter, work_height: int = 360, crop: bool = True, guided: bool = True,
                 radius: int = 4, eps: float = 1e-2, sharpen: float = 2.0, post_sharpen: float = 1.5,
                 smoothing: float = 0.6, motion: float = 0.25, smooth_first: bool = True, flip: bool = True,
                 flow: bool = False, flow_height: int = 180, grey_guide: bool = False, fast_guide: bool = True,
                 tracker: PersonTracker | None = None, min_speck: float = 0.03):
        self.matter = matter
        self._flip_helper = None  # (second model instance, its thread): use_flip_matter()
        self.min_speck = min_speck
        self.grey_guide = grey_guide
        self.fast_guide = fast_guide
        self.work_height = work_height
        self.use_crop = crop
        self.guided = guided
        self.radius = radius
        self.eps = eps
        self.sharpen = sharpen
        self.post_sharpen = post_sharpen
        self.tracker = tracker or PersonTracker()
        self.smoother = TemporalSmoother(smoothing, motion)
        self.smooth_first = smooth_first
        self.flip = flip
        self.flow = flow
        self.flow_height = flow_height
        self._dis = None
        self._prev_grey: np.ndarray | None = None
        # Seconds per step of the last frames, for `livebg bench`.
        self.timings = {k: collections.deque(maxlen=2000) for k in ("model", "smoothing", "edge")}

    @classmethod
    def naive(cls, matter, work_height: int = 720) -> "MatteRefiner":
        """The baseline: the model on the whole frame, no refinement, no smoothing."""
        return cls(matter, work_height=work_height, crop=False, guided=False, sharpen=1.0, post_sharpen=1.0,
                   smoothing=0.0, flip=False)

    @classmethod
    def for_matter(cls, matter, smoothing: float = 0.6, refine: bool = True) -> "MatteRefiner":
        """livebg's default pipeline for this kind of model (or the bare model if refine is off)."""
        if not refine:
            return cls(matter, crop=False, guided=False, sharpen=1.0, post_sharpen=1.0, smoothing=smoothing, flip=False)
        if getattr(matter, "is_matting", False):
            # MODNet's quality could not be measured here (no weights), so it
            # keeps the roomier crop it was written with and no speck removal.
            return cls(matter, work_height=540, guided=False, sharpen=1.0, post_sharpen=1.0, smoothing=smoothing,
                       flip=False, tracker=PersonTracker(margin=0.12, slack=0.08), min_speck=0.0)
        return cls(matter, smoothing=smoothing)

    def reset(self) -> None:
        self.tracker.reset()
        self.smoother.reset()
        self._prev_grey = None

    def _follow_motion(self, frame: np.ndarray, wh: int, ww: int) -> None:
        """Warp the smoother's state by the optical flow from the previous frame."""
        fh = min(self.flow_height, frame.shape[0])
        fw = max(8, round(frame.shape[1] * fh / frame.shape[0]))
        grey = cv2.cvtColor(cv2.resize(frame, (fw, fh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        prev, self._prev_grey = self._prev_grey, grey
        if prev is None or prev.shape != grey.shape:
            return
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        # Flow from the current frame back to the previous one: for each pixel
        # now, where it was then; scaled to the working resolution.
        flow = self._dis.calc(grey, prev, None)
        flow = cv2.resize(flow, (ww, wh), interpolation=cv2.INTER_LINEAR) * np.float32(ww / fw)
        gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(wh, dtype=np.float32))
        self.smoother.warp(gx + flow[..., 0], gy + flow[..., 1])

    def work_size(self, height: int, width: int) -> tuple[int, int]:
        wh = min(self.work_height, height)
        return wh, max(1, round(width * wh / height))

    def _model_input_side(self) -> int:
        size = getattr(self.matter, "input_size", None)
        return int(max(size)) if size else 512

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
            coarse = self.matter(part)
        alpha = np.zeros((wh, ww), np.float32)
        alpha[ay0:ay1, ax0:ax1] = cv2.resize(coarse, (ax1 - ax0, ay1 - ay0), interpolation=cv2.INTER_LINEAR)
        return alpha

    def use_flip_matter(self, matter) -> None:
        """Run the mirror image's model call on ``matter``, a second instance of
        the same model, on a helper thread while the crop's own call runs: the
        same matte in about half the model time where there is a core to spare.
        None goes back to one model, one call after the other. The caller owns
        ``matter`` (and closes it after this refiner is done with it)."""
        old, self._flip_helper = self._flip_helper, None
        if old is not None:
            old[1].shutdown(wait=True)
        if matter is not None:
            from concurrent.futures import ThreadPoolExecutor

            self._flip_helper = (matter, ThreadPoolExecutor(1, thread_name_prefix="livebg-flip"))

    def _model_and_flipped(self, part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's matte of ``part`` and of its mirror image (not mirrored back)."""
        size = getattr(self.matter, "input_size", None)
        if size:
            # Scaled to the model's input once, for both calls: INTER_AREA is
            # mirror-symmetric (the same bytes as scaling the mirrored crop),
            # and the model's own scaling to the size it already has is a copy.
            part = cv2.resize(part, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA)
        flipped = np.ascontiguousarray(part[:, ::-1])
        helper = self._flip_helper
        if helper is None:
            return self.matter(part), self.matter(flipped)
        flip_matter, pool = helper
        job = pool.submit(flip_matter, flipped)
        try:
            coarse = self.matter(part)
        finally:
            mirrored = job.result()  # waited for even when the first call failed: never left running
        return coarse, mirrored

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.finish_step(self.model_step(frame))

    def model_step(self, frame: np.ndarray, guess: "MatteGuess | None" = None) -> "MatteStep":
        """The first half of a frame's matte: the tracker's crop and the model's
        coarse matte of it. finish_step() does the rest (smoothing, edge, then
        the tracker's update). ``guess``: guess() for this frame, used when its
        crop is the one the tracker gives now (the same model call on the same
        pixels: the same result, already there)."""
        height, width = frame.shape[:2]
        wh, ww = self.work_size(height, width)
        if guess is not None and guess.frame is frame:
            small = guess.small
        else:
            guess = None
            small = frame if (wh, ww) == (height, width) else cv2.resize(frame, (ww, wh), interpolation=cv2.INTER_AREA)
        full = (0, 0, width, height)
        if self.use_crop and self.tracker.needs_full_look():
            # Look at the whole frame to find where the person is, but keep
            # matting the crop: switching resolution for one frame would flicker.
            self.tracker.update(self._coarse(frame, small, full, wh, ww), full, (width, height))
        crop = self.tracker.crop(width, height) if self.use_crop else full
        if guess is not None and guess.crop == crop:
            if guess.error is not None:
                raise guess.error
            return MatteStep(frame, small, crop, guess.coarse, guess.model_s)
        t0 = time.perf_counter()
        alpha = self._coarse(frame, small, crop, wh, ww)
        return MatteStep(frame, small, crop, alpha, time.perf_counter() - t0)

    def guess(self, frame: np.ndarray) -> "MatteGuess":
        """The model's coarse matte of ``frame`` on the crop the tracker gives now,
        before it has seen the previous frame's matte: for model_step(), which
        uses it when that matte leaves the crop where it was (it mostly does: the
        crop holds still while the person stays inside it). Changes nothing, so
        it may run while the previous frame's finish_step() does (see
        livebg.pipeline.process_file). A model failure is kept for model_step()."""
        height, width = frame.shape[:2]
        wh, ww = self.work_size(height, width)
        small = frame if (wh, ww) == (height, width) else cv2.resize(frame, (ww, wh), interpolation=cv2.INTER_AREA)
        crop = self.tracker.crop(width, height) if self.use_crop else (0, 0, width, height)
        t0 = time.perf_counter()
        try:
            coarse, error = self._coarse(frame, small, crop, wh, ww), None
        except Exception as e:
            coarse, error = None, e
        return MatteGuess(frame, small, crop, coarse, error, time.perf_counter() - t0)

    def track(self, step: "MatteStep", alpha: np.ndarray) -> None:
        """Show the tracker a finished matte (finish_step does, unless told not to)."""
        if self.use_crop:
            self.tracker.update(alpha, step.crop, (step.frame.shape[1], step.frame.shape[0]))

    def finish_step(self, step: "MatteStep", track: bool = True) -> np.ndarray:
        """The second half of a frame's matte, from model_step()'s result; frames
        in order. track=False leaves the tracker's update to a later track()."""
        frame, small, alpha = step.frame, step.small, step.coarse
        wh, ww = alpha.shape
        t1 = time.perf_counter()
        if self.flow and self.smoother.strength > 0:
            self._follow_motion(frame, wh, ww)
        if self.smooth_first:
            alpha = self.smoother(alpha)
        t2 = time.perf_counter()
        if self.guided:
            guide = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if self.grey_guide else small
            alpha = refine_edge(guide, alpha, self.radius, self.eps, self.sharpen, self.post_sharpen, self.fast_guide)
        elif self.sharpen != 1.0 or self.post_sharpen != 1.0:
            alpha = np.clip((alpha - 0.5) * (self.sharpen * self.post_sharpen) + 0.5, 0.0, 1.0)
        if self.min_speck > 0:
            alpha = drop_specks(alpha, self.min_speck)
        t3 = time.perf_counter()
        if not self.smooth_first:
            alpha = self.smoother(alpha)
        t4 = time.perf_counter()
        self.timings["model"].append(step.model_s)
        self.timings["smoothing"].append((t2 - t1) + (t4 - t3))
        self.timings["edge"].append(t3 - t2)
        if track:
            self.track(step, alpha)
        return alpha
