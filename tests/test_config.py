"""livebg.config: the shipped default config, validation, precedence, the user
config file, and a bad config through the real command line."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path

import pytest

from clips import SHARED
from conftest import ROOT, run_livebg
from livebg import config
from livebg.config import Settings
from livebg.errors import ConfigError

DEFAULT_TOML = ROOT / "configs" / "default.toml"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- configs/default.toml

def test_default_toml_has_every_key_with_the_builtin_default():
    raw = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    assert sorted(raw) == sorted(Settings.keys())
    loaded = config.load_file(DEFAULT_TOML)
    defaults = Settings()
    for key in Settings.keys():
        want = getattr(defaults, key)
        assert loaded[key] == want and type(loaded[key]) is type(want), f"{key}: {loaded[key]!r} != {want!r}"
    assert config.build({}, str(DEFAULT_TOML)) == defaults


def test_default_toml_comments_are_the_help_texts():
    """Each key is preceded by its help text, so the file documents itself."""
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    for key in Settings.keys():
        i = next(n for n, line in enumerate(lines) if line.split("=")[0].strip() == key)
        assert lines[i - 1] == f"# {Settings.help_for(key)}", key


# ---------------------------------------------------------------- validation

def test_unknown_key_is_named(tmp_path):
    bad = _write(tmp_path / "bad.toml", 'width = 640\nbackround = "blur"\n')
    with pytest.raises(ConfigError) as e:
        config.load_file(bad)
    msg = str(e.value)
    assert "'backround'" in msg and str(bad) in msg and "\n" not in msg


def test_tables_are_unknown_keys(tmp_path):
    bad = _write(tmp_path / "nested.toml", "[video]\nwidth = 640\n")
    with pytest.raises(ConfigError, match="unknown key 'video'"):
        config.load_file(bad)


@pytest.mark.parametrize("line,key,range_text", [
    ("width = 10", "width", "160 to 3840"),
    ("height = 5000", "height", "120 to 2160"),
    ("fps = 0", "fps", "1 to 120"),
    ("fps = nan", "fps", "1 to 120"),
    ("smoothing = 2", "smoothing", "0 to 0.95"),
    ("smoothing = -0.1", "smoothing", "0 to 0.95"),
    ("duration = -1", "duration", "0 to"),
])
def test_out_of_range_names_the_range(tmp_path, line, key, range_text):
    bad = _write(tmp_path / "range.toml", line + "\n")
    with pytest.raises(ConfigError) as e:
        config.load_file(bad)
    msg = str(e.value)
    assert f"'{key}'" in msg and "out of range" in msg and range_text in msg


@pytest.mark.parametrize("line,key,expect", [
    ('width = "wide"', "width", "must be a number"),
    ("width = 1280.5", "width", "whole number"),
    ("width = true", "width", "must be a number"),
    ("mirror = 1", "mirror", "true or false"),
    ('mirror = "yes"', "mirror", "true or false"),
    ("background = 3", "background", "must be a string"),
    ('model = ["auto"]', "model", "must be a string"),
])
def test_wrong_types_are_named(tmp_path, line, key, expect):
    bad = _write(tmp_path / "types.toml", line + "\n")
    with pytest.raises(ConfigError) as e:
        config.load_file(bad)
    assert f"'{key}'" in str(e.value) and expect in str(e.value)


def test_values_are_converted_to_field_types(tmp_path):
    good = _write(tmp_path / "ok.toml", "width = 640.0\nfps = 24\ninput = 1\nsmoothing = 0\n")
    values = config.load_file(good)
    assert values == {"width": 640, "fps": 24.0, "input": "1", "smoothing": 0.0}
    assert type(values["width"]) is int and type(values["fps"]) is float


def test_not_toml(tmp_path):
    bad = _write(tmp_path / "bad.toml", "width = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load_file(bad)


def test_not_text(tmp_path):
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"width = 1\n\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not text"):
        config.load_file(bad)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ConfigError) as e:
        config.load_file(tmp_path / "nope.toml")
    assert "not found" in str(e.value) and "nope.toml" in str(e.value)
    with pytest.raises(ConfigError, match="folder"):
        config.load_file(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        config.build({}, str(tmp_path / "nope.toml"))


# ---------------------------------------------------------------- precedence

def test_command_line_overrides_file_overrides_defaults(tmp_path):
    cfg = _write(tmp_path / "c.toml", 'width = 800\nheight = 600\nbackground = "blur:5"\nmirror = true\n')
    s = config.build({"width": 640, "mirror": None, "background": None}, str(cfg))
    assert s.width == 640            # command line wins
    assert s.height == 600           # file beats the default
    assert s.background == "blur:5"  # None on the command line means "not given"
    assert s.mirror is True
    assert s.fps == Settings().fps   # neither: the default


def test_bad_command_line_value_is_a_config_error():
    with pytest.raises(ConfigError, match="command line: 'smoothing'"):
        config.build({"smoothing": 5.0})


def test_user_config_used_without_config_option(tmp_path):
    user = config.user_config_path()
    assert user == Path(os.environ["LIVEBG_CONFIG_DIR"]) / "config.toml"
    assert config.build({}) == Settings()  # no user file yet
    user.parent.mkdir(parents=True, exist_ok=True)
    _write(user, 'background = "color:#00ff00"\nfps = 25\n')
    s = config.build({"fps": 15.0})
    assert s.background == "color:#00ff00" and s.fps == 15.0
    # --config replaces the user file, it does not add to it.
    other = _write(tmp_path / "other.toml", "width = 320\n")
    s = config.build({}, str(other))
    assert s.width == 320 and s.background == Settings().background


def test_broken_user_config_is_reported():
    user = config.user_config_path()
    user.parent.mkdir(parents=True, exist_ok=True)
    _write(user, "nonsense = 1\n")
    with pytest.raises(ConfigError, match="'nonsense'"):
        config.build({})


# ---------------------------------------------------------------- save_user_values

def test_save_user_values_round_trip():
    values = {"background": 'C:\\bg\\"quoted" ü.png', "width": 640, "fps": 29.97, "mirror": True,
              "smoothing": 0.0, "device": "/dev/video7", "input": "1"}
    path = config.save_user_values(values)
    assert path == config.user_config_path() and path.is_file()
    assert config.load_file(path) == values
    # Merged, not replaced.
    config.save_user_values({"width": 800})
    assert config.load_file(path) == {**values, "width": 800}
    assert config.build({}) == dataclasses.replace(Settings(), **{**values, "width": 800})
    # Written in Settings' order; no temporary file left behind.
    keys = [line.split(" = ")[0] for line in path.read_text(encoding="utf-8").splitlines()]
    assert keys == [k for k in Settings.keys() if k in values]
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]


def test_save_user_values_rejects_bad_values_and_keeps_the_file():
    path = config.save_user_values({"width": 640})
    before = path.read_bytes()
    with pytest.raises(ConfigError, match="'width'"):
        config.save_user_values({"width": 5})
    with pytest.raises(ConfigError, match="'colour'"):
        config.save_user_values({"colour": "red"})
    assert path.read_bytes() == before


@pytest.mark.parametrize("value", ["two\nlines.png", "del\x7f.png", "esc\x1b.png"], ids=["newline", "del", "esc"])
def test_save_user_values_round_trips_control_characters(value):
    """A file name may hold any character but '/' and NUL; what the tray saves must load again
    (TOML basic strings need control characters escaped, else the user config is broken for good)."""
    path = config.save_user_values({"background": value})
    assert config.load_file(path)["background"] == value


# ---------------------------------------------------------------- ~ expansion

def test_tilde_expanded_for_files(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = config.build({"record": "~/rec.mp4", "output": "~/out/o.mp4", "matte_out": "~/m.mkv", "input": "~/in.mp4"})
    home = tmp_path / "home"
    assert s.record == str(home / "rec.mp4")
    assert s.output == str(home / "out" / "o.mp4")
    assert s.matte_out == str(home / "m.mkv")
    assert s.input == str(home / "in.mp4")
    cfg = _write(tmp_path / "c.toml", 'record = "~/from-file.mp4"\n')
    assert config.build({}, str(cfg)).record == str(home / "from-file.mp4")
    # Only leading ~ is expanded, and only for file settings.
    assert config.build({"record": "a~/b.mp4"}).record == "a~/b.mp4"


# ---------------------------------------------------------------- through the CLI

def test_cli_bad_config_one_line_naming_the_key(tmp_path):
    bad = _write(tmp_path / "bad.toml", 'background = "blur"\nbluur = 3\n')
    out = tmp_path / "o.mp4"
    r = run_livebg("process", SHARED / "video" / "test.mp4", "-o", out, "--config", bad, timeout=120)
    assert r.returncode == ConfigError.exit_code, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("livebg: error:") and "'bluur'" in lines[0]
    assert not out.exists()


def test_cli_out_of_range_option(tmp_path):
    out = tmp_path / "o.mp4"
    r = run_livebg("process", SHARED / "video" / "test.mp4", "-o", out, "--smoothing", "3", timeout=120)
    assert r.returncode == ConfigError.exit_code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'smoothing'" in lines[0] and "0 to 0.95" in lines[0], r.stderr
    assert not out.exists()
