"""`livebg cutout` for any subject: --subject auto|person|object, the general
model (IMG.LY's IS-Net, the real weights from the shared folder), and the
marketplace preset with its parts (--canvas, --fill, --size, --shadow-style,
--quality), run as a user runs them, plus the pieces behind them.

The object is drawn here (a mug with a handle on pymatting's beach photo),
so its true alpha is known; the people are the evaluation portraits.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from clips import SHARED
from conftest import MODELS, run_livebg
from livebg.foreground import estimate_foreground
from livebg.refine.guided import guided_upsample
from livebg.stills.compose import (Options, canvas_size, compose, contact_shadow, place_on_canvas,
                                   resample_cutout, subject_box)
from livebg.stills.subject import decide

EVAL = SHARED / "eval" / "images"


def drawn_mug(width: int = 960, height: int = 720):
    """A red mug with a handle (the hole shows the beach) and its true alpha (float32)."""
    ss = 4
    big = np.zeros((height * ss, width * ss), np.uint8)
    cx, top, bot, r = width // 2 - width // 12, height // 4, 3 * height // 4, width // 6
    cv2.rectangle(big, ((cx - r) * ss, top * ss), ((cx + r) * ss, bot * ss), 255, -1)
    cv2.ellipse(big, (cx * ss, bot * ss), (r * ss, r * ss // 4), 0, 0, 180, 255, -1)
    cv2.ellipse(big, (cx * ss, top * ss), (r * ss, r * ss // 4), 0, 0, 360, 255, -1)
    cv2.ellipse(big, ((cx + r) * ss, (top + bot) // 2 * ss), (r * ss * 6 // 10, (bot - top) * ss * 3 // 10),
                0, -90, 90, 255, r * ss // 5)
    alpha = cv2.resize(big.astype(np.float32) / 255.0, (width, height), interpolation=cv2.INTER_AREA)
    xs = np.clip((np.arange(width, dtype=np.float32) - (cx - r)) / (2 * r), 0, 1) * 2 - 1
    light = 0.45 + 0.55 * np.sqrt(np.clip(1 - xs * xs, 0, 1))
    fg = np.broadcast_to((np.array((40, 60, 190), np.float32)[None, :] * light[:, None])[None], (height, width, 3))
    beach = cv2.imread(str(SHARED / "backgrounds" / "beach.png"), cv2.IMREAD_COLOR)
    bg = cv2.resize(beach, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    image = fg * alpha[..., None] + bg * (1 - alpha[..., None])
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), alpha


def _iou(a, b):
    return float(((a > 0.5) & (b > 0.5)).sum() / max(1, ((a > 0.5) | (b > 0.5)).sum()))


@pytest.fixture(scope="module")
def mug(tmp_path_factory):
    image, alpha = drawn_mug()
    path = tmp_path_factory.mktemp("mug") / "mug.png"
    assert cv2.imwrite(str(path), image)
    return path, image, alpha


@pytest.fixture(scope="module")
def selfie():
    from livebg.matting import open_named

    m = open_named("mediapipe-selfie-onnx", offline=True)
    yield m
    m.close()


# ---------------------------------------------------------------- auto's decision


def test_decide_says_which_and_why():
    nobody = np.zeros((256, 256), np.float32)
    assert decide(nobody).subject == "object" and "finds no one" in decide(nobody).why
    everything = np.full((256, 256), 0.97, np.float32)
    c = decide(everything)
    assert c.subject == "object" and "claims 100% of the picture" in c.why
    unsure = np.zeros((256, 256), np.float32)
    unsure[60:200, 60:200] = np.linspace(0.3, 0.9, 140, dtype=np.float32)[None, :]  # a vague patch
    c = decide(unsure)
    assert c.subject == "object" and "unsure" in c.why
    person = np.zeros((256, 256), np.float32)
    person[80:256, 70:190] = 0.99
    person[78:80, 70:190] = 0.5
    c = decide(person)
    assert c.subject == "person" and "sure of someone (32% of the picture" in c.why


def test_auto_picks_the_person_pipeline_on_every_evaluation_portrait(selfie):
    """The target: auto no worse than the person pipeline on the 15 portraits, by choosing it."""
    pictures = sorted(EVAL.glob("*.*"))
    assert len(pictures) == 15
    for path in pictures:
        choice = decide(selfie.predict(cv2.imread(str(path), cv2.IMREAD_COLOR)).alpha)
        assert choice.subject == "person", (path.name, choice.why)


def test_auto_picks_the_object_pipeline_for_a_mug_and_for_no_subject(selfie, mug):
    _path, image, _alpha = mug
    assert decide(selfie.predict(image).alpha).subject == "object"
    beach = cv2.imread(str(SHARED / "backgrounds" / "beach.png"), cv2.IMREAD_COLOR)
    c = decide(selfie.predict(beach).alpha)
    assert c.subject == "object", c.why


# ---------------------------------------------------------------- the general model through the CLI


def test_object_pipeline_cuts_out_the_mug_better_than_the_person_pipeline(tmp_path, mug):
    src, image, true = mug
    out = {}
    for subject in ("object", "person"):
        dst = tmp_path / f"{subject}.png"
        r = run_livebg("cutout", src, "-o", dst, "--subject", subject, "--offline")
        assert r.returncode == 0, r.stderr
        rgba = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
        assert rgba.shape == image.shape[:2] + (4,)
        out[subject] = rgba[..., 3].astype(np.float32) / 255.0
    obj = out["object"]
    assert _iou(obj, true) > 0.95, _iou(obj, true)
    # The person pipeline (RVM, a video matting model) outlines a mug roughly; the
    # general model cuts it out cleanly.
    assert _iou(out["person"], true) < _iou(obj, true) - 0.03
    # The hole in the handle shows the beach: transparent.
    h, w = true.shape
    hole = (true < 0.01) & (cv2.blur((true > 0.5).astype(np.float32), (61, 61)) > 0.5)
    assert hole.sum() > 500 and obj[hole].mean() < 0.2
    sure = cv2.erode((true > 0.99).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert obj[sure].mean() > 0.97


def test_auto_through_the_cli_says_which_and_why(tmp_path, mug):
    src, _image, _alpha = mug
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(src, folder / "mug.png")
    portrait = cv2.imread(str(EVAL / "p_bac3c1ff.jpg"), cv2.IMREAD_COLOR)
    cv2.imwrite(str(folder / "portrait.jpg"), cv2.resize(portrait, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA))
    r = run_livebg("cutout", folder, "-o", tmp_path / "out", "--offline")
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert any(ln.startswith("livebg: mug.png: object: the person model") for ln in lines), r.stderr
    assert any(ln.startswith("livebg: portrait.jpg: person: the person model is sure of someone") for ln in lines)
    assert lines[-1] == "livebg: cutout: 2 done, 0 skipped, 0 failed (subject auto: 1 person, 1 object)"
    # One picture: the choice is on the line that names the file written.
    r = run_livebg("cutout", src, "-o", tmp_path / "one.png", "--offline")
    assert r.returncode == 0, r.stderr
    assert f"livebg: wrote {tmp_path / 'one.png'} (960x720 RGBA; subject: object, the person model" in r.stderr


def test_no_general_model_offline_is_one_line_for_object_and_a_fallback_for_auto(tmp_path, mug):
    src, _image, _alpha = mug
    only_selfie = tmp_path / "models"
    only_selfie.mkdir()
    shutil.copyfile(MODELS / "mediapipe_selfie.onnx", only_selfie / "mediapipe_selfie.onnx")
    env = {"LIVEBG_MODEL_DIR": str(only_selfie), "LIVEBG_CACHE_DIR": str(tmp_path / "cache")}
    import os

    env = dict(os.environ, **env)
    r = run_livebg("cutout", src, "-o", tmp_path / "a.png", "--subject", "object", "--offline", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (err,) = [ln for ln in r.stderr.splitlines() if ln.startswith("livebg: error:")]
    assert "imgly-isnet" in err and "downloading is off" in err and "livebg models fetch imgly-isnet" in err
    assert not (tmp_path / "a.png").exists()
    # auto: the picture still gets a cutout (the person pipeline), with a warning saying why.
    r = run_livebg("cutout", src, "-o", tmp_path / "b.png", "--offline", env=env)
    assert r.returncode == 0, r.stderr
    assert "the general model is not available" in r.stderr and "used the person pipeline" in r.stderr
    assert (tmp_path / "b.png").exists()


# ---------------------------------------------------------------- marketplace and its parts


def _non_white_box(image, level=235):
    mask = (image.min(axis=2) < level).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(mask)
    return x, y, x + w, y + h


def test_marketplace_preset_centres_the_subject_on_a_white_square(tmp_path, mug):
    src, _image, _alpha = mug
    plain, shadowed = tmp_path / "plain.jpg", tmp_path / "shadow.jpg"
    r = run_livebg("cutout", src, "-o", plain, "--preset", "marketplace", "--subject", "object", "--offline")
    assert r.returncode == 0, r.stderr
    assert "2000x2000 RGB" in r.stderr
    r = run_livebg("cutout", src, "-o", shadowed, "--preset", "marketplace", "--shadow", "--subject", "object",
                   "--offline")
    assert r.returncode == 0, r.stderr
    flat = cv2.imread(str(plain), cv2.IMREAD_COLOR)
    assert flat.shape == (2000, 2000, 3)
    for corner in (flat[:40, :40], flat[:40, -40:], flat[-40:, :40], flat[-40:, -40:]):
        assert corner.min() >= 250
    x0, y0, x1, y1 = _non_white_box(flat)
    assert abs(max(x1 - x0, y1 - y0) / 2000 - 0.85) < 0.02, (x0, y0, x1, y1)
    assert abs((x0 + x1) / 2 - 1000) < 40 and abs((y0 + y1) / 2 - 1000) < 40
    # The contact shadow: darker just under the subject's base, white far from it.
    shadow = cv2.imread(str(shadowed), cv2.IMREAD_COLOR).astype(np.float32)
    below = (slice(y1 + 2, y1 + 25), slice((x0 + x1) // 2 - 100, (x0 + x1) // 2 + 100))
    assert shadow[below].mean() < flat[below].astype(np.float32).mean() - 15
    assert shadow[:200, :200].min() >= 250


def test_canvas_fill_size_and_quality_on_their_own(tmp_path, mug):
    src, _image, _alpha = mug
    out = tmp_path / "c.png"
    r = run_livebg("cutout", src, "-o", out, "--subject", "object", "--canvas", "4:5", "--fill", "0.5",
                   "--size", "1000", "--offline")
    assert r.returncode == 0, r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (1000, 800, 4)
    x0, y0, x1, y1 = subject_box(rgba[..., 3].astype(np.float32) / 255.0, 0.5)
    assert abs(max((x1 - x0) / 800, (y1 - y0) / 1000) - 0.5) < 0.02
    assert rgba[:20, :20, 3].max() == 0  # a transparent canvas
    small = tmp_path / "s.png"
    # (the person pipeline from here on: quicker, and these options do not depend on the pipeline)
    assert run_livebg("cutout", src, "-o", small, "--subject", "person", "--size", "300", "--offline").returncode == 0
    assert cv2.imread(str(small), cv2.IMREAD_UNCHANGED).shape == (225, 300, 4)
    lo, hi = tmp_path / "lo.jpg", tmp_path / "hi.jpg"
    for dst, q in ((lo, "20"), (hi, "95")):
        r = run_livebg("cutout", src, "-o", dst, "--subject", "person", "--background",
                       SHARED / "backgrounds" / "background_bauhaus.png", "--quality", q, "--offline")
        assert r.returncode == 0, r.stderr
    assert lo.stat().st_size < hi.stat().st_size / 2


@pytest.mark.parametrize("args, message", [
    (["--fill", "0"], "--fill must be more than 0 and at most 1"),
    (["--canvas", "square", "--fill", "1.5"], "--fill must be more than 0 and at most 1"),
    (["--fill", "0.8"], "--fill needs a canvas"),
    (["--size", "5"], "--size must be between 16 and 8192 pixels, got 5"),
    (["--size", "9000"], "--size must be between 16 and 8192 pixels, got 9000"),
    (["--canvas", "0:3"], "--canvas must be square or a ratio W:H"),
    (["--canvas", "wide"], "--canvas must be square or a ratio W:H"),
    (["--quality", "0"], "--quality must be between 1 and 100"),
    (["--canvas", "square", "--crop"], "--crop and --canvas do not go together"),
    (["--preset", "marketplace", "--background", "blur"], "a canvas has no photo behind the subject to blur"),
])
def test_bad_values_are_one_line_usage_errors(tmp_path, mug, args, message):
    src, _image, _alpha = mug
    r = run_livebg("cutout", src, "-o", tmp_path / "x.png", *args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"livebg: error: {r.stderr.split('error: ', 1)[1].strip()}"]
    assert message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_preset_and_subject_names_are_checked_by_the_parser(tmp_path, mug):
    src, _image, _alpha = mug
    for args in (["--preset", "amazon"], ["--subject", "cat"], ["--shadow-style", "long"]):
        r = run_livebg("cutout", src, "-o", tmp_path / "x.png", *args)
        assert r.returncode == 2 and "invalid choice" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- the pieces


def test_place_on_canvas_geometry():
    alpha = np.zeros((300, 600), np.float32)
    alpha[100:200, 150:450] = 1.0  # a 300x100 subject, off centre
    colour = np.full((300, 600, 3), 200, np.uint8)
    assert canvas_size((150, 100, 450, 200), (1, 1), 0.85, None) == (353, 353)
    assert canvas_size((150, 100, 450, 200), (4, 5), 0.85, 1000) == (800, 1000)
    c, a = place_on_canvas(colour, alpha, (1, 1), 0.85, 1000)
    assert a.shape == (1000, 1000) and c.shape == (1000, 1000, 3)
    x0, y0, x1, y1 = subject_box(a, 0.5)
    assert abs((x1 - x0) - 850) <= 2 and abs((y1 - y0) - 283) <= 2
    assert abs((x0 + x1) / 2 - 500) <= 1 and abs((y0 + y1) / 2 - 500) <= 1
    assert np.abs(c[a > 0.99] - 200).max() < 1.0  # the colour survives premultiplied scaling
    assert place_on_canvas(colour, np.zeros_like(alpha), (1, 1), 0.85, 100) is None


def test_resampling_a_cutout_does_not_bleed_the_transparent_colour_into_its_edge():
    colour = np.zeros((200, 200, 3), np.uint8)
    colour[:, 100:] = 255
    alpha = np.zeros((200, 200), np.float32)
    alpha[:, 100:] = 1.0  # white and opaque on the right, black and transparent on the left
    for w in (37, 530):  # down and up
        c, a = resample_cutout(colour, alpha, w, w)
        edge = (a > 0.05) & (a < 0.95)
        assert edge.any() and c[edge].min() > 250


def test_contact_shadow_lies_under_the_base():
    alpha = np.zeros((800, 800), np.float32)
    alpha[200:600, 300:500] = 1.0
    s = contact_shadow(alpha)
    assert s.shape == alpha.shape and 0.2 < s.max() <= 0.45
    assert s[600:615, 350:450].mean() > 0.1  # just below the base
    assert s[150:200, 300:500].max() < 0.01 and s[:, :200].max() < 0.01  # not above it, not far to the side


def test_big_pictures_get_the_same_foreground_colours_at_the_edge():
    """The 2-megapixel solve refined at the edge against the full solve, on a 3-megapixel fringe case."""
    photo, alpha = drawn_mug(2000, 1500)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 4.0)  # a soft edge, a few pixels wide
    green = np.empty_like(photo)
    green[:] = (40, 200, 60)
    image = np.clip(photo * alpha[..., None] + green * (1 - alpha[..., None]) + 0.5, 0, 255).astype(np.uint8)
    full = estimate_foreground(image, alpha).astype(np.float32)
    fast = estimate_foreground(image, alpha, max_pixels=1_000_000).astype(np.float32)
    edge = (alpha > 0.02) & (alpha < 0.98)
    assert edge.sum() > 30000
    assert np.abs(full - fast)[edge].mean() < 1.5
    green_left = np.abs(fast[edge] - image[edge]).mean()
    assert green_left > 5 * np.abs(full - fast)[edge].mean()  # it did remove the green, as the full solve does
    opaque = alpha > 0.999
    assert np.abs(fast[opaque] - image[opaque]).mean() < 1.0
    F, B = estimate_foreground(image.astype(np.float32) / 255, alpha, max_pixels=1_000_000, return_background=True)
    assert F.dtype == B.dtype == np.float32 and F.shape == image.shape


@pytest.mark.parametrize("small, big", [((37, 53), (101, 250)), ((768, 1024), (3000, 4000)), ((40, 40), (40, 40))])
def test_guided_upsampling_kernel_equals_the_numpy_version(small, big):
    rng = np.random.default_rng(1)
    guide = rng.integers(0, 256, big + (3,), dtype=np.uint8)
    guide_small = cv2.resize(guide, small[::-1], interpolation=cv2.INTER_AREA)
    alpha = rng.random(small, dtype=np.float32)
    a = guided_upsample(alpha, guide_small, guide, kernel=True)
    b = guided_upsample(alpha, guide_small, guide)
    assert a.shape == big and a.dtype == np.float32 and np.abs(a - b).max() < 1e-4


def test_compose_rgba_keeps_the_colours_it_is_given():
    image, alpha = drawn_mug(320, 240)
    out = compose(image, alpha, Options(decontaminate=False))
    assert np.array_equal(out[..., :3], image) and out.shape == image.shape[:2] + (4,)
