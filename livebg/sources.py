"""Where frames come from: a camera, or a video file played as a camera would.

Live sources block in read() until the next frame and return BGR uint8.
Camera code is kept thin around cv2.VideoCapture; everything testable lives
in the file source and the pipeline.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import numpy as np

from livebg.errors import InputError


class Source(Protocol):
    """A live picture source: read() blocks until the next frame (BGR uint8)
    and raises InputError (or the driver's cv2.error/OSError) when it fails.
    last_wait: seconds the last read() waited for the source's own pace
    (a file played as a camera), which is not capture work."""

    name: str
    fps: float
    last_wait: float

    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...


class LiveFileSource:
    """A video file played in real time: paced at its own frame rate, looping.

    ``last_wait``: seconds the last read() spent waiting for the file's pace
    (not work: the capture timing leaves it out)."""

    def __init__(self, path: str | Path):
        from livebg.video import VideoReader

        self._reader = VideoReader(path, frame_threads=False)
        self.name = f"file {Path(path).name}"
        self.fps = self._reader.fps if self._reader.fps > 0 else 30.0
        self.width, self.height = self._reader.width, self._reader.height
        self._it = self._reader.frames()
        self._t0: float | None = None
        self._n = 0
        self._pending: list[np.ndarray] = []
        self.last_wait = 0.0
        try:  # a file with no picture in it fails here, with its reason, not as a lost camera
            self._pending.append(self._next_frame())
        except InputError:
            self._reader.close()
            raise

    def _restart(self) -> None:
        """Back to the first frame; a file that cannot seek (cut off) is opened again."""
        from livebg.video import VideoReader

        try:
            self._reader.rewind()
        except InputError:
            self._reader.close()
            self._reader = VideoReader(self._reader.path, frame_threads=False)
        self._it = self._reader.frames()

    def _next_frame(self) -> np.ndarray:
        if self._pending:
            return self._pending.pop()
        for _ in range(2):
            try:
                return next(self._it)
            except StopIteration:
                pass
            except InputError:  # damaged from here on: loop over the part that decodes
                pass
            self._restart()
        raise InputError(f"{self._reader.path} has no frames that can be decoded")

    def read(self) -> np.ndarray:
        frame = self._next_frame()
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        due = self._t0 + self._n / self.fps
        self.last_wait = max(0.0, due - now)  # pacing, not work: kept out of the capture timing
        if due > now:
            time.sleep(due - now)
        elif now - due > 1.0:
            self._t0 = now - self._n / self.fps  # fell far behind (paused?): do not race to catch up
        self._n += 1
        return frame

    def close(self) -> None:
        self._reader.close()


class CameraSource:
    """A webcam through OpenCV, by index (0, 1, ...) or by device path
    (/dev/video2). Raises InputError if it cannot be opened."""

    last_wait = 0.0

    def __init__(self, index: int | str, width: int, height: int, fps: float):
        import cv2

        self.index = index
        self.name = f"camera {index}"
        if isinstance(index, str):
            _check_device_path(index)
        self._cap = _open_capture(cv2, index)
        if not self._cap.isOpened():
            self._cap.release()
            raise InputError(
                f"camera {index} could not be opened (not connected, or in use by another program); "
                f"see `livebg devices` for the cameras found"
            )
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or fps
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))

    def read(self) -> np.ndarray:
        ok, frame = self._cap.read()
        if not ok or frame is None or frame.size == 0:
            raise InputError(f"camera {self.index} stopped delivering frames")
        if frame.ndim == 2:
            import cv2

            frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        return frame

    def close(self) -> None:
        self._cap.release()


def _open_capture(cv2, index: int | str):
    """cv2.VideoCapture without OpenCV's own log lines for a camera that is
    not there (we say that on one line); --debug keeps them. A device path
    goes to the V4L2 backend (not FFmpeg's, which would take it for a file)."""
    import os

    args = (index, cv2.CAP_V4L2) if isinstance(index, str) else (index,)
    if os.environ.get("LIVEBG_DEBUG") == "1":
        return cv2.VideoCapture(*args)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(*args)
    finally:
        cv2.utils.logging.setLogLevel(level)


def is_device_path(spec: str) -> bool:
    """True for a camera given by its device path: anything under /dev
    (/dev/video2, /dev/v4l/by-id/...), which is never a video file."""
    return str(spec).strip().startswith("/dev/")


def _check_device_path(path: str) -> None:
    import os
    import stat
    import sys

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"camera {path} does not exist; see `livebg devices` for the cameras found") from None
    except OSError as e:
        raise InputError(f"camera {path} cannot be opened: {(e.strerror or str(e)).lower()}") from None
    # Video4Linux devices are character devices with major number 81 on Linux.
    v4l = stat.S_ISCHR(mode) and (not sys.platform.startswith("linux") or os.major(os.stat(path).st_rdev) == 81)
    if not v4l:
        raise InputError(f"{path} is not a camera device; give a camera (0, 1, /dev/video2) or a video file")


def open_live_source(spec: str, width: int, height: int, fps: float):
    """A camera index ("0"), a camera device path ("/dev/video2") or a video
    file path. Raises InputError."""
    s = str(spec).strip()
    if s.isdigit():
        return CameraSource(int(s), width, height, fps)
    if not s:
        raise InputError("input is empty: give a camera index (0, 1, ...), a camera device (/dev/video2) "
                         "or a video file")
    if is_device_path(s):
        return CameraSource(s, width, height, fps)
    return LiveFileSource(s)


def list_cameras(max_index: int = 10) -> list[str]:
    """Cameras that open, as 'index: WxH'. On Linux only existing /dev/video* nodes are probed."""
    import glob
    import platform

    import cv2

    if platform.system() == "Linux":
        indices = sorted(int(p[len("/dev/video"):]) for p in glob.glob("/dev/video[0-9]*") if p[len("/dev/video"):].isdigit())
    else:
        indices = list(range(max_index))
    found = []
    for i in indices:
        cap = cv2.VideoCapture(i)
        try:
            if cap.isOpened():
                ok, frame = cap.read()
                if ok and frame is not None:
                    found.append(f"{i}: {frame.shape[1]}x{frame.shape[0]}")
        finally:
            cap.release()
    return found
