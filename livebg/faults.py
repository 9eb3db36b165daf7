"""Keeping the output alive through faults that happen while running.

- :class:`MattingGuard`: the model raising on a frame. That frame gets the
  last good matte; a run of failures switches to the next model of
  :data:`FALLBACK_CHAIN` and says so.
- :class:`SinkGuard`: a sink (virtual camera, preview, ...) raising. Only
  that frame is lost for that sink; a sink that keeps failing is dropped,
  with a message, and the other sinks (the recording) go on.
- :func:`quiet_native_stderr`: silence C libraries (libpng) that print
  their own error text on stderr while we report the error on one line.

Nothing here is specific to a thread: the live pipeline and ``process``
use the same guards.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time

from livebg.errors import LivebgError, ModelError

log = logging.getLogger("livebg")

#: Best first: when a model keeps failing, livebg moves to the next one.
FALLBACK_CHAIN = ("modnet", "mediapipe-selfie-onnx", "mediapipe-selfie", "mediapipe-selfie-landscape")


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``, for one-line reports."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fallback_names(current: str, tried=()) -> list[str]:
    """The models to try, in order, after ``current`` failed.

    A model of the chain falls back to the ones after it; any other model
    (a file) to the chain after MODNet, since MODNet
    is the slow one and a failing custom model says nothing about speed.
    """
    chain = list(FALLBACK_CHAIN)
    rest = chain[chain.index(current) + 1:] if current in chain else chain[1:]
    return [n for n in rest if n != current and n not in tried]


def fallback_opener(offline: bool = False):
    """``opener`` for MattingGuard: opens a model of the chain by name
    (on the default provider: the fallbacks run through MediaPipe on the CPU)."""

    def open_(name: str):
        from livebg.matting import open_named

        return open_named(name, "auto", offline)

    return open_


class MattingGuard:
    """What :meth:`livebg.pipeline.Stage.matte` does when the model raises.

    - one failure: the frame gets the last good matte (None before the
      first: the caller then passes the frame through, or, live, keeps its
      start-up frames);
    - ``threshold`` failures in a row: the next model of the chain is
      opened through ``opener(name)`` and takes over, with a message;
    - no model left (or no opener): ``process`` stops with a MattingError
      (a file of untouched frames would be a silent failure); live
      (``keep_going``) keeps the last good matte and keeps trying.

    Invalid frames are not model failures: Stage validates them first.
    """

    LOG_EVERY = 10.0  # s between reports of isolated failures

    def __init__(self, threshold: int = 3):
        self.threshold = threshold
        self.opener = None
        self.keep_going = False
        self.on_event = None
        self.failures = 0      # frames whose matting failed, in all
        self.streak = 0        # ... in a row, now
        self.switches: list[tuple[str, str]] = []
        self._tried: set[str] = set()
        self._last = None
        self._last_log = -1e9
        self._stuck_said = False

    def configure(self, opener=None, keep_going: bool | None = None, on_event=None) -> "MattingGuard":
        if opener is not None:
            self.opener = opener
        if keep_going is not None:
            self.keep_going = keep_going
        if on_event is not None:
            self.on_event = on_event
        return self

    def ok(self, alpha) -> None:
        self.streak = 0
        self._last = alpha
        self._stuck_said = False

    def _say(self, level: int, message: str) -> None:
        log.log(level, "%s", message)
        if self.on_event is not None:
            try:
                self.on_event("error", message)
            except Exception as e:  # a notification must never break matting
                log.debug("event callback: %s", e)

    def failed(self, stage, exc: Exception):
        """Called under the stage's matte lock; returns the matte to use (or None)."""
        self.failures += 1
        self.streak += 1
        what = describe(exc)
        now = time.monotonic()
        if self.streak < self.threshold:
            if now - self._last_log >= self.LOG_EVERY:
                self._last_log = now
                log.warning("matting failed on a frame (%s); it keeps the last good matte (%d failed so far)",
                            what, self.failures)
            return self._last
        if self._switch(stage, what):
            self.streak = 0
            return self._last
        if not self.keep_going:
            raise ModelError(f"matting failed on {self.streak} frames in a row ({what}) "
                             f"and no other model could take over")
        if not self._stuck_said:
            self._stuck_said = True
            self._say(logging.ERROR, f"matting keeps failing ({what}) and no other model could take over; "
                                     f"showing the last good matte and retrying")
        return self._last

    def _switch(self, stage, what: str) -> bool:
        """Open the next model that works and put it in the stage; False if none."""
        if self.opener is None:
            return False
        from livebg.refine import MatteRefiner

        old = stage.matter
        old_name = getattr(old, "name", "the model")
        self._tried.add(old_name)
        for name in fallback_names(old_name, self._tried):
            self._tried.add(name)
            try:
                new = self.opener(name)
            except LivebgError as e:
                log.warning("fallback model %s cannot be used: %s", name, e)
                continue
            stage.matter = new
            stage.refiner = MatteRefiner.for_matter(new, stage.smoothing, stage.refine)
            try:
                old.close()
            except Exception as e:  # it is failing already; it is dropped anyway
                log.debug("closing %s: %s", old_name, e)
            self.switches.append((old_name, new.name))
            self._say(logging.WARNING, f"matting failed on {self.streak} frames in a row ({what}); "
                                       f"switched from {old_name} to {new.name}")
            return True
        return False


class SinkGuard:
    """Sends frames to sinks so that one failing sink cannot stop the others.

    A send that raises loses that frame for that sink only. A sink that
    has failed for ``give_up_after`` seconds without one success is
    removed through ``remove(sink)``, closed, and reported once.
    """

    def __init__(self, remove, on_event=None, give_up_after: float = 2.0):
        self.remove = remove
        self.on_event = on_event
        self.give_up_after = give_up_after
        self.failures = 0
        self.dropped: list[str] = []
        self._failing: dict[int, tuple[float, int]] = {}

    def send(self, sink, image) -> bool:
        """True when the sink took the frame."""
        try:
            sink.send(image)
        except Exception as e:
            self._failed(sink, e)
            return False
        if self._failing:
            self._failing.pop(id(sink), None)
        return True

    def _failed(self, sink, exc: Exception) -> None:
        self.failures += 1
        name = getattr(sink, "name", type(sink).__name__)
        now = time.monotonic()
        first, count = self._failing.get(id(sink), (now, 0))
        self._failing[id(sink)] = (first, count + 1)
        if count == 0:
            log.warning("%s: sending a frame failed (%s); retrying", name, describe(exc))
        if now - first < self.give_up_after:
            return
        self._failing.pop(id(sink), None)
        self.remove(sink)
        try:
            sink.close()
        except Exception as e:
            log.debug("closing %s: %s", name, e)
        self.dropped.append(name)
        message = (f"{name} failed for {now - first:.1f} s ({describe(exc)}); stopped sending to it, "
                   f"the rest of the output goes on")
        log.error("%s", message)
        if self.on_event is not None:
            try:
                self.on_event("error", message)
            except Exception as e:
                log.debug("event callback: %s", e)


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr():
    """Send file descriptor 2 to /dev/null for the block (not with --debug).

    For C libraries that print their own error text (libpng does) when we
    already turn the failure into one clear line. Keep the block short:
    other threads' stderr is silenced too while it runs.
    """
    if os.environ.get("LIVEBG_DEBUG") == "1":
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
