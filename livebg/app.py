"""``livebg run`` and ``livebg bench``: everything the live path needs, wired in one place.

Opens the source, the model and the background, builds the stage, the
sinks and the pipeline, hands the Controller to the tray (or the preview
window), runs until stopped, and closes everything, the recording first,
whatever happens.
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import signal
import time
from contextlib import ExitStack
from pathlib import Path

from livebg.config import Settings
from livebg.errors import ConfigError, DeviceError, LivebgError

log = logging.getLogger("livebg")


def display_problem(opencv: bool = False) -> str | None:
    """Why no window can be shown here (no display, an X server that does not
    answer, Qt's libraries missing), or None. Checked without starting Qt,
    which would abort the whole process. ``opencv``: the preview window is
    OpenCV's own (no tray), which has its own Qt."""
    if platform.system() in ("Windows", "Darwin"):
        return None
    from livebg.tray import why_no_window

    return why_no_window(opencv=opencv)


def display_available() -> bool:
    return display_problem() is None


def check_settings(s: Settings) -> None:
    """What can be refused before the slow start-up. Raises ConfigError."""
    from livebg.files import background_path, refuse_clobbering, writable_folder

    if s.record and Path(s.record).suffix.lower() != ".mp4":
        raise ConfigError(f"--record must name an .mp4 file, got '{Path(s.record).name}'")
    refuse_clobbering([("--record", s.record)], [("input video", s.input), ("background", background_path(s.background))])
    writable_folder("--record", s.record)
    if not s.vcam and s.device:
        raise ConfigError("--device and --no-vcam contradict each other")
    if s.width % 2 or s.height % 2:
        raise ConfigError(f"output size must be even for the virtual camera (YUV 4:2:0), got {s.width}x{s.height}")
    if s.preview:
        why = display_problem(opencv=not s.tray)
        if why:
            raise ConfigError(f"--preview cannot open its window here: {why}; run without --preview "
                              f"(--record FILE.mp4 keeps the output)")


def run(s: Settings, bench: bool = False, json_path: str | None = None) -> int:
    """Live until stopped (Ctrl-C, SIGTERM, the tray's Quit, ``duration``).
    ``bench``: measured as run, without the tray's own work, 30 s unless told,
    then the per-stage report."""
    from livebg.backgrounds import open_background
    from livebg.controls import Controller, EventRelay
    from livebg.faults import MattingGuard
    from livebg.frames import LatestSlot
    from livebg.live import LivePipeline
    from livebg.matting import fallback_opener, open_matter, open_named
    from livebg.process import studio_parts
    from livebg.sources import open_live_source
    from livebg.stage import Stage

    if bench:
        s = dataclasses.replace(s, tray=False, duration=s.duration or 30.0)
    check_settings(s)
    background = open_background(s.background)
    events = EventRelay()
    with ExitStack() as closers:
        stage = None
        # Last out: the stage (it owns the model and the background), or the bare background.
        closers.callback(lambda: (stage or background).close())
        source = open_live_source(s.input, s.width, s.height, s.fps)
        closers.callback(source.close)
        # Before the slow start-up: a missing virtual camera with nowhere else to
        # show the picture is one line now, not after the model has loaded.
        sinks, preview_on, notices = _open_sinks(s, closers)
        matter, why = open_matter(s.model, s.provider, s.offline, purpose="live", fps=s.fps,
                                  frame_size=(s.height, s.width))
        log.info("%s", why)
        guard = MattingGuard(opener=fallback_opener(s.offline), keep_going=True, on_event=events)
        stage = Stage(matter, background, smoothing=s.smoothing, guard=guard,
                      open_twin=lambda name: open_named(name, s.provider, s.offline),
                      light_wrap=s.light_wrap, color_match=s.color_match,
                      decontaminate=s.decontaminate)
        stage.warmup()
        preview_slot = LatestSlot() if preview_on else None
        pipeline = LivePipeline(source, stage, sinks, s.width, s.height, s.fps, mirror=s.mirror,
                                preview_slot=preview_slot,
                                source_factory=lambda: open_live_source(s.input, s.width, s.height, s.fps),
                                on_event=events)
        pipeline.lowlight, pipeline.framer = studio_parts(s, s.width, s.height)
        closers.callback(pipeline.close_source)  # the camera it has now (it may have reopened it)
        # Finalise any recording first, whatever happens (--record, or one started from the tray).
        closers.callback(_finish_recording, pipeline)
        if s.record:
            pipeline.start_recording(s.record)
            log.info("recording to %s", s.record)
        controller = Controller(pipeline, s)
        log.info("input %s, background %s; Ctrl-C to stop", source.name, background.describe())
        _run_until_stopped(s, pipeline, controller, preview_on, preview_slot, notices, events, bench, json_path)
    return 0


def _open_sinks(s: Settings, closers: ExitStack) -> tuple[list, bool, list[str]]:
    """The virtual camera (when asked and there is one), or a reason to show a
    preview instead. Returns (sinks, preview on, notices for the tray)."""
    from livebg.sinks.null import NullSink
    from livebg.sinks.virtualcam import VirtualCamSink

    sinks = []
    notices = []  # start-up problems the tray also shows as notifications
    preview_on = bool(s.preview)
    if s.vcam:
        try:
            vcam = VirtualCamSink(s.width, s.height, s.fps, s.device or None)
            sinks.append(vcam)
            closers.callback(vcam.close)
            log.info("virtual camera: %s, %dx%d at %g fps", vcam.device, s.width, s.height, s.fps)
        except DeviceError as e:
            # An explicit device must work; otherwise keep going if anything else shows the output.
            if s.device:
                raise
            no_window = None if preview_on else display_problem(opencv=not s.tray)
            if no_window and not s.record:  # nothing would show the output: say so, and what to do
                reason = getattr(e, "reason", "") or str(e)
                setup = f", or {e.setup}" if getattr(e, "setup", "") else ""
                raise DeviceError(f"no virtual camera ({reason}) and no preview window instead: {no_window}; "
                                  f"add --no-vcam to run without them (--record FILE.mp4 keeps the output){setup}"
                                  ) from None
            log.warning("%s", e)
            notices.append(str(e))
            if not preview_on and not no_window:
                log.warning("showing a preview window instead")
                preview_on = True
    if not sinks and not preview_on and not s.record:
        sinks.append(NullSink())
        log.info("no virtual camera, recording or preview: frames are processed and discarded")
    return sinks, preview_on, notices


def _finish_recording(pipeline) -> None:
    try:
        pipeline.stop_recording()
    except Exception as e:  # keep closing the rest
        log.error("closing the recording: %s", e)


def _run_until_stopped(s, pipeline, controller, preview_on, preview_slot, notices, events, bench, json_path):
    from livebg.sinks.preview import Preview

    qt_app = no_tray = None
    if s.tray:
        from livebg import tray

        qt_app, no_tray = tray.start_app()
        if qt_app is not None and not tray.tray_available():
            no_tray = "no system tray on this desktop"
        if no_tray:
            log.warning("no tray icon: %s; running without it", no_tray)

    def on_term(signum, frame):
        pipeline.stop()

    old_term = signal.signal(signal.SIGTERM, on_term)
    # Our own Ctrl-C handler: a process started in the background inherits
    # SIGINT ignored, and then Python installs none, so Ctrl-C (or a kill
    # -INT from a script) would do nothing at all.
    old_int = signal.signal(signal.SIGINT, on_term)
    # With Qt up (the tray), the preview is a Qt window: OpenCV's own Qt must not run beside it.
    preview = Preview(controller) if preview_on and qt_app is None else None
    cpu = None
    if bench:
        from livebg import benchmark

        cpu = benchmark.CpuClock()
    pipeline.start()
    try:
        deadline = pipeline.t_start + s.duration if s.duration > 0 else None
        if qt_app is not None:
            tray.run(qt_app, controller, show_icon=not no_tray, show_preview=preview_on, deadline=deadline,
                     notices=tuple(notices), events=events)
        while qt_app is None and not pipeline.stop_event.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if preview is not None and preview.ok:
                image = preview_slot.get(timeout=0.05)
                if image is not None and preview.handle_key(preview.show(image)):
                    break
            else:
                pipeline.stop_event.wait(0.05)
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        pipeline.stop()
        signal.signal(signal.SIGTERM, old_term)
        signal.signal(signal.SIGINT, old_int)
        if preview is not None:
            preview.close()
        pipeline.join()
    log.info("%s", pipeline.stats.summary(pipeline.dropped, pipeline.elapsed))
    size = pipeline.stage.matte_size
    if size is not None:
        log.info("matting settled at %d px (longer side), %.1f mattes per second at the end",
                 size, pipeline.stats.matte_rate_recent())
    if cpu is not None:
        benchmark.report(pipeline, s, cpu, json_path)
    recorder = pipeline.stop_recording()
    if recorder is not None:
        msg = f"recorded {recorder.frames_written} frames to {recorder.path}"
        if recorder.dropped:
            msg += f" ({recorder.dropped} dropped: the encoder fell behind)"
        log.info("%s", msg)
        if recorder.error:
            raise LivebgError(f"recording stopped early: {recorder.error}; what was recorded is in {recorder.path}")
