"""Keeping the output alive through faults that happen while running.

- :class:`MattingGuard`: the model raising on a frame. That frame gets the
  last good matte; a run of failures switches to the next model of
  :data:`FALLBACK_CHAIN` and says so. The guard decides; the stage applies.
- :class:`SinkGuard`: a sink (virtual camera, preview, ...) raising. Only
  that frame is lost for that sink; a sink that keeps failing is dropped,
  with a message, and the other sinks (the recording) go on.

Nothing here is specific to a thread: the live pipeline and ``process``
use the same guards.
"""

from __future__ import annotations

import logging
import time

from livebg.errors import LivebgError, ModelError, describe

log = logging.getLogger("livebg")

#: Best first: when a model keeps failing, livebg moves to the next one. The
#: matting models (rvm, modnet) and model files fall back to the first of these.
FALLBACK_CHAIN = ("mediapipe-selfie-onnx", "mediapipe-selfie", "mediapipe-selfie-landscape")


def fallback_names(current: str, tried=()) -> list[str]:
    """The models to try, in order, after ``current`` failed.

    A model of the chain falls back to the ones after it; any other model
    (RVM, MODNet, a file) to the whole chain: the light models, which run
    anywhere (a failing matting model says nothing about another's chances).
    """
    chain = list(FALLBACK_CHAIN)
    rest = chain[chain.index(current) + 1:] if current in chain else chain
    return [n for n in rest if n != current and n not in tried]


class MattingGuard:
    """Decides what happens when the model raises on a frame; the stage
    (:class:`livebg.stage.Stage`) applies the decision.

    - one failure: the frame keeps the last good matte (the stage's);
    - ``threshold`` failures in a row: the next model of the chain that
      ``opener(name)`` can open is handed back, with a message, for the
      stage to put in place;
    - no model left (or no opener): ``process`` stops with a ModelError (a
      file of untouched frames would be a silent failure); live
      (``keep_going``) keeps the last good matte and keeps trying.

    Invalid frames are not model failures: the stage validates them first.
    """

    LOG_EVERY = 10.0  # s between reports of isolated failures

    def __init__(self, threshold: int = 3, opener=None, keep_going: bool = False, on_event=None):
        self.threshold = threshold
        self.opener = opener          # name -> Matter (raises LivebgError)
        self.keep_going = keep_going
        self.on_event = on_event
        self.failures = 0      # frames whose matting failed, in all
        self.streak = 0        # ... in a row, now
        self.switches: list[tuple[str, str]] = []  # (from, to), in order: what happened, for reports
        self._tried: set[str] = set()
        self._last_log = -1e9
        self._stuck_said = False

    def ok(self) -> None:
        """A frame was matted."""
        self.streak = 0
        self._stuck_said = False

    def _say(self, level: int, message: str) -> None:
        log.log(level, "%s", message)
        if self.on_event is not None:
            try:
                self.on_event("error", message)
            except Exception as e:  # a notification must never break matting
                log.debug("event callback: %s", e)

    def failed(self, model: str, exc: Exception):
        """``model`` failed on a frame: returns a model to take over (the stage
        puts it in place), or None to keep the last good matte. Raises
        ModelError when ``process`` must stop."""
        self.failures += 1
        self.streak += 1
        what = describe(exc)
        now = time.monotonic()
        if self.streak < self.threshold:
            if now - self._last_log >= self.LOG_EVERY:
                self._last_log = now
                log.warning("matting failed on a frame (%s); it keeps the last good matte (%d failed so far)",
                            what, self.failures)
            return None
        replacement = self._next_model(model)
        if replacement is not None:
            self._say(logging.WARNING, f"matting failed on {self.streak} frames in a row ({what}); "
                                       f"switched from {model} to {replacement.name}")
            self.switches.append((model, replacement.name))
            self.streak = 0
            return replacement
        if not self.keep_going:
            raise ModelError(f"matting failed on {self.streak} frames in a row ({what}) "
                             f"and no other model could take over")
        if not self._stuck_said:
            self._stuck_said = True
            self._say(logging.ERROR, f"matting keeps failing ({what}) and no other model could take over; "
                                     f"showing the last good matte and retrying")
        return None

    def _next_model(self, model: str):
        """The next model of the chain that opens, or None."""
        if self.opener is None:
            return None
        self._tried.add(model)
        for name in fallback_names(model, self._tried):
            self._tried.add(name)
            try:
                return self.opener(name)
            except LivebgError as e:
                log.warning("fallback model %s cannot be used: %s", name, e)
        return None


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
