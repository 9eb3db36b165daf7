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
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from livebg import compositing
from livebg.backgrounds import Background, open_background
from livebg.frames import Frame, LatestSlot, cover_fit
from livebg.refine import TemporalSmoother

log = logging.getLogger("livebg")


class Stage:
    """Matting, smoothing and compositing for one frame. Settings can change
    between frames (the tray does this) without a restart."""

    def __init__(self, matter, background: Background, smoothing: float = 0.6, enabled: bool = True):
        self.matter = matter
        self.background = background
        self.smoother = TemporalSmoother(smoothing)
        self.enabled = enabled
        self._lock = threading.Lock()
        self._out: np.ndarray | None = None
        self.timings: dict[str, collections.deque] = {k: collections.deque(maxlen=2000) for k in ("matting", "smoothing", "compositing")}

    def set_background(self, background: Background) -> None:
        with self._lock:
            old, self.background = self.background, background
        old.close()

    def process(self, image: np.ndarray, need_alpha: bool = False):
        """Returns (composited BGR uint8, alpha float32 at model resolution or None)."""
        with self._lock:
            background = self.background
            enabled = self.enabled
        if not enabled and not need_alpha:
            return image, None
        t0 = time.perf_counter()
        alpha = self.matter(image)
        t1 = time.perf_counter()
        alpha = self.smoother(alpha)
        t2 = time.perf_counter()
        bg = background.render(image) if enabled else None
        if bg is None:
            out = image
        else:
            if self._out is None or self._out.shape != image.shape:
                self._out = np.empty_like(image)
            out = compositing.composite(image, alpha, bg, self._out)
        t3 = time.perf_counter()
        self.timings["matting"].append(t1 - t0)
        self.timings["smoothing"].append(t2 - t1)
        self.timings["compositing"].append(t3 - t2)
        return out, alpha

    def close(self) -> None:
        self.background.close()
        self.matter.close()


@dataclass
class LiveStats:
    captured: int = 0
    processed: int = 0
    sent: int = 0
    repeated: int = 0
    startup: int = 0
    latency: collections.deque = field(default_factory=lambda: collections.deque(maxlen=10000))

    def summary(self, dropped: int, elapsed: float) -> str:
        lat = np.array(self.latency) * 1000 if self.latency else np.array([np.nan])
        return (
            f"{self.sent} frames out in {elapsed:.1f} s ({self.sent / max(elapsed, 1e-9):.1f} fps), "
            f"{self.repeated} repeated, {self.captured} captured, {dropped} dropped at capture, "
            f"latency p50 {np.percentile(lat, 50):.0f} ms / p95 {np.percentile(lat, 95):.0f} ms"
        )


class LivePipeline:
    """Runs a live source through a Stage to sinks at a fixed output rate."""

    def __init__(self, source, stage: Stage, sinks: list, width: int, height: int, fps: float,
                 mirror: bool = False, preview_slot: LatestSlot | None = None):
        self.source = source
        self.stage = stage
        self.sinks = list(sinks)
        self.width, self.height, self.fps = width, height, fps
        self.mirror = mirror
        self.preview_slot = preview_slot
        self.stop_event = threading.Event()
        self.stats = LiveStats()
        self._in = LatestSlot()
        self._out = LatestSlot()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._sinks_lock = threading.Lock()
        self.t_start = 0.0
        self.t_end = 0.0

    # -- control (the tray calls these) ---------------------------------
    def set_background(self, spec: str) -> None:
        self.stage.set_background(open_background(spec))

    def set_enabled(self, enabled: bool) -> None:
        self.stage.enabled = bool(enabled)

    def add_sink(self, sink) -> None:
        with self._sinks_lock:
            self.sinks.append(sink)

    def remove_sink(self, sink) -> None:
        with self._sinks_lock:
            if sink in self.sinks:
                self.sinks.remove(sink)

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
                self._out.wake()
        return run

    def _capture(self):
        import cv2

        i = 0
        while not self.stop_event.is_set():
            image = self.source.read()
            t = time.monotonic()
            image = cover_fit(image, self.width, self.height)
            if self.mirror:
                image = cv2.flip(image, 1)
            self._in.put(Frame(image, i, t))
            self.stats.captured += 1
            i += 1

    def _work(self):
        while not self.stop_event.is_set():
            frame = self._in.get(timeout=0.1)
            if frame is None:
                continue
            out, _ = self.stage.process(frame.image)
            # The stage reuses its output buffer; the sender may still be reading the last one.
            self._out.put(Frame(out.copy() if out is not frame.image else out, frame.index, frame.t_capture))
            self.stats.processed += 1

    def _send(self):
        period = 1.0 / self.fps
        black = np.zeros((self.height, self.width, 3), np.uint8)
        last = None
        next_t = time.monotonic()
        while not self.stop_event.is_set():
            now = time.monotonic()
            if next_t > now:
                time.sleep(next_t - now)
            next_t += period
            if time.monotonic() - next_t > period:  # fell behind (suspend, stall): skip, don't burst
                next_t = time.monotonic() + period
            frame = self._out.peek()
            if frame is None:
                image = black
                self.stats.startup += 1
            else:
                image = frame.image
                if frame is last:
                    self.stats.repeated += 1
                else:
                    self.stats.latency.append(time.monotonic() - frame.t_capture)
                last = frame
            with self._sinks_lock:
                sinks = list(self.sinks)
            for sink in sinks:
                sink.send(image)
            if self.preview_slot is not None:
                self.preview_slot.put(image)
            self.stats.sent += 1

    def start(self) -> None:
        self.t_start = time.monotonic()
        for name, fn in (("capture", self._capture), ("matting", self._work), ("sender", self._send)):
            t = threading.Thread(target=self._guard(fn), name=f"livebg-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        self._in.wake()
        self._out.wake()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the threads; re-raise the first error any of them had."""
        for t in self._threads:
            t.join(timeout)
        self.t_end = time.monotonic()
        if self._error is not None:
            raise self._error

    @property
    def dropped(self) -> int:
        return self._in.dropped

    @property
    def elapsed(self) -> float:
        return (self.t_end or time.monotonic()) - self.t_start


_END = object()


def process_file(reader, stage: Stage, writer, matte_writer=None, progress=None, queue_size: int = 8) -> int:
    """Every frame of ``reader``, in order, through ``stage`` into ``writer``.

    Decoding and encoding run on their own threads with bounded queues
    (backpressure, never a dropped frame). Returns the number of frames.
    Re-raises the first error from any thread.
    """
    stop = threading.Event()
    errors: list[BaseException] = []
    q_in: queue.Queue = queue.Queue(queue_size)
    q_out: queue.Queue = queue.Queue(queue_size)

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

    def decode():
        try:
            for image in reader.frames():
                if not put(q_in, image):
                    return
        except BaseException as e:
            errors.append(e)
            stop.set()
        finally:
            put(q_in, _END)

    def encode():
        try:
            while True:
                item = get(q_out)
                if item is _END:
                    return
                image, alpha_u8 = item
                writer.write(image)
                if matte_writer is not None:
                    matte_writer.write(alpha_u8)
        except BaseException as e:
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=decode, name="livebg-decode", daemon=True),
               threading.Thread(target=encode, name="livebg-encode", daemon=True)]
    for t in threads:
        t.start()
    n = 0
    try:
        while True:
            image = get(q_in)
            if image is _END:
                break
            out, alpha = stage.process(image, need_alpha=matte_writer is not None)
            alpha_u8 = None
            if matte_writer is not None:
                alpha_u8 = full_res_alpha_u8(alpha, image.shape[0], image.shape[1])
            if not put(q_out, (out.copy() if out is not image else out, alpha_u8)):
                break
            n += 1
            if progress is not None:
                progress(n)
    except BaseException as e:
        errors.append(e)
        stop.set()
    finally:
        put(q_out, _END)
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    return n


def full_res_alpha_u8(alpha: np.ndarray, height: int, width: int) -> np.ndarray:
    """The matte at frame size as uint8, scaled exactly as the compositor scales it."""
    import cv2

    a = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
