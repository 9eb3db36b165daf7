"""Video files in and out through PyAV (FFmpeg).

OpenCV's wheels cannot write H.264, and PyAV gives exact frame rates and
time bases, so all file video goes through here: decoding for ``process``,
file-as-camera and video backgrounds; H.264 MP4 for output and recordings;
FFV1 grey Matroska for the lossless matte.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from livebg.errors import InputError, LivebgError


def _av():
    import av

    av.logging.set_level(av.logging.PANIC)  # FFmpeg chatter would drown our one-line errors
    return av


class VideoReader:
    """Decodes a video file to BGR uint8 frames, in order.

    Raises InputError when the file is missing, unreadable or has no video.
    """

    def __init__(self, path: str | os.PathLike, frame_threads: bool = True):
        av = _av()
        self.path = Path(path)
        if not self.path.exists():
            if self.path.is_symlink():
                raise InputError(f"input file not found: {self.path} is a broken link (to {os.readlink(self.path)})")
            raise InputError(f"input file not found: {self.path}")
        if self.path.is_dir():
            raise InputError(f"input is a folder, not a video file: {self.path}")
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise InputError(f"input file is empty (0 bytes): {self.path}")
        try:
            self._container = av.open(str(self.path))
        except PermissionError:
            raise InputError(f"cannot read {self.path}: permission denied") from None
        except (av.FFmpegError, OSError, ValueError) as e:
            raise InputError(f"cannot open {self.path} as video: {_reason(e)}") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        # Frame+slice threads for `process`, where decoding is a big share of the
        # work; slice threads only for looping readers (backgrounds, a file as
        # camera): FFmpeg's frame threads were seen to hang on a cut-off VP9 file.
        self._stream.thread_type = "AUTO" if frame_threads else "SLICE"
        cc = self._stream.codec_context
        self.width = int(cc.width)
        self.height = int(cc.height)
        if self.width <= 0 or self.height <= 0:
            self.close()
            raise InputError(f"{self.path} has a video stream with no picture size")
        rate = self._stream.average_rate or self._stream.guessed_rate or self._stream.base_rate
        self.rate: Fraction = Fraction(rate) if rate else Fraction(30)
        self.fps = float(self.rate)
        self.frame_count = int(self._stream.frames or 0)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield every frame as BGR uint8 (H, W, 3). Raises InputError on corrupt data."""
        av = _av()
        from av.video.reformatter import VideoReformatter

        # One converter for the whole file, single-threaded: frame.to_ndarray()
        # would set up a new one per frame, with a new pair of threads each time.
        # (Decoding itself is threaded; the stages around it keep the cores busy.)
        reformatter = VideoReformatter()
        threads = {"threads": 1}
        try:
            for frame in self._container.decode(self._stream):
                try:
                    bgr = reformatter.reformat(frame, format="bgr24", **threads)
                except TypeError:  # PyAV before 17: no threads argument (and no threads)
                    if not threads:
                        raise
                    threads = {}
                    bgr = reformatter.reformat(frame, format="bgr24")
                yield bgr.to_ndarray()
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{self.path}: corrupt video data: {_reason(e)}") from None

    def rewind(self) -> None:
        """Back to the first frame. Raises InputError when the file cannot seek
        (cut off, damaged): reopen it instead."""
        av = _av()
        try:
            self._container.seek(0, stream=self._stream)
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{self.path}: cannot go back to the start: {_reason(e)}") from None

    def close(self) -> None:
        c, self._container = getattr(self, "_container", None), None
        if c is not None:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _reason(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e)
    return msg.splitlines()[0] if msg else type(e).__name__


class VideoWriter:
    """Writes BGR (or grey) uint8 frames to a file at a constant frame rate.

    ``kind="h264"``: H.264 in fragmented MP4 (a crash or full disk leaves a
    file that plays up to the last fragment). ``kind="matte"``: FFV1 8-bit
    grey in Matroska, lossless. Raises LivebgError when the file cannot be
    created; write() raises LivebgError on encoder/disk failure.
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, rate: float | Fraction, kind: str = "h264"):
        av = _av()
        self.path = Path(path)
        self.kind = kind
        self.frames_written = 0
        rate = Fraction(rate).limit_denominator(1001000) if not isinstance(rate, Fraction) else rate
        if self.path.is_dir():
            raise LivebgError(f"output path is a folder: {self.path}")
        if self.path.parent and not self.path.parent.exists():
            raise LivebgError(f"output folder does not exist: {self.path.parent}")
        try:
            # Created here, not at the first frame (PyAV opens lazily): a path
            # that cannot be written fails now, with the reason, not mid-recording.
            open(self.path, "wb").close()
            if kind == "h264":
                self._container = av.open(
                    str(self.path), "w", format="mp4",
                    # flush_packets: each finished fragment goes to the OS at once, not
                    # when the next one fills the I/O buffer; a kill then loses at most one.
                    options={"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"},
                )
                self._stream = self._container.add_stream("libx264", rate=rate)
                even = width % 2 == 0 and height % 2 == 0
                self._stream.pix_fmt = "yuv420p" if even else "yuv444p"
                # A keyframe (hence a fragment) every 2 s bounds what a crash can lose.
                self._stream.options = {"crf": "20", "preset": "veryfast", "g": str(max(1, round(float(rate) * 2)))}
                # Even sizes: BGR -> yuv420p by OpenCV here (several times cheaper than
                # FFmpeg's converter, and no less accurate), so the encoder gets its own format.
                self._fmt = "yuv420p" if even else "bgr24"
            elif kind == "matte":
                self._container = av.open(str(self.path), "w", format="matroska")
                self._stream = self._container.add_stream("ffv1", rate=rate)
                self._stream.pix_fmt = "gray"
                # One thread: FFmpeg's threads cost half as much CPU again on a
                # matte (7.1 against 4.7 ms a 720p frame, bench/speed.py --only
                # parts), and the matte is encoded on a thread of its own anyway.
                self._stream.codec_context.thread_count = 1
                self._fmt = "gray"
            else:
                raise ValueError(f"unknown writer kind {kind!r}")
        except PermissionError:
            raise LivebgError(f"cannot write {self.path}: permission denied") from None
        except (av.FFmpegError, OSError) as e:
            raise LivebgError(f"cannot write {self.path}: {_reason(e)}") from None
        self._stream.width = width
        self._stream.height = height
        self._stream.time_base = 1 / rate
        self.width, self.height = width, height

    def write(self, image: np.ndarray) -> None:
        """Encode one frame: BGR uint8 (H, W, 3), or grey uint8 (H, W) for a matte."""
        av = _av()
        if self._fmt == "yuv420p" and image.dtype == np.uint8 and image.shape == (self.height, self.width, 3):
            import cv2

            frame = av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(image, format="gray" if self.kind == "matte" else "bgr24")
        frame.pts = self.frames_written
        self.frames_written += 1
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            raise LivebgError(f"writing {self.path} failed: {_reason(e)}") from None

    def close(self) -> None:
        """Flush the encoder and finalise the file; safe to call twice."""
        c = getattr(self, "_container", None)
        if c is None:
            return
        self._container = None
        av = _av()
        error = None
        try:
            for packet in self._stream.encode(None):
                c.mux(packet)
        except (av.FFmpegError, OSError) as e:
            error = e
        try:
            c.close()  # writes the end of the file: can fail too when the disk is full
        except (av.FFmpegError, OSError) as e:
            error = error or e
        if error is not None:
            raise LivebgError(f"finishing {self.path} failed: {_reason(error)}") from None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
            return
        try:  # already failing: that error is the one to report
            self.close()
        except LivebgError:
            pass
