"""livebg's command line. ``--help`` and ``--version`` import nothing heavy.

Every user error ends in one line on stderr and a non-zero exit; a
traceback appears only with ``--debug`` (for a bug report).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import sys
from pathlib import Path

from livebg import __version__
from livebg.errors import ConfigError, DeviceError, InputError, LivebgError

log = logging.getLogger("livebg")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other usage error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _common_model(p):
    p.add_argument("--model", help="auto (default), a model name from `livebg models list`, or a model file")
    p.add_argument("--provider", help="ONNX Runtime provider: auto (default), cpu, cuda, directml, coreml")
    p.add_argument("--smoothing", type=float, help="temporal smoothing of the matte, 0 (off) to 0.95 (default 0.6)")
    p.add_argument("--offline", action="store_true", default=None, help="never download model files")
    p.add_argument("--config", help="TOML config file (default: the user's config.toml, if any)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="livebg", description="Real-time webcam virtual background, all on your own machine.")
    parser.add_argument("--version", action="version", version=f"livebg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="live: camera -> virtual camera (and recording, preview)",
                         description="Live virtual background: camera in, virtual camera out.")
    bench = sub.add_parser("bench", help="live path timings per stage (as `run`, no virtual camera by default)",
                           description="Run the live path (same options as `run`; by default no virtual camera and "
                                       "30 seconds) and report per-stage times, frame rates, latency, CPU and memory.")
    bench.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    bench.add_argument("--vcam", dest="vcam", action="store_true", default=False,
                       help="send to the virtual camera too")
    for p in (run, bench):
        _run_options(p, vcam_flag=p is run)
    return _more_commands(parser, sub)


def _run_options(p, vcam_flag: bool) -> None:
    p.add_argument("--input", help="camera index (default 0) or a video file, played as a webcam would, looping")
    p.add_argument("--device", help="virtual camera device (e.g. /dev/video7); default: the first free one")
    p.add_argument("--background", help="image or video file, blur, blur:N, color:#RRGGBB or none (default blur)")
    p.add_argument("--record", metavar="FILE.mp4", help="also record the output to this MP4 file")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop cleanly after this many seconds")
    if vcam_flag:
        p.add_argument("--no-vcam", dest="vcam", action="store_false", default=None, help="do not open a virtual camera")
    p.add_argument("--no-tray", dest="tray", action="store_false", default=None, help="run without the tray icon")
    p.add_argument("--preview", action="store_true", default=None, help="show a preview window")
    p.add_argument("--mirror", action="store_true", default=None, help="mirror the picture left to right")
    p.add_argument("--width", type=int, help="output width (default 1280)")
    p.add_argument("--height", type=int, help="output height (default 720)")
    p.add_argument("--fps", type=float, help="output frame rate (default 30)")
    _common_model(p)


def _more_commands(parser, sub) -> argparse.ArgumentParser:
    p = sub.add_parser("process", help="file -> file: composite every frame of a video",
                       description="Composite every frame of a video file, in order, at its size and frame rate.")
    p.add_argument("input", help="input video file")
    p.add_argument("-o", "--output", help="output .mp4 file (H.264)")
    p.add_argument("--background", help="image or video file, blur, blur:N, color:#RRGGBB or none (default blur)")
    p.add_argument("--matte-out", metavar="MATTE.mkv", help="also write the alpha matte as lossless grey video (FFV1)")
    _common_model(p)

    p = sub.add_parser("cutout", help="still images: the person cut out (PNG with alpha) or on a new background",
                       description="Cut the person out of photos: a PNG with a real alpha channel, the same size, "
                                   "or, with --background, the person on a new background. Folders are processed "
                                   "whole (not their subfolders). Exit status: 0 when every picture was done or "
                                   "skipped, 1 when any failed, 2 for a usage error.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="picture files (JPEG, PNG, WebP) or folders of them")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (for one picture: .png/.webp, or .jpg with --background) or folder")
    p.add_argument("--background", metavar="SPEC",
                   help="write the person flattened onto: white, color:#RRGGBB, blur, blur:N (the photo's own "
                        "background blurred), or an image file (default: none, a transparent cutout)")
    p.add_argument("--shadow", action="store_true", help="add a soft drop shadow under the person")
    p.add_argument("--crop", action="store_true", help="trim to the person, with a margin")
    p.add_argument("--no-decontaminate", dest="decontaminate", action="store_false",
                   help="keep the photo's colours at the edges (default: remove the old background's tint)")
    p.add_argument("--format", choices=["png", "jpg", "webp"],
                   help="file format in an output folder (default png; jpg with --background)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: skip them)")
    p.add_argument("--jobs", type=int, metavar="N", help="pictures processed at once (default: 1 up to 4 cores, else cores/4, at most 4)")
    p.add_argument("--model", help="auto (default: MODNet if present, else mediapipe-selfie-onnx), a model name or file")
    p.add_argument("--provider", help="ONNX Runtime provider: auto (default), cpu, cuda, directml, coreml")
    p.add_argument("--offline", action="store_true", help="never download model files")

    sub.add_parser("devices", help="cameras, virtual cameras, ONNX Runtime providers and models found here")

    p = sub.add_parser("models", help="list, fetch, verify or import model files")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", parser_class=_Parser)
    msub.add_parser("list", help="every known model: licence, size, present or not, path")
    f = msub.add_parser("fetch", help="download a model (sha256 checked)")
    f.add_argument("name")
    msub.add_parser("verify", help="check the sha256 of every model present")
    i = msub.add_parser("import", help="copy a model file you already have into livebg's cache")
    i.add_argument("path")
    return parser


_SETTINGS_ARGS = ("input", "output", "matte_out", "device", "background", "model", "provider", "width", "height",
                  "fps", "mirror", "smoothing", "vcam", "tray", "preview", "record", "duration", "offline")


def _settings(args):
    from livebg import config

    values = {k: getattr(args, k) for k in _SETTINGS_ARGS if getattr(args, k, None) is not None}
    return config.build(values, getattr(args, "config", None))


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGUSR1"):
        # `kill -USR1 <pid>` prints every thread's stack: what a hang report needs.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    late_debug = "--debug" in argv[1:]  # `livebg process x --debug` works too, as people type it
    if late_debug:
        argv = [argv[0]] + [a for a in argv[1:] if a != "--debug"]
    args = parser.parse_args(argv)
    debug = bool(args.debug) or late_debug or os.environ.get("LIVEBG_DEBUG") == "1"
    if debug:
        os.environ["LIVEBG_DEBUG"] = "1"  # also lets native libraries' own logging through
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, format="livebg: %(message)s", stream=sys.stderr)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "bench":
            return cmd_run(args, bench=True)
        if args.command == "process":
            return cmd_process(args)
        if args.command == "cutout":
            return cmd_cutout(args)
        if args.command == "devices":
            return cmd_devices()
        if args.command == "models":
            return cmd_models(args, parser)
        parser.error(f"unknown command {args.command}")
    except LivebgError as e:
        if debug:
            raise
        print(f"livebg: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("livebg: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`livebg models list | head`): a normal end, not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug: one line unless --debug
        if debug:
            raise
        print(f"livebg: internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              f"(run again with --debug and report the traceback)", file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------- process
def cmd_process(args) -> int:
    import tempfile
    import time

    from livebg import compositing
    from livebg.backgrounds import open_background
    from livebg.matting import open_matter
    from livebg.pipeline import Stage, process_file
    from livebg.video import VideoReader, VideoWriter

    s = _settings(args)
    if not s.output:
        raise ConfigError("no output file: give -o OUTPUT.mp4")
    out = Path(s.output)
    if out.suffix.lower() != ".mp4":
        raise ConfigError(f"output must be an .mp4 file (H.264), got '{out.name}'")
    inp = Path(s.input)
    if inp.exists() and out.exists() and inp.resolve() == out.resolve():
        raise ConfigError("output would overwrite the input; choose another output file")
    matte = Path(s.matte_out) if s.matte_out else None
    if matte is not None and matte.suffix.lower() != ".mkv":
        raise ConfigError(f"--matte-out must be a .mkv file (FFV1 in Matroska), got '{matte.name}'")
    from livebg.checks import background_path, refuse_clobbering

    refuse_clobbering([("-o", s.output), ("--matte-out", s.matte_out)],
                      [("input video", s.input), ("background", background_path(s.background))])
    for target in [out] + ([matte] if matte else []):
        folder = target.parent if str(target.parent) else Path(".")
        if not folder.is_dir():
            raise LivebgError(f"output folder does not exist: {folder}")
        try:  # really try: os.access() says nothing of a read-only or full file system
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as e:
            raise LivebgError(f"cannot write to {folder}: {(e.strerror or str(e)).lower()}") from None

    from livebg.pipeline import keep_freed_memory

    keep_freed_memory()
    reader = VideoReader(s.input)
    background = open_background(s.background)
    matter, why = open_matter(s.model, s.provider, s.offline, fps=reader.fps, frame_size=(reader.height, reader.width))
    log.info("%s", why)
    compositing.warmup()
    stage = Stage(matter, background, smoothing=s.smoothing)
    from livebg.faults import fallback_opener

    stage.guard.configure(opener=fallback_opener(s.offline))  # a failing model hands over to the next
    if stage.wants_flip_matter and (os.cpu_count() or 1) > 1:
        # The refiner also runs the model on the crop's mirror image; a second
        # instance of the model takes that call, alongside the first.
        from livebg.matting import open_named

        try:
            stage.set_flip_matter(open_named(matter.name if s.model == "auto" else s.model, s.provider, s.offline))
        except LivebgError as e:  # then one instance makes both calls, as before
            log.debug("no second model instance: %s", e)
    # Written under temporary names and moved into place only when complete,
    # so a failed run never leaves a half file under the name asked for.
    tmp_out = Path(tempfile.mkstemp(prefix=f".{out.stem}.", suffix=".mp4", dir=out.parent or ".")[1])
    tmp_matte = Path(tempfile.mkstemp(prefix=f".{matte.stem}.", suffix=".mkv", dir=matte.parent or ".")[1]) if matte else None
    writer = matte_writer = None
    ok = False
    t0 = time.monotonic()
    try:
        writer = VideoWriter(tmp_out, reader.width, reader.height, reader.rate, kind="h264")
        if tmp_matte is not None:
            matte_writer = VideoWriter(tmp_matte, reader.width, reader.height, reader.rate, kind="matte")
        total = reader.frame_count
        show = sys.stderr.isatty()

        def progress(n):
            if show and (n % 10 == 0 or n == total):
                print(f"\rlivebg: frame {n}/{total or '?'}", end="", file=sys.stderr, flush=True)

        n = process_file(reader, stage, writer, matte_writer, progress=progress)
        if show:
            print(file=sys.stderr)
        writer.close()
        if matte_writer is not None:
            matte_writer.close()
        if n == 0:
            raise InputError(f"{s.input} has no frames")
        from livebg.checks import as_if_created

        as_if_created(tmp_out, tmp_matte)  # mkstemp made them private (0600)
        os.replace(tmp_out, out)
        if matte is not None:
            os.replace(tmp_matte, matte)
        ok = True
    except LivebgError as e:  # name the file asked for, not its temporary name
        text = str(e).replace(str(tmp_out), str(out))
        raise type(e)(text.replace(str(tmp_matte), str(matte)) if tmp_matte else text) from None
    finally:
        for w in (writer, matte_writer):
            if w is not None and not ok:
                try:
                    w.close()
                except LivebgError:
                    pass
        reader.close()
        stage.close()
        if not ok:
            for p in (tmp_out, tmp_matte):
                if p is not None and p.exists():
                    p.unlink()
    dt = time.monotonic() - t0
    log.info("wrote %s: %d frames, %dx%d at %.3g fps (%.1f fps processing)%s", out, n, reader.width, reader.height,
             reader.fps, n / max(dt, 1e-9), f"; matte in {matte}" if matte else "")
    return 0


# ---------------------------------------------------------------- run
def _display_available() -> bool:
    import platform

    if platform.system() in ("Windows", "Darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_run(args, bench: bool = False) -> int:
    import signal
    import time

    from livebg import compositing
    from livebg.backgrounds import open_background
    from livebg.controls import Controller, EventRelay
    from livebg.frames import LatestSlot
    from livebg.matting import open_matter
    from livebg.pipeline import LivePipeline, Stage
    from livebg.sinks.null import NullSink
    from livebg.sinks.preview import Preview
    from livebg.sinks.virtualcam import VirtualCamSink
    from livebg.sources import open_live_source

    s = _settings(args)
    if bench:  # measured as run, without the tray's own work, for 30 s unless told
        import dataclasses

        s = dataclasses.replace(s, tray=False, duration=s.duration or 30.0)
    if s.record and Path(s.record).suffix.lower() != ".mp4":
        raise ConfigError(f"--record must name an .mp4 file, got '{Path(s.record).name}'")
    from livebg.checks import background_path, refuse_clobbering, writable_folder

    refuse_clobbering([("--record", s.record)], [("input video", s.input), ("background", background_path(s.background))])
    writable_folder("--record", s.record)  # before the slow start-up, not after it
    if not s.vcam and s.device:
        raise ConfigError("--device and --no-vcam contradict each other")
    if s.width % 2 or s.height % 2:
        raise ConfigError(f"output size must be even for the virtual camera (YUV 4:2:0), got {s.width}x{s.height}")
    background = open_background(s.background)
    source = open_live_source(s.input, s.width, s.height, s.fps)
    closers = [source.close]
    preview_on = bool(s.preview)
    notices = []  # start-up problems the tray also shows as notifications
    try:
        matter, why = open_matter(s.model, s.provider, s.offline, fps=s.fps, frame_size=(s.height, s.width))
        stage = Stage(matter, background, smoothing=s.smoothing)
        from livebg.faults import fallback_opener

        stage.guard.configure(opener=fallback_opener(s.offline))  # a failing model hands over to the next
        closers.append(stage.close)
        log.info("%s", why)
        compositing.warmup()
        sinks = []
        if s.vcam:
            try:
                vcam = VirtualCamSink(s.width, s.height, s.fps, s.device or None)
                sinks.append(vcam)
                closers.append(vcam.close)
                log.info("virtual camera: %s, %dx%d at %g fps", vcam.device, s.width, s.height, s.fps)
            except DeviceError as e:
                # An explicit device must work; otherwise keep going if anything else shows the output.
                if s.device or not (preview_on or s.record or _display_available()):
                    raise
                log.warning("%s", e)
                notices.append(str(e))
                if not preview_on and _display_available():
                    log.warning("showing a preview window instead")
                    preview_on = True
        if not sinks and not preview_on and not s.record:
            sinks.append(NullSink())
            log.info("no virtual camera, recording or preview: frames are processed and discarded")
        preview_slot = LatestSlot() if preview_on else None
        events = EventRelay()
        pipeline = LivePipeline(source, stage, sinks, s.width, s.height, s.fps, mirror=s.mirror,
                                preview_slot=preview_slot,
                                source_factory=lambda: open_live_source(s.input, s.width, s.height, s.fps),
                                on_event=events)
        closers.remove(source.close)
        closers.append(pipeline._close_source)
        # Finalise any recording first, whatever happens (--record, or one started from the tray).
        closers.insert(0, pipeline.stop_recording)
        if s.record:
            pipeline.start_recording(s.record)
            log.info("recording to %s", s.record)
        controller = Controller(pipeline, s, model=matter.name if s.model == "auto" else s.model)
        qt_app = no_tray = None
        if s.tray:
            from livebg import tray

            qt_app, no_tray = tray.start_app()
            if qt_app is not None and not tray.tray_available():
                no_tray = "no system tray on this desktop"
            if no_tray:
                log.warning("no tray icon: %s; running without it", no_tray)
        log.info("input %s, background %s; Ctrl-C to stop", source.name, background.describe())

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
        if pipeline.matte_size is not None:
            log.info("matting settled at %d px (longer side), %.1f mattes per second at the end",
                     pipeline.matte_size, pipeline.stats.matte_rate_recent())
        if cpu is not None:
            benchmark.report(pipeline, s, cpu, args.json)
        recorder = pipeline.stop_recording()
        if recorder is not None:
            msg = f"recorded {recorder.frames_written} frames to {recorder.path}"
            if recorder.dropped:
                msg += f" ({recorder.dropped} dropped: the encoder fell behind)"
            log.info("%s", msg)
            if recorder.error:
                raise LivebgError(f"recording stopped early: {recorder.error}; what was recorded is in {recorder.path}")
    finally:
        for close in closers:
            try:
                close()
            except Exception as e:  # keep closing the rest; the recording must be finalised
                log.error("closing: %s", e)
    return 0


# ---------------------------------------------------------------- cutout
def cmd_cutout(args) -> int:
    """Exit 0 when every input was done or skipped, 1 when any failed."""
    from livebg import cutout

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.background is not None:
        from livebg.backgrounds import parse

        parse(args.background)  # a bad spec is a usage error before any work
    options = cutout.Options(background=args.background, shadow=args.shadow, crop=args.crop,
                             decontaminate=args.decontaminate)
    summary = cutout.run_batch(args.inputs, args.output, options, fmt=args.format, overwrite=args.overwrite,
                               jobs=args.jobs, model=args.model or "auto", provider=args.provider or "auto",
                               offline=bool(args.offline), log=log.info)
    return 0 if summary.ok else 1


# ---------------------------------------------------------------- devices
def cmd_devices() -> int:
    from livebg import models
    from livebg.sinks.virtualcam import list_virtual_cameras
    from livebg.sources import list_cameras

    print("cameras:")
    for row in list_cameras() or ["none found"]:
        print(f"  {row}")
    print("virtual cameras:")
    for row in list_virtual_cameras():
        print(f"  {row}")
    print("ONNX Runtime providers:")
    try:
        import onnxruntime as ort

        from livebg.matting.providers import PREFERENCE, short_name

        avail = ort.get_available_providers()
        for p in avail:
            note = "" if p in PREFERENCE else " (not used by livebg)"
            print(f"  {short_name(p)} ({p}){note}")
        print(f"  onnxruntime {ort.__version__}; whether a GPU provider really starts is checked when a model loads")
    except ImportError:
        print("  onnxruntime not installed")
    print("models:")
    for row in models.list_rows():
        state = row["path"] if row["present"] else "not present"
        print(f"  {row['name']}: {state}")
    return 0


# ---------------------------------------------------------------- models
def cmd_models(args, parser) -> int:
    from livebg import models

    action = args.models_command
    if action in (None, "list"):
        rows = models.list_rows()
        print(f"{'name':28} {'licence':12} {'size':>12}  {'present':8} path")
        for r in rows:
            print(f"{r['name']:28} {r['licence']:12} {r['size']:>12,}  {'yes' if r['present'] else 'no':8} {r['path'] or '-'}")
        return 0
    if action == "fetch":
        path = models.fetch(args.name)
        print(f"{args.name}: {path}")
        return 0
    if action == "verify":
        bad = 0
        for name, status, detail in models.verify_all():
            print(f"{name:28} {status:8} {detail}")
            bad += status == "corrupt"
        return 1 if bad else 0
    if action == "import":
        spec, path = models.import_file(args.path)
        print(f"imported {spec.name}: {path}")
        return 0
    parser.error(f"unknown models action {action}")
    return 2
