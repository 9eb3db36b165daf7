"""`livebg run` end to end with a video file as the camera and the virtual
camera written through pyvirtualcam's real Linux backend.

The device node itself is emulated (tests/fakev4l2): this kernel has no V4L2,
so v4l2loopback cannot exist here. Everything above the kernel is real.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from clips import person_frames, read_all, write_clip
from conftest import artifact_dir, run_livebg
from fakecam import FakeV4L2Device, build_shim

W, H = 1280, 720


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, _ = person_frames(60)
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", frames, fps=30)


@pytest.fixture(scope="module")
def always_person():
    """Pixels that are well inside the person in every frame of the clip."""
    _, alphas = person_frames(60)
    inside = np.logical_and.reduce([a == 255 for a in alphas])
    inside = cv2.erode(inside.astype(np.uint8), np.ones((21, 21), np.uint8)).astype(bool)
    assert inside.sum() > 5000
    return inside


@pytest.fixture
def device(tmp_path, shim):
    return FakeV4L2Device(tmp_path, "/dev/video7", lib=shim)


def test_run_delivers_30fps_720p_with_background_replaced(device, clip, always_person, tmp_path):
    rec = tmp_path / "rec.mp4"
    r = run_livebg("run", "--input", clip, "--device", "/dev/video7", "--background", "color:#0000ff",
                   "--duration", 8, "--no-tray", "--record", rec, env=device.env())
    assert r.returncode == 0, r.stderr
    frames = device.frames_bgr(W, H)  # raises unless every write was one whole 1280x720 I420 frame
    ts = device.timestamps()
    span = ts[-1] - ts[0]
    assert span == pytest.approx(8.0, abs=0.6)
    assert 30 * 0.85 <= device.mean_fps() <= 30 * 1.15
    assert 8 * 30 * 0.85 <= len(frames) <= 8 * 30 * 1.15
    # No gap anywhere: the rate holds for the whole run, not only on average.
    assert np.diff(ts).max() < 0.2
    # The top corners are always background and must be blue; the person must not be.
    live = frames[15:]
    corner = np.concatenate([live[:, :80, :120], live[:, :80, -120:]], axis=2).reshape(len(live), -1, 3).mean(1)
    assert (corner[:, 0] > 200).all() and (corner[:, 1:] < 50).all()
    person = live[:, always_person].mean(1)
    assert (np.abs(person - [255, 0, 0]).sum(1) > 150).all()
    cv2.imwrite(str(artifact_dir("run") / "vcam_frame.png"), frames[len(frames) // 2][::2, ::2])
    # The recording holds what was sent, finalised and readable (a loaded machine may
    # drop a few at the recorder's drop-oldest queue, counted, rather than stall the call).
    got, fps, size = read_all(rec)
    assert size == (W, H) and fps == pytest.approx(30.0)
    assert -2 <= len(frames) - len(got) <= max(2, 0.03 * len(frames))


def _stop_and_wait(p, sig, timeout=60):
    """Send ``sig`` and wait; if livebg does not stop, get its thread stacks
    (SIGUSR1) and kill it, so a hang fails this test and nothing else."""
    p.send_signal(sig)
    try:
        return p.communicate(timeout=timeout)[1]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGUSR1)
        time.sleep(1)
        p.kill()
        err = p.communicate()[1]
        pytest.fail(f"livebg did not stop within {timeout} s of {sig!r}; its threads:\n{err[-6000:]}")


def test_ctrl_c_stops_cleanly_and_finalises_recording(device, clip, tmp_path):
    rec = tmp_path / "rec.mp4"
    env = device.env()
    env["PYTHONUNBUFFERED"] = "1"
    p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", "/dev/video7",
                          "--no-tray", "--record", str(rec)], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (device.ts_path.exists() and device.ts_path.stat().st_size > 3000):
        time.sleep(0.2)
    err = _stop_and_wait(p, signal.SIGINT)
    assert p.returncode == 0, err
    assert "Traceback" not in err
    got, _, size = read_all(rec)
    assert size == (W, H) and len(got) >= 30


def test_sigterm_also_finalises_recording(device, clip, tmp_path):
    rec = tmp_path / "rec.mp4"
    p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", "/dev/video7",
                          "--no-tray", "--record", str(rec)], env=device.env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (device.ts_path.exists() and device.ts_path.stat().st_size > 3000):
        time.sleep(0.2)
    err = _stop_and_wait(p, signal.SIGTERM)
    assert p.returncode == 0, err
    got, _, _ = read_all(rec)
    assert len(got) >= 30


def test_missing_device_gives_setup_steps(device, clip):
    r = run_livebg("run", "--input", clip, "--device", "/dev/video9", "--duration", 2, "--no-tray", env=device.env())
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith("livebg: error: virtual camera /dev/video9 unavailable")
    assert "modprobe v4l2loopback" in lines[-1]
    assert "Traceback" not in r.stderr


def test_no_virtual_camera_anywhere_is_one_clear_error(clip):
    """Without the emulation there is no /dev/video* at all here, and conftest
    removes DISPLAY: nothing could show the output, so one line says so and
    what to do (it was pyvirtualcam's paragraph, without --no-vcam)."""
    r = run_livebg("run", "--input", clip, "--duration", 2, "--no-tray")
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if "error" in ln]
    assert len(errors) == 1 and errors[0].startswith("livebg: error: no virtual camera ("), r.stderr
    assert "add --no-vcam" in errors[0] and "sudo modprobe v4l2loopback" in errors[0]
    assert "Traceback" not in r.stderr


def test_slower_input_repeats_are_its_own_rate(device, tmp_path):
    """A 15 fps file sent at 30 fps shows each picture twice: reported as the
    input's rate, not as repeated frames (it once said "73 repeated" of 151)."""
    frames, _ = person_frames(45, 640, 360)
    slow = write_clip(tmp_path / "slow.mp4", frames, fps=15)
    r = run_livebg("run", "--input", slow, "--device", "/dev/video7", "--duration", 4, "--no-tray",
                   "--width", 640, "--height", 360, env=device.env())
    assert r.returncode == 0, r.stderr
    m = re.search(r"(\d+) frames out in .* (\d+) repeated, .*; the input delivers 15 fps, so (\d+) more frames "
                  r"out repeat the one before", r.stderr)
    assert m, r.stderr
    sent, repeated, by_input = map(int, m.groups())
    assert by_input > 0.3 * sent and repeated < by_input, r.stderr


def test_busy_device_is_reported(tmp_path, shim, clip):
    busy = FakeV4L2Device(tmp_path, "/dev/video7", mode="busy", lib=shim)
    r = run_livebg("run", "--input", clip, "--device", "/dev/video7", "--duration", 2, "--no-tray", env=busy.env())
    assert r.returncode != 0
    assert "busy" in r.stderr.lower() and "Traceback" not in r.stderr


def test_run_without_virtual_camera_records(clip, tmp_path):
    rec = tmp_path / "r.mp4"
    r = run_livebg("run", "--input", clip, "--no-vcam", "--no-tray", "--duration", 3, "--record", rec,
                   "--background", "blur")
    assert r.returncode == 0, r.stderr
    got, fps, size = read_all(rec)
    assert size == (W, H) and 70 <= len(got) <= 100


@pytest.mark.parametrize("args, message", [
    (["--input", "7"], "camera 7 could not be opened"),
    (["--input", "nosuch.mp4"], "input file not found"),
    (["--record", "x.avi"], "must name an .mp4 file"),
    (["--device", "/dev/video7", "--no-vcam"], "contradict"),
    (["--width", "1281"], "must be even"),
    (["--fps", "0"], "out of range"),
    (["--background", "blur:0"], "1 to 100"),
])
def test_run_bad_input_is_one_clear_line(args, message, tmp_path):
    r = run_livebg("run", "--no-tray", "--duration", 1, *args, cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("livebg: error:") and message in lines[-1], r.stderr
    assert "Traceback" not in r.stderr


def test_run_with_the_whole_studio_look_keeps_30fps(device, tmp_path):
    """A dark camera (a third of the light), everything on: low light, auto-frame, light wrap and
    colour match over an image. 720p at 30 fps still, and the person comes out lifted (auto-frame's
    framing is checked in test_process and test_autoframe)."""
    from clips import SHARED
    from livebg.lowlight import _linear_to_srgb, _srgb_to_linear

    frames, alphas = person_frames(60)
    dark = [np.clip(_linear_to_srgb(_srgb_to_linear(f) / 3.0) + 0.5, 0, 255).astype(np.uint8) for f in frames]
    cam = write_clip(tmp_path / "dark.mp4", dark, fps=30)
    r = run_livebg("run", "--input", cam, "--device", "/dev/video7", "--no-tray", "--duration", 6,
                   "--background", SHARED / "backgrounds" / "beach.png", "--low-light", "--auto-frame",
                   "--light-wrap", "0.5", "--color-match", "0.5", env=device.env())
    assert r.returncode == 0, r.stderr
    got = device.frames_bgr(W, H)
    assert 30 * 0.85 <= device.mean_fps() <= 30 * 1.15
    assert np.diff(device.timestamps()).max() < 0.2
    late = got[len(got) // 2:]
    # The person (the middle of the framed picture) is brighter than in the dark camera picture.
    middle = (slice(H // 3, 2 * H // 3), slice(W * 2 // 5, W * 3 // 5))
    before = np.mean([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[middle].mean() for f in dark])
    after = np.mean([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)[middle].mean() for f in late])
    assert after > 1.3 * before, (after, before)
    assert "Traceback" not in r.stderr
