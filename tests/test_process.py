"""`livebg process`: end to end, as a user runs it, a real 720p clip of a person
(a shared portrait with its reference matte, moving over a wall), the real
MediaPipe selfie model, real H.264 out, read back and checked region by region."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import av
import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames, read_all, write_clip
from conftest import artifact_dir, run_livebg
from livebg.backgrounds import open_background
from livebg.frames import cover_fit
from livebg.matting import open_named
from livebg.process import full_res_alpha_u8, keep_freed_memory, process_file
from livebg.stage import Stage
from livebg.video import VideoReader, VideoWriter

N = 45


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    frames, alphas = person_frames(N)
    path = write_clip(d / "person720.mp4", frames, fps=30)
    decoded, _, _ = read_all(path)
    return path, decoded, alphas


def _regions(alpha_u8):
    """Sure person (well inside) and sure background (well outside) masks."""
    k = np.ones((31, 31), np.uint8)
    fg = cv2.erode((alpha_u8 == 255).astype(np.uint8), k).astype(bool)
    bg = ~cv2.dilate((alpha_u8 > 0).astype(np.uint8), k).astype(bool)
    return fg, bg


def test_process_replaces_background_with_image_and_writes_matte(clip, tmp_path):
    path, inputs, alphas = clip
    bg_path = SHARED / "backgrounds" / "beach.png"
    out, matte = tmp_path / "out.mp4", tmp_path / "m.mkv"
    r = run_livebg("process", path, "-o", out, "--background", bg_path, "--matte-out", matte)
    assert r.returncode == 0, r.stderr
    frames, fps, size = read_all(out)
    assert len(frames) == N and size == (1280, 720) and fps == pytest.approx(30.0)
    mattes, mfps, msize = read_all(matte, fmt="gray")
    assert len(mattes) == N and msize == (1280, 720) and mfps == pytest.approx(30.0)
    expected_bg = cover_fit(cv2.imread(str(bg_path)), 1280, 720).astype(np.int16)
    for i in range(0, N, 4):
        fg, bg = _regions(alphas[i])
        out_i = frames[i].astype(np.int16)
        person_err = np.abs(out_i - inputs[i].astype(np.int16))[fg].mean()
        bg_err = np.abs(out_i - expected_bg)[bg].mean()
        assert person_err < 8, f"frame {i}: person not kept (mean abs diff {person_err:.1f})"
        assert bg_err < 8, f"frame {i}: background is not the cover-fitted image (mean abs diff {bg_err:.1f})"
        assert (mattes[i][fg] > 200).mean() > 0.95
        assert (mattes[i][bg] < 30).mean() > 0.97
    cv2.imwrite(str(artifact_dir("process") / "frame20.png"),
                np.hstack([inputs[20], frames[20], cv2.cvtColor(mattes[20], cv2.COLOR_GRAY2BGR)])[::2, ::2])


def test_process_keeps_every_frame_in_order(clip, tmp_path):
    """The person slides left and right: the matte's centre must follow the
    true centre frame by frame, which fails if frames are dropped or reordered."""
    path, _, alphas = clip
    out, matte = tmp_path / "out.mp4", tmp_path / "m.mkv"
    r = run_livebg("process", path, "-o", out, "--background", "color:#00ff00", "--matte-out", matte)
    assert r.returncode == 0, r.stderr
    mattes, _, _ = read_all(matte, fmt="gray")
    assert len(mattes) == N

    def cx(a):
        w = a.astype(np.float64)
        return (w.sum(0) * np.arange(a.shape[1])).sum() / w.sum()

    got = np.array([cx(m) for m in mattes])
    true = np.array([cx(a) for a in alphas])
    assert np.abs(got - true).max() < 25, np.abs(got - true).max()
    assert np.corrcoef(got, true)[0, 1] > 0.98


def test_process_keeps_size_and_rate_of_other_clips(tmp_path):
    frames, _ = person_frames(12, width=640, height=360)
    src = write_clip(tmp_path / "small.mp4", frames, fps=15)
    out = tmp_path / "o.mp4"
    r = run_livebg("process", src, "-o", out, "--background", "blur:10")
    assert r.returncode == 0, r.stderr
    got, fps, size = read_all(out)
    assert (len(got), size) == (12, (640, 360)) and fps == pytest.approx(15.0)


@pytest.mark.parametrize("args, message", [
    (["missing.mp4", "-o", "o.mp4"], "input file not found: missing.mp4"),
    (["notvideo.mp4", "-o", "o.mp4"], "cannot open notvideo.mp4 as video"),
    (["{clip}", "-o", "o.avi"], "output must be an .mp4 file"),
    (["{clip}"], "no output file"),
    (["{clip}", "-o", "nodir/o.mp4"], "output folder does not exist"),
    (["{clip}", "-o", "o.mp4", "--background", "color:#12"], "expected color:#RRGGBB"),
    (["{clip}", "-o", "o.mp4", "--background", "nosuch.png"], "is not a file that exists"),
    (["{clip}", "-o", "o.mp4", "--model", "nosuchmodel"], "unknown model"),
    (["{clip}", "-o", "o.mp4", "--matte-out", "m.mp4"], "must be a .mkv file"),
    (["{clip}", "-o", "o.mp4", "--smoothing", "3"], "out of range"),
])
def test_process_bad_input_is_one_clear_line(clip, tmp_path, args, message):
    (tmp_path / "notvideo.mp4").write_text("this is not a video")
    args = [a.replace("{clip}", str(clip[0])) for a in args]
    r = run_livebg("process", *args, cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livebg: error:"), r.stderr
    assert message.lower() in lines[0].lower()
    assert not (tmp_path / "o.mp4").exists()
    assert not list(tmp_path.glob(".o.*"))  # no temporary leftovers


# ---------------------------------------------------------------- process_file and its parts

def test_process_file_gives_the_mattes_of_one_frame_after_another(tmp_path):
    """The model runs on the next frame while this one is refined, on a guessed
    crop: where the guess is wrong it runs again, so every matte is the one
    Stage.matte() gives frame by frame (a fast sideways move makes the crop jump)."""
    frames, _ = person_frames(40, amplitude=250)
    path = write_clip(tmp_path / "in.mp4", frames, fps=30)
    r = VideoReader(path)
    decoded = list(r.frames())
    r.close()

    def stage():
        return Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"))

    one = stage()
    try:
        expected = [full_res_alpha_u8(one.matte(f).alpha, 720, 1280) for f in decoded]
        moves_one_by_one = one.refiner.tracker.moves
    finally:
        one.close()
    assert moves_one_by_one >= 2  # the crop did move: guesses were wrong sometimes

    two = Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"),
                open_twin=lambda name: open_named(name))  # the mirror view on a second instance
    reader = VideoReader(path)
    writer = VideoWriter(tmp_path / "out.mp4", 1280, 720, 30)
    mw = VideoWriter(tmp_path / "m.mkv", 1280, 720, 30, kind="matte")
    try:
        assert process_file(reader, two, writer, mw) == 40
    finally:
        reader.close()
        writer.close()
        mw.close()
        moves = two.refiner.tracker.moves
        two.close()
    with av.open(str(tmp_path / "m.mkv")) as c:
        got = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(got) == 40 and moves >= moves_one_by_one - 1  # (the last matte is not shown to the tracker)
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))


def test_the_warmup_runs_while_the_first_frames_are_decoded_and_matted(tmp_path, clip):
    """process_file(warmup=...) starts the pipeline's threads first and runs the
    warmup on its own thread meanwhile: by the time it returns, frames were
    decoded and the model had begun on them, and every frame still comes out."""
    path, _, _ = clip
    stage = Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"))
    begun = []
    matte_begin = stage.matte_begin
    stage.matte_begin = lambda image, guess=None: (begun.append(1), matte_begin(image, guess))[1]
    seen = {}

    def warmup():
        deadline = time.monotonic() + 20
        while not begun and time.monotonic() < deadline:
            time.sleep(0.01)
        seen["begun"] = len(begun)
        stage.warmup()

    reader = VideoReader(path)
    writer = VideoWriter(tmp_path / "out.mp4", 1280, 720, 30)
    try:
        assert process_file(reader, stage, writer, warmup=warmup) == N
    finally:
        reader.close()
        writer.close()
        stage.close()
    assert seen["begun"] >= 1
    assert len(read_all(tmp_path / "out.mp4")[0]) == N


def test_process_as_a_program_ends_without_teardown_once_its_files_are_complete(clip, tmp_path):
    """`livebg process` run as the program leaves at once after a successful run
    (cli.leave_now): an atexit hook registered before it never runs, yet its
    last log line arrives (streams flushed) and both files are whole. Called
    in-process with its arguments (as here, by the tests), main() returns."""
    path, _, _ = clip
    out, matte = tmp_path / "out.mp4", tmp_path / "m.mkv"
    code = ("import atexit, sys; atexit.register(lambda: print('teardown ran', flush=True)); "
            "from livebg.cli import main; sys.argv = ['livebg'] + sys.argv[1:]; raise SystemExit(main())")
    r = subprocess.run([sys.executable, "-c", code, "process", str(path), "-o", str(out), "--background",
                        "color:#00ff00", "--matte-out", str(matte)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "teardown ran" not in r.stdout
    assert f"wrote {out}" in r.stderr
    assert len(read_all(out)[0]) == N and len(read_all(matte, fmt="gray")[0]) == N
    from livebg.cli import main

    out2 = tmp_path / "again.mp4"
    assert main(["process", str(path), "-o", str(out2), "--background", "color:#00ff00"]) == 0
    assert len(read_all(out2)[0]) == N


def test_full_size_matte_rounds_as_before():
    rng = np.random.default_rng(1)
    alpha = rng.random((360, 640), dtype=np.float32)
    alpha[:40] = 0.0
    alpha[40:80] = 1.0
    got = full_res_alpha_u8(alpha, 720, 1280)
    before = np.clip(cv2.resize(alpha, (1280, 720), interpolation=cv2.INTER_LINEAR) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8 and got.shape == (720, 1280)
    assert np.abs(got.astype(int) - before).max() <= 1  # only exact halves may round the other way
    assert (got != before).mean() < 1e-4
    assert (got[:70] == 0).all() and (got[90:150] == 255).all()
    assert (full_res_alpha_u8(None, 4, 6) == 255).all()
    assert np.array_equal(full_res_alpha_u8(alpha.astype(np.float64), 720, 1280), got)


def test_keep_freed_memory_takes_on_glibc():
    """mallopt is asked to keep freed blocks: it says yes on Linux (glibc), where
    process relies on it, and nothing is done elsewhere."""
    import platform

    assert keep_freed_memory() is (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


# ---------------------------------------------------------------- the user's files: never lost, nothing left behind

@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """Long enough (400 frames) that `process` is surely mid-way when it is signalled."""
    frames, _ = person_frames(400, width=640, height=360)
    return write_clip(tmp_path_factory.mktemp("long") / "talk.mp4", frames, fps=30)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_stopped_midway_leaves_nothing_behind(long_clip, tmp_path, sig):
    """SIGTERM (a service manager, `kill`) and Ctrl-C during `process`: a
    non-zero exit and nothing in the output folder: no partial output, no
    hidden temporary file (it once left `.o.<random>.mp4` on SIGTERM)."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "livebg", "process", str(long_clip), "-o", str(out_dir / "o.mp4"),
                             "--matte-out", str(out_dir / "m.mkv")], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not any(out_dir.iterdir()):  # writing has begun
            assert proc.poll() is None, f"process ended before it wrote anything: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "process did not start writing in 120 s"
            time.sleep(0.05)
        time.sleep(0.5)
        assert proc.poll() is None, "process finished before it could be stopped: make the clip longer"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == [], err
    assert "interrupted" in err and "Traceback" not in err, err


def test_process_keeps_an_existing_output_unless_told(clip, tmp_path):
    """`process` onto an existing file: refused in one line, before any work, and
    the file is kept byte for byte (it once silently replaced a 3.3 MB video);
    with --overwrite it is replaced by the whole new video. The same rule as `cutout`."""
    path, _, _ = clip
    out, matte = tmp_path / "o.mp4", tmp_path / "m.mkv"
    precious = os.urandom(300_000)
    out.write_bytes(precious)
    r = run_livebg("process", path, "-o", out, "--background", "blur")
    assert r.returncode != 0 and out.read_bytes() == precious
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("livebg: error:") and "--overwrite" in lines[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]

    matte.write_bytes(precious[:1000])  # the matte is kept the same way
    out.unlink()
    r = run_livebg("process", path, "-o", out, "--matte-out", matte)
    assert r.returncode != 0 and "--matte-out" in r.stderr and matte.read_bytes() == precious[:1000]
    assert not out.exists()

    out.write_bytes(precious)
    r = run_livebg("process", path, "-o", out, "--matte-out", matte, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert len(read_all(out)[0]) == N and len(read_all(matte, fmt="gray")[0]) == N
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.mkv", "o.mp4"]


@pytest.mark.parametrize("spec, rgb", [("color:#0f0", (0, 255, 0)), ("red", (255, 0, 0)),
                                       ("color:rebeccapurple", (0x66, 0x33, 0x99))])
def test_process_takes_the_usual_colour_forms(tmp_path, spec, rgb):
    """#rgb and CSS colour names (once refused: `color:#0f0`, `color:red`) reach the output."""
    frames, alphas = person_frames(6, width=320, height=180, amplitude=10)
    src = write_clip(tmp_path / "in.mp4", frames, fps=15)
    r = run_livebg("process", src, "-o", tmp_path / "o.mp4", "--background", spec)
    assert r.returncode == 0, r.stderr
    got, _, _ = read_all(tmp_path / "o.mp4")
    _, bg = _regions(alphas[3])
    err = np.abs(got[3].astype(int) - np.array(rgb[::-1]))[bg].mean()
    assert err < 10, f"background is not {spec} (mean abs diff {err:.1f})"


# ---------------------------------------------------------------- studio look: auto-frame, low light

def test_process_auto_frame_centres_the_person_and_crops_the_matte_alike(tmp_path):
    """A person standing 15% of the width right of the middle: after 1.5 s they are within 8% of it
    in the output, and the matte written beside it is cropped the same way (the blue background
    shows exactly where the written matte says background)."""
    w, h, n = 640, 360, 90
    frames, alphas = person_frames(n, w, h, amplitude=20)
    a0 = alphas[0].astype(np.float32)
    shift = int(round(0.15 * w + w / 2 - (a0.sum(0) * (np.arange(w) + 0.5)).sum() / a0.sum()))
    frames = [np.roll(f, shift, axis=1) for f in frames]  # the wall repeats: nothing wraps that shows
    path = write_clip(tmp_path / "right.mp4", frames, fps=30)
    out, matte = tmp_path / "framed.mp4", tmp_path / "framed.mkv"
    r = run_livebg("process", path, "-o", out, "--matte-out", matte, "--background", "color:#0000ff",
                   "--auto-frame")
    assert r.returncode == 0, r.stderr
    got, _, size = read_all(out)
    mattes, _, msize = read_all(matte, fmt="gray")
    assert len(got) == len(mattes) == n and size == msize == (w, h)
    centres = [(m.astype(np.float32).sum(0) * (np.arange(w) + 0.5)).sum() / m.sum() for m in mattes]
    late = np.abs(np.array(centres[45:]) - w / 2)
    assert (late <= 0.08 * w).mean() >= 0.9, late
    for g, m in zip(got[45::10], mattes[45::10]):
        bg = cv2.erode((m < 10).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        fg = cv2.erode((m > 245).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        blue = (g[..., 0] > 200) & (g[..., 1] < 60) & (g[..., 2] < 60)
        assert blue[bg].mean() > 0.97 and blue[fg].mean() < 0.03


def test_process_low_light_lifts_a_dark_clip(tmp_path):
    """The same clip with a third of the light: lifted, the person is back within 15% of their
    brightness; without --low-light they stay dark."""
    from livebg.lowlight import _linear_to_srgb, _srgb_to_linear

    w, h, n = 640, 360, 30
    frames, alphas = person_frames(n, w, h, amplitude=20)
    dark = [np.clip(_linear_to_srgb(_srgb_to_linear(f) / 3.0) + 0.5, 0, 255).astype(np.uint8) for f in frames]
    path = write_clip(tmp_path / "dark.mp4", dark, fps=30)
    for flag, lo, hi in (("--low-light", 0.85, 1.15), (None, 0.3, 0.7)):
        out = tmp_path / f"out{flag or ''}.mp4"
        r = run_livebg("process", path, "-o", out, "--background", "none", *([flag] if flag else []))
        assert r.returncode == 0, r.stderr
        got, _, _ = read_all(out)
        for i in range(10, n, 5):
            person = alphas[i] == 255
            ratio = cv2.cvtColor(got[i], cv2.COLOR_BGR2GRAY)[person].mean() / \
                cv2.cvtColor(frames[i], cv2.COLOR_BGR2GRAY)[person].mean()
            assert lo <= ratio <= hi, (flag, i, ratio)
