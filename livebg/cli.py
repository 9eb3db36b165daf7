"""livebg's command line. ``--help`` and ``--version`` import nothing heavy.

Every user error ends in one line on stderr and a non-zero exit; a
traceback appears only with ``--debug`` (for a bug report).
"""

from __future__ import annotations

import argparse
import difflib
import faulthandler
import logging
import os
import re
import signal
import sys

from livebg import __version__
from livebg.errors import ConfigError, LivebgError, first_line

log = logging.getLogger("livebg")


BACKGROUND_HELP = ("image or video file; blur or blur:N (strength 1-100); a colour: color:#RRGGBB, color:#RGB or "
                   "color:NAME with a CSS colour name (white, black, red, teal, ...), NAME alone too; or none "
                   "(default blur)")


class _Parser(argparse.ArgumentParser):
    """argparse, with one-line errors that suggest what was probably meant
    (argparse in Python 3.11 suggests nothing)."""

    def error(self, message):  # one line and exit 2, like every other usage error
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)$", message)
        if m:
            close = difflib.get_close_matches(m.group(1), re.findall(r"'([^']*)'", m.group(2)), n=1, cutoff=0.75)
            if close:
                message = message[:m.start(2) - len("(choose from ")] + f"(did you mean '{close[0]}'? " \
                    f"choose from {m.group(2)})"
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{_suggest_options(self, parsed, extras)}")
        return parsed


def _suggest_options(parser: argparse.ArgumentParser, parsed, extras: list[str]) -> str:
    """' (did you mean --background?)' for a mistyped option, from the options of
    the (sub)command that was given."""
    for dest in ("command", "models_command"):
        name = getattr(parsed, dest, None)
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if name is None or sub is None or name not in sub.choices:
            break
        parser = sub.choices[name]
    options = [o for a in parser._actions for o in a.option_strings if o.startswith("--")]
    hints = []
    for token in extras:
        if token.startswith("-") and len(token) > 2:
            close = difflib.get_close_matches(token.split("=", 1)[0], options, n=1, cutoff=0.75)
            if close:
                hints.append(f"{token.split('=', 1)[0]}: did you mean {close[0]}?")
    return f" ({'; '.join(hints)})" if hints else ""


def _model_help(default: str = "auto (default)") -> str:
    try:
        from livebg.matting import model_choices

        names = ", ".join(model_choices()[1:])
    except Exception:  # a broken manifest is reported when a model is opened, not by --help
        names = "see `livebg models list`"
    return f"{default}, a model name ({names}), or a model file (.onnx, .tflite)"


PROVIDER_HELP = "ONNX Runtime provider: auto (default), cpu, cuda, directml or coreml (`livebg devices` lists those that start)"


def _studio_options(p) -> None:
    p.add_argument("--no-decontaminate", dest="decontaminate", action="store_false", default=None,
                   help="keep the camera's colours at the semi-transparent edge (default: the old room's colour "
                        "is taken out of hair and edges)")
    p.add_argument("--light-wrap", type=float, metavar="S",
                   help="the new background's light on the person's edge, 0 (off) to 1 (default 0.3)")
    p.add_argument("--color-match", type=float, metavar="S",
                   help="move the person's colours this far toward the background's, 0 (off, default) to 1")
    p.add_argument("--auto-frame", action="store_true", default=None,
                   help="keep the person centred and at a steady size (a crop of the picture, at most 1.5x)")
    p.add_argument("--low-light", action="store_true", default=None,
                   help="lift a dark camera picture (a well-lit one is left as it is)")


def _common_model(p):
    p.add_argument("--model", help=_model_help())
    p.add_argument("--provider", help=PROVIDER_HELP)
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
    p.add_argument("--input", help="camera index (default 0) or device (/dev/video2), or a video file, played as a webcam would, looping")
    p.add_argument("--device", help="virtual camera device (e.g. /dev/video7); default: the first free one")
    p.add_argument("--background", help=BACKGROUND_HELP)
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
    p.add_argument("--background", help=BACKGROUND_HELP)
    p.add_argument("--matte-out", metavar="MATTE.mkv", help="also write the alpha matte as lossless grey video (FFV1)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (default: refuse)")
    _studio_options(p)
    _common_model(p)

    p = sub.add_parser("cutout", help="still images: the subject cut out (PNG with alpha) or on a new background",
                       description="Cut the subject (a person, a product, an animal) out of photos: a PNG with a "
                                   "real alpha channel, the same size, or, with --background, the subject on a new "
                                   "background; --preset marketplace makes listing pictures (centred on a white "
                                   "square, JPEG). Folders are processed whole (not their subfolders). Exit status: "
                                   "0 when every picture was done or skipped, 1 when any failed, 2 for a usage error.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="picture files (JPEG, PNG, WebP) or folders of them")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output file (for one picture: .png/.webp, or .jpg with --background) or folder")
    p.add_argument("--background", metavar="SPEC",
                   help="write the subject flattened onto: a colour (color:#RRGGBB, color:#RGB, color:NAME with a "
                        "CSS colour name, or NAME alone, e.g. white), blur, blur:N (the photo's own background "
                        "blurred), or an image file (default: none, a transparent cutout)")
    p.add_argument("--subject", choices=["auto", "person", "object"],
                   help="what to cut out: person (the person pipeline), object (the general model, any subject: "
                        "products, animals; AGPL-3.0 weights, 88 MB, downloaded on first use) or auto (default: "
                        "decided per picture, said in the summary)")
    p.add_argument("--preset", choices=["marketplace"],
                   help="marketplace: on white, centred on a 2000x2000 square filling 85%% of it, JPEG; any option "
                        "given beside it wins")
    p.add_argument("--shadow", action="store_true", help="add a soft shadow under the subject")
    p.add_argument("--shadow-style", choices=["drop", "contact"],
                   help="drop (the subject's shape, default) or contact (a soft ellipse where it meets the "
                        "ground; the default with --preset marketplace); implies --shadow")
    p.add_argument("--crop", action="store_true", help="trim to the subject, with a margin")
    p.add_argument("--canvas", metavar="ASPECT",
                   help="centre the subject on a canvas of this shape: square, or W:H such as 4:5")
    p.add_argument("--fill", type=float, metavar="SHARE",
                   help="with --canvas: the subject's share of the canvas (its width or height, whichever is "
                        "larger), 0 to 1 (default 0.85)")
    p.add_argument("--size", type=int, metavar="PIXELS", help="the output's longer side in pixels")
    p.add_argument("--quality", type=int, metavar="Q", help="JPEG and WebP quality, 1 to 100 (default 95)")
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
    p.add_argument("--model", help=_model_help("the person pipeline's model: auto (default), a model name or "
                                               "file; with --subject object, the general model (default imgly-isnet)"))
    p.add_argument("--provider", help=PROVIDER_HELP)
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
                  "decontaminate", "light_wrap", "color_match", "auto_frame", "low_light")


def _settings(args):
    from livebg import config

    values = {k: getattr(args, k) for k in _SETTINGS_ARGS if getattr(args, k, None) is not None}
    s = config.build(values, getattr(args, "config", None))
    _check_model_and_provider(s.model, s.provider)
    return s


def _check_model_and_provider(model: str, provider: str) -> None:
    """Before any work: --model is auto, a manifest name or a file; --provider one
    livebg knows. From the command line or a config file alike. Raises ConfigError."""
    from livebg.matting import check_model_name
    from livebg.matting.providers import check_name

    check_model_name(model)
    check_name(provider)


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGUSR1"):
        # `kill -USR1 <pid>` prints every thread's stack: what a hang report needs.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    parser = build_parser()
    as_program = argv is None  # the `livebg` command itself, not a caller in the same process
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
            rc = cmd_process(args)
            if as_program and rc == 0:
                leave_now(rc)
            return rc
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
        missing = _missing_system_library(e)
        if missing:
            print(f"livebg: error: {missing}", file=sys.stderr)
            return 1
        print(f"livebg: internal error: {type(e).__name__}: {first_line(e) if str(e).strip() else ''} "
              f"(run again with --debug and report the traceback)", file=sys.stderr)
        return 3
    return 0


def leave_now(rc: int) -> None:
    """End the program at once, once a command's work is complete and on disk:
    logs and the standard streams flushed, then no interpreter teardown. The
    teardown is a few tenths of a second on one core with nothing left to do
    (numba's compiled code finalized, the heap that `process` keeps for reuse
    given back), which is a few per cent of `livebg process` on a short clip."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(rc)


def _missing_system_library(e: BaseException) -> str | None:
    """For an import that failed because the system lacks a shared library (a
    minimal Debian without libGL for OpenCV): which, and the package that has it."""
    if not isinstance(e, (ImportError, OSError)):
        return None
    text = str(e)
    marker = ": cannot open shared object file"
    if marker not in text:
        return None
    soname = text.split(marker)[0].rsplit(": ", 1)[-1].strip()
    from livebg.tray import debian_package

    return (f"a system library is missing: {soname} (Debian/Ubuntu: sudo apt install {debian_package(soname)}, "
            f"and run again)")


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
    _check_model_and_provider(args.model or "auto", args.provider or "auto")
    options = cutout_options(args)
    summary = stills.run_batch(args.inputs, args.output, options, fmt=args.format, overwrite=args.overwrite,
                               jobs=args.jobs, model=args.model or "auto", provider=args.provider or "auto",
                               offline=bool(args.offline), subject=args.subject or "auto", log=log.info)
    return 0 if summary.ok else 1


def parse_canvas(text: str) -> tuple[int, int]:
    """--canvas: "square" or "W:H" (positive whole numbers) -> (W, H). Raises ConfigError."""
    t = text.strip().lower()
    if t == "square":
        return (1, 1)
    w, sep, h = t.partition(":")
    if sep and w.isdigit() and h.isdigit() and 0 < int(w) <= 100 and 0 < int(h) <= 100:
        return int(w), int(h)
    raise ConfigError(f"--canvas must be square or a ratio W:H of whole numbers up to 100, such as 4:5; got '{text}'")


def cutout_options(args):
    """The cutout's Options from its arguments, a preset's settings under them.
    Raises ConfigError (one line) for a bad value or a combination that cannot be."""
    from livebg import stills
    from livebg.stills.compose import PRESETS

    preset = PRESETS[args.preset] if args.preset else {}
    background = args.background if args.background is not None else preset.get("background")
    canvas = parse_canvas(args.canvas) if args.canvas is not None else preset.get("canvas")
    fill = args.fill if args.fill is not None else preset.get("fill", 0.85)
    size = args.size if args.size is not None else preset.get("size")
    style = args.shadow_style or preset.get("shadow_style", "drop")
    if args.fill is not None:
        if not 0.0 < args.fill <= 1.0:
            raise ConfigError(f"--fill must be more than 0 and at most 1 (a share of the canvas, e.g. 0.85), "
                              f"got {args.fill:g}")
        if canvas is None:
            raise ConfigError("--fill needs a canvas: add --canvas square (or --preset marketplace)")
    if size is not None and not 16 <= size <= 8192:  # 8192: a canvas's colours then take 0.8 GB
        raise ConfigError(f"--size must be between 16 and 8192 pixels, got {size}")
    if args.quality is not None and not 1 <= args.quality <= 100:
        raise ConfigError(f"--quality must be between 1 and 100, got {args.quality}")
    if canvas is not None and args.crop:
        raise ConfigError("--crop and --canvas do not go together: the canvas already frames the subject")
    if background is not None:
        from livebg.backgrounds import parse

        spec = parse(background)  # a bad spec is a usage error before any work
        if canvas is not None and spec.kind == "blur":
            raise ConfigError("a canvas has no photo behind the subject to blur: give white, color:#RRGGBB, "
                              "an image file or none as --background")
    from livebg.config import Settings

    defaults = Settings()
    for option, value in (("--light-wrap", args.light_wrap), ("--color-match", args.color_match)):
        if value is not None and not 0.0 <= value <= 1.0:  # (NaN too)
            raise ConfigError(f"{option} must be from 0 to 1, got {value}")
    return stills.Options(background=background, shadow=bool(args.shadow or args.shadow_style), crop=args.crop,
                          decontaminate=args.decontaminate, shadow_style=style, canvas=canvas, fill=fill,
                          size=size, quality=args.quality if args.quality is not None else 95,
                          light_wrap=defaults.light_wrap if args.light_wrap is None else args.light_wrap,
                          color_match=defaults.color_match if args.color_match is None else args.color_match)


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
    try:
        import onnxruntime as ort

        from livebg.matting.providers import short_name, survey

        good, bad = survey()  # each really started on a one-node model, not just listed
        print(f"ONNX Runtime providers that start here (onnxruntime {ort.__version__}), best first:")
        for i, p in enumerate(good):
            print(f"  {short_name(p)}{'  (what --provider auto takes)' if i == 0 else ''}")
        if bad:
            print(f"  installed but not starting here (no usable device, or its driver and libraries are missing): "
                  f"{', '.join(map(short_name, bad))}")
    except ImportError:
        print("ONNX Runtime providers:\n  onnxruntime not installed")
    print("models:")
    for row in models.list_rows():
        state = row["path"] if row["present"] else "not present"
        print(f"  {row['name']}{_model_role(row['name'])}: {state}")
    print("--model auto here (models present only; nothing is downloaded):")
    print(f"  livebg run, 1280x720 at 30 fps: {_auto_pick('live')}")
    print(f"  livebg process and cutout: {_auto_pick('file')}")
    return 0


def _auto_pick(purpose: str) -> str:
    """What --model auto takes here and why (RVM is timed for live use), without downloading."""
    from livebg.errors import LivebgError
    from livebg.matting import open_matter

    try:
        matter, why = open_matter("auto", offline=True, purpose=purpose)
    except LivebgError as e:
        return f"none: {e}"
    matter.close()
    return why


def _model_role(name: str) -> str:
    """The model's part in --model auto: RVM first, then the light default and its fallback."""
    from livebg.matting import LIGHT_MODELS

    if name == "rvm":
        return " (auto: first choice)"
    if name == LIGHT_MODELS[0]:
        return " (auto: light default)"
    return " (auto: fallback)" if name in LIGHT_MODELS else ""


# ---------------------------------------------------------------- models
def cmd_models(args, parser) -> int:
    from livebg import models

    action = args.models_command
    if action in (None, "list"):
        rows = models.list_rows()
        print(f"{'name':46} {'licence':12} {'size':>12}  {'present':8} path")
        for r in rows:
            name = r["name"] + _model_role(r["name"])
            print(f"{name:46} {r['licence']:12} {r['size']:>12,}  {'yes' if r['present'] else 'no':8} {r['path'] or '-'}")
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
