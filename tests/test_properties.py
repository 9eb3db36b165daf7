"""Property-based tests (hypothesis) at livebg's boundaries.

- The config loader: arbitrary dicts, TOML text and bytes never raise
  anything but ConfigError; every valid value round-trips through the
  user's config file.
- Background specs: what parses, parses to the right thing.
- The frame pipeline fuzzed at its edges (Stage.matte and composite, compositing,
  matting's check_frame): random sizes (1x1, odd, very wide or tall),
  dtypes (uint16, float32, bool...) and empty frames. Invalid input is a
  TypeError or ValueError with a message that names the problem; valid
  input comes out processed, same size, uint8.
"""

from __future__ import annotations

import math
import os
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from conftest import MODELS
from livebg import compositing, config
from livebg.backgrounds import ColorBackground, parse
from livebg.config import Settings
from livebg.errors import ConfigError, InputError
from livebg.matting.base import check_frame

FIELDS = {f.name: f for f in __import__("dataclasses").fields(Settings)}

# ---------------------------------------------------------------- config

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30), st.binary(max_size=10),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                          max_size=3), max_leaves=6)
keys = st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=12))


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, values, max_size=6))
@example({"width": 10**400})     # too big to be a float at all
@example({"fps": float("nan")})
@example({"smoothing": -0.0})
def test_validate_raises_only_config_error(data):
    try:
        out = config.validate(data, "test")
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith("test: ")
        return
    assert set(out) == set(data)
    for key, value in out.items():
        assert isinstance(value, type(FIELDS[key].default))


def _toml_value(v) -> str:
    """A small TOML writer for the test's own documents (nested tables too)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return config._toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{config._toml_string(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(v)


toml_values = st.recursive(
    st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(keys, toml_values, max_size=6))
def test_load_file_of_any_toml_document_raises_only_config_error(tmp_path, data):
    path = tmp_path / "c.toml"
    path.write_text("".join(f"{config._toml_string(k)} = {_toml_value(v)}\n" for k, v in data.items()), "utf-8")
    try:
        out = config.load_file(path)
    except ConfigError as e:
        assert "\n" not in str(e)
        return
    assert set(out) == set(data) <= set(FIELDS)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                 st.lists(st.sampled_from(["width = 640", "fps = 30.0", "[table]", "mirror = true", "x = ",
                                           '"a" = 1', "= 3", "width = 1e999", "model = '''", "\x00", "# c",
                                           "fps = nan", "height = 0x10", "input = 0"]),
                          max_size=6).map(lambda ls: "\n".join(ls).encode())))
@example(b"width = " + b"9" * 5000)  # beyond Python's int-from-text limit
def test_load_file_of_any_bytes_raises_only_config_error(tmp_path, data):
    path = tmp_path / "c.toml"
    path.write_bytes(data)
    try:
        config.load_file(path)
    except ConfigError as e:
        assert "\n" not in str(e)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["width", "fps", "mirror", "model", "smoothing", "input"]), values, max_size=4))
def test_build_raises_only_config_error(tmp_path, cli_values):
    try:
        s = config.build(cli_values, None)
    except ConfigError:
        return
    assert isinstance(s, Settings)


def _valid_value(name: str):
    f = FIELDS[name]
    kind = type(f.default)
    lo, hi = f.metadata["lo"], f.metadata["hi"]
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=int(lo), max_value=int(hi))
    if kind is float:
        return st.floats(min_value=lo, max_value=hi, allow_nan=False)
    return st.text(max_size=40)


valid_settings = st.fixed_dictionaries({}, optional={name: _valid_value(name) for name in FIELDS})


@settings(max_examples=150, deadline=None)
@given(valid_settings)
def test_valid_values_round_trip_through_the_user_config(values):
    path = config.user_config_path()
    if path.exists():
        path.unlink()
    config.save_user_values(values)
    back = config.load_file(path)
    assert back == values
    for k, v in values.items():  # the types too: 640 stays an int, 30.0 a float
        assert type(back[k]) is type(v)
    s = config.build({})  # and they are what livebg then runs with
    for k, v in values.items():
        if isinstance(v, str) and v.startswith("~") and k in TILDE_EXPANDED:
            v = os.path.expanduser(v)
        assert getattr(s, k) == v, k


TILDE_EXPANDED = ("output", "matte_out", "record", "input", "backgrounds_dir", "recordings_dir")


# ---------------------------------------------------------------- background specs

@given(st.integers(min_value=-10**6, max_value=10**6))
def test_blur_strength_range(n):
    spec = f"blur:{n}"
    if 1 <= n <= 100:
        assert parse(spec).strength == n
    else:
        with pytest.raises(InputError, match="1 to 100"):
            parse(spec)


@given(st.text(alphabet="0123456789abcdefABCDEF", min_size=6, max_size=6), st.booleans(), st.sampled_from(
    ["color:", "colour:", "COLOR:", "color: "]))
def test_colour_specs_parse_to_bgr_and_describe_round_trips(hexdigits, hash_, prefix):
    spec = parse(f"{prefix}{'#' if hash_ else ''}{hexdigits}")
    r, g, b = (int(hexdigits[i:i + 2], 16) for i in (0, 2, 4))
    assert spec.kind == "color" and spec.color_bgr == (b, g, r)
    described = ColorBackground(spec.color_bgr).describe()  # "color #rrggbb", for people
    assert parse("color:" + described.split()[1]).color_bgr == spec.color_bgr


@given(st.text(alphabet=string.hexdigits + "#xyz:", max_size=9))
def test_malformed_colours_are_one_clear_input_error(value):
    assume(not (len(value.lstrip("#")) in (3, 6) and all(c in string.hexdigits for c in value.lstrip("#"))
                and value.count("#") <= 1 and (value[:1] == "#" or "#" not in value)))
    with pytest.raises(InputError) as e:
        parse(f"color:{value}")
    assert "\n" not in str(e.value) and "color:#RRGGBB" in str(e.value)


# ---------------------------------------------------------------- frames at the boundaries

SIZES = st.one_of(
    st.tuples(st.integers(1, 40), st.integers(1, 40)),
    st.sampled_from([(1, 1), (1, 2), (2, 1), (3, 5), (1, 4000), (4000, 1), (2, 3001), (719, 1281), (9, 2560)]),
)
BAD_DTYPES = [np.uint16, np.float32, np.float64, np.bool_, np.int8, np.int32]


def _frame(h, w, dtype=np.uint8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, (h, w, channels)).astype(bool)
    if np.issubdtype(dtype, np.floating):
        return rng.random((h, w, channels)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, 0), min(info.max, 255) + 1, (h, w, channels)).astype(dtype)


def _clear(e: BaseException) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and any(w in msg for w in ("frame", "alpha", "uint8", "shape", "empty", "(H, W"))


@settings(max_examples=200, deadline=None)
@given(h=st.integers(0, 5), w=st.integers(0, 5), c=st.sampled_from([0, 1, 2, 3, 4]),
       ndim=st.sampled_from([2, 3, 4]), dtype=st.sampled_from([np.uint8] + BAD_DTYPES))
def test_check_frame(h, w, c, ndim, dtype):
    shape = {2: (h, w), 3: (h, w, c), 4: (1, h, w, c)}[ndim]
    frame = np.zeros(shape, dtype)
    valid = dtype == np.uint8 and ndim == 3 and c == 3 and h >= 1 and w >= 1
    if valid:
        check_frame(frame)
    else:
        with pytest.raises((TypeError, ValueError)) as e:
            check_frame(frame)
        _clear(e.value)


@settings(max_examples=150, deadline=None)
@given(size=SIZES, alpha_size=st.tuples(st.integers(1, 50), st.integers(1, 50)),
       alpha_dtype=st.sampled_from([np.float32, np.float64, np.float16]), seed=st.integers(0, 3))
def test_composite_valid_frames_of_any_size(size, alpha_size, alpha_dtype, seed):
    h, w = size
    fg, bg = _frame(h, w, seed=seed), _frame(h, w, seed=seed + 1)
    alpha = np.random.default_rng(seed).random(alpha_size).astype(alpha_dtype)
    out = compositing.composite(fg, alpha, bg)
    assert out.shape == fg.shape and out.dtype == np.uint8
    lo, hi = np.minimum(fg, bg).astype(int), np.maximum(fg, bg).astype(int)
    assert (out >= lo - 1).all() and (out <= hi + 1).all()  # a blend of the two, never outside


@settings(max_examples=200, deadline=None)
@given(h=st.integers(0, 6), w=st.integers(0, 6), fg_dtype=st.sampled_from([np.uint8] + BAD_DTYPES),
       bg_dtype=st.sampled_from([np.uint8, np.uint16]), channels=st.sampled_from([1, 3, 4]),
       alpha_shape=st.sampled_from([(0, 0), (0, 3), (2, 2), (1,), (2, 2, 1)]), bg_off=st.booleans())
def test_composite_invalid_frames_are_type_or_value_errors(h, w, fg_dtype, bg_dtype, channels, alpha_shape, bg_off):
    fg = np.zeros((h, w, channels), fg_dtype)
    bg = np.zeros((h, w + bg_off, 3), bg_dtype)
    alpha = np.zeros(alpha_shape, np.float32)
    valid = (fg_dtype == np.uint8 and bg_dtype == np.uint8 and channels == 3 and not bg_off and h and w
             and len(alpha_shape) == 2 and 0 not in alpha_shape)
    assume(not valid)
    with pytest.raises((TypeError, ValueError)) as e:
        compositing.composite(fg, alpha, bg)
    _clear(e.value)


@pytest.fixture(scope="module")
def stages():
    """Real Stages with the real model: refined (the live default) and bare, over three backgrounds."""
    from livebg.backgrounds import open_background
    from livebg.matting import open_named
    from livebg.stage import Stage

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LIVEBG_MODEL_DIR", str(MODELS))
        made = [Stage(open_named("mediapipe-selfie"), open_background(bg), refine=refine)
                for bg, refine in (("blur", True), ("color:#00ff00", False), (str(MODELS.parent / "backgrounds" /
                                                                                 "beach.jpg"), True))]
    yield made
    for s in made:
        s.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=SIZES, which=st.integers(0, 2), reuse=st.booleans(), seed=st.integers(0, 3))
def test_stage_processes_valid_frames_of_any_size(stages, size, which, reuse, seed):
    stage = stages[which]
    stage.reset()  # frames of unrelated sizes: no history carried between examples
    frame = _frame(*size, seed=seed)
    before = frame.copy()
    matte = stage.matte(frame)
    out = stage.composite(frame, matte, reuse=reuse)
    assert out.shape == frame.shape and out.dtype == np.uint8
    alpha = matte.alpha
    assert alpha.ndim == 2 and alpha.dtype == np.float32
    assert np.isfinite(alpha).all() and alpha.min() >= 0 and alpha.max() <= 1
    assert (frame == before).all()  # the input is never written to
    assert stage.guard.failures == 0  # a valid frame is not a model failure


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(0, 8), w=st.integers(0, 8), dtype=st.sampled_from([np.uint8] + BAD_DTYPES),
       channels=st.sampled_from([1, 3, 4]), which=st.integers(0, 2))
def test_stage_rejects_invalid_frames_clearly(stages, h, w, dtype, channels, which):
    assume(not (dtype == np.uint8 and channels == 3 and h and w))
    stage = stages[which]
    failures = stage.guard.failures
    with pytest.raises((TypeError, ValueError)) as e:
        stage.matte(np.zeros((h, w, channels), dtype))
    _clear(e.value)
    with pytest.raises((TypeError, ValueError)) as e:
        stage.composite(np.zeros((h, w, channels), dtype), None)
    _clear(e.value)
    assert stage.guard.failures == failures  # rejected at the door, not counted as the model failing
