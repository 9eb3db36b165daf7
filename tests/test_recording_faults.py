"""Faults around `livebg run` as a whole process: a full disk, SIGKILL, a
crash of the pipeline, no virtual camera. The output goes to the emulated
V4L2 device (tests/fakev4l2: its timestamps show the output rate; the
frames themselves go to /dev/null, only their count and times matter here)
and the recording to a real file, read back with PyAV afterwards.

The full disk is a real one: a 200 kB tmpfs, filled by the recording
itself until the kernel answers ENOSPC (the tests run as root, which may
mount). Nothing is simulated at the writer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import av
import numpy as np
import pytest

from clips import person_frames, read_all, write_clip
from conftest import run_livebg
from fakecam import FakeV4L2Device, build_shim
from livebg import salvage
from mounts import tmpfs

W, H, FPS = 1280, 720, 30
DEVICE = "/dev/video7"


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, _ = person_frames(60, W, H)
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", frames, fps=FPS)


@pytest.fixture
def device(tmp_path, shim):
    return FakeV4L2Device(tmp_path / "vcam", DEVICE, lib=shim)


def _env(device):
    env = device.env()
    env["FAKEV4L2_OUT"] = "/dev/null"  # timestamps only: 720p frames would be 40 MB a second
    env["PYTHONUNBUFFERED"] = "1"
    return env


def decode_all(path):
    """Frames PyAV decodes from ``path`` before the end or the first error, and that error."""
    frames, error = [], None
    try:
        with av.open(str(path)) as c:
            for f in c.decode(video=0):
                frames.append(f.to_ndarray(format="bgr24"))
    except av.FFmpegError as e:
        error = e
    return frames, error


def _wait_for_output(device, seconds, proc, timeout=120):
    """Poll until the virtual camera has had ``seconds`` of output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"livebg ended early: {proc.communicate()[1]}"
        ts = device.timestamps() if device.ts_path.exists() else []
        if len(ts) > 1 and ts[-1] - ts[0] >= seconds:
            return
        time.sleep(0.2)
    raise AssertionError(f"no {seconds} s of output within {timeout} s")


def _steady(ts, fps=FPS, max_gap=0.25):
    gaps = np.diff(ts)
    rate = (len(ts) - 1) / (ts[-1] - ts[0])
    assert 0.85 * fps <= rate <= 1.15 * fps, f"output rate {rate:.1f} fps"
    assert gaps.max() < max_gap, f"the output stalled for {gaps.max():.2f} s"


# ---------------------------------------------------------------- a full disk

def test_full_disk_stops_the_recording_and_the_output_goes_on(tmp_path, device, clip):
    """A 200 kB file system fills after a few seconds of 720p recording."""
    with tmpfs(tmp_path / "small", size="300k") as small:
        rec = small / "rec.mp4"
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", DEVICE,
                              "--no-tray", "--duration", "10", "--record", str(rec), "--background", "color:#0000ff"],
                             env=_env(device), stderr=subprocess.PIPE, text=True)
        lines = []  # (time read, line)
        for line in p.stderr:
            lines.append((time.monotonic(), line.rstrip("\n")))
        p.wait(timeout=60)
        err = "\n".join(ln for _, ln in lines)
        assert "Traceback" not in err, err
        # One line when it happens, naming the cause and what was kept.
        stopped = [(t, ln) for t, ln in lines if ln.startswith("livebg: recording stopped:")]
        assert len(stopped) == 1, err
        t_full, msg = stopped[0]
        assert "No space left on device" in msg and str(rec) in msg, msg
        kept = int(re.search(r"; (\d+) frames \(", msg).group(1))
        # ... and then the run goes on to its end: the error is repeated as the exit status.
        assert p.returncode == 1 and lines[-1][1].startswith("livebg: error: recording stopped early"), err
        ts = device.timestamps()
        assert t_full - t0 < 9, "the disk did not fill early enough to see the output go on"
        assert ts[-1] - t_full > 1.0, "the output did not go on after the disk filled"
        _steady(ts)
        assert len(ts) >= 0.85 * 10 * FPS
        # What was kept plays to its end, cleanly: the file was cut back to its last whole fragment.
        frames, error = decode_all(rec)
        assert error is None, f"the kept recording does not decode cleanly: {error}"
        assert len(frames) == kept >= FPS  # at least the first 2 s fragment
        assert salvage.scan(rec).size == rec.stat().st_size
        corner = np.stack(frames)[:, :60, :60].reshape(-1, 3).mean(0)
        assert corner[0] > 200 and corner[1:].max() < 60, corner  # real composited frames (blue background)


# ---------------------------------------------------------------- killed outright

def test_sigkill_mid_recording_leaves_a_file_that_plays(tmp_path, device, clip):
    """SIGKILL gives livebg no chance to finish: the fragmented MP4 must play
    up to its last complete fragment (a keyframe, hence a fragment, every 2 s)."""
    rec = tmp_path / "rec.mp4"
    # 640x360: the encoder keeps up even on a loaded 2-core machine, so no frame is
    # dropped on the way (that is allowed, and would blur what this test measures).
    p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", DEVICE,
                          "--no-tray", "--record", str(rec), "--background", "color:#0000ff",
                          "--width", "640", "--height", "360"],
                         env=_env(device), stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_output(device, 7.0, p)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
    assert p.returncode == -signal.SIGKILL
    sent = len(device.timestamps())
    frames, _ = decode_all(rec)  # the tail may be cut mid-fragment: an error there is expected
    # Everything up to the last fragment (2 s) before the kill, less what was still in the
    # recorder's queue (16 frames) and in the encoder's look-ahead (about half a second).
    lost = sent - len(frames)
    print(f"SIGKILL after {sent} frames sent: {len(frames)} decode, {lost} lost ({lost / FPS:.1f} s)")
    assert 0 <= lost <= 3 * FPS, f"{len(frames)} frames decoded of {sent} sent before the kill"
    assert salvage.scan(rec).frames <= len(frames)  # whole fragments, plus what the cut one still gave
    corner = np.stack(frames[::10])[:, :60, :60].reshape(-1, 3).mean(0)
    assert corner[0] > 200 and corner[1:].max() < 60, corner


# ---------------------------------------------------------------- a crash (a bug) in the pipeline

CRASHING_RUN = textwrap.dedent("""
    # `livebg run` with a bug planted in the camera: after 90 frames it raises
    # what no handler expects. Everything else is the real command line.
    import sys
    from livebg import cli, sources

    read = sources.LiveFileSource.read
    count = [0]

    def buggy_read(self):
        count[0] += 1
        if count[0] > 90:
            raise ZeroDivisionError("planted bug")
        return read(self)

    sources.LiveFileSource.read = buggy_read
    sys.exit(cli.main(sys.argv[1:]))
""")


def test_a_crash_in_the_pipeline_still_finalises_the_recording(tmp_path, device, clip):
    rec = tmp_path / "rec.mp4"
    env = _env(device)
    r = subprocess.run([sys.executable, "-c", CRASHING_RUN, "run", "--input", str(clip), "--device", DEVICE,
                        "--no-tray", "--duration", "30", "--record", str(rec)],
                       env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("livebg: internal error: ZeroDivisionError: planted bug") and "--debug" in last
    assert "Traceback" not in r.stderr
    # The recording was finalised on the way out: complete and clean, every frame sent is in it.
    frames, error = decode_all(rec)
    assert error is None, error
    sent = len(device.timestamps())
    assert sent >= 60 and abs(len(frames) - sent) <= 2, (len(frames), sent)


# ---------------------------------------------------------------- no virtual camera

def test_no_virtual_camera_warns_and_still_records(tmp_path, clip):
    """No v4l2loopback here (no emulation either) and no --device: a warning with the
    setup steps, and the recording goes on; exit 0."""
    rec = tmp_path / "rec.mp4"
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 3, "--record", rec, timeout=120)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "virtual camera unavailable" in ln]
    assert len(warn) == 1 and "modprobe v4l2loopback" in warn[0], r.stderr
    assert "livebg: error" not in r.stderr
    got, fps, size = read_all(rec)
    assert size == (W, H) and 0.8 * 3 * FPS <= len(got) <= 1.2 * 3 * FPS


def test_virtual_camera_taken_warns_and_still_records(tmp_path, shim, clip):
    """The only loopback device is busy (another program has it): say so, not "run modprobe"."""
    busy = FakeV4L2Device(tmp_path / "vcam", DEVICE, mode="busy", lib=shim)
    rec = tmp_path / "rec.mp4"
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 3, "--record", rec, env=busy.env(),
                   timeout=120)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "virtual camera unavailable" in ln]
    assert len(warn) == 1 and f"{DEVICE} is in use by another program" in warn[0], r.stderr
    assert "modprobe v4l2loopback devices=2" in warn[0]
    got, _, _ = read_all(rec)
    assert 0.8 * 3 * FPS <= len(got) <= 1.2 * 3 * FPS


def test_virtual_camera_taken_without_anything_else_is_one_clear_error(tmp_path, shim, clip):
    busy = FakeV4L2Device(tmp_path / "vcam", DEVICE, mode="busy", lib=shim)
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 2, env=busy.env(), timeout=120)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
    assert len(errors) == 1 and "in use by another program" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
