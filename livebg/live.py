"""The live path: camera -> matting -> compositing -> sinks, at a steady output rate.

A capture thread puts frames into a latest-frame slot (old frames are
dropped and counted, never queued into latency); a matting thread mattes
the newest frame whenever it is free; a compositing thread composites every
captured frame with the newest matte into an output slot; a paced sender
hands the newest output to the sinks every 1/fps seconds, re-sending the
last frame when no new one is ready, so the virtual camera never freezes.

One stop event for all threads; the first exception in any of them is
stored, stops the others and is re-raised by join().
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from livebg.backgrounds import open_background
from livebg.errors import InputError, describe
from livebg.faults import SinkGuard
from livebg.frames import Frame, LatestSlot, cover_fit
from livebg.refine.carry import MatteCarrier, thumbnail
from livebg.sinks import Sink
from livebg.sources import Source
from livebg.stage import Stage

log = logging.getLogger("livebg")


@dataclass
class LiveStats:
    captured: int = 0
    processed: int = 0
    sent: int = 0
    repeated: int = 0          # a frame sent again because no new picture was ready in time
    repeated_by_input: int = 0  # ... because the input itself is slower than the output (a 15 fps file)
    input_fps: float = 0.0
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
            + self.input_rate_note()
        )

    def input_rate_note(self) -> str:
        """Said when the input is slower than the output: its own repeats are not a fault."""
        if not self.repeated_by_input:
            return ""
        return (f"; the input delivers {self.input_fps:.3g} fps, so {self.repeated_by_input} more frames out "
                f"repeat the one before, at its own rate")

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

    The caller configures the stage's guard for live use (keep going when
    no model is left; events to the tray).

    source_factory: a callable returning a new, opened source; it is used to
    reopen the camera after pause_camera() or when it fails (with backoff).
    The control methods (set_*, pause/resume, recording) may be called from
    any thread while running; each applies from the next frame.
    """

    LOST_AFTER = 0.5       # s without a new frame before the placeholder shows
    RETRY_BACKOFF = (0.5, 1.0, 2.0, 4.0)

    def __init__(self, source: Source, stage: Stage, sinks: list[Sink], width: int, height: int, fps: float,
                 mirror: bool = False, preview_slot: LatestSlot | None = None,
                 source_factory: Callable[[], Source] | None = None,
                 on_event: Callable[[str, str], None] | None = None):
        self.source = source
        self.source_factory = source_factory
        self.stage = stage
        self.sinks = list(sinks)
        self.width, self.height, self.fps = width, height, fps
        self.mirror = mirror
        self.preview_slot = preview_slot
        self.on_event = on_event or (lambda kind, message: None)
        self._sink_guard = SinkGuard(self.remove_sink, self.on_event)
        self.stop_event = threading.Event()
        self.stats = LiveStats()
        self._in = LatestSlot()         # capture -> compositing: every frame we can show
        self._matte_in = LatestSlot()   # capture -> matting: the newest frame when matting is free
        self._matte = None              # (matte, index and thumbnail of the frame it was computed on): the newest
        self._carrier = MatteCarrier()  # moves it to the frame it is laid over
        self._discontinuity = threading.Event()  # the picture stopped being a continuation: reset the matting
        self._out = LatestSlot()
        self._error: BaseException | None = None
        self._threads: list[threading.Thread] = []
        self._sinks_lock = threading.Lock()
        self._paused = threading.Event()
        self._resume = threading.Event()
        self.source_state = "running"   # running, paused, lost
        self.timings = {k: collections.deque(maxlen=5000) for k in ("capture", "carry", "sinks")}
        self.recorder = None
        self.t_start = 0.0
        self.t_end = 0.0
        # Studio look (livebg.lowlight, livebg.autoframe): None when off. Low light lifts the
        # camera's picture before anything else sees it; auto-frame crops the composited output.
        self.lowlight = None
        self.framer = None

    # -- control (the tray calls these) ---------------------------------
    def set_background(self, spec: str) -> None:
        """Open ``spec`` (raises InputError) and use it from the next frame."""
        self.stage.set_background(open_background(spec))

    def set_enabled(self, enabled: bool) -> None:
        """Off passes the camera picture through untouched."""
        self.stage.enabled = bool(enabled)

    def set_mirror(self, mirror: bool) -> None:
        if bool(mirror) != self.mirror:
            self._discontinuity.set()  # a mirrored picture is not a continuation of the last one
        self.mirror = bool(mirror)

    def set_matter(self, matter) -> None:
        """Swap the model (opened by the caller, which may take a while)."""
        self.stage.set_matter(matter)

    def set_low_light(self, on: bool) -> None:
        """Lift a dark camera picture (from the next frame)."""
        if bool(on) == (self.lowlight is not None):
            return
        if on:
            from livebg.lowlight import LowLight, warmup

            warmup()
            self.lowlight = LowLight()
        else:
            self.lowlight = None

    def set_auto_frame(self, on: bool) -> None:
        """Keep the person centred and at a steady size (from the next frame)."""
        if bool(on) == (self.framer is not None):
            return
        if on:
            from livebg.autoframe import AutoFramer

            self.framer = AutoFramer(self.width, self.height)
        else:
            self.framer = None

    def set_light_wrap(self, strength: float) -> None:
        self.stage.look.light_wrap = float(strength)

    def set_color_match(self, strength: float) -> None:
        self.stage.look.color_match = float(strength)

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

    def close_source(self):
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


        i = 0
        while not self.stop_event.is_set():
            if self._paused.is_set():
                self.close_source()
                self.source_state = "paused"
                self.on_event("info", "camera paused: released for other programs")
                while not self._resume.wait(0.1):
                    if self.stop_event.is_set():
                        return
                if not self._reopen_source():
                    continue
                self._discontinuity.set()
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
                self.close_source()
                if self._reopen_source():
                    self._discontinuity.set()
                    self.source_state = "running"
                    self.on_event("info", "camera is back")
                    log.info("camera is back")
                continue
            t = time.monotonic()
            t_got = time.perf_counter()
            image = cover_fit(image, self.width, self.height)
            if self.mirror:
                image = cv2.flip(image, 1)
            lowlight = self.lowlight
            if lowlight is not None:
                image = lowlight(image, t)
            # Capture cost: decoding and scaling, not the wait for the camera's (or file's) pace.
            wait = self.source.last_wait
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
            if not self.stage.enabled and self.framer is None:  # auto-frame follows the matte even then
                continue
            now = time.monotonic()
            if now - last_t > 1.0 or self._discontinuity.is_set():
                # After a gap, a reconnect, a resume or a mirror toggle the
                # matte's history (and a recurrent model's state) only misleads.
                self._discontinuity.clear()
                self.stage.reset()
                for part in (self.lowlight, self.framer):
                    if part is not None:
                        part.reset()
            matte = self.stage.matte(frame.image)
            last_t = time.monotonic()
            if matte is None:  # the model failed before any good matte: keep the start-up frames
                continue
            self._matte = (matte, frame.index, thumbnail(frame.image))
            self.stats.mattes += 1
            self.stats.matte_times.append(last_t)
            # A slow model (MODNet on a CPU) runs at the size that keeps its
            # mattes at most two output frames old; the output rate never waits.
            size = self.stage.adapt_resolution(2.0 / self.fps)
            if size is not None:
                log.debug("matting at %d px (longer side) to keep up", size)

    def _work(self):
        """Composites every captured frame with the newest matte, moved along
        the motion from the frame it was computed on to this one (a slow model
        mattes every second or third frame; laid over a later frame unmoved,
        a matte trails behind a moving person)."""
        while not self.stop_event.is_set():
            frame = self._in.get(timeout=0.1)
            if frame is None:
                continue
            newest = self._matte
            if self.stage.enabled and newest is None:
                continue  # no matte yet (start-up): keep the black start-up frames, not a bare picture
            matte = None
            framer = self.framer
            if newest is not None and (self.stage.enabled or framer is not None):  # auto-frame reads it too
                matte, index, thumb = newest
                if index != frame.index:
                    t0 = time.perf_counter()
                    matte = self._carrier.carry(matte, thumb, frame.image)
                    self.timings["carry"].append(time.perf_counter() - t0)
            out = self.stage.composite(frame.image, matte, reuse=False)
            if framer is not None:
                out = framer(out, matte.alpha if matte is not None else None, frame.t_capture)
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
                # A 15 fps input shows each picture twice at 30 fps: that is its rate,
                # not a picture late. Late is when its next one was due and is not here.
                source_fps = getattr(self.source, "fps", 0.0) or 0.0
                if 0 < source_fps < self.fps * 0.98 and now - t_last_new < 1.1 / source_fps:
                    self.stats.repeated_by_input += 1
                    self.stats.input_fps = source_fps
                else:
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
        self.close_source()
        if self._error is not None:
            raise self._error

    @property
    def dropped(self) -> int:
        return self._in.dropped

    @property
    def elapsed(self) -> float:
        return (self.t_end or time.monotonic()) - self.t_start
