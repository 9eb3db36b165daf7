"""The tray's actions (livebg.controls.Controller) against a running
LivePipeline with a video file as the camera and a sink that keeps frames.

No display is needed: the Controller is what the tray menu and the preview
shortcuts call. Each test checks the frames that come out, not just state.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time

import cv2
import numpy as np
import pytest

from clips import person_frames, read_all, write_clip
from conftest import MODELS
from livebg import config
from livebg.backgrounds import open_background
from livebg.config import Settings
from livebg.controls import KEYS, Controller, EventRelay, canonical_background
from livebg.errors import InputError
from livebg.matting import open_named
from livebg.live import LivePipeline
from livebg.stage import Stage
from livebg.sinks.preview import Preview
from livebg.sources import LiveFileSource

W, H, FPS = 640, 360, 30
TIMEOUT = 60  # seconds for any change to show in the output, on a loaded 2-core machine


class KeepSink:
    """Keeps the newest frame the pipeline sent (the pipeline re-sends a frame
    when no new one is ready, so the same picture may come several times)."""

    name = "keep"

    def __init__(self):
        self._cond = threading.Condition()
        self.count = 0
        self.last = None

    def send(self, frame):
        with self._cond:
            self.last = frame
            self.count += 1
            self._cond.notify_all()

    def close(self):
        pass

    def next_frames(self, n, timeout=TIMEOUT):
        """The next ``n`` frames sent after this call."""
        out = []
        deadline = time.monotonic() + timeout
        with self._cond:
            seen = self.count
            while len(out) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"only {len(out)} of {n} new frames in {timeout} s"
                self._cond.wait(left)
                if self.count > seen:
                    seen = self.count
                    out.append(self.last.copy())
        return out

    def wait_for(self, pred, what, timeout=TIMEOUT, stable=5):
        """Wait until ``pred(frame)`` holds, then check it holds for ``stable`` more frames."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next_frames(1, timeout=max(1.0, deadline - time.monotonic()))[0]
            if pred(frame):
                break
            assert time.monotonic() < deadline, f"no output frame showed {what} within {timeout} s"
        for f in self.next_frames(stable):
            assert pred(f), f"the output stopped showing {what}"
        return frame


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, _ = person_frames(60, W, H, amplitude=40)
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", frames, fps=FPS)


@pytest.fixture(scope="module")
def camera_frames(clip):
    """What the camera delivers: the clip's frames as decoded, at output size."""
    frames, _, size = read_all(clip)
    assert size == (W, H)
    return np.stack(frames).astype(np.int16)


@pytest.fixture(scope="module")
def corners():
    """Masks of pixels that are background in every frame (top corners)."""
    _, alphas = person_frames(60, W, H, amplitude=40)
    bg = np.logical_and.reduce([a == 0 for a in alphas])
    bg = cv2.erode(bg.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    bg[H // 3:] = False  # the top: far from the person's edges
    assert bg.sum() > 2000
    return bg


@pytest.fixture(scope="module")
def running(clip):
    """A LivePipeline as `livebg run` builds it, with a frame-keeping sink."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test isolation applies
        mp.setenv("LIVEBG_MODEL_DIR", str(MODELS))
        matter = open_named("mediapipe-selfie")
    sink = KeepSink()
    stage = Stage(matter, open_background("blur"), smoothing=0.6)
    pipeline = LivePipeline(LiveFileSource(clip), stage, [sink], W, H, FPS, source_factory=lambda: LiveFileSource(clip),
                            on_event=EventRelay())
    pipeline.start()
    sink.next_frames(3, timeout=120)  # running
    yield pipeline, sink
    pipeline.stop()
    pipeline.join()
    pipeline.stop_recording()
    stage.close()


@pytest.fixture
def ctl(running, tmp_path):
    """A Controller on the running pipeline, reset to: effect on, blur, no mirror, camera on."""
    pipeline, sink = running
    settings = dataclasses.replace(Settings(), background="blur", backgrounds_dir=str(tmp_path / "backgrounds"),
                                   recordings_dir=str(tmp_path / "recordings"))
    c = Controller(pipeline, settings)
    pipeline.set_enabled(True)
    pipeline.set_mirror(False)
    pipeline.set_background("blur")
    if pipeline.paused:
        pipeline.resume_camera()
    c.sink = sink
    yield c
    if pipeline.recorder is not None:
        pipeline.stop_recording()


def _raw_match(camera_frames, flip=False):
    """A predicate: the frame is one of the camera's frames, untouched (or mirrored)."""
    ref = camera_frames[:, :, ::-1] if flip else camera_frames

    def pred(frame):
        diff = np.abs(ref - frame.astype(np.int16)).mean(axis=(1, 2, 3))
        return float(diff.min()) < 1.0
    return pred


def _corners_are(bgr, corners, tol=30):
    def pred(frame):
        mean = frame[corners].mean(0)
        return bool(np.abs(mean - np.array(bgr)).max() < tol)
    return pred


def _saved():
    path = config.user_config_path()
    return config.load_file(path) if path.is_file() else {}


# ---------------------------------------------------------------- effect on/off

def test_effect_off_passes_the_camera_through_and_back_on(ctl, camera_frames):
    # A colour, not the blur: this clip's plain wall blurred is within a grey level of itself.
    ctl.set_background("color:#00ff00")
    raw = _raw_match(camera_frames)
    ctl.sink.wait_for(lambda f: not raw(f), "the composited picture")
    assert ctl.toggle_effect() is False and not ctl.enabled
    ctl.sink.wait_for(raw, "the raw camera picture")
    assert ctl.toggle_effect() is True
    ctl.sink.wait_for(lambda f: not raw(f), "the composited picture again")


# ---------------------------------------------------------------- backgrounds

def test_color_background_makes_the_background_red(ctl, corners):
    assert ctl.set_background("color:#FF0000") == "color:#ff0000"
    ctl.sink.wait_for(_corners_are((0, 0, 255), corners), "a red background")
    assert _saved()["background"] == "color:#ff0000"
    assert config.build({}).background == "color:#ff0000"  # the next start uses it


def test_picking_a_background_turns_the_effect_on(ctl, corners):
    ctl.set_enabled(False)
    ctl.set_background("color:#00ff00")
    assert ctl.enabled
    ctl.sink.wait_for(_corners_are((0, 255, 0), corners), "a green background")


def test_a_bad_background_raises_and_keeps_the_old_one(ctl, corners, tmp_path):
    ctl.set_background("color:#0000ff")
    before = ctl.pipeline.stage.background
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(InputError, match="not a readable image or video"):
        ctl.set_background(str(bad))
    with pytest.raises(InputError):
        ctl.set_background("blur:0")
    assert ctl.pipeline.stage.background is before and ctl.background == "color:#0000ff"
    assert _saved()["background"] == "color:#0000ff"
    ctl.sink.wait_for(_corners_are((255, 0, 0), corners), "the blue background still")


def test_files_dropped_into_the_backgrounds_folder_appear_and_can_be_picked(ctl, corners):
    folder = ctl.backgrounds_dir
    assert not folder.exists()  # made on first listing, not before
    builtin = [c.spec for c in ctl.background_choices()]
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert builtin[:3] == ["blur:10", "blur:25", "blur:50"] and builtin[-1] == "none"
    assert any(s.startswith("color:") for s in builtin)

    img = np.zeros((90, 160, 3), np.uint8)
    img[:] = (255, 0, 255)  # magenta
    cv2.imwrite(str(folder / "magenta wall.png"), img)
    (folder / "notes.txt").write_text("not a background")
    (folder / ".hidden.png").write_bytes(b"")
    choices = ctl.background_choices()
    assert [c.label for c in choices][:1] == ["magenta wall"]
    assert len(choices) == len(builtin) + 1
    spec = choices[0].spec
    ctl.set_background(spec)
    ctl.sink.wait_for(_corners_are((255, 0, 255), corners), "the magenta image")
    assert _saved()["background"] == str((folder / "magenta wall.png").resolve())
    assert ctl.describe_background() == "magenta wall"

    (folder / "magenta wall.png").unlink()
    assert [c.spec for c in ctl.background_choices()] == builtin


def test_next_and_previous_background_cycle_through_the_menu(ctl):
    specs = [c.spec for c in ctl.background_choices()]
    ctl.set_background(specs[0])
    seen = [ctl.next_background() for _ in range(len(specs))]
    assert seen == specs[1:] + specs[:1]
    assert ctl.previous_background() == specs[-1]
    assert ctl.background == specs[-1] == _saved()["background"]


def test_canonical_background_spellings():
    assert canonical_background("blur") == "blur:25"
    assert canonical_background("BLUR:10") == "blur:10"
    assert canonical_background("color:#00B140") == "color:#00b140"
    assert canonical_background("color:white") == "color:#ffffff"
    assert canonical_background("None") == "none"


# ---------------------------------------------------------------- recording

def test_recording_writes_a_readable_mp4_named_by_time(ctl):
    assert ctl.recording is None
    path = ctl.start_recording()
    assert ctl.recording == path
    assert path.parent == ctl.recordings_dir
    assert re.fullmatch(r"livebg-\d{8}-\d{6}\.mp4", path.name), path.name
    assert ctl.start_recording() == path  # a second click while recording changes nothing
    ctl.sink.next_frames(45)
    rec = ctl.toggle_recording()
    assert ctl.recording is None and rec.path == path and rec.error is None
    frames, fps, size = read_all(path)
    assert size == (W, H) and fps == pytest.approx(FPS) and len(frames) >= 40
    assert len(frames) == rec.frames_written
    again = ctl.toggle_recording()  # a new file, even within the same second
    assert again != path and again.name.startswith("livebg-")
    ctl.sink.next_frames(10)
    ctl.stop_recording()
    assert read_all(again)[0]


# ---------------------------------------------------------------- mirror

def test_mirror_flips_the_picture_and_is_remembered(ctl, camera_frames):
    ctl.set_enabled(False)  # compare with the camera exactly
    ctl.sink.wait_for(_raw_match(camera_frames), "the raw picture")
    assert ctl.toggle_mirror() is True and ctl.pipeline.mirror
    ctl.sink.wait_for(_raw_match(camera_frames, flip=True), "the mirrored picture")
    assert _saved()["mirror"] is True and config.build({}).mirror is True
    ctl.set_mirror(False)
    ctl.sink.wait_for(_raw_match(camera_frames), "the unmirrored picture")
    assert _saved()["mirror"] is False


# ---------------------------------------------------------------- pause camera

def test_pause_shows_a_placeholder_and_resume_brings_the_picture_back(ctl, camera_frames):
    ctl.set_enabled(False)

    def placeholder(frame):
        return float(np.median(frame)) == 32 and frame.max() > 150  # dark grey with light text

    ctl.pause_camera()
    assert ctl.paused
    ctl.sink.wait_for(placeholder, "the 'camera paused' placeholder", stable=3)
    assert ctl.pipeline.source is None  # the device is released
    assert "camera paused" in ctl.status()
    ctl.toggle_pause()
    assert not ctl.paused
    ctl.sink.wait_for(_raw_match(camera_frames), "the camera picture after resuming")


# ---------------------------------------------------------------- studio look

def test_studio_look_switches_apply_at_once_and_are_remembered(ctl, camera_frames):
    """Auto-frame crops the picture (the output is no longer the camera's frame, even with the effect
    off: the matting goes on for the framing), low light leaves this well-lit picture as it is, light wrap and colour match reach the
    compositing; each switch is saved in the user's config and shown in the tooltip."""
    ctl.set_auto_frame(False)
    ctl.set_low_light(False)
    ctl.set_enabled(False)
    raw = _raw_match(camera_frames)
    ctl.sink.wait_for(raw, "the raw picture")
    assert ctl.toggle_auto_frame() is True and ctl.pipeline.framer is not None
    ctl.sink.wait_for(lambda f: not raw(f), "the framed picture")  # the matting goes on for it
    assert "auto-frame" in ctl.status()
    assert ctl.toggle_auto_frame() is False and ctl.pipeline.framer is None
    ctl.sink.wait_for(raw, "the whole picture again")
    assert ctl.toggle_low_light() is True and ctl.pipeline.lowlight is not None
    ctl.sink.wait_for(raw, "the well-lit picture, untouched by low light")
    ctl.set_low_light(False)
    wrap = ctl.pipeline.stage.look.light_wrap
    assert ctl.light_wrap is (wrap > 0)
    ctl.set_light_wrap(False)
    assert ctl.pipeline.stage.look.light_wrap == 0.0 and not ctl.light_wrap
    ctl.set_light_wrap(True)
    assert ctl.pipeline.stage.look.light_wrap == Settings().light_wrap
    assert ctl.toggle_color_match() is True and ctl.pipeline.stage.look.color_match == 0.5
    saved = _saved()
    assert saved["auto_frame"] is False and saved["low_light"] is False
    assert saved["light_wrap"] == Settings().light_wrap and saved["color_match"] == 0.5
    built = config.build({})
    assert built.color_match == 0.5 and built.auto_frame is False
    ctl.set_color_match(False)
    assert _saved()["color_match"] == 0.0


def test_keys_f_and_l(ctl):
    ctl.set_auto_frame(False)
    ctl.set_low_light(False)
    assert ctl.handle_key("f") == "toggle_auto_frame" and ctl.auto_frame
    assert ctl.handle_key("F") == "toggle_auto_frame" and not ctl.auto_frame
    assert ctl.handle_key("l") == "toggle_low_light" and ctl.low_light
    ctl.handle_key("l")
    assert not ctl.low_light


# ---------------------------------------------------------------- model

def test_model_switch_and_back(ctl, corners):
    names = ctl.model_choices()
    assert "mediapipe-selfie" in names and "mediapipe-selfie-landscape" in names
    ctl.set_background("color:#ff0000")
    assert ctl.set_model("mediapipe-selfie-landscape") == "mediapipe-selfie-landscape"
    assert ctl.pipeline.stage.matter.name == "mediapipe-selfie-landscape"
    assert ctl.model == "mediapipe-selfie-landscape" and ctl.switching_model is None
    ctl.sink.wait_for(_corners_are((0, 0, 255), corners), "compositing with the landscape model")
    assert _saved()["model"] == "mediapipe-selfie-landscape"
    assert "model mediapipe-selfie-landscape" in ctl.status()
    ctl.set_model("mediapipe-selfie")
    assert ctl.pipeline.stage.matter.name == "mediapipe-selfie"
    ctl.sink.wait_for(_corners_are((0, 0, 255), corners), "compositing with the square model")
    assert config.build({}).model == "mediapipe-selfie"


def test_a_model_switch_in_the_background_shows_at_once_and_reports_back(ctl):
    """The tray's path: the switch is under way (and shown) at once, the menu's
    callback hears how it ended, and no second switch starts meanwhile."""
    import threading

    ended = []
    finished = threading.Event()
    assert ctl.model == "mediapipe-selfie"

    def done(name, error):
        ended.append((name, error, ctl.switching_model))
        finished.set()

    assert ctl.set_model_in_background("mediapipe-selfie-landscape", done)
    assert ctl.switching_model == "mediapipe-selfie-landscape" or finished.is_set()
    assert finished.wait(60)
    assert ended[0] == ("mediapipe-selfie-landscape", "", None) and ctl.model == "mediapipe-selfie-landscape"
    finished.clear()
    assert ctl.set_model_in_background("no-such-model", done) and finished.wait(60)
    assert ended[-1][0] == "no-such-model" and "unknown model" in ended[-1][1]
    assert ctl.model == "mediapipe-selfie-landscape" and ctl.switching_model is None
    ctl.switching_model = "mediapipe-selfie"  # as while another switch is under way
    assert not ctl.set_model_in_background("mediapipe-selfie", done)
    assert "switching to mediapipe-selfie" in ctl.status()
    ctl.switching_model = None
    assert not ctl.set_model_in_background("mediapipe-selfie-landscape", done)  # running already
    ctl.set_model("mediapipe-selfie")  # as the other tests expect it


def test_a_model_that_cannot_open_keeps_the_running_one(ctl):
    from livebg.errors import LivebgError

    before = ctl.pipeline.stage.matter
    with pytest.raises(LivebgError):
        ctl.set_model("no-such-model")
    assert ctl.pipeline.stage.matter is before and ctl.model == before.name and ctl.switching_model is None
    ctl.sink.next_frames(3)


# ---------------------------------------------------------------- all remembered together

def test_the_user_config_remembers_every_change_for_the_next_start(ctl):
    ctl.set_background("blur:50")
    ctl.set_mirror(True)
    ctl.set_model("mediapipe-selfie-landscape")
    ctl.set_enabled(False)   # not remembered: every start has the effect on
    ctl.pause_camera()       # not remembered: every start opens the camera
    ctl.resume_camera()
    s = config.build({})
    assert (s.background, s.mirror, s.model) == ("blur:50", True, "mediapipe-selfie-landscape")
    assert set(_saved()) == {"background", "mirror", "model"}
    ctl.set_model("mediapipe-selfie")
    ctl.set_mirror(False)


# ---------------------------------------------------------------- keys

def test_keys_map_to_the_same_actions(ctl, camera_frames):
    assert set(KEYS.values()) <= {n for n in dir(Controller) if not n.startswith("_")}
    assert ctl.handle_key("b") == "toggle_effect" and not ctl.enabled
    ctl.sink.wait_for(_raw_match(camera_frames), "the raw picture after b")
    assert ctl.handle_key("M") == "toggle_mirror" and ctl.mirror
    ctl.sink.wait_for(_raw_match(camera_frames, flip=True), "the mirrored picture after m")
    assert ctl.handle_key("m") == "toggle_mirror" and not ctl.mirror
    before = ctl.background
    assert ctl.handle_key("n") == "next_background" and ctl.background != before
    assert ctl.handle_key("p") == "previous_background" and ctl.background == before
    assert ctl.handle_key("x") is None and ctl.handle_key("") is None


def test_opencv_preview_shortcuts_call_the_controller(ctl):
    """The cv2 preview (tray off) passes its keys to the same Controller."""
    preview = Preview(ctl)
    assert "b effect" in preview.window
    assert preview.handle_key(-1) is False and preview.handle_key(255) is False
    assert preview.handle_key(ord("m")) is False and ctl.mirror
    assert preview.handle_key(ord("b")) is False and not ctl.enabled
    assert preview.handle_key(ord("r")) is False and ctl.recording is not None
    assert preview.handle_key(ord("r")) is False and ctl.recording is None
    assert preview.handle_key(ord("m")) is False and not ctl.mirror
    assert preview.handle_key(ord("q")) is True and preview.handle_key(27) is True
    assert not ctl.stopped  # quitting is the caller's loop's job
    assert Preview().handle_key(ord("m")) is False  # no controller: only q/Esc


def test_status_line_for_the_tooltip(ctl):
    ctl.sink.next_frames(40)
    text = ctl.status()
    lines = text.splitlines()
    assert lines[0] == f"model {ctl.model}"
    fps = float(lines[1].split()[0])
    assert 5 < fps < 40
    assert "background: Blur: medium" in text and "not recording" in text
    ctl.set_enabled(False)
    assert "effect off" in ctl.status()


def test_default_folders():
    import platformdirs

    c = Controller(None, Settings())
    assert c.backgrounds_dir.name == "backgrounds" and "livebg" in str(c.backgrounds_dir)
    assert c.recordings_dir == type(c.recordings_dir)(platformdirs.user_videos_dir())


def test_event_relay_keeps_early_events():
    relay = EventRelay()
    relay("error", "camera lost")
    got = []
    relay.attach(lambda k, m: got.append((k, m)))
    relay("info", "camera is back")
    assert got == [("error", "camera lost"), ("info", "camera is back")]
    unattached = EventRelay()  # --no-tray: nobody listens; it must not grow for ever
    for i in range(1000):
        unattached("error", f"camera lost {i}")
    got = []
    unattached.attach(lambda k, m: got.append(m))
    assert len(got) == EventRelay.KEEP and got[-1] == "camera lost 999"


def test_quit_stops_the_pipeline(clip):
    sink = KeepSink()
    stage = Stage(open_named("mediapipe-selfie"), open_background("none"))
    pipeline = LivePipeline(LiveFileSource(clip), stage, [sink], W, H, FPS)
    c = Controller(pipeline, Settings(), save=False)
    pipeline.start()
    try:
        sink.next_frames(3, timeout=120)
        assert c.handle_key("q") == "quit" and c.stopped
        pipeline.join()
        with pytest.raises(RuntimeError, match="cannot be reopened"):
            c.pause_camera()  # a source without a factory cannot be paused: the tray says so
    finally:
        pipeline.stop()
        stage.close()
    assert not config.user_config_path().exists()
