"""Typed settings, loaded from TOML and merged with the command line.

Every command-line option has a key of the same name (dashes become
underscores) so anything a person types can live in a config file instead.
Precedence, lowest first: built-in defaults, the config file (``--config``,
else the user's ``config.toml`` when it exists), then the command line.
Unknown keys and out-of-range values are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from livebg.errors import ConfigError


def _opt(default: Any, help: str, lo: float | None = None, hi: float | None = None):
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi})


@dataclass(frozen=True)
class Settings:
    """All of livebg's settings. Units and ranges are in each field's help."""

    input: str = _opt("0", "camera index (0, 1, ...) or device (/dev/video2), or a video file; a file plays as a webcam would, looping")
    output: str = _opt("", "output file for `process` (.mp4, H.264)")
    matte_out: str = _opt("", "write the alpha matte as lossless grey video (FFV1 in .mkv)")
    device: str = _opt("", "virtual camera device (e.g. /dev/video7 on Linux); empty picks the first free one")
    background: str = _opt("blur", "image or video file, blur, blur:N (N = strength 1-100), a colour "
                           "(color:#RRGGBB, color:#RGB, color:NAME with a CSS colour name such as white or teal, "
                           "or NAME alone), or none")
    model: str = _opt("auto", "auto, a model name (livebg models list) or a model file path")
    provider: str = _opt("auto", "ONNX Runtime execution provider: auto, cpu, cuda, directml or coreml")
    width: int = _opt(1280, "live output width in pixels", 160, 3840)
    height: int = _opt(720, "live output height in pixels", 120, 2160)
    fps: float = _opt(30.0, "live output frame rate", 1, 120)
    mirror: bool = _opt(False, "mirror the picture left to right")
    smoothing: float = _opt(0.6, "temporal smoothing of the matte for still regions, 0 (off) to 0.95", 0, 0.95)
    decontaminate: bool = _opt(True, "take the old room's colour out of the semi-transparent edge (hair) before "
                                     "it is laid over the new background")
    light_wrap: float = _opt(0.3, "light wrap: the new background's light on the person's edge, 0 (off) to 1", 0, 1)
    color_match: float = _opt(0.0, "colour match: the person's white balance and brightness moved this far "
                                    "toward the background's, 0 (off) to 1", 0, 1)
    auto_frame: bool = _opt(False, "auto-frame: keep the person centred and at a steady size (a crop of the "
                                   "output, at most 1.5x)")
    low_light: bool = _opt(False, "low light: lift a dark camera picture (exposure and gamma from the frame, "
                                  "smoothed over time, noise filtered); a well-lit picture is left as it is")
    vcam: bool = _opt(True, "send to the virtual camera")
    tray: bool = _opt(True, "show the tray icon")
    preview: bool = _opt(False, "show a preview window")
    record: str = _opt("", "record the composited output to this .mp4 file")
    duration: float = _opt(0.0, "stop after this many seconds (0 runs until stopped)", 0, 1e7)
    offline: bool = _opt(False, "never download model files")
    backgrounds_dir: str = _opt("", "folder of background images and videos for the tray; empty: the user data folder's backgrounds")
    recordings_dir: str = _opt("", "folder for recordings started from the tray; empty: the user's videos folder")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def help_for(cls, key: str) -> str:
        return {f.name: f.metadata["help"] for f in fields(cls)}[key]


def user_config_path() -> Path:
    """Where livebg keeps the user's own settings (the tray writes here)."""
    override = os.environ.get("LIVEBG_CONFIG_DIR")
    if override:
        return Path(override) / "config.toml"
    import platformdirs

    return Path(platformdirs.user_config_dir("livebg", appauthor=False)) / "config.toml"


def validate(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """Check keys, types and ranges; return values converted to field types.

    Raises ConfigError naming the first bad key and what it accepts.
    """
    by_name = {f.name: f for f in fields(Settings)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        f = by_name.get(key)
        if f is None:
            known = ", ".join(sorted(by_name))
            raise ConfigError(f"{origin}: unknown key {key!r} (known keys: {known})")  # repr: one line, whatever the key
        kind = type(f.default)
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{origin}: '{key}' must be true or false, not {value!r}")
        elif kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{origin}: '{key}' must be a number, not {value!r}")
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{origin}: '{key}' must be a whole number, not {value!r}")
            lo, hi = f.metadata["lo"], f.metadata["hi"]
            try:  # an int too big for a float (10**400) is out of any range, not a crash
                value = kind(value)
                finite = math.isfinite(value)
            except OverflowError:
                finite = False
            if not finite or (lo is not None and value < lo) or (hi is not None and value > hi):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                raise ConfigError(f"{origin}: '{key}' = {shown} is out of range ({_fmt(lo)} to {_fmt(hi)})")
        else:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key in ("input", "device"):
                value = str(value)  # `input = 0` is a natural way to write a camera index
            if not isinstance(value, str):
                raise ConfigError(f"{origin}: '{key}' must be a string, not {value!r}")
        out[key] = value
    return out


def _fmt(x: float | None) -> str:
    return "unbounded" if x is None else (str(int(x)) if float(x).is_integer() else str(x))


def load_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate one TOML config file (flat keys, as in configs/default.toml)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except IsADirectoryError:
        raise ConfigError(f"config path is a folder, not a file: {p}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file is not text (UTF-8): {p}") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {p}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {p} is not valid TOML: {e}") from None
    except ValueError as e:  # tomllib lets Python's own limits through (an integer of 5000 digits)
        raise ConfigError(f"config file {p} is not usable TOML: {str(e).splitlines()[0][:120]}") from None
    return validate(data, str(p))


def build(cli_values: dict[str, Any], config_path: str | None = None) -> Settings:
    """Merge defaults, a config file and command-line values into Settings."""
    merged: dict[str, Any] = {}
    if config_path:
        merged.update(load_file(config_path))
    else:
        user = user_config_path()
        if user.is_file():
            merged.update(load_file(user))
    merged.update(validate({k: v for k, v in cli_values.items() if v is not None}, "command line"))
    for key in ("output", "matte_out", "record", "input", "backgrounds_dir", "recordings_dir"):
        if isinstance(merged.get(key), str) and merged[key].startswith("~"):
            merged[key] = os.path.expanduser(merged[key])
    return dataclasses.replace(Settings(), **merged)


def save_user_values(values: dict[str, Any]) -> Path:
    """Merge ``values`` into the user's config file (written atomically)."""
    path = user_config_path()
    current = load_file(path) if path.is_file() else {}
    current.update(validate(values, "settings"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(dumps(current), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _toml_string(text: str) -> str:
    """A TOML basic string; control characters escaped so the file always parses."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def dumps(values: dict[str, Any]) -> str:
    """Write flat settings as TOML (only the value types Settings uses)."""
    lines = []
    for key in Settings.keys():
        if key not in values:
            continue
        v = values[key]
        if isinstance(v, bool):
            s = "true" if v else "false"
        elif isinstance(v, (int, float)):
            s = repr(v)
        else:
            s = _toml_string(str(v))
        lines.append(f"{key} = {s}")
    return "\n".join(lines) + "\n"
