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

from clips import person_frames, write_clip
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


def _frames_out(stderr: str) -> int:
    """The number of frames livebg sent, from its final summary line."""
    return int(re.search(r"livebg: (\d+) frames out in", stderr).group(1))


def assert_recording_complete(rec, stderr):
    """The file holds every frame livebg says it recorded, and those are all it sent but
    the ones the encoder had to drop (allowed: a slow encoder never stalls the output)."""
    m = re.search(r"recorded (\d+) frames to .*?(?: \((\d+) dropped: the encoder fell behind\))?$", stderr, re.M)
    recorded, dropped = int(m.group(1)), int(m.group(2) or 0)
    got, error = decode_all(rec)
    assert error is None, error
    assert abs(len(got) - recorded) <= 1 and abs(recorded + dropped - _frames_out(stderr)) <= 2, (len(got), m.group(0))
    assert dropped <= 0.1 * recorded, m.group(0)
    return got


# ---------------------------------------------------------------- a full disk

def test_full_disk_stops_the_recording_and_the_output_goes_on(tmp_path, device, clip):
    """A 300 kB file system fills after a few seconds of 720p recording."""
    with tmpfs(tmp_path / "small", size="300k") as small:
        rec = small / "rec.mp4"
        p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", DEVICE,
                              "--no-tray", "--duration", "14", "--record", str(rec), "--background", "color:#0000ff"],
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
        assert ts[-1] - t_full > 1.0, "the output did not go on after the disk filled"
        _steady(ts)
        assert len(ts) >= 0.85 * 14 * FPS
        # What was kept plays to its end, cleanly: the file was cut back to its last whole fragment
        # (fragments start at keyframes: every 2 s, and where the picture changes, as when the
        # black start-up frames give way to the first composited one).
        frames, error = decode_all(rec)
        assert error is None, f"the kept recording does not decode cleanly: {error}"
        assert len(frames) == kept >= 1
        assert salvage.scan(rec).size == rec.stat().st_size
        shown = [f for f in frames if f.max() > 0]  # after the black start-up frames
        assert len(shown) >= FPS // 2, f"{len(shown)} composited frames kept"
        corner = np.stack(shown)[:, :60, :60].reshape(-1, 3).mean(0)
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
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 3, "--record", rec,
                   "--width", 640, "--height", 360, timeout=120)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "virtual camera unavailable" in ln]
    assert len(warn) == 1 and "modprobe v4l2loopback" in warn[0], r.stderr
    assert "livebg: error" not in r.stderr
    got = assert_recording_complete(rec, r.stderr)
    assert got[0].shape == (360, 640, 3) and len(got) >= 1.5 * FPS


def test_virtual_camera_taken_warns_and_still_records(tmp_path, shim, clip):
    """The only loopback device is busy (another program has it): say so, not "run modprobe"."""
    busy = FakeV4L2Device(tmp_path / "vcam", DEVICE, mode="busy", lib=shim)
    rec = tmp_path / "rec.mp4"
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 3, "--record", rec, "--width", 640,
                   "--height", 360, env=busy.env(), timeout=120)
    assert r.returncode == 0, r.stderr
    warn = [ln for ln in r.stderr.splitlines() if "virtual camera unavailable" in ln]
    assert len(warn) == 1 and f"{DEVICE} is in use by another program" in warn[0], r.stderr
    assert "modprobe v4l2loopback devices=2" in warn[0]
    got = assert_recording_complete(rec, r.stderr)
    assert len(got) >= 1.5 * FPS


def test_virtual_camera_taken_without_anything_else_is_one_clear_error(tmp_path, shim, clip):
    busy = FakeV4L2Device(tmp_path / "vcam", DEVICE, mode="busy", lib=shim)
    r = run_livebg("run", "--input", clip, "--no-tray", "--duration", 2, env=busy.env(), timeout=120)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
    assert len(errors) == 1 and "in use by another program" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


# ---------------------------------------------------------------- `process` onto a full disk

def test_process_onto_a_full_disk_is_one_clear_error_and_leaves_nothing(tmp_path):
    frames, _ = person_frames(30, 320, 180)
    clip = write_clip(tmp_path / "in.mp4", frames, fps=FPS)
    with tmpfs(tmp_path / "small", size="40k") as small:  # the lossless matte alone needs about 70 kB
        r = run_livebg("process", clip, "-o", small / "o.mp4", "--matte-out", small / "m.mkv", timeout=180)
        assert r.returncode == 1, r.stderr
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
        assert len(errors) == 1 and "No space left on device" in errors[0], r.stderr
        # It names the file asked for, not the temporary one it was writing.
        assert re.search(rf"(writing|finishing) {re.escape(str(small))}/(o\.mp4|m\.mkv) failed", errors[0]), errors[0]
        assert "Traceback" not in r.stderr
        assert list(small.iterdir()) == []  # no half file, no temporary: the space is free again


def test_no_virtual_camera_falls_back_to_the_preview_window(tmp_path, clip):
    """With a display (Xvfb) and no virtual camera, the picture goes to a preview
    window instead, and the recording still works.

    One more try when the window never shows the picture: in about half of
    the full test runs here (also at an older commit) OpenCV's Qt window
    under Xvfb stayed black for the whole 15 s run although livebg's frames
    were right (the recording had them, blue background and all); run alone,
    or polled more slowly, it never did. The cause is not found; a window
    that is black twice in a row still fails the test."""
    from test_tray import X, _wait

    def attempt(n):
        x = X(tmp_path)
        rec = tmp_path / f"rec{n}.mp4"
        win, blue = None, False
        try:
            p = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--no-tray",
                                  "--duration", "15", "--record", str(rec), "--background", "color:#0000ff",
                                  "--width", "640", "--height", "360"],
                                 env=dict(x.env, PYTHONUNBUFFERED="1"), stderr=subprocess.PIPE, text=True)
            try:
                win = _wait(lambda: x.run("xdotool", "search", "--onlyvisible", "--name",
                                          "livebg preview").stdout.split(), "the preview window", timeout=60,
                            every=0.5)

                def shows_blue():
                    shot = x.screenshot(tmp_path / f"screen{n}.png")
                    return ((shot[..., 0] > 200) & (shot[..., 2] < 60)).sum() > 20_000
                try:
                    blue = _wait(shows_blue, "the composited picture (blue background) in the preview", timeout=30,
                                 every=1.0)
                except AssertionError:
                    if n == 1:
                        raise
            finally:
                _, err = p.communicate(timeout=60)
        finally:
            x.close()
        return win, blue, p.returncode, err, rec

    win, blue, code, err, rec = attempt(0)
    if not blue:
        win, blue, code, err, rec = attempt(1)
    assert win and blue and code == 0, err
    assert "virtual camera unavailable" in err and "showing a preview window instead" in err, err
    assert "livebg: error" not in err
    got = assert_recording_complete(rec, err)
    assert got[0].shape == (360, 640, 3) and len(got) >= 4 * FPS


def test_process_output_gets_ordinary_permissions(tmp_path):
    """Written under a temporary name (mkstemp: 0600) and moved into place: the
    result must still be readable as any new file is (0644 under umask 022)."""
    frames, _ = person_frames(6, 320, 180)
    clip = write_clip(tmp_path / "in.mp4", frames, fps=FPS)
    old = os.umask(0o022)
    try:
        r = run_livebg("process", clip, "-o", tmp_path / "o.mp4", "--matte-out", tmp_path / "m.mkv", timeout=180)
    finally:
        os.umask(old)
    assert r.returncode == 0, r.stderr
    for name in ("o.mp4", "m.mkv"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o644, name
