"""Faults while running, injected into the real live pipeline (LivePipeline)
and the real file path (process_file), with the real MediaPipe model:

- a camera that is unplugged mid-stream and plugged back in;
- sinks that raise (now and then, and for good);
- a model that raises on chosen frames, and one that keeps raising;
- a background video and a file-as-camera that are cut off.

The camera is a video file behind a small class that can be "unplugged"
(its reads and reopenings fail as OpenCV's do). The failing model is a
test double around the real one: a real model does not fail on demand.
Every test checks the frames that came out, and their timing.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib

import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames, read_all, write_clip
from livebg.backgrounds import VideoBackground, open_background
from livebg.config import Settings
from livebg.controls import Controller
from livebg.errors import InputError, ModelError
from livebg.faults import MattingGuard, fallback_names
from livebg.live import LivePipeline
from livebg.matting import fallback_opener, open_named
from livebg.process import process_file
from livebg.stage import Stage
from livebg.sources import LiveFileSource
from livebg.video import VideoReader, VideoWriter

W, H, FPS = 320, 180, 30
TIMEOUT = 60  # for anything to show in the output, on a loaded 2-core machine
RED = (0, 0, 255)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, _ = person_frames(60, W, H, amplitude=30)
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", frames, fps=FPS)


@pytest.fixture(scope="module")
def corners():
    """Pixels that are background in every frame of the clip (the top corners)."""
    _, alphas = person_frames(60, W, H, amplitude=30)
    bg = np.logical_and.reduce([a == 0 for a in alphas])
    bg[H // 3:] = False
    bg[:, W // 4: 3 * W // 4] = False
    assert bg.sum() > 500
    return bg


def kind_of(frame: np.ndarray) -> str:
    """black (start-up), placeholder (dark grey with text) or picture."""
    if frame.max() == 0:
        return "black"
    if frame[0, 0, 0] == 32 and float(np.median(frame)) == 32:
        return "placeholder"
    return "picture"


class TimedSink:
    """Keeps, for every frame sent: when, what kind, a checksum and the colour of the corners."""

    name = "timed"

    def __init__(self, corners=None):
        self.corners = corners
        self.cond = threading.Condition()
        self.rows = []  # (t, kind, crc, corner BGR mean)

    def send(self, frame):
        corner = frame[self.corners].mean(0) if self.corners is not None else None
        row = (time.monotonic(), kind_of(frame), zlib.crc32(frame.tobytes()), corner)
        with self.cond:
            self.rows.append(row)
            self.cond.notify_all()

    def close(self):
        pass

    def wait(self, pred, what, timeout=TIMEOUT):
        """Wait until pred(rows) holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not pred(self.rows):
                left = deadline - time.monotonic()
                assert left > 0, f"no {what} within {timeout} s"
                self.cond.wait(min(left, 0.5))
            return len(self.rows)

    def times(self, start=0):
        return np.array([r[0] for r in self.rows[start:]])


def assert_steady(times, fps=FPS, max_gap=0.25):
    """The output rate never dropped: no gap, and the right rate overall."""
    gaps = np.diff(times)
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert gaps.max() < max_gap, f"the output stalled for {gaps.max():.2f} s"
    assert 0.85 * fps <= rate <= 1.15 * fps, f"output at {rate:.1f} fps"


def n_kind(kind, start=0):
    return lambda rows: sum(r[1] == kind for r in rows[start:])


@pytest.fixture
def events():
    got = []

    def on_event(kind, message):
        got.append((kind, message))
    on_event.got = got
    return on_event


@pytest.fixture
def running():
    """Start a LivePipeline; always stopped and closed at the end."""
    made = []

    def start(source, stage, sinks, **kw):
        p = LivePipeline(source, stage, sinks, W, H, FPS, **kw)
        made.append(p)
        p.start()
        return p

    yield start
    errors = []
    for p in made:
        p.stop()
        try:
            p.join()
        except Exception as e:  # reported below, after everything is closed
            errors.append(e)
        p.stop_recording()
        p.stage.close()
    assert not errors, f"a pipeline thread failed: {errors[0]!r}"


def selfie():
    return open_named("mediapipe-selfie")


# ---------------------------------------------------------------- the camera

class Unpluggable:
    """A camera that can be unplugged and plugged back in: a video file played
    live; while unplugged, reading fails and reopening fails, as with OpenCV.
    ``crash(n)`` picks reads whose driver raises cv2.error instead."""

    def __init__(self, clip, crash=None):
        self.clip = clip
        self.plugged = threading.Event()
        self.plugged.set()
        self.opens = []  # monotonic time of every attempt to open it
        self.crash = crash  # reads (counted over every opening) whose driver raises cv2.error
        self.reads = 0

    def open(self):  # the pipeline's source_factory
        self.opens.append(time.monotonic())
        if not self.plugged.is_set():
            raise InputError("camera 0 could not be opened (not connected)")
        return _Camera(self)


class _Camera:
    name = "camera 0"
    fps = 30.0

    @property
    def last_wait(self):
        return self.file.last_wait

    def __init__(self, owner):
        self.owner = owner
        self.file = LiveFileSource(owner.clip)

    def read(self):
        if not self.owner.plugged.is_set():
            raise InputError("camera 0 stopped delivering frames")
        n, self.owner.reads = self.owner.reads, self.owner.reads + 1
        if self.owner.crash is not None and self.owner.crash(n):
            raise cv2.error("OpenCV(4.x) cap_v4l.cpp: (-2:Unspecified error) VIDIOC_DQBUF: No such device")
        return self.file.read()

    def close(self):
        self.file.close()


def test_camera_unplugged_mid_stream_comes_back_by_itself(clip, running, events):
    cam = Unpluggable(clip)
    sink = TimedSink()
    stage = Stage(selfie(), open_background("color:#ff0000"))
    p = running(cam.open(), stage, [sink], source_factory=cam.open, on_event=events)
    start = sink.wait(n_kind("picture"), "picture")  # running: count from the first picture on
    sink.wait(lambda rows: sum(r[1] == "picture" for r in rows[start:]) >= 30, "30 pictures")
    cam.plugged.clear()  # unplugged
    t_unplug = time.monotonic()
    sink.wait(lambda rows: sum(r[1] == "placeholder" for r in rows) >= 30, "the 'camera lost' placeholder")
    assert p.source_state == "lost"
    time.sleep(max(0.0, t_unplug + 2.5 - time.monotonic()))  # unplugged for a while: several reopen attempts
    cam.plugged.set()  # plugged back in
    t_plug = time.monotonic()
    sink.wait(lambda rows: len({r[2] for r in rows if r[0] > t_plug and r[1] == "picture"}) >= 20,
              "new pictures from the camera after it came back")
    end = len(sink.rows)

    rows = sink.rows[start:end]
    kinds = [r[1] for r in rows]
    # The output never stopped or slowed down, before, during or after.
    assert_steady(sink.times(start)[: end - start])
    # Unplugged: the last good frame first (for LOST_AFTER), then the placeholder, then the camera again.
    first_ph = kinds.index("placeholder")
    last_ph = len(kinds) - 1 - kinds[::-1].index("placeholder")
    lost_at = next(i for i, r in enumerate(rows) if r[0] >= t_unplug)
    assert first_ph > lost_at and rows[first_ph][0] - t_unplug >= LivePipeline.LOST_AFTER - 0.1
    assert len({r[2] for r in rows[lost_at + 3:first_ph]}) <= 2, "the last good frame was not held"
    assert all(k == "placeholder" for k in kinds[first_ph:last_ph + 1])
    assert kinds[last_ph + 1:].count("picture") >= 20
    # It retried with backoff (growing waits) and came back by itself.
    tries = [t for t in cam.opens if t >= t_unplug]
    assert len(tries) >= 3, tries
    waits = np.diff(tries)
    assert waits.min() >= LivePipeline.RETRY_BACKOFF[0] - 0.05 and waits[-1] > waits[0] + 0.3, f"no backoff: {waits}"
    assert p.source_state == "running" and p.stats.source_failures == 1
    assert ("info", "camera is back") in events.got
    assert any(k == "error" and "stopped delivering frames" in m for k, m in events.got)


def test_camera_raising_a_driver_error_is_retried_not_fatal(clip, running, events):
    """cv2.error from the camera is a camera failure like any other: the
    output goes on, livebg reopens the camera and carries on by itself."""
    cam = Unpluggable(clip, crash=lambda n: n == 45)
    sink = TimedSink()
    stage = Stage(selfie(), open_background("color:#ff0000"))
    p = running(cam.open(), stage, [sink], source_factory=cam.open, on_event=events)
    start = sink.wait(n_kind("picture"), "picture")
    sink.wait(lambda rows: cam.reads > 46 and sum(r[1] == "picture" for r in rows[start:]) >= 3 * FPS,
              "pictures after the camera's error")
    rows = sink.rows[start:]
    assert_steady(np.array([r[0] for r in rows]))
    assert p._error is None and p.source_state == "running"
    assert p.stats.source_failures == 1 and len(cam.opens) == 2
    said = [m for k, m in events.got if k == "error"]
    assert len(said) == 1 and said[0].startswith("camera failed (error: OpenCV") and said[0].endswith("; retrying")


# ---------------------------------------------------------------- sinks that raise

class Flaky:
    """A sink that raises on every ``every``-th frame, or on all of them once ``broken``."""

    def __init__(self, name, every=0):
        self.name = name
        self.every = every
        self.broken = threading.Event()
        self.taken = 0
        self.calls = 0
        self.closed = False

    def send(self, frame):
        self.calls += 1
        if self.broken.is_set() or (self.every and self.calls % self.every == 0):
            raise OSError(5, "Input/output error")
        self.taken += 1

    def close(self):
        self.closed = True


def test_a_sink_that_raises_never_stops_the_others(clip, running, events, tmp_path):
    good, hiccups, dying = TimedSink(), Flaky("preview", every=5), Flaky("virtual camera")
    stage = Stage(selfie(), open_background("blur"))
    p = running(LiveFileSource(clip), stage, [good, hiccups, dying], on_event=events,
                source_factory=lambda: LiveFileSource(clip))
    rec = tmp_path / "rec.mp4"
    start = good.wait(n_kind("picture"), "picture")
    p.start_recording(rec)
    good.wait(lambda rows: len(rows) >= start + 30, "frames")
    dying.broken.set()
    t_broken = time.monotonic()
    good.wait(lambda rows: rows[-1][0] - t_broken >= 4.0, "4 s of output after a sink broke")
    recorded = p.stop_recording()
    end = len(good.rows)
    assert_steady(good.times(start)[: end - start])
    # The one that fails now and then lost only those frames and is still there.
    assert hiccups in p.sinks and not hiccups.closed
    assert hiccups.taken >= 0.75 * hiccups.calls > 0
    # The one that kept failing was dropped after about two seconds, closed, and reported once.
    assert dying not in p.sinks and dying.closed
    dropped = [m for k, m in events.got if "stopped sending to it" in m]
    assert len(dropped) == 1 and dropped[0].startswith("virtual camera failed"), events.got
    # The recording went on throughout and is complete.
    got, _, _ = read_all(rec)
    assert recorded.error is None and abs(len(got) - recorded.frames_written) <= 1 and len(got) >= 4 * FPS


# ---------------------------------------------------------------- a model that fails

class FlakyMatter:
    """Test double: the real model, but raising on the calls ``fail(n)`` picks
    (n counts calls from 0). A real model does not fail on demand."""

    def __init__(self, inner, fail):
        self.__dict__.update(inner=inner, fail=fail, calls=0)

    def __getattr__(self, name):  # name, runtime, input_size... of the real model
        return getattr(self.inner, name)

    def predict(self, bgr, state=None):
        n = self.calls
        self.calls += 1
        if self.fail(n):
            raise RuntimeError(f"planted failure on call {n}")
        return self.inner.predict(bgr)

    def close(self):
        self.inner.close()


def red_corners(corners, tol=40):
    return lambda row: np.abs(row[3] - np.array(RED)).max() < tol


def test_live_model_failing_on_some_frames_keeps_the_last_matte(clip, running, corners):
    """refine=False: one model call per frame, so the calls picked are frames."""
    flaky = FlakyMatter(selfie(), fail=lambda n: n % 4 == 3 or 40 <= n < 42)
    stage = Stage(flaky, open_background("color:#ff0000"), refine=False, guard=MattingGuard(keep_going=True))
    sink = TimedSink(corners)
    p = running(LiveFileSource(clip), stage, [sink], source_factory=lambda: LiveFileSource(clip))
    start = sink.wait(n_kind("picture"), "picture")
    sink.wait(lambda rows: len(rows) >= start + 4 * FPS and flaky.calls > 60, "4 s of output")
    rows = sink.rows[start:]
    assert_steady(np.array([r[0] for r in rows]))
    # Every frame out was composited (red background): never the bare camera picture.
    is_red = red_corners(corners)
    assert all(is_red(r) for r in rows), "a frame went out without its background replaced"
    assert len({r[2] for r in rows}) > 2 * FPS  # and the picture moved: frames kept coming
    assert stage.guard.failures >= 10 and stage.guard.switches == [] and p._error is None
    assert stage.matter is flaky


def test_live_model_that_keeps_failing_hands_over_to_the_next(clip, running, corners, events):
    flaky = FlakyMatter(selfie(), fail=lambda n: n >= 30)
    guard = MattingGuard(opener=fallback_opener(), keep_going=True, on_event=events)  # as `livebg run` has it
    stage = Stage(flaky, open_background("color:#ff0000"), refine=False, guard=guard)
    sink = TimedSink(corners)
    p = running(LiveFileSource(clip), stage, [sink], on_event=events, source_factory=lambda: LiveFileSource(clip))
    ctl = Controller(p, Settings(), save=False)  # what the tray shows
    assert ctl.model == "mediapipe-selfie"
    start = sink.wait(n_kind("picture"), "picture")
    deadline = time.monotonic() + TIMEOUT
    while stage.matter.name != "mediapipe-selfie-landscape":
        assert time.monotonic() < deadline, "no switch to the next model"
        time.sleep(0.1)
    t_switch = time.monotonic()
    sink.wait(lambda rows: rows[-1][0] - t_switch >= 2.0, "2 s of output with the new model")
    rows = sink.rows[start:]
    assert_steady(np.array([r[0] for r in rows]))
    assert all(red_corners(corners)(r) for r in rows)
    assert len({r[2] for r in rows if r[0] > t_switch}) > FPS  # new frames, composited with the new model
    assert stage.guard.switches == [("mediapipe-selfie", "mediapipe-selfie-landscape")]
    assert ctl.model == "mediapipe-selfie-landscape" and ctl.status().splitlines()[0] == "model mediapipe-selfie-landscape"
    said = [m for k, m in events.got if "switched from" in m]
    assert said == [said[0]] and "matting failed on 3 frames in a row (RuntimeError: planted failure" in said[0]
    assert p._error is None


def test_live_with_no_model_left_keeps_the_output_and_says_so_once(clip, running, corners, events):
    flaky = FlakyMatter(selfie(), fail=lambda n: n >= 30)
    guard = MattingGuard(keep_going=True, on_event=events)  # no opener: nothing to fall back to
    stage = Stage(flaky, open_background("color:#ff0000"), refine=False, guard=guard)
    sink = TimedSink(corners)
    p = running(LiveFileSource(clip), stage, [sink], on_event=events, source_factory=lambda: LiveFileSource(clip))
    start = sink.wait(n_kind("picture"), "picture")
    sink.wait(lambda rows: flaky.calls > 90 and len(rows) > start + 3 * FPS, "3 s of output")
    rows = sink.rows[start:]
    assert_steady(np.array([r[0] for r in rows]))
    assert all(red_corners(corners)(r) for r in rows)  # the last good matte, never the bare picture
    assert [m for k, m in events.got if "keeps failing" in m] == [
        "matting keeps failing (RuntimeError: planted failure on call 32) and no other model could take over; "
        "showing the last good matte and retrying"]
    assert not p.stop_event.is_set() and p._error is None


# ---------------------------------------------------------------- ... in process_file

@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    frames, _ = person_frames(16, W, H, amplitude=30)
    path = write_clip(tmp_path_factory.mktemp("short") / "in.mp4", frames, fps=FPS)
    decoded, _, _ = read_all(path)
    return path, decoded


def _process(path, stage, tmp_path, matte=False):
    reader = VideoReader(path)
    out = tmp_path / "out.mp4"
    writer = VideoWriter(out, reader.width, reader.height, reader.rate)
    mw = VideoWriter(tmp_path / "m.mkv", reader.width, reader.height, reader.rate, kind="matte") if matte else None
    try:
        n = process_file(reader, stage, writer, mw)
    finally:
        reader.close()
        writer.close()
        if mw is not None:
            mw.close()
    frames, _, _ = read_all(out)
    mattes = read_all(tmp_path / "m.mkv", fmt="gray")[0] if matte else None
    return n, frames, mattes


def test_process_frames_the_model_fails_on_are_kept(short_clip, corners, tmp_path):
    path, inputs = short_clip
    failing = {0, 5, 6, 11}
    stage = Stage(FlakyMatter(selfie(), fail=lambda n: n in failing), open_background("color:#ff0000"), refine=False)
    try:
        n, frames, mattes = _process(path, stage, tmp_path, matte=True)
    finally:
        stage.close()
    assert n == len(frames) == len(mattes) == 16  # no frame lost
    # Frame 0 failed before any good matte: passed through untouched (its matte all 255).
    assert np.abs(frames[0].astype(int) - inputs[0]).mean() < 3 and mattes[0].min() == 255
    # The others got the last good matte: the background is replaced in every one.
    for i in range(1, 16):
        assert np.abs(frames[i][corners].mean(0) - RED).max() < 40, f"frame {i}"
    assert stage.guard.failures == 4 and stage.guard.switches == []


def test_process_model_that_keeps_failing_hands_over(short_clip, corners, tmp_path, caplog):
    path, _ = short_clip
    stage = Stage(FlakyMatter(selfie(), fail=lambda n: n >= 4), open_background("color:#ff0000"), refine=False,
                  guard=MattingGuard(opener=fallback_opener()))
    with caplog.at_level(logging.WARNING, logger="livebg"):
        try:
            n, frames, _ = _process(path, stage, tmp_path)
        finally:
            stage.close()
    assert n == len(frames) == 16
    assert stage.guard.switches == [("mediapipe-selfie", "mediapipe-selfie-landscape")]
    assert stage.matter.name == "mediapipe-selfie-landscape"
    for i in range(16):
        assert np.abs(frames[i][corners].mean(0) - RED).max() < 40, f"frame {i}"
    said = [r.getMessage() for r in caplog.records if "switched from" in r.getMessage()]
    assert len(said) == 1 and "switched from mediapipe-selfie to mediapipe-selfie-landscape" in said[0]


def test_process_with_no_model_left_stops_with_a_clear_error(short_clip, tmp_path):
    """A file of untouched frames would be a silent failure: process stops instead."""
    path, _ = short_clip

    def nothing_opens(name):
        raise ModelError(f"model {name} is not present")

    stage = Stage(FlakyMatter(selfie(), fail=lambda n: n >= 4), open_background("color:#ff0000"), refine=False,
                  guard=MattingGuard(opener=nothing_opens))
    try:
        with pytest.raises(ModelError, match=r"matting failed on 3 frames in a row \(RuntimeError: planted failure "
                                             r"on call 6\) and no other model could take over"):
            _process(path, stage, tmp_path)
    finally:
        stage.close()


def test_fallback_chain():
    # The selfie model on ONNX Runtime (the default), then the same model through MediaPipe.
    assert fallback_names("modnet") == ["mediapipe-selfie-onnx", "mediapipe-selfie", "mediapipe-selfie-landscape"]
    assert fallback_names("rvm") == ["mediapipe-selfie-onnx", "mediapipe-selfie", "mediapipe-selfie-landscape"]
    assert fallback_names("mediapipe-selfie-onnx") == ["mediapipe-selfie", "mediapipe-selfie-landscape"]
    assert fallback_names("mediapipe-selfie") == ["mediapipe-selfie-landscape"]
    assert fallback_names("mediapipe-selfie-landscape") == []
    assert fallback_names("my-own-model") == ["mediapipe-selfie-onnx", "mediapipe-selfie", "mediapipe-selfie-landscape"]
    assert fallback_names("modnet", tried={"mediapipe-selfie-onnx"}) == ["mediapipe-selfie", "mediapipe-selfie-landscape"]
    assert MattingGuard().threshold == 3


# ---------------------------------------------------------------- files cut off

def _cut(src, dst, fraction):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def test_cut_off_background_video_keeps_rendering(tmp_path):
    """A background video cut off half-way cannot seek back to its start: it is
    opened again and loops over the part that plays."""
    bad = _cut(SHARED / "backgrounds" / "rotating_earth.webm", tmp_path / "cut.webm", 0.5)
    bg = VideoBackground(bad)
    frame = np.zeros((H, W, 3), np.uint8)
    seen = {zlib.crc32(bg.render(frame).tobytes()) for _ in range(300)}
    bg.close()
    assert len(seen) > 10  # it played (and looped) instead of raising or freezing


def test_cut_off_video_as_camera_keeps_playing(tmp_path, clip):
    bad = _cut(clip, tmp_path / "cut.mp4", 0.6)
    src = LiveFileSource(bad)
    src.fps = 1e6  # no pacing: only the frames matter here
    frames = [src.read() for _ in range(150)]
    src.close()
    assert len({zlib.crc32(f.tobytes()) for f in frames}) > 10
