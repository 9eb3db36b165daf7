"""Test helpers for an emulated v4l2loopback output device.

The test machines' kernel has no V4L2 support at all, so v4l2loopback (and
any ``/dev/videoN``) cannot exist there.  To still exercise pyvirtualcam's
*real* Linux backend, ``fakev4l2/fakev4l2.c`` is an LD_PRELOAD shim that
emulates one device node: frames written to it land in a plain file, with a
monotonic timestamp per write.  This module builds that shim and reads back
what a process wrote through it.

Typical use::

    lib = build_shim(tmp_dir)
    dev = FakeV4L2Device(tmp_dir, lib=lib)
    subprocess.run([sys.executable, script], env=dev.env(), check=True)
    frames = dev.frames_bgr(1280, 720)

LD_PRELOAD only takes effect at process start, so the code under test must
run in a subprocess started with ``dev.env()``.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import cv2
import numpy as np

SHIM_SOURCE = Path(__file__).resolve().parent / "fakev4l2" / "fakev4l2.c"
SHIM_NAME = "libfakev4l2.so"

__all__ = ["SHIM_SOURCE", "SHIM_NAME", "build_shim", "FakeV4L2Device"]


def build_shim(out_dir: Path) -> Path:
    """Compile the shim into ``out_dir/libfakev4l2.so`` and return its path.

    Raises RuntimeError (carrying gcc's stderr) if compilation fails or gcc
    is missing.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lib = out_dir / SHIM_NAME
    cmd = [
        "gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra",
        "-o", str(lib), str(SHIM_SOURCE), "-ldl", "-lpthread",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise RuntimeError(f"cannot build fakev4l2 shim: {e}") from e
    if proc.returncode != 0:
        raise RuntimeError(
            f"building fakev4l2 shim failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return lib


@dataclass
class FakeV4L2Device:
    """One emulated v4l2loopback output node, backed by files in ``tmp_dir``.

    ``lib`` is the compiled shim; if omitted it is built into ``tmp_dir`` on
    first use of :meth:`env` (tests should prefer building it once per
    session and passing it in).
    """

    tmp_dir: Path
    device: str = "/dev/video7"
    mode: str = "normal"
    lib: Optional[Path] = None
    out_path: Path = field(init=False)
    ts_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tmp_dir = Path(self.tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # Name the files after the device so several fakes can share a dir.
        stem = "fakev4l2_" + Path(self.device).name
        self.out_path = self.tmp_dir / f"{stem}.frames"
        self.ts_path = self.tmp_dir / f"{stem}.ts"

    # -- process environment ------------------------------------------------

    def env(self, base: Optional[Mapping[str, str]] = None) -> dict:
        """Environment for a subprocess that should see the emulated device.

        Starts from ``base`` (default: ``os.environ``); the shim is prepended
        to any existing LD_PRELOAD.
        """
        if self.lib is None:
            self.lib = build_shim(self.tmp_dir)
        env = dict(os.environ if base is None else base)
        preload = env.get("LD_PRELOAD", "").strip()
        env["LD_PRELOAD"] = f"{self.lib}:{preload}" if preload else str(self.lib)
        env["FAKEV4L2_DEVICE"] = self.device
        env["FAKEV4L2_OUT"] = str(self.out_path)
        env["FAKEV4L2_TS"] = str(self.ts_path)
        env["FAKEV4L2_MODE"] = self.mode
        return env

    def reset(self) -> None:
        """Forget everything written so far (delete the output files)."""
        for p in (self.out_path, self.ts_path):
            p.unlink(missing_ok=True)

    # -- frames ---------------------------------------------------------------

    def raw(self) -> bytes:
        """All bytes written to the device so far (b"" if never opened)."""
        return self.out_path.read_bytes() if self.out_path.exists() else b""

    def frames(self, width: int, height: int) -> np.ndarray:
        """Written frames as raw I420, shape ``(N, height*3//2, width)`` uint8.

        This is the layout ``cv2.COLOR_YUV2BGR_I420`` expects per frame.
        Raises ValueError if the byte count is not a whole number of frames.
        """
        if width % 2 or height % 2:
            raise ValueError(f"I420 needs even dimensions, got {width}x{height}")
        frame_size = width * height * 3 // 2
        data = np.fromfile(self.out_path, dtype=np.uint8) if self.out_path.exists() \
            else np.empty(0, np.uint8)
        if data.size % frame_size:
            raise ValueError(
                f"{self.out_path}: {data.size} bytes is not a multiple of the "
                f"{width}x{height} I420 frame size {frame_size}"
            )
        return data.reshape(-1, height * 3 // 2, width)

    def frames_bgr(self, width: int, height: int) -> np.ndarray:
        """Written frames decoded to BGR, shape ``(N, height, width, 3)`` uint8."""
        i420 = self.frames(width, height)
        if len(i420) == 0:
            return np.empty((0, height, width, 3), np.uint8)
        return np.stack([cv2.cvtColor(f, cv2.COLOR_YUV2BGR_I420) for f in i420])

    # -- timing ---------------------------------------------------------------

    def _ts_table(self) -> np.ndarray:
        """(N, 2) float64 array of ``[monotonic_seconds, nbytes]`` rows."""
        if not self.ts_path.exists():
            return np.empty((0, 2), np.float64)
        rows = [line.split() for line in self.ts_path.read_text().splitlines() if line.strip()]
        if not rows:
            return np.empty((0, 2), np.float64)
        return np.array(rows, dtype=np.float64)

    def timestamps(self) -> np.ndarray:
        """CLOCK_MONOTONIC time (seconds, float64) of every write, in order."""
        return self._ts_table()[:, 0].copy()

    def write_sizes(self) -> np.ndarray:
        """Byte count of every write, in order (int64)."""
        return self._ts_table()[:, 1].astype(np.int64)

    def fps(self) -> float:
        """Delivered frame rate as 1 / median inter-write interval.

        Robust to a few stalls (e.g. the first frame after model warm-up).
        Raises ValueError with fewer than two frames.
        """
        dt = np.diff(self._need_two())
        med = float(np.median(dt))
        return float("inf") if med <= 0 else 1.0 / med

    def mean_fps(self) -> float:
        """Delivered frame rate averaged over the whole run: (N-1)/(t_last-t_first)."""
        t = self._need_two()
        span = float(t[-1] - t[0])
        return float("inf") if span <= 0 else (len(t) - 1) / span

    def _need_two(self) -> np.ndarray:
        t = self.timestamps()
        if len(t) < 2:
            raise ValueError(f"need at least 2 timestamped frames, have {len(t)}")
        return t
