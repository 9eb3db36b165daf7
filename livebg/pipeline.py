"""The pipeline: capture -> matting + smoothing -> compositing -> sinks.

Live (``run``): a capture thread puts frames into a latest-frame slot (old
frames are dropped and counted, never queued into latency); a worker mattes
and composites the newest frame into an output slot; a paced sender hands
the newest output to the sinks every 1/fps seconds, re-sending the last
frame when no new one is ready, so the virtual camera never freezes.

File (``process``): every frame, in order, with bounded queues between a
decoder thread, the worker and an encoder thread (backpressure, no drops).

One stop event for all threads; the first exception in any worker is
stored, stops the others and is re-raised by join().
"""

from __future__ import annotations

import collections
import logging
import statistics
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from livebg import compositing
from livebg.backgrounds import Background, open_background
from livebg.frames import Frame, LatestSlot, cover_fit
from livebg.refine import MatteRefiner

log = logging.getLogger("livebg")


class Stage:
    """Matting (with refinement and smoothing) and compositing for one frame.

    Settings can change between frames (the tray does this) without a
    restart. matte() and composite() can run on different threads, each
    under its own lock, so a model or background is never closed while a
    frame is using it; a swap waits at most one frame.
    """

    def __init__(self, matter, background: Background, smoothing: float = 0.6, enabled: bool = True,
                 refine: bool = True):
        self.matter = matter
        self.background = background
        self.smoothing = smoothing
        self.refine = refine
        self.refiner = MatteRefiner.for_matter(matter, smoothing, refine)
        self.enabled = enabled
        self._matte_lock = threading.Lock()
        self._bg_lock = threading.Lock()
        self._out: np.ndarray | None = None
        self._flip_matter = None
        self.timings: dict[str, collections.deque] = {k: collections.deque(maxlen=2000) for k in ("matting", "compositing")}
        from livebg.faults import MattingGuard

        self.guard = MattingGuard()  # what a model failing on a frame leads to (livebg.faults)

    def set_background(self, background: Background) -> None:
        with self._bg_lock:
            old, self.background = self.background, background
        old.close()

    def set_matter(self, matter) -> None:
        with self._matte_lock:
            old, self.matter = self.matter, matter
            old_refiner = self.refiner
            self.refiner = MatteRefiner.for_matter(matter, self.smoothing, self.refine)
            old_refiner.use_flip_matter(None)
            flip_matter, self._flip_matter = self._flip_matter, None  # an instance of the old model
        old.close()
        if flip_matter is not None:
            flip_matter.close()

    @property
    def wants_flip_matter(self) -> bool:
        """True when the refiner runs the model on the mirror image too (so a
        second instance of the model can take that call: set_flip_matter)."""
        return bool(self.refiner.flip) and self._flip_matter is None

    def set_flip_matter(self, matter) -> None:
        """A second instance of the current model for the refiner's mirror-image
        call, run alongside the first (the same matte, sooner); closed with the stage."""
        with self._matte_lock:
            self.refiner.use_flip_matter(matter)
            old, self._flip_matter = self._flip_matter, matter
        if old is not None:
            old.close()

    def reset(self) -> None:
        """Forget the matte's history (after a pause or a long gap)."""
        with self._matte_lock:
            self.refiner.reset()

    # Input sizes (longer side) a resizable model (MODNet) may run at, live.
    LADDER = (512, 448, 384, 320, 256, 224, 192, 160)

    def adapt_resolution(self, budget_s: float, window: int = 8) -> int | None:
        """Step a resizable model's input size down when recent mattes took
        longer than ``budget_s``, up when the next size up is predicted to fit
        with a margin (cost ~ area). Returns the new size when it changed."""
        matter = self.matter
        size = getattr(matter, "ref_size", None)
        recent = list(self.timings["matting"])[-window:]
        if size is None or len(recent) < window:
            return None
        t = statistics.median(recent)
        ladder = [s for s in self.LADDER if s <= max(self.LADDER[0], size)]
        i = min(range(len(ladder)), key=lambda k: abs(ladder[k] - size))
        new = size
        if t > budget_s and i + 1 < len(ladder):
            new = ladder[i + 1]
        elif i > 0 and t * (ladder[i - 1] / size) ** 2 < 0.7 * budget_s:
            new = ladder[i - 1]
        if new != size:
            with self._matte_lock:
                matter.ref_size = new
            self.timings["matting"].clear()
            return new
        return None

    def matte(self, image: np.ndarray) -> np.ndarray:
        """The refined, smoothed matte of ``image``: float32 at working resolution.

        When the model fails on the frame: the last good matte, or None
        before there is one (see livebg.faults.MattingGuard). Invalid frames
        raise TypeError/ValueError: they are not model failures.
        """
        from livebg.matting.base import check_frame

        check_frame(image)
        t0 = time.perf_counter()
        with self._matte_lock:
            try:
                alpha = self.refiner(image)
            except Exception as e:
                alpha = self._failed(e)
            else:
                self.guard.ok(alpha)
        self.timings["matting"].append(time.perf_counter() - t0)
        return alpha

    def _failed(self, e: Exception):
        """The model failed on a frame (call under the matte lock): the guard's answer."""
        refiner = self.refiner
        alpha = self.guard.failed(self, e)
        if self.refiner is not refiner and self._flip_matter is not None:
            # The guard switched to another model: the second instance of the old one goes.
            refiner.use_flip_matter(None)
            flip_matter, self._flip_matter = self._flip_matter, None
            try:
                flip_matter.close()
            except Exception as close_error:  # failing already; dropped anyway
                log.debug("closing the second model instance: %s", close_error)
        return alpha

    # matte() in parts, for process_file, where the model works on frame k + 1
    # while frame k is refined on another thread, with the very matte matte()
    # gives: matte_guess() runs the model on frame k + 1's crop as the tracker
    # has it before it sees frame k's matte; matte_track() then shows the
    # tracker that matte, and matte_begin() takes the guess when the crop is
    # still the same (it mostly is), else runs the model again. matte_end()
    # finishes the frame (smoothing, edge) and reports model failures to the
    # guard, in frame order.
    def matte_guess(self, image: np.ndarray):
        """The model on ``image`` ahead of time (None where it cannot be done)."""
        with self._matte_lock:
            refiner = self.refiner
            return (refiner, refiner.guess(image)) if hasattr(refiner, "guess") else None

    def matte_begin(self, image: np.ndarray, guess=None) -> "PendingMatte":
        from livebg.matting.base import check_frame

        check_frame(image)
        t0 = time.perf_counter()
        with self._matte_lock:
            refiner = self.refiner
            ahead = guess[1] if guess is not None and guess[0] is refiner else None  # not after a model swap
            try:
                return PendingMatte(refiner, refiner.model_step(image, ahead), None, time.perf_counter() - t0)
            except Exception as e:  # reported by matte_end(), in frame order
                return PendingMatte(refiner, None, e, time.perf_counter() - t0)

    def matte_end(self, pending: "PendingMatte") -> np.ndarray | None:
        """The matte matte() would give (None before any good one when the model fails)."""
        t0 = time.perf_counter()
        error, alpha = pending.error, None
        if error is None:
            try:
                alpha = pending.refiner.finish_step(pending.step, track=False)
            except Exception as e:
                error = e
        if error is not None:
            pending.step = None  # nothing for the tracker to learn
            with self._matte_lock:
                alpha = self._failed(error)
        else:
            self.guard.ok(alpha)
        pending.alpha = alpha
        self.timings["matting"].append(pending.seconds + time.perf_counter() - t0)
        return alpha

    def matte_track(self, pending: "PendingMatte") -> None:
        """Show the tracker matte_end()'s matte (unless the model was swapped since)."""
        if pending.step is not None and pending.alpha is not None:
            with self._matte_lock:
                if pending.refiner is self.refiner:
                    pending.refiner.track(pending.step, pending.alpha)

    def composite(self, image: np.ndarray, alpha: np.ndarray | None, reuse: bool = True) -> np.ndarray:
        """``image`` over the background through ``alpha`` (pass-through when the
        effect is off, the background is 'none' or there is no matte yet).
        With reuse, the result lives in a buffer the next call overwrites."""
        from livebg.matting.base import check_frame

        check_frame(image)
        if not self.enabled or alpha is None:
            return image
        t0 = time.perf_counter()
        with self._bg_lock:
            bg = self.background.render(image)
        if bg is None:
            return image
        if not reuse or self._out is None or self._out.shape != image.shape:
            out = np.empty_like(image)
            if reuse:
                self._out = out
        else:
            out = self._out
        compositing.composite(image, alpha, bg, out)
        self.timings["compositing"].append(time.perf_counter() - t0)
        return out

    def process(self, image: np.ndarray, need_alpha: bool = False):
        """Both steps for one frame: (composited BGR uint8, alpha or None)."""
        if not self.enabled and not need_alpha:
            return image, None
        alpha = self.matte(image)
        return self.composite(image, alpha), alpha

    def close(self) -> None:
        self.background.close()
        self.refiner.use_flip_matter(None)
        if self._flip_matter is not None:
            self._flip_matter.close()
            self._flip_matter = None
        self.matter.close()


@dataclass
class PendingMatte:
    """A frame between Stage.matte_begin() and Stage.matte_end()/matte_track()."""

    refiner: MatteRefiner
    step: object | None        # MatteRefiner.model_step()'s result (None: the model failed)
    error: Exception | None
    seconds: float
    alpha: np.ndarray | None = None


@dataclass
class LiveStats:
    captured: int = 0
    processed: int = 0
    sent: int = 0
    repeated: int = 0
    startup: int = 0
    placeholder: int = 0
    source_failures: int = 0
    mattes: int = 0
    latency: collections.deque = field(default_factory=lambda: collections.deque(maxlen=10000))
    matte_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    new_frame_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))

    def summary(self, dropped: int, elapsed: float) -> str:
        lat = np.array(self.latency) * 1000 if self.latency else np.array([np.nan])
        return (
            f"{self.sent} frames out in {elapsed:.1f} s ({self.sent / max(elapsed, 1e-9):.1f} fps), "
            f"{self.repeated} repeated, {self.captured} captured, {dropped} dropped at capture, "
            f"latency p50 {np.percentile(lat, 50):.0f} ms / p95 {np.percentile(lat, 95):.0f} ms, "
            f"{self.mattes} mattes ({self.mattes / max(elapsed, 1e-9):.1f} per second)"
        )

    def matte_rate_recent(self) -> float:
        t = list(self.matte_times)
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0


def placeholder(width: int, height: int, text: str) -> np.ndarray:
    """A dark frame with a short message, for when there is no camera picture."""
    import cv2

    img = np.full((height, width, 3), 32, np.uint8)
    scale = max(0.5, width / 1280 * 1.4)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(img, text, ((width - tw) // 2, (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (220, 220, 220), 2, cv2.LINE_AA)
    return img


class LivePipeline:
    """Runs a live source through a Stage to sinks at a fixed output rate.

    source_factory: a callable returning a new, opened source; it is used to
    reopen the camera after pause_camera() or when it fails (with backoff).
    The control methods (set_*, pause/resume, recording) may be called from
    any thread while running; each applies from the next frame.
    """

    LOST_AFTER = 0.5       # s without a new frame before the placeholder shows
    RETRY_BACKOFF = (0.5, 1.0, 2.0, 4.0)

    def __init__(self, source, stage: Stage, sinks: list, width: int, height: int, fps: float,
                 mirror: bool = False, preview_slot: LatestSlot | None = None, source_factory=None,
                 on_event=None):
        self.source = source
        self.source_factory = source_factory
        self.stage = stage
        self.sinks = list(sinks)
        self.width, self.height, self.fps = width, height, fps
        self.mirror = mirror
        self.preview_slot = preview_slot
        self.on_event = on_event or (lambda kind, message: None)
        from livebg.faults import SinkGuard

        self._sink_guard = SinkGuard(self.remove_sink, self.on_event)
        stage.guard.configure(keep_going=True, on_event=self.on_event)  # live: never stop over the model
        self.stop_event = threading.Event()
        self.stats = LiveStats()
        self._in = LatestSlot()         # capture -> compositing: every frame we can show
        self._matte_in = LatestSlot()   # capture -> matting: the newest frame when matting is free
        self._alpha = None              # (alpha, frame index) of the newest matte
        self._out = LatestSlot()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._sinks_lock = threading.Lock()
        self._paused = threading.Event()
        self._resume = threading.Event()
        self.source_state = "running"   # running, paused, lost
        self.matte_size = getattr(stage.matter, "ref_size", None)
        self.timings = {k: collections.deque(maxlen=5000) for k in ("capture", "sinks")}
        self.recorder = None
        self.t_start = 0.0
        self.t_end = 0.0

    # -- control (the tray calls these) ---------------------------------
    def set_background(self, spec: str) -> None:
        """Open ``spec`` (raises InputError) and use it from the next frame."""
        self.stage.set_background(open_background(spec))

    def set_enabled(self, enabled: bool) -> None:
        """Off passes the camera picture through untouched."""
        self.stage.enabled = bool(enabled)

    def set_mirror(self, mirror: bool) -> None:
        self.mirror = bool(mirror)

    def set_matter(self, matter) -> None:
        """Swap the model (opened by the caller, which may take a while)."""
        self.stage.set_matter(matter)

    def pause_camera(self) -> None:
        """Release the camera so other programs can use it; output continues with a placeholder."""
        if self.source_factory is None:
            raise RuntimeError("this source cannot be reopened, so it cannot be paused")
        self._resume.clear()
        self._paused.set()

    def resume_camera(self) -> None:
        self._paused.clear()
        self._resume.set()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def start_recording(self, path) -> None:
        """Record the output to ``path`` (.mp4) from the next frame. Raises LivebgError."""
        from livebg.sinks.recorder import Recorder

        if self.recorder is not None:
            raise RuntimeError("already recording")
        rec = Recorder(path, self.width, self.height, self.fps, on_error=lambda m: self.on_event("error", m))
        self.recorder = rec
        self.add_sink(rec)

    def stop_recording(self):
        """Stop and finalise the recording; returns the Recorder (None if none)."""
        rec, self.recorder = self.recorder, None
        if rec is not None:
            self.remove_sink(rec)
            rec.close()
        return rec

    def add_sink(self, sink) -> None:
        with self._sinks_lock:
            self.sinks.append(sink)

    def remove_sink(self, sink) -> None:
        with self._sinks_lock:
            if sink in self.sinks:
                self.sinks.remove(sink)

    @staticmethod
    def _rate(times) -> float:
        now = time.monotonic()
        t = [x for x in list(times) if now - x < 2.0]
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0

    def processing_fps(self) -> float:
        """New output frames per second over the last couple of seconds."""
        return self._rate(self.stats.new_frame_times)

    def matting_fps(self) -> float:
        """Mattes per second over the last couple of seconds (may be below the output rate)."""
        return self._rate(self.stats.matte_times)

    # -- threads ----------------------------------------------------------
    def _guard(self, fn):
        def run():
            try:
                fn()
            except BaseException as e:  # stored and re-raised by join(): never lost in a thread
                if self._error is None:
                    self._error = e
                self.stop_event.set()
                self._in.wake()
                self._matte_in.wake()
                self._out.wake()
        return run

    def _close_source(self):
        src, self.source = self.source, None
        if src is not None:
            try:
                src.close()
            except Exception as e:  # a dying camera may fail to close; it is being dropped anyway
                log.debug("closing source: %s", e)

    def _reopen_source(self) -> bool:
        """Try to open the source again with backoff; True when it is back."""
        for attempt in range(10**9):
            if self.stop_event.is_set() or self._paused.is_set():
                return False
            try:
                self.source = self.source_factory()
                return True
            except Exception as e:
                delay = self.RETRY_BACKOFF[min(attempt, len(self.RETRY_BACKOFF) - 1)]
                log.debug("camera not back yet (%s); retrying in %.1f s", e, delay)
                self.stop_event.wait(delay)
        return False

    def _capture(self):
        import cv2

        from livebg.errors import InputError
        from livebg.faults import describe

        i = 0
        while not self.stop_event.is_set():
            if self._paused.is_set():
                self._close_source()
                self.source_state = "paused"
                self.on_event("info", "camera paused: released for other programs")
                while not self._resume.wait(0.1):
                    if self.stop_event.is_set():
                        return
                if not self._reopen_source():
                    continue
                self.source_state = "running"
                self.on_event("info", "camera resumed")
                continue
            t_read = time.perf_counter()
            try:
                image = self.source.read()
            except (InputError, cv2.error, OSError) as e:
                # InputError is the sources' own report; cv2.error and OSError
                # come from the camera's driver: a camera failing too, and live
                # output must outlive it, so it is retried the same way. Any
                # other exception is a bug: the run stops (recording finalised).
                if self.source_factory is None:
                    raise
                what = str(e) if isinstance(e, InputError) else f"camera failed ({describe(e)})"
                self.stats.source_failures += 1
                self.source_state = "lost"
                self.on_event("error", f"{what}; retrying")
                log.warning("%s; retrying", what)
                self._close_source()
                if self._reopen_source():
                    self.source_state = "running"
                    self.on_event("info", "camera is back")
                    log.info("camera is back")
                continue
            t = time.monotonic()
            t_got = time.perf_counter()
            image = cover_fit(image, self.width, self.height)
            if self.mirror:
                image = cv2.flip(image, 1)
            # Capture cost: decoding and scaling, not the wait for the camera's (or file's) pace.
            wait = getattr(self.source, "last_wait", 0.0)
            self.timings["capture"].append(time.perf_counter() - t_got + max(0.0, t_got - t_read - wait))
            f = Frame(image, i, t)
            self._in.put(f)
            self._matte_in.put(f)
            self.stats.captured += 1
            i += 1

    def _matting(self):
        """Mattes the newest frame whenever it is free: at the camera's rate when
        the machine keeps up, slower when not; compositing never waits for it."""
        last_t = time.monotonic()
        while not self.stop_event.is_set():
            frame = self._matte_in.get(timeout=0.1)
            if frame is None:
                continue
            if not self.stage.enabled:
                continue
            now = time.monotonic()
            if now - last_t > 1.0:
                self.stage.reset()  # after a pause the old matte history only misleads
            alpha = self.stage.matte(frame.image)
            last_t = time.monotonic()
            if alpha is None:  # the model failed before any good matte: keep the start-up frames
                continue
            self._alpha = (alpha, frame.index)
            self.stats.mattes += 1
            self.stats.matte_times.append(last_t)
            # A slow model (MODNet on a CPU) runs at the size that keeps its
            # mattes at most two output frames old; the output rate never waits.
            size = self.stage.adapt_resolution(2.0 / self.fps)
            if size is not None:
                self.matte_size = size
                log.debug("matting at %d px (longer side) to keep up", size)

    def _work(self):
        """Composites every captured frame with the newest matte."""
        while not self.stop_event.is_set():
            frame = self._in.get(timeout=0.1)
            if frame is None:
                continue
            current = self._alpha
            if self.stage.enabled and current is None:
                continue  # no matte yet (start-up): keep the black start-up frames, not a bare picture
            out = self.stage.composite(frame.image, current[0] if current is not None else None, reuse=False)
            self._out.put(Frame(out, frame.index, frame.t_capture))
            self.stats.processed += 1

    def _send(self):
        period = 1.0 / self.fps
        black = np.zeros((self.height, self.width, 3), np.uint8)
        notes = {}
        last = None
        t_last_new = time.monotonic()
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            if next_t > now:
                time.sleep(next_t - now)
            next_t += period
            if time.monotonic() - next_t > period:  # fell behind (suspend, stall): skip, don't burst
                next_t = time.monotonic() + period
            frame = self._out.peek()
            if frame is not None and frame is last and self.source_state == "running":
                # Nothing new yet. The camera runs on its own clock at about our
                # rate, so a frame is usually a few ms away: wait up to half a
                # period for it, and move our ticks to its phase, rather than
                # repeat a frame now and skip one at the next tick.
                frame = self._out.wait_newer(last, period / 2)
                if frame is not last:
                    next_t = time.monotonic() + period
            now = time.monotonic()
            if frame is None:
                image = black
                self.stats.startup += 1
            elif frame is not last:
                image = frame.image
                self.stats.latency.append(now - frame.t_capture)
                self.stats.new_frame_times.append(now)
                t_last_new = now
                last = frame
            elif self.source_state != "running" and now - t_last_new > self.LOST_AFTER:
                text = "camera paused" if self.source_state == "paused" else "camera lost - reconnecting"
                if text not in notes:
                    notes[text] = placeholder(self.width, self.height, text)
                image = notes[text]
                self.stats.placeholder += 1
            else:
                image = frame.image
                self.stats.repeated += 1
            with self._sinks_lock:
                sinks = list(self.sinks)
            t_send = time.perf_counter()
            for sink in sinks:
                self._sink_guard.send(sink, image)  # one failing sink must not stop the others
            self.timings["sinks"].append(time.perf_counter() - t_send)
            if self.preview_slot is not None:
                self.preview_slot.put(image)
            self.stats.sent += 1

    def start(self) -> None:
        self.t_start = time.monotonic()
        for name, fn in (("capture", self._capture), ("matting", self._matting), ("compositing", self._work),
                         ("sender", self._send)):
            t = threading.Thread(target=self._guard(fn), name=f"livebg-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        self._resume.set()
        self._in.wake()
        self._matte_in.wake()
        self._out.wake()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the threads; re-raise the first error any of them had."""
        for t in self._threads:
            t.join(timeout)
        self.t_end = time.monotonic()
        self._close_source()
        if self._error is not None:
            raise self._error

    @property
    def dropped(self) -> int:
        return self._in.dropped

    @property
    def elapsed(self) -> float:
        return (self.t_end or time.monotonic()) - self.t_start


_END = object()


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse instead of handing them
    back to the kernel. Every frame allocates a few megabytes of arrays (decoded
    frames, composites, matte planes); by default each large one is a fresh
    mmap, so every page is faulted in and zeroed again, frame after frame: that
    cost a fifth of `livebg process`'s CPU time. Process-wide, for the file
    command (live runs keep the default). False where not glibc (nothing done)."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit: blocks up to
    # a 1080p float plane come from the heap, and up to 512 MiB of freed heap is kept.
    ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
    return mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1 and ok


def process_file(reader, stage: Stage, writer, matte_writer=None, progress=None, queue_size: int = 8) -> int:
    """Every frame of ``reader``, in order, through ``stage`` into ``writer``.

    Five threads behind bounded queues (backpressure, never a dropped frame):
    decoding; the model (Stage.matte_guess, matte_begin); the matte's
    finishing step (Stage.matte_end: smoothing and edge, on this thread), so
    the model runs on frame k + 1 while frame k is refined, on the crop the
    tracker had before frame k, and again only when frame k's matte moves the
    crop (the matte is the one Stage.matte() gives); compositing and video
    encoding; the matte's scaling to full size and its encoding. The stages
    keep the cores busy between them, so each runs its
    numeric libraries single-threaded: OpenCV's and numba's worker pools would
    only wait (spinning, on CPU) for work the other stages need the cores for.
    Returns the number of frames. Re-raises the first error from any thread.
    """
    import cv2

    stop = threading.Event()
    errors: list[BaseException] = []
    q_in: queue.Queue = queue.Queue(queue_size)
    q_mid: queue.Queue = queue.Queue(2)
    q_out: queue.Queue = queue.Queue(queue_size)
    q_matte: queue.Queue = queue.Queue(queue_size)
    finished: queue.Queue = queue.Queue()  # finished mattes, in order, back to the model step for the tracker
    matting = stage.enabled or matte_writer is not None

    def put(q, item):
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:
                errors.append(e)
                stop.set()
        return run

    def decode():
        try:
            for image in reader.frames():
                if not put(q_in, image):
                    return
        finally:
            put(q_in, _END)

    def model():
        try:
            k = 0
            while (image := get(q_in)) is not _END:
                pending = None
                if matting:
                    guess = stage.matte_guess(image)  # while frame k - 1 is being finished
                    if k >= 1:  # the tracker learns the matte of frame k - 1 first, as in Stage.matte()
                        done = get(finished)
                        if done is _END:
                            return
                        stage.matte_track(done)
                    pending = stage.matte_begin(image, guess)
                if not put(q_mid, (image, pending)):
                    return
                k += 1
        finally:
            put(q_mid, _END)

    def encode():
        import numba

        numba.set_num_threads(1)  # for this thread only: the compositing kernel runs here
        while (item := get(q_out)) is not _END:
            image, alpha = item
            writer.write(stage.composite(image, alpha, reuse=False))

    def encode_matte():
        while (item := get(q_matte)) is not _END:
            alpha, h, w = item
            matte_writer.write(full_res_alpha_u8(alpha, h, w))

    threads = [threading.Thread(target=guarded(decode), name="livebg-decode", daemon=True),
               threading.Thread(target=guarded(model), name="livebg-model", daemon=True),
               threading.Thread(target=guarded(encode), name="livebg-encode", daemon=True)]
    if matte_writer is not None:
        threads.append(threading.Thread(target=guarded(encode_matte), name="livebg-matte", daemon=True))
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # process-wide: restored below
    for t in threads:
        t.start()
    n = 0
    try:
        while True:
            item = get(q_mid)
            if item is _END:
                break
            image, pending = item
            alpha = None
            if pending is not None:
                alpha = stage.matte_end(pending)
                finished.put(pending)
            if not put(q_out, (image, alpha)):
                break
            if matte_writer is not None and not put(q_matte, (alpha, image.shape[0], image.shape[1])):
                break
            n += 1
            if progress is not None:
                progress(n)
    except BaseException as e:
        errors.append(e)
        stop.set()
    finally:
        put(q_out, _END)
        put(q_matte, _END)
        for t in threads:
            t.join()
        cv2.setNumThreads(cv_threads)
    if errors:
        raise errors[0]
    return n


def full_res_alpha_u8(alpha: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """The matte at frame size as uint8, scaled exactly as the compositor scales it
    (all 255 for None: a frame passed through because the model failed)."""
    import cv2

    if alpha is None:
        return np.full((height, width), 255, np.uint8)
    if alpha.dtype != np.float32:
        alpha = alpha.astype(np.float32)
    a = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    # One saturating, rounding pass (the matte is in [0, 1], so the "Abs" does
    # nothing): several times cheaper than scale, clip and cast as numpy steps.
    return cv2.convertScaleAbs(a, alpha=255.0)
