"""Recording the composited output to H.264 MP4 on its own thread.

The live path only ever does a non-blocking put into a small queue; when the
encoder falls behind the oldest waiting frame is dropped and counted, so a
slow disk or encoder can never stall the virtual camera.
"""

from __future__ import annotations

import collections
import logging
import threading
from pathlib import Path

import numpy as np

from livebg.errors import LivebgError
from livebg.video import VideoWriter

log = logging.getLogger("livebg")


class Recorder:
    """Records frames pushed at a constant rate. close() finalises the file.

    Raises LivebgError at construction when the file cannot be created. A
    write failure later (disk full) stops the recording, cuts the file back
    to its last complete fragment (at most ~2 s lost) so all of it plays,
    and is reported in ``error`` and through ``on_error``; the live path
    goes on.
    """

    name = "recorder"

    def __init__(self, path: str | Path, width: int, height: int, fps: float, max_queue: int = 16,
                 on_error=None):
        self.path = Path(path)
        self.fps = fps
        self.on_error = on_error  # called with the one-line message when writing fails
        self.frames_kept: int | None = None  # after a failure: the frames the trimmed file holds
        self._writer = VideoWriter(self.path, width, height, fps, kind="h264")
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._max = max_queue
        self._cond = threading.Condition()
        self._closing = False
        self.dropped = 0
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="livebg-recorder", daemon=True)
        self._thread.start()

    @property
    def frames_written(self) -> int:
        return self._writer.frames_written if self.frames_kept is None else self.frames_kept

    def send(self, frame: np.ndarray) -> None:
        """Queue a frame (copied by the caller if it may change). Never blocks."""
        with self._cond:
            if self._closing or self.error:
                return
            if len(self._queue) >= self._max:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(frame)
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue and self._closing:
                    return
                frame = self._queue.popleft()
            try:
                self._writer.write(frame)
            except LivebgError as e:
                with self._cond:
                    self.error = str(e)
                    self._queue.clear()
                self._salvage()
                message = (f"recording stopped: {e}; {self.frames_kept} frames "
                           f"({self.frames_kept / self.fps:.1f} s) before it are kept in {self.path}")
                log.error("%s", message)
                if self.on_error is not None:
                    try:
                        self.on_error(message)
                    except Exception as cb:  # a notification must not hide the error
                        log.debug("recording error callback: %s", cb)
                return

    def _salvage(self) -> None:
        """After a write failure: close what can be closed, then cut the file
        back to its last complete fragment so that everything kept plays."""
        from livebg import salvage

        try:
            self._writer.close()
        except Exception as e:  # the same failure again, most likely
            log.debug("closing after the failure: %s", e)
        try:
            self.frames_kept = salvage.trim_to_fragments(self.path).frames
        except OSError as e:
            log.debug("trimming %s: %s", self.path, e)
            self.frames_kept = 0

    def close(self) -> None:
        """Write what is queued, flush the encoder and finalise the file (idempotent)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        if self.frames_kept is not None:
            return  # stopped by a failure: already closed and trimmed
        try:
            self._writer.close()
        except LivebgError as e:
            self.error = self.error or str(e)
            log.error("%s", e)
            self._salvage()
