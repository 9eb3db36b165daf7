"""What a person changes during a call, as plain methods: no Qt here.

The tray menu and the preview window's keyboard shortcuts both call a
Controller, which applies each change to the running LivePipeline at once
and remembers it in the user's config for the next start. Kept free of any
GUI toolkit so it can be tested without a display.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from livebg.errors import InputError, LivebgError
from livebg.files import IMAGE_SUFFIXES, VIDEO_SUFFIXES

log = logging.getLogger("livebg")

# The built-in choices after the files, in menu order: (label, spec).
BLURS = (("Blur: light", "blur:10"), ("Blur: medium", "blur:25"), ("Blur: strong", "blur:50"))
COLORS = (("Green screen", "color:#00b140"), ("White", "color:#ffffff"), ("Grey", "color:#808080"))
NONE = ("None (camera picture as is)", "none")

# Preview window shortcuts: key -> Controller method name (the same actions as the tray menu).
KEYS = {
    "b": "toggle_effect",
    "m": "toggle_mirror",
    "r": "toggle_recording",
    "n": "next_background",
    "f": "toggle_auto_frame",
    "l": "toggle_low_light",
    "p": "previous_background",
    " ": "toggle_pause",
    "q": "quit",
    "\x1b": "quit",
}
KEY_HELP = ("b effect on/off, n/p next/previous background, m mirror, f auto-frame, l low light, r record, "
            "space pause camera, q/Esc quit")


def default_backgrounds_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("livebg", appauthor=False)) / "backgrounds"


def default_recordings_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_videos_dir())


def canonical_background(spec: str) -> str:
    """One spelling per background, so the menu can tick the current one
    ('blur' and 'blur:25' are the same; a file is its absolute path)."""
    from livebg.backgrounds import parse

    try:
        bs = parse(spec)
    except InputError:
        return spec
    if bs.kind == "blur":
        return f"blur:{bs.strength}"
    if bs.kind == "color":
        b, g, r = bs.color_bgr
        return f"color:#{r:02x}{g:02x}{b:02x}"
    if bs.kind == "none":
        return "none"
    return str(bs.path.resolve()) if bs.path is not None else spec


@dataclass(frozen=True)
class Choice:
    label: str
    spec: str


class Controller:
    """Maps user actions to LivePipeline calls and user-config updates.

    pipeline: a LivePipeline (or anything with its control methods).
    settings: the Settings the run started with (background, mirror,
    provider, offline, backgrounds_dir, recordings_dir).
    save: remember changes in the user's config file (config.save_user_values).

    Every method may be called from any thread; failures that the person
    should see raise LivebgError with a one-line message and leave the
    previous state in place.
    """

    def __init__(self, pipeline, settings, save: bool = True):
        self.pipeline = pipeline
        self.settings = settings
        self.save = save
        self.background = canonical_background(settings.background)
        self.provider = settings.provider
        self.offline = settings.offline
        self.backgrounds_dir = Path(settings.backgrounds_dir).expanduser() if settings.backgrounds_dir \
            else default_backgrounds_dir()
        self.recordings_dir = Path(settings.recordings_dir).expanduser() if settings.recordings_dir \
            else default_recordings_dir()
        self._model_lock = threading.Lock()
        self.switching_model: str | None = None
        # The strengths light wrap and colour match come back at when switched on again.
        from livebg.look import DEFAULT_COLOR_MATCH, DEFAULT_LIGHT_WRAP

        self._wrap_on = settings.light_wrap if getattr(settings, "light_wrap", 0.0) > 0 else DEFAULT_LIGHT_WRAP
        self._match_on = settings.color_match if getattr(settings, "color_match", 0.0) > 0 else DEFAULT_COLOR_MATCH

    # -- state ------------------------------------------------------------
    @property
    def model(self) -> str:
        """The model running now: the one chosen, or the one livebg switched to
        by itself after the chosen one kept failing (livebg.faults)."""
        return self.pipeline.stage.model_name

    @property
    def enabled(self) -> bool:
        return bool(self.pipeline.stage.enabled)

    @property
    def mirror(self) -> bool:
        return bool(self.pipeline.mirror)

    @property
    def paused(self) -> bool:
        return bool(self.pipeline.paused)

    @property
    def recording(self) -> Path | None:
        rec = self.pipeline.recorder
        return rec.path if rec is not None else None

    @property
    def recorder(self):
        """The running recording (its path, frames written, error), or None."""
        return self.pipeline.recorder

    def _remember(self, **values) -> None:
        if not self.save:
            return
        from livebg import config

        try:
            config.save_user_values(values)
        except (LivebgError, OSError) as e:  # never lose the live change over a config file problem
            log.warning("could not save settings to the user config: %s", e)

    # -- effect -----------------------------------------------------------
    def set_enabled(self, enabled: bool) -> None:
        """Off passes the camera through untouched (not remembered: every start has the effect on)."""
        self.pipeline.set_enabled(enabled)

    def toggle_effect(self) -> bool:
        self.set_enabled(not self.enabled)
        return self.enabled

    # -- backgrounds ------------------------------------------------------
    def background_files(self) -> list[Path]:
        """Images and videos in the backgrounds folder (created empty if missing), by name."""
        d = self.backgrounds_dir
        try:
            d.mkdir(parents=True, exist_ok=True)
            files = [p for p in d.iterdir()
                     if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES and not p.name.startswith(".")
                     and p.is_file()]
        except OSError as e:
            log.debug("backgrounds folder %s: %s", d, e)
            return []
        return sorted(files, key=lambda p: (p.name.lower(), p.name))

    def background_choices(self) -> list[Choice]:
        """Everything the Backgrounds menu offers, in order: files, blurs, colours, none."""
        files = [Choice(p.stem, str(p.resolve())) for p in self.background_files()]
        return files + [Choice(*c) for c in BLURS] + [Choice(*c) for c in COLORS] + [Choice(*NONE)]

    def set_background(self, spec: str) -> str:
        """Use ``spec`` from the next frame and remember it; raises InputError
        (the old background stays). Turns the effect on: picking a background
        means wanting to see it. Returns the canonical spec."""
        self.pipeline.set_background(spec)
        self.background = canonical_background(spec)
        self.pipeline.set_enabled(True)
        self._remember(background=self.background)
        return self.background

    def _step_background(self, step: int) -> str:
        specs = [c.spec for c in self.background_choices()]
        try:
            i = specs.index(self.background)
        except ValueError:
            i = -1 if step > 0 else 0
        last_error = None
        for k in range(1, len(specs) + 1):  # skip files that cannot be opened
            spec = specs[(i + step * k) % len(specs)]
            try:
                return self.set_background(spec)
            except InputError as e:
                last_error = e
        raise last_error if last_error else InputError("no backgrounds to choose from")

    def next_background(self) -> str:
        return self._step_background(1)

    def previous_background(self) -> str:
        return self._step_background(-1)

    # -- recording --------------------------------------------------------
    def recording_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.recordings_dir / f"livebg-{stamp}.mp4"
        n = 2
        while path.exists():  # two in the same second
            path = self.recordings_dir / f"livebg-{stamp}-{n}.mp4"
            n += 1
        return path

    def start_recording(self) -> Path:
        """Record to livebg-YYYYmmdd-HHMMSS.mp4 in the recordings folder. Raises LivebgError."""
        if self.pipeline.recorder is not None:
            return self.pipeline.recorder.path
        try:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LivebgError(f"cannot create the recordings folder {self.recordings_dir}: {e.strerror or e}") from None
        path = self.recording_path()
        self.pipeline.start_recording(path)
        log.info("recording to %s", path)
        return path

    def stop_recording(self):
        """Stop and finalise; returns the Recorder (None when not recording)."""
        rec = self.pipeline.stop_recording()
        if rec is not None:
            log.info("recorded %d frames to %s", rec.frames_written, rec.path)
        return rec

    def toggle_recording(self):
        if self.pipeline.recorder is None:
            return self.start_recording()
        return self.stop_recording()

    # -- mirror -----------------------------------------------------------
    def set_mirror(self, mirror: bool) -> None:
        self.pipeline.set_mirror(mirror)
        self._remember(mirror=bool(mirror))

    def toggle_mirror(self) -> bool:
        self.set_mirror(not self.mirror)
        return self.mirror

    # -- studio look ------------------------------------------------------
    @property
    def light_wrap(self) -> bool:
        return self.pipeline.stage.look.light_wrap > 0.0

    @property
    def color_match(self) -> bool:
        return self.pipeline.stage.look.color_match > 0.0

    @property
    def auto_frame(self) -> bool:
        return self.pipeline.framer is not None

    @property
    def low_light(self) -> bool:
        return self.pipeline.lowlight is not None

    def set_light_wrap(self, on: bool) -> None:
        """Light wrap on (at the configured strength, else the default) or off; remembered."""
        strength = self._wrap_on if on else 0.0
        self.pipeline.set_light_wrap(strength)
        self._remember(light_wrap=float(strength))

    def set_color_match(self, on: bool) -> None:
        """Colour match on (at the configured strength, else 0.5) or off; remembered."""
        strength = self._match_on if on else 0.0
        self.pipeline.set_color_match(strength)
        self._remember(color_match=float(strength))

    def set_auto_frame(self, on: bool) -> None:
        self.pipeline.set_auto_frame(bool(on))
        self._remember(auto_frame=bool(on))

    def set_low_light(self, on: bool) -> None:
        self.pipeline.set_low_light(bool(on))
        self._remember(low_light=bool(on))

    def toggle_light_wrap(self) -> bool:
        self.set_light_wrap(not self.light_wrap)
        return self.light_wrap

    def toggle_color_match(self) -> bool:
        self.set_color_match(not self.color_match)
        return self.color_match

    def toggle_auto_frame(self) -> bool:
        self.set_auto_frame(not self.auto_frame)
        return self.auto_frame

    def toggle_low_light(self) -> bool:
        self.set_low_light(not self.low_light)
        return self.low_light

    # -- model ------------------------------------------------------------
    def model_choices(self) -> list[str]:
        """Manifest models present here that are fit for video, plus the one running."""
        from livebg import models

        from livebg.matting.base import runner

        names = []
        try:
            for name, spec in models.load_manifest().items():
                try:
                    if runner(spec.kind).caps.video and models.find_present(name) is not None:
                        names.append(name)
                except LivebgError:
                    continue
        except LivebgError as e:
            log.debug("model manifest: %s", e)
        if self.model not in names:
            names.append(self.model)
        return names

    def set_model(self, name: str) -> str:
        """Open model ``name`` and swap it in (slow: call off the GUI thread).
        Raises LivebgError (ModelError) and keeps the running model."""
        from livebg import models
        from livebg.matting import open_named

        with self._model_lock:
            if name == self.model:
                return name
            self.switching_model = name
            try:
                provider = self.provider
                if name in models.load_manifest() and models.get_spec(name).kind == "mediapipe-tflite":
                    provider = "auto"  # MediaPipe runs on the CPU whatever the ONNX provider setting
                matter = open_named(name, provider, self.offline)
                self.pipeline.set_matter(matter)
            finally:
                self.switching_model = None
        self._remember(model=name)
        return name

    def set_model_in_background(self, name: str, done) -> bool:
        """set_model() on a thread of its own; ``done(name, error)`` is called
        there when it ends (error "" on success). ``switching_model`` shows
        the switch at once. False (nothing done) when ``name`` runs already or
        another switch is under way."""
        with self._model_lock:
            if name == self.model or self.switching_model is not None:
                return False
            self.switching_model = name

        def work():
            error = ""
            try:
                self.set_model(name)
            except LivebgError as e:
                error = str(e)
            except Exception as e:  # a bug: say so rather than leave the menu disabled
                log.exception("switching model")
                error = f"{type(e).__name__}: {e}"
            finally:
                self.switching_model = None
            done(name, error)

        threading.Thread(target=work, name="livebg-model-switch", daemon=True).start()
        return True

    # -- camera -----------------------------------------------------------
    def pause_camera(self) -> None:
        """Release the camera for other programs; the output shows a placeholder."""
        self.pipeline.pause_camera()

    def resume_camera(self) -> None:
        self.pipeline.resume_camera()

    def toggle_pause(self) -> bool:
        if self.paused:
            self.resume_camera()
        else:
            self.pause_camera()
        return self.paused

    # -- preview ------------------------------------------------------------
    def preview_slot(self):
        """The slot the pipeline hands preview frames to, created on first use."""
        if self.pipeline.preview_slot is None:
            from livebg.frames import LatestSlot

            self.pipeline.preview_slot = LatestSlot()
        return self.pipeline.preview_slot

    def preview_frame(self):
        """The newest output frame not yet shown in the preview, or None."""
        slot = self.pipeline.preview_slot
        return slot.get(timeout=0) if slot is not None else None

    # -- quit -------------------------------------------------------------
    def quit(self) -> None:
        """Stop the pipeline; the caller's shutdown finalises any recording."""
        self.pipeline.stop()

    @property
    def stopped(self) -> bool:
        return self.pipeline.stop_event.is_set()

    # -- keys ---------------------------------------------------------------
    def handle_key(self, key: str) -> str | None:
        """Run the action bound to ``key`` (see KEYS); returns its name or None.
        Errors are logged and raised as LivebgError for the caller to show."""
        action = KEYS.get(key if key in KEYS else key.lower()) if key else None
        if action is None:
            return None
        getattr(self, action)()
        return action

    # -- status -------------------------------------------------------------
    def describe_background(self) -> str:
        spec = self.background
        for c in self.background_choices():
            if c.spec == spec:
                return c.label
        if spec.startswith("color:"):
            return spec[6:]
        return Path(spec).stem if ("/" in spec or "\\" in spec) else spec

    def status(self) -> str:
        """A few lines for the tray tooltip."""
        lines = []
        size = self.pipeline.stage.matte_size
        model = f"model {self.model}" + (f" at {size} px" if size else "")
        if self.switching_model:
            lines.append(f"{model} (switching to {self.switching_model}...)")
        else:
            lines.append(model)
        lines.append(f"{self.pipeline.processing_fps():.1f} fps")
        lines.append(f"background: {self.describe_background()}" if self.enabled else "effect off (camera as is)")
        rec = self.recording
        lines.append(f"recording {rec.name}" if rec is not None else "not recording")
        if self.paused:
            lines.append("camera paused")
        elif getattr(self.pipeline, "source_state", "running") == "lost":
            lines.append("camera lost, reconnecting")
        if self.mirror:
            lines.append("mirrored")
        look = [name for name, on in (("auto-frame", self.auto_frame), ("low light", self.low_light),
                                      ("colour match", self.color_match)) if on]
        if look:
            lines.append(", ".join(look))
        return "\n".join(lines)


class EventRelay:
    """The pipeline's on_event callback: logs each event and forwards it to a
    target attached later (the tray), keeping the last few that came before."""

    KEEP = 20

    def __init__(self):
        self._lock = threading.Lock()
        self._target = None
        self._early: collections.deque[tuple[str, str]] = collections.deque(maxlen=self.KEEP)

    def __call__(self, kind: str, message: str) -> None:
        log.debug("event %s: %s", kind, message)
        with self._lock:
            target = self._target
            if target is None:
                self._early.append((kind, message))
                return
        target(kind, message)

    def attach(self, target) -> None:
        with self._lock:
            self._target, early = target, list(self._early)
            self._early.clear()
        for kind, message in early:
            target(kind, message)
