"""livebg.backgrounds: the spec parser and every kind of background, on real files.

Images and the looping video come from the shared data folder; the bad files
(random bytes, an empty file) are written here.
"""

from __future__ import annotations

import os

import av
import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clips import SHARED
from livebg.backgrounds import DEFAULT_BLUR, Background, BackgroundSpec, BlurBackground, open_background, parse
from livebg.errors import InputError

BEACH = SHARED / "backgrounds" / "beach.png"
EARTH = SHARED / "backgrounds" / "rotating_earth.webm"


def _one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg, f"not a one-line message: {msg!r}"
    return msg


def _portrait_frame(width=1280, height=720):
    image = cv2.imread(str(SHARED / "eval" / "images" / "p_07141906.jpg"), cv2.IMREAD_COLOR)
    assert image is not None
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def _laplacian_var(bgr):
    return cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()


# ---------------------------------------------------------------- parser: blur

@pytest.mark.parametrize("text,strength", [("blur", DEFAULT_BLUR), ("blur:1", 1), ("blur:100", 100),
                                           ("blur:42", 42), ("  blur:7  ", 7), ("BLUR:9", 9)])
def test_blur_specs(text, strength):
    spec = parse(text)
    assert spec.kind == "blur" and spec.strength == strength


@pytest.mark.parametrize("text", ["blur:0", "blur:101", "blur:x", "blur:", "blur:-5", "blur:2.5", "blur:1e2",
                                  "blur:1000"])
def test_bad_blur_strength_rejected(text):
    with pytest.raises(InputError) as e:
        parse(text)
    msg = _one_line(e.value)
    assert "1 to 100" in msg and text.strip() in msg


# ---------------------------------------------------------------- parser: colour

@pytest.mark.parametrize("text,bgr", [
    ("color:#ff0000", (0, 0, 255)),
    ("color:#00FF00", (0, 255, 0)),
    ("color:#0000ff", (255, 0, 0)),
    ("color:#102030", (0x30, 0x20, 0x10)),
    ("colour:#a1b2c3", (0xc3, 0xb2, 0xa1)),
    ("color:00b140", (0x40, 0xb1, 0x00)),
])
def test_color_specs_are_bgr(text, bgr):
    spec = parse(text)
    assert spec.kind == "color" and spec.color_bgr == bgr
    bg = open_background(spec)
    frame = np.zeros((9, 13, 3), np.uint8)
    out = bg.render(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (out.reshape(-1, 3) == np.array(bgr, np.uint8)).all()
    r, g, b = bgr[2], bgr[1], bgr[0]
    assert bg.describe() == f"color #{r:02x}{g:02x}{b:02x}"


@pytest.mark.parametrize("text", ["color:#12345", "color:#1234567", "color:#gggggg", "color:", "color:reddish",
                                  "color:#12 345", "colour:##123456", "color:#1234", "#12", "#ggg"])
def test_bad_colors_rejected(text):
    with pytest.raises(InputError) as e:
        parse(text)
    line = _one_line(e.value)
    for form in ("color:#RRGGBB", "color:#RGB", "color:NAME", "CSS colour name"):  # every form, in the error
        assert form in line, line


@pytest.mark.parametrize("text,rgb", [
    ("color:#0f0", (0, 255, 0)),            # #rgb: each digit doubled
    ("color:#F80", (0xff, 0x88, 0x00)),
    ("color:0f0", (0, 255, 0)),
    ("color:red", (255, 0, 0)),             # CSS colour names, any case
    ("colour:RebeccaPurple", (0x66, 0x33, 0x99)),
    ("color:green", (0, 128, 0)),           # CSS green, not the green-screen #00b140
    ("color: teal ", (0, 128, 128)),
    ("white", (255, 255, 255)),             # a name alone
    ("red", (255, 0, 0)),
    ("lightgoldenrodyellow", (0xfa, 0xfa, 0xd2)),
    ("#00b140", (0, 0xb1, 0x40)),           # #rrggbb and #rgb alone
    ("#abc", (0xaa, 0xbb, 0xcc)),
])
def test_usual_colour_forms(text, rgb):
    spec = parse(text)
    assert spec.kind == "color" and spec.color_bgr == rgb[::-1]


def test_css_colour_names_agree_with_qt():
    """All 148 names of CSS Color 4, with Qt's own table (SVG's 147 names, which
    lacks only rebeccapurple) as an independent check of every value."""
    from PySide6.QtGui import QColor

    from livebg.colors import CSS_COLORS

    assert len(CSS_COLORS) == 148
    qt_names = set(QColor.colorNames()) - {"transparent"}
    assert qt_names <= set(CSS_COLORS) and set(CSS_COLORS) - qt_names == {"rebeccapurple"}
    for name in qt_names:
        spec = parse(f"color:{name}")
        assert f"#{spec.color_bgr[2]:02x}{spec.color_bgr[1]:02x}{spec.color_bgr[0]:02x}" == QColor(name).name(), name


@pytest.mark.parametrize("text,meant", [("color:whtie", "white"), ("color:turqoise", "turquoise"),
                                        ("blurr", "blur"), ("whte", "white")])
def test_near_misses_suggest_what_was_meant(text, meant, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        parse(text)
    assert f"did you mean {meant}?" in _one_line(e.value)


def test_background_help_lists_every_form():
    """The help of every --background option, the config key and configs/default.toml
    all name each form the parser accepts."""
    from conftest import ROOT
    from livebg.cli import build_parser
    from livebg.config import Settings

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices
    helps = [next(a.help for a in sub[cmd]._actions if a.dest == "background") for cmd in ("run", "process", "cutout")]
    helps.append(Settings.help_for("background"))
    helps.append((ROOT / "configs" / "default.toml").read_text())
    for text in helps:
        for form in ("color:#RRGGBB", "color:#RGB", "color:NAME", "CSS colour name", "blur:N"):
            assert form in text, (form, text[:200])


def test_empty_spec_rejected():
    for text in ["", "   "]:
        with pytest.raises(InputError):
            parse(text)


# ---------------------------------------------------------------- none

def test_none_passes_through():
    bg = open_background(" None ")
    assert parse("none").kind == "none"
    assert bg.render(_portrait_frame(64, 36)) is None


# ---------------------------------------------------------------- blur render

@pytest.mark.parametrize("spec", ["blur", "blur:1", "blur:100"])
def test_blur_render_is_smoother_and_keeps_size(spec):
    frame = _portrait_frame()
    out = open_background(spec).render(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert np.abs(out.astype(np.int16) - frame).mean() > 0.5
    assert _laplacian_var(out) < 0.8 * _laplacian_var(frame)
    np.testing.assert_array_equal(frame, _portrait_frame())  # the camera frame itself is untouched


def test_stronger_blur_is_smoother():
    frame = _portrait_frame()
    v = [_laplacian_var(open_background(f"blur:{n}").render(frame)) for n in (1, 25, 100)]
    assert v[0] > v[1] > v[2]


@pytest.mark.parametrize("hw", [(1, 1), (37, 53), (121, 7)])
def test_blur_odd_and_tiny_frames(hw):
    frame = _portrait_frame(hw[1], hw[0])
    out = open_background("blur:100").render(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8


# ---------------------------------------------------------------- blur without the person (no glow)

def _person_over_room(n=1, amplitude=0):
    """Frames of a real portrait over a real room picture, the room itself, and the true alphas."""
    from clips import person_frames

    room = cv2.imread(str(SHARED / "backgrounds" / "background_bauhaus.png"), cv2.IMREAD_COLOR)
    from livebg.frames import cover_fit

    room = cover_fit(room, 640, 360)
    frames, alphas = person_frames(n, 640, 360, background=room, amplitude=amplitude)
    return frames, room, [a.astype(np.float32) / 255.0 for a in alphas]


def _band(alpha, near=3, far=30):
    d = cv2.distanceTransform((alpha <= 0.01).astype(np.uint8), cv2.DIST_L2, 5)
    return (d >= near) & (d <= far)


def test_blur_with_the_matte_leaves_the_person_out():
    """Just outside the person, the plain blur shows the person smeared into the room (a glow); with
    the matte, the room alone: far closer to the room blurred without anyone in front of it."""
    frames, room, alphas = _person_over_room()
    frame, alpha = frames[0], alphas[0]
    truth = open_background("blur").render(room).astype(np.int16)
    band = _band(alpha)
    small = cv2.resize(alpha, (320, 180), interpolation=cv2.INTER_AREA)  # any size with the frame's aspect
    glow = np.abs(open_background("blur").render(frame).astype(np.int16) - truth)[band].mean()
    left_out = np.abs(open_background("blur").render(frame, alpha=small).astype(np.int16) - truth)[band].mean()
    assert left_out < 0.5 * glow, (left_out, glow)
    assert open_background("blur").wants_alpha and not open_background("color:#00ff00").wants_alpha


def test_blur_remembers_the_room_the_person_uncovers():
    """A person who moves shows the room behind where they stood; the blur keeps it for the frames
    after, so the room beside them is better known than from one frame; reset() forgets it."""
    frames, room, alphas = _person_over_room(30, amplitude=60)
    truth = open_background("blur").render(room).astype(np.int16)
    remembering, forgetful = open_background("blur"), BlurBackground(remember=False)
    errs = {"remembering": [], "forgetful": []}
    for frame, alpha in zip(frames, alphas):
        band = _band(alpha)
        for name, bg in (("remembering", remembering), ("forgetful", forgetful)):
            errs[name].append(np.abs(bg.render(frame, alpha=alpha).astype(np.int16) - truth)[band].mean())
    assert errs["remembering"][0] == pytest.approx(errs["forgetful"][0])  # nothing seen yet
    assert np.mean(errs["remembering"][10:]) < 0.9 * np.mean(errs["forgetful"][10:])
    remembering.reset()
    np.testing.assert_array_equal(remembering.render(frames[0], alpha=alphas[0]),
                                  forgetful.__class__(remember=True).render(frames[0], alpha=alphas[0]))


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_blur_with_an_empty_or_full_matte(fill):
    """No person: the plain blur (up to rounding); a person filling the picture: still a blur of it,
    never NaN or black."""
    frame = _portrait_frame(320, 180)
    alpha = np.full((90, 160), fill, np.float32)
    out = open_background("blur").render(frame, alpha=alpha)
    assert out.shape == frame.shape and out.dtype == np.uint8
    plain = open_background("blur").render(frame)
    assert np.abs(out.astype(np.int16) - plain).mean() < (1.0 if fill == 0.0 else 12.0)
    assert out.mean() > 20


def test_blur_with_a_plate_ignores_the_matte():
    """Stills hand over a person-free plate: that is blurred, whatever the matte."""
    frame = _portrait_frame(320, 180)
    plate = np.full_like(frame, 90)
    bg = open_background("blur")
    np.testing.assert_array_equal(bg.render(frame, plate, alpha=np.ones((90, 160), np.float32)), bg.render(plate))


# ---------------------------------------------------------------- image

def _cover_expected(image, width, height):
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    big = cv2.resize(image, (sw, sh), interpolation=interp)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return big[y0:y0 + height, x0:x0 + width]


@pytest.mark.parametrize("hw", [(720, 1280), (1280, 720), (120, 160), (440, 680), (333, 517)])
def test_image_is_cover_fitted(hw):
    image = cv2.imread(str(BEACH), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (440, 680)
    bg = open_background(str(BEACH))
    assert bg.kind == "image"
    frame = np.zeros((*hw, 3), np.uint8)
    out = bg.render(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out, _cover_expected(image, hw[1], hw[0]))
    # Rendering again (same size) gives the same picture; another size is fitted anew.
    np.testing.assert_array_equal(bg.render(frame), out)
    assert bg.render(np.zeros((50, 90, 3), np.uint8)).shape == (50, 90, 3)


def test_image_cover_fit_keeps_aspect_not_stretch():
    image = cv2.imread(str(BEACH), cv2.IMREAD_COLOR)
    out = open_background(str(BEACH)).render(np.zeros((720, 1280, 3), np.uint8))
    stretched = cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out.astype(np.int16) - stretched).mean() > 5


# ---------------------------------------------------------------- video

def _count_frames(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        return sum(1 for _ in c.decode(s))


def test_video_background_plays_and_loops():
    n = _count_frames(EARTH)
    assert n > 100
    bg = open_background(str(EARTH))
    assert bg.kind == "video"
    # At the video's own size, so the time goes to decoding only; every frame is
    # kept as a thumbnail, the first and last ones whole.
    frame = np.zeros((540, 960, 3), np.uint8)
    extra = 12
    whole, thumbs = {}, []
    try:
        for i in range(n + extra):
            out = bg.render(frame)
            assert out.shape == frame.shape and out.dtype == np.uint8
            thumbs.append(out[::4, ::4].copy())
            if i < extra or i >= n - 2:
                whole[i] = out.copy()
    finally:
        bg.close()
    # Successive frames differ (the earth turns) ...
    same = [i for i in range(n + extra - 1) if np.array_equal(thumbs[i], thumbs[i + 1])]
    assert not same, f"frames repeat at {same[:10]}"
    # ... and after the last frame it starts again from the first.
    for k in range(extra):
        np.testing.assert_array_equal(whole[n + k], whole[k], err_msg=f"frame {n + k} is not frame {k} again")
    assert not np.array_equal(whole[n], whole[n - 1])


def test_video_background_is_cover_fitted():
    with av.open(str(EARTH)) as c:
        first = next(c.decode(c.streams.video[0])).to_ndarray(format="bgr24")
    bg = open_background(str(EARTH))
    try:
        for hw in [(100, 100), (720, 1280), (37, 201)]:
            out = bg.render(np.zeros((*hw, 3), np.uint8))
            assert out.shape == (*hw, 3)
        bg2 = open_background(str(EARTH))
        try:
            np.testing.assert_array_equal(bg2.render(np.zeros((100, 100, 3), np.uint8)), _cover_expected(first, 100, 100))
        finally:
            bg2.close()
    finally:
        bg.close()
    assert bg.describe() == "video rotating_earth.webm"


# ---------------------------------------------------------------- bad files

def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nowhere" / "beach-missing.png"
    for call in (parse, open_background):
        with pytest.raises(InputError) as e:
            call(str(missing))
        assert str(missing) in _one_line(e.value)


def test_folder_rejected(tmp_path):
    with pytest.raises(InputError) as e:
        open_background(str(tmp_path))
    assert "folder" in _one_line(e.value)


def test_random_bytes_are_not_an_image(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(InputError) as e:
        open_background(str(bad))
    msg = _one_line(e.value)
    assert "not a readable image or video" in msg and str(bad) in msg


def test_empty_file_is_not_an_image(tmp_path):
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    with pytest.raises(InputError) as e:
        open_background(str(bad))
    assert "not a readable image or video" in _one_line(e.value)


def test_spec_objects_accepted():
    assert isinstance(open_background(BackgroundSpec("none")), Background)
    assert open_background(BackgroundSpec("blur", strength=3)).describe() == "blur:3"


@pytest.mark.parametrize("text", [
    "blur:²",                      # '²'.isdigit() is True but int('²') raises ValueError
    "a" * 300,                     # longer than a file name may be: OSError ENAMETOOLONG from Path.exists()
    "~nosuchuser_livebg/bg.png",   # Path.expanduser() raises RuntimeError for an unknown user
    "~\x00",                       # expanduser() raises ValueError (embedded null byte)
], ids=["superscript-digit", "overlong-name", "unknown-user", "tilde-nul"])
def test_odd_text_is_an_input_error(text, tmp_path, monkeypatch):
    """Whatever a person types (or a config holds) is a one-line InputError, never a crash."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError):
        parse(text)


@pytest.mark.parametrize("text", ["my\nbackground.png", "blur:\n5", "color:#12\r3456"])
def test_message_stays_one_line_for_text_with_line_breaks(text, tmp_path, monkeypatch):
    """The module promises one-line messages; a line break typed into the spec must not split them."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as e:
        parse(text)
    _one_line(e.value)


# ---------------------------------------------------------------- property

_specs = st.one_of(
    st.text(),
    st.builds(lambda p, t: p + t, st.sampled_from(["blur:", "color:", "colour:", "color:#", "BLUR", "none"]),
              st.text(max_size=12)),
)


@settings(deadline=None, max_examples=200, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_specs)
@example(text="blur:²")
@example(text="a" * 300)
@example(text="~nosuchuser_livebg/bg.png")
@example(text="\x00")
def test_parser_raises_only_input_error(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # random text is not a file here (tmp_path is empty)
    try:
        spec = parse(text)
    except InputError as e:
        assert str(e)
        return
    assert spec.kind in ("blur", "color", "none", "file")
    if spec.kind == "blur":
        assert 1 <= spec.strength <= 100
    if spec.kind == "color":
        assert len(spec.color_bgr) == 3 and all(0 <= c <= 255 for c in spec.color_bgr)
    if spec.kind == "file":
        assert os.path.exists(os.path.expanduser(text.strip()))
