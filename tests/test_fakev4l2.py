"""Tests for the emulated v4l2loopback device (tests/fakev4l2 + tests/fakecam.py).

The kernel on our test machines has no V4L2 at all, so v4l2loopback cannot
exist there.  The LD_PRELOAD shim is a stand-in for that device only; the
code on the other side of it is pyvirtualcam's real, unmodified Linux
backend.  These tests prove the stand-in behaves like the real node as far
as that backend can tell, so later tests of livebg's virtual-camera output
can rely on it.

LD_PRELOAD only applies at process start, so every scenario runs a small
Python script in a subprocess with the fake device's environment.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fakecam import FakeV4L2Device, build_shim  # noqa: E402

W, H = 1280, 720
DEVICE = "/dev/video7"


@pytest.fixture(scope="session")
def shim_lib(tmp_path_factory) -> Path:
    """The shim, compiled once per test session."""
    return build_shim(tmp_path_factory.mktemp("fakev4l2_build"))


@pytest.fixture
def fake_dev(tmp_path, shim_lib) -> FakeV4L2Device:
    return FakeV4L2Device(tmp_path, device=DEVICE, lib=shim_lib)


def run_script(dev: FakeV4L2Device, body: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``body`` as a Python script in a fresh process under the shim."""
    script = dev.tmp_dir / "script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        env=dev.env(), cwd=dev.tmp_dir,
        capture_output=True, text=True, timeout=timeout,
    )


def known_frames() -> np.ndarray:
    """Ten recognisable BGR frames: solid colours plus two smooth gradients.

    Colours are kept away from the extremes where BGR->YUV->BGR clips, and
    gradients are smooth so 4:2:0 chroma subsampling loses nothing visible.
    """
    solids = [
        (40, 40, 40), (220, 220, 220), (200, 60, 60), (60, 200, 60),
        (60, 60, 200), (30, 140, 210), (180, 100, 150), (128, 128, 128),
    ]
    frames = [np.full((H, W, 3), c, np.uint8) for c in solids]
    x = np.linspace(30, 225, W, dtype=np.float32)
    y = np.linspace(30, 225, H, dtype=np.float32)
    horiz = np.broadcast_to(x[None, :, None], (H, W, 3))
    frames.append(horiz.astype(np.uint8))
    diag = np.stack(
        [np.broadcast_to(x[None, :], (H, W)),
         np.broadcast_to(y[:, None], (H, W)),
         np.full((H, W), 120, np.float32)], axis=-1)
    frames.append(diag.astype(np.uint8))
    return np.stack(frames)


def test_frames_round_trip_through_pyvirtualcam(fake_dev):
    """Known BGR frames sent with pyvirtualcam's real v4l2loopback backend to
    the emulated /dev/video7 come back (as I420) matching what was sent.

    The device is a stand-in: this kernel has no V4L2, so no real
    v4l2loopback node can exist.
    """
    sent = known_frames()
    np.save(fake_dev.tmp_dir / "sent.npy", sent)
    proc = run_script(fake_dev, f"""
        import numpy as np, pyvirtualcam
        from pyvirtualcam import PixelFormat
        frames = np.load("sent.npy")
        with pyvirtualcam.Camera(width={W}, height={H}, fps=30, fmt=PixelFormat.BGR,
                                 device={DEVICE!r}, backend="v4l2loopback") as cam:
            assert cam.device == {DEVICE!r}, cam.device
            assert cam.native_fmt == PixelFormat.I420, cam.native_fmt
            for f in frames:
                cam.send(f)
        print("sent", len(frames))
    """)
    assert proc.returncode == 0, proc.stderr
    assert f"sent {len(sent)}" in proc.stdout

    i420 = fake_dev.frames(W, H)
    assert i420.shape == (len(sent), H * 3 // 2, W)
    got = fake_dev.frames_bgr(W, H)
    for i, (s, g) in enumerate(zip(sent, got)):
        mad = np.abs(s.astype(np.int16) - g.astype(np.int16)).mean()
        assert mad < 3, f"frame {i}: mean abs diff {mad:.2f}"

    # One timestamp line per write, each exactly one I420 frame, in order.
    ts = fake_dev.timestamps()
    assert len(ts) == len(sent)
    assert np.all(np.diff(ts) >= 0)
    assert np.all(fake_dev.write_sizes() == W * H * 3 // 2)


def test_delivered_rate_is_measurable(fake_dev):
    """Paced sending at 30 fps shows up as ~30 fps in the timestamp file.

    Stand-in device (no V4L2 in this kernel); pacing is pyvirtualcam's own.
    """
    proc = run_script(fake_dev, f"""
        import numpy as np, pyvirtualcam
        from pyvirtualcam import PixelFormat
        frame = np.zeros((48, 64, 3), np.uint8)
        with pyvirtualcam.Camera(width=64, height=48, fps=30, fmt=PixelFormat.BGR,
                                 device={DEVICE!r}, backend="v4l2loopback") as cam:
            for _ in range(31):
                cam.send(frame)
                cam.sleep_until_next_frame()
    """)
    assert proc.returncode == 0, proc.stderr
    assert len(fake_dev.frames(64, 48)) == 31
    assert 25 < fake_dev.fps() < 35
    assert 25 < fake_dev.mean_fps() < 35


def test_device_scan_finds_emulated_node(fake_dev):
    """With no device given, pyvirtualcam scans /dev/video0..99 and picks the
    emulated node (stand-in for v4l2loopback; this kernel has no V4L2)."""
    proc = run_script(fake_dev, """
        import numpy as np, pyvirtualcam
        with pyvirtualcam.Camera(width=64, height=48, fps=30,
                                 backend="v4l2loopback") as cam:
            print("device", cam.device)
    """)
    assert proc.returncode == 0, proc.stderr
    assert f"device {DEVICE}" in proc.stdout


def test_other_device_paths_do_not_exist(fake_dev):
    """Only the emulated path is a device: pyvirtualcam reports /dev/video9 as
    missing.  (Stand-in for v4l2loopback; this kernel has no V4L2.)"""
    assert not Path("/dev/video9").exists()
    proc = run_script(fake_dev, """
        import pyvirtualcam
        pyvirtualcam.Camera(width=64, height=48, fps=30,
                            device="/dev/video9", backend="v4l2loopback")
    """)
    assert proc.returncode != 0
    assert "Device /dev/video9 does not exist" in proc.stderr
    assert fake_dev.raw() == b""


def test_busy_mode_reports_device_busy(tmp_path, shim_lib):
    """FAKEV4L2_MODE=busy makes opening the node fail with EBUSY, which
    pyvirtualcam surfaces as an error.  (Stand-in device: no V4L2 here.)"""
    dev = FakeV4L2Device(tmp_path, device=DEVICE, mode="busy", lib=shim_lib)
    proc = run_script(dev, f"""
        import pyvirtualcam
        pyvirtualcam.Camera(width=64, height=48, fps=30,
                            device={DEVICE!r}, backend="v4l2loopback")
    """)
    assert proc.returncode != 0
    assert f"Device {DEVICE} could not be opened: Device or resource busy" in proc.stderr
    assert not dev.out_path.exists()


def test_ordinary_file_io_unaffected(fake_dev):
    """Normal open/write/read/close in the same process keep working, both
    before the emulated device is opened and while it is open (including
    from another thread).  The device itself is a stand-in: no V4L2 here.
    """
    proc = run_script(fake_dev, f"""
        import os, threading, numpy as np, pyvirtualcam
        from pyvirtualcam import PixelFormat

        def file_roundtrip(name, n):
            payload = os.urandom(n)
            with open(name, "wb") as f:          # Python-level open/write
                f.write(payload)
            fd = os.open(name + ".raw", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            assert os.write(fd, payload) == n     # raw libc write on a plain fd
            os.close(fd)
            with open(name, "rb") as f:
                assert f.read() == payload
            with open(name + ".raw", "rb") as f:
                assert f.read() == payload

        file_roundtrip("before.bin", 100_000)

        errors = []
        def worker():
            try:
                for i in range(50):
                    file_roundtrip(f"thread{{i}}.bin", 10_000)
            except Exception as e:  # surface failures to the main thread
                errors.append(e)

        frame = np.zeros((48, 64, 3), np.uint8)
        with pyvirtualcam.Camera(width=64, height=48, fps=30, fmt=PixelFormat.BGR,
                                 device={DEVICE!r}, backend="v4l2loopback") as cam:
            t = threading.Thread(target=worker)
            t.start()
            for _ in range(20):
                cam.send(frame)
                file_roundtrip("during.bin", 50_000)
            t.join()
        assert not errors, errors
        file_roundtrip("after.bin", 1000)
        print("io ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "io ok" in proc.stdout
    # Nothing but the 20 frames leaked into the device file.
    assert len(fake_dev.frames(64, 48)) == 20
    assert len(fake_dev.timestamps()) == 20
