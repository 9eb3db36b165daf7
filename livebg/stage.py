"""One frame's matting and compositing, with settings that change between frames.

The stage owns the refiner (which owns the model and everything that
carries over from frame to frame) and the background. The tray changes
them while frames flow; matting and compositing can run on different
threads, each under its own lock, so a model or background is never closed
while a frame is using it, and a swap waits at most one frame.
"""

from __future__ import annotations

import collections
import logging
import os
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np

from livebg import compositing
from livebg.backgrounds import Background
from livebg.errors import LivebgError
from livebg.faults import MattingGuard
from livebg.look import Look
from livebg.matting.base import Matter, check_frame
from livebg.refine import Matte, Refiner, for_matter
from livebg.refine.decontaminate import foreground_delta

log = logging.getLogger("livebg")


@dataclass
class PendingMatte:
    """A frame between Stage.matte_begin() and Stage.matte_end()/matte_learn()."""

    refiner: Refiner
    step: Any | None          # the refiner's begin() result (None: the model failed)
    error: Exception | None
    seconds: float
    matte: Matte | None = None


class Stage:
    """Matting (model and refinement) and compositing for one frame at a time.

    matter: the model to start with (the stage owns it from here on).
    smoothing, refine: the refinement's settings (livebg.refine.for_matter).
    guard: what a model failing on a frame leads to (livebg.faults).
    open_twin(name): a second instance of a model, for refiners that run a
    second view of each frame beside the first (see CropRefiner.use_twin);
    None to run the views one after the other.
    light_wrap, color_match: the look's strengths (livebg.look, 0 = off); the
    compositing kernel applies them. ``look`` may be changed between frames.
    """

    def __init__(self, matter: Matter, background: Background, *, smoothing: float = 0.6, refine: bool = True,
                 enabled: bool = True, guard: MattingGuard | None = None,
                 open_twin: Callable[[str], Matter] | None = None, light_wrap: float = 0.0,
                 color_match: float = 0.0, decontaminate: bool = False):
        self.background = background
        self.decontaminate = decontaminate  # the old room's colour out of the edge (livebg.refine.decontaminate)
        self.look = Look(light_wrap, color_match)  # light wrap and colour match (livebg.look)
        self.smoothing = smoothing
        self.refine = refine
        self.enabled = enabled
        self.guard = guard or MattingGuard()
        self.open_twin = open_twin if (os.cpu_count() or 1) > 1 else None
        self._matte_lock = threading.Lock()
        self._bg_lock = threading.Lock()
        self._out: np.ndarray | None = None
        self._last: Matte | None = None  # the last good matte, for frames the model fails on
        self.timings: dict[str, collections.deque] = {k: collections.deque(maxlen=2000)
                                                      for k in ("matting", "compositing")}
        self.refiner = self._refiner_for(matter)

    # -- what runs ---------------------------------------------------------------
    @property
    def matter(self) -> Matter:
        return self.refiner.matter

    @property
    def model_name(self) -> str:
        """The model running now (after a fallback, the one livebg switched to)."""
        return self.refiner.matter.name

    @property
    def matte_size(self) -> int | None:
        """A resizable model's input size now (longer side), else None."""
        m = self.refiner.matter
        return m.side if m.caps.resizable else None

    def _refiner_for(self, matter: Matter) -> Refiner:
        refiner = for_matter(matter, self.smoothing, self.refine)
        if self.open_twin is not None and getattr(refiner, "wants_twin", False):
            try:
                refiner.use_twin(self.open_twin(matter.name))
            except LivebgError as e:  # then one instance makes both calls
                log.debug("no second model instance: %s", e)
        return refiner

    def _install(self, matter: Matter) -> Refiner:
        """Put ``matter`` in place (call under the matte lock); returns the old refiner."""
        old, self.refiner = self.refiner, self._refiner_for(matter)
        return old

    # -- settings ------------------------------------------------------------------
    def set_background(self, background: Background) -> None:
        with self._bg_lock:
            old, self.background = self.background, background
        old.close()

    def set_matter(self, matter: Matter) -> None:
        """Swap the model (opened by the caller, which may take a while)."""
        with self._matte_lock:
            old = self._install(matter)
        old.close()

    def reset(self) -> None:
        """Forget everything carried from frame to frame (the picture is no
        longer a continuation: a pause, a reconnect, a mirror toggle, a gap)."""
        with self._matte_lock:
            self.refiner.reset()
        self.background.reset()  # the blur's memory of the room (a flag, read by the compositing thread)
        self.look.reset()

    def adapt_resolution(self, budget_s: float, window: int = 8) -> int | None:
        """Step a resizable model's input size down its ``ladder`` when recent mattes took
        longer than ``budget_s``, up when the next size up is predicted to fit
        with a margin (cost ~ area). Returns the new size when it changed."""
        matter = self.refiner.matter
        recent = list(self.timings["matting"])[-window:]
        if not matter.caps.resizable or len(recent) < window:
            return None
        size = matter.side
        t = statistics.median(recent)
        ladder = [s for s in matter.ladder if s <= max(matter.ladder[0], size)]
        i = min(range(len(ladder)), key=lambda k: abs(ladder[k] - size))
        new = size
        if t > budget_s and i + 1 < len(ladder):
            new = ladder[i + 1]
        elif i > 0 and t * (ladder[i - 1] / size) ** 2 < 0.7 * budget_s:
            new = ladder[i - 1]
        if new != size:
            with self._matte_lock:
                matter.side = new
            self.timings["matting"].clear()
            return new
        return None

    # -- matting -------------------------------------------------------------------
    def matte(self, image: np.ndarray) -> Matte | None:
        """The refined matte of ``image``, at the refiner's working size.

        When the model fails on the frame: the last good matte, or None
        before there is one (livebg.faults.MattingGuard decides what else
        happens). Invalid frames raise TypeError/ValueError: they are not
        model failures.
        """
        check_frame(image)
        t0 = time.perf_counter()
        with self._matte_lock:
            try:
                matte = self.refiner(image)
            except Exception as e:
                matte = self._failed(e)
            else:
                self._ok(matte)
        self.timings["matting"].append(time.perf_counter() - t0)
        return matte

    def _ok(self, matte: Matte) -> None:
        self._last = matte
        self.guard.ok()

    def _failed(self, e: Exception) -> Matte | None:
        """The model failed on a frame (call under the matte lock): apply the guard's decision."""
        replacement = self.guard.failed(self.model_name, e)
        if replacement is not None:
            old = self._install(replacement)
            try:
                old.close()
            except Exception as close_error:  # it is failing already; dropped anyway
                log.debug("closing %s: %s", old.matter.name, close_error)
        return self._last

    # matte() in parts, for livebg.process, where the model works on frame k + 1
    # while frame k is finished on another thread, with the very matte matte()
    # gives: matte_guess() runs the model ahead when the refiner can guess
    # (before it has learnt frame k's matte); matte_learn() then shows the
    # refiner that matte, and matte_begin() takes the guess when it still
    # applies, else runs the model again. matte_end() finishes the frame and
    # reports model failures to the guard, in frame order.
    @property
    def needs_feedback(self) -> bool:
        return self.refiner.needs_feedback

    def matte_guess(self, image: np.ndarray):
        """The model on ``image`` ahead of time (None where it cannot be done)."""
        with self._matte_lock:
            refiner = self.refiner
            ahead = refiner.guess(image)
        return (refiner, ahead) if ahead is not None else None

    def matte_begin(self, image: np.ndarray, guess=None) -> PendingMatte:
        check_frame(image)
        t0 = time.perf_counter()
        with self._matte_lock:
            refiner = self.refiner
            ahead = guess[1] if guess is not None and guess[0] is refiner else None  # not after a model swap
            try:
                return PendingMatte(refiner, refiner.begin(image, ahead), None, time.perf_counter() - t0)
            except Exception as e:  # reported by matte_end(), in frame order
                return PendingMatte(refiner, None, e, time.perf_counter() - t0)

    def matte_end(self, pending: PendingMatte) -> Matte | None:
        """The matte matte() would give (None before any good one when the model fails)."""
        t0 = time.perf_counter()
        error, matte = pending.error, None
        if error is None:
            try:
                matte = pending.refiner.finish(pending.step)
            except Exception as e:
                error = e
        with self._matte_lock:
            if error is not None:
                pending.step = None  # nothing for the refiner to learn
                matte = self._failed(error)
            else:
                self._ok(matte)
        pending.matte = matte
        self.timings["matting"].append(pending.seconds + time.perf_counter() - t0)
        return matte

    def matte_learn(self, pending: PendingMatte) -> None:
        """Show the refiner matte_end()'s matte (unless the model was swapped since)."""
        if pending.step is not None and pending.matte is not None:
            with self._matte_lock:
                if pending.refiner is self.refiner:
                    pending.refiner.learn(pending.step, pending.matte)

    # -- compositing ------------------------------------------------------------------
    def composite(self, image: np.ndarray, matte: Matte | None, reuse: bool = True) -> np.ndarray:
        """``image`` over the background through ``matte`` (pass-through when the
        effect is off, the background is 'none' or there is no matte yet).
        With reuse, the result lives in a buffer the next call overwrites."""
        check_frame(image)
        if not self.enabled or matte is None:
            return image
        t0 = time.perf_counter()
        with self._bg_lock:
            background = self.background
            # The blur leaves the person out with the matte (no glow around them).
            bg = background.render(image, alpha=matte.alpha) if background.wants_alpha else background.render(image)
        if bg is None:
            return image
        if not reuse or self._out is None or self._out.shape != image.shape:
            out = np.empty_like(image)
            if reuse:
                self._out = out
        else:
            out = self._out
        args = self.look.kernel_args(image, matte.alpha, bg)
        if self.decontaminate:
            args["fg_delta"] = self._foreground_delta(image, matte)
        compositing.composite(image, matte.alpha, bg, out, **args)
        self.timings["compositing"].append(time.perf_counter() - t0)
        return out

    def _foreground_delta(self, image: np.ndarray, matte: Matte) -> np.ndarray:
        """The subject's own colours at the edge, as a correction at the matte's size."""
        alpha = matte.alpha
        h, w = alpha.shape
        if image.shape[:2] == (h, w):
            small = image
        elif matte.frame is image and matte.picture is not None and matte.picture.shape[:2] == (h, w):
            small = matte.picture  # the refiner's copy of this very frame, scaled the same way
        else:
            small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        return foreground_delta(small, alpha)

    def warmup(self) -> None:
        """Compile (or load from the cache) the numba kernels before the first frame.
        Compiling takes seconds, once: said on one line so the pause is not silent."""
        from livebg import kernelcache, refine

        if kernelcache.is_cold():
            log.info("preparing the compositing kernels (first start only, a few seconds)")
        compositing.warmup()
        refine.warmup()

    def close(self) -> None:
        self.background.close()
        self.refiner.close()
