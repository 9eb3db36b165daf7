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
    write failure later (disk full) stops the recording, keeps what was
    written playable, and is reported in ``error``; the live path goes on.
    """

    name = "recorder"

    def __init__(self, path: str | Path, width: int, height: int, fps: float, max_queue: int = 16):
        self.path = Path(path)
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
        return self._writer.frames_written

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
                self.error = str(e)
                log.error("recording stopped: %s (what was recorded so far is kept in %s)", e, self.path)
                with self._cond:
                    self._queue.clear()
                return

    def close(self) -> None:
        """Write what is queued, flush the encoder and finalise the file (idempotent)."""
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        try:
            self._writer.close()
        except LivebgError as e:
            self.error = self.error or str(e)
            log.error("%s", e)
