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

from livebg import __version__
from livebg.errors import ConfigError, LivebgError, first_line

log = logging.getLogger("livebg")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, like every other usage error
        self.exit(2, f"{self.prog}: error: {message}\n")


def _studio_options(p) -> None:
    p.add_argument("--light-wrap", type=float, metavar="S",
                   help="the new background's light on the person's edge, 0 (off) to 1 (default 0.3)")
    p.add_argument("--color-match", type=float, metavar="S",
                   help="move the person's colours this far toward the background's, 0 (off, default) to 1")
    p.add_argument("--auto-frame", action="store_true", default=None,
                   help="keep the person centred and at a steady size (a crop of the picture, at most 1.5x)")
    p.add_argument("--low-light", action="store_true", default=None,
                   help="lift a dark camera picture (a well-lit one is left as it is)")


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
    _studio_options(p)
    _common_model(p)


def _more_commands(parser, sub) -> argparse.ArgumentParser:
    p = sub.add_parser("process", help="file -> file: composite every frame of a video",
                       description="Composite every frame of a video file, in order, at its size and frame rate.")
    p.add_argument("input", help="input video file")
    p.add_argument("-o", "--output", help="output .mp4 file (H.264)")
    p.add_argument("--background", help="image or video file, blur, blur:N, color:#RRGGBB or none (default blur)")
    p.add_argument("--matte-out", metavar="MATTE.mkv", help="also write the alpha matte as lossless grey video (FFV1)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")
    _studio_options(p)
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
    p.add_argument("--light-wrap", type=float, metavar="S",
                   help="with --background: its light on the person's edge, 0 (off) to 1 (default 0.3)")
    p.add_argument("--color-match", type=float, metavar="S",
                   help="with --background: the person's colours moved this far toward its, 0 (off, default) to 1")
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
                  "fps", "mirror", "smoothing", "vcam", "tray", "preview", "record", "duration", "offline",
                  "light_wrap", "color_match", "auto_frame", "low_light")


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
        print(f"livebg: internal error: {type(e).__name__}: {first_line(e) if str(e).strip() else ''} "
              f"(run again with --debug and report the traceback)", file=sys.stderr)
        return 3
    return 0


# ---------------------------------------------------------------- process, run, bench
def cmd_process(args) -> int:
    from livebg import process

    return process.run(_settings(args), overwrite=bool(args.overwrite))


def cmd_run(args, bench: bool = False) -> int:
    from livebg import app

    return app.run(_settings(args), bench=bench, json_path=getattr(args, "json", None))


# ---------------------------------------------------------------- cutout
def cmd_cutout(args) -> int:
    """Exit 0 when every input was done or skipped, 1 when any failed."""
    from livebg import stills

    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.background is not None:
        from livebg.backgrounds import parse

        parse(args.background)  # a bad spec is a usage error before any work
    from livebg.config import Settings

    defaults = Settings()
    for option, value in (("--light-wrap", args.light_wrap), ("--color-match", args.color_match)):
        if value is not None and not 0.0 <= value <= 1.0:  # (NaN too)
            raise ConfigError(f"{option} must be from 0 to 1, got {value}")
    options = stills.Options(background=args.background, shadow=args.shadow, crop=args.crop,
                             decontaminate=args.decontaminate,
                             light_wrap=defaults.light_wrap if args.light_wrap is None else args.light_wrap,
                             color_match=defaults.color_match if args.color_match is None else args.color_match)
    summary = stills.run_batch(args.inputs, args.output, options, fmt=args.format, overwrite=args.overwrite,
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
