"""`livebg cutout` on real portraits, run as a user runs it, plus the pieces behind it.

The P3M portraits (eval/images/p_*.jpg) with their P3M-Net mattes and one
hand-made matte are the references; pictures are scaled down where only
the plumbing is checked, to keep the suite quick.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from clips import SHARED, load_portrait
from conftest import run_livebg
from livebg import metrics
from livebg.backgrounds import open_background
from livebg.console import Progress
from livebg.foreground import estimate_foreground
from livebg.matting.base import Capabilities, Prediction
from livebg.stills.batch import plan
from livebg.stills.compose import Options, compose, shadow_alpha
from livebg.stills.imagefiles import read_image
from livebg.stills.matter import StillMatter

EVAL = SHARED / "eval"
PROXY = SHARED / "perf-proxy" / "modnet_arch_random_weights.onnx"


def _portrait(name: str, long_side: int | None = None):
    image, alpha = load_portrait(name)
    if long_side:
        s = long_side / max(image.shape[:2])
        size = (round(image.shape[1] * s), round(image.shape[0] * s))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        alpha = cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)
    return image, alpha.astype(np.float32) / 255.0


def _write(path, image):
    assert cv2.imwrite(str(path), image)
    return path


def _regions(true_alpha, k=15):
    """Sure person and sure background, well away from the edge."""
    se = np.ones((k, k), np.uint8)
    fg = cv2.erode((true_alpha > 0.99).astype(np.uint8), se).astype(bool)
    bg = ~cv2.dilate((true_alpha > 0.01).astype(np.uint8), se).astype(bool)
    return fg, bg


@pytest.fixture(scope="module")
def matter():
    """The default person pipeline: Robust Video Matting, the picture run as a short video."""
    m = StillMatter(offline=True)
    assert m.name == "rvm"
    yield m
    m.close()


@pytest.fixture(scope="module")
def selfie_matter():
    """The person pipeline for a segmentation model (the selfie model): views, the matting solve."""
    m = StillMatter("mediapipe-selfie-onnx", offline=True)
    yield m
    m.close()


# ---------------------------------------------------------------- single pictures through the CLI

def test_rgba_png_same_size_with_a_soft_alpha(tmp_path):
    image, true = _portrait("p_07141906", 720)
    src = _write(tmp_path / "in.jpg", image)
    out = tmp_path / "out.png"
    r = run_livebg("cutout", src, "-o", out)
    assert r.returncode == 0, r.stderr
    assert "1 done, 0 skipped, 0 failed" in r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == image.shape[:2] + (4,)
    a = rgba[..., 3]
    soft = np.count_nonzero((a > 10) & (a < 245))
    assert len(np.unique(a)) > 100 and soft > 0.002 * a.size, "alpha is a binary mask, not a matte"
    fg, bg = _regions(true)
    # (Robust Video Matting, the default, fades a little where the body leaves the
    # picture at the bottom: 95% of this portrait's sure inside is above 200.)
    assert np.mean(a[fg] > 200) > 0.93
    assert np.mean(a[bg] < 30) > 0.97


def test_background_white_writes_a_flat_jpeg(tmp_path):
    image, true = _portrait("p_818e689d", 864)
    src = _write(tmp_path / "in.jpg", image)
    out = tmp_path / "flat.jpg"
    r = run_livebg("cutout", src, "-o", out, "--background", "white")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    flat = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert flat.shape == image.shape  # 3 channels, same size
    fg, bg = _regions(true)
    assert np.mean(flat[bg].min(axis=1) > 235) > 0.97
    assert np.mean(np.abs(flat[fg].astype(int) - image[fg]).max(axis=1) < 30) > 0.95


def test_background_color_png_has_no_alpha(tmp_path):
    image, true = _portrait("p_818e689d", 864)
    src = _write(tmp_path / "in.jpg", image)
    out = tmp_path / "green.png"
    r = run_livebg("cutout", src, "-o", out, "--background", "color:#00ff00")
    assert r.returncode == 0, r.stderr
    flat = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert flat.shape == image.shape
    _, bg = _regions(true)
    assert np.mean(np.all(flat[bg] == (0, 255, 0), axis=1)) > 0.97


def test_crop_trims_to_the_subject_with_a_margin(tmp_path):
    image, true = _portrait("p_a09f6d7a", 864)  # a small figure in a wide picture
    src = _write(tmp_path / "in.jpg", image)
    out = tmp_path / "crop.png"
    r = run_livebg("cutout", src, "-o", out, "--crop")
    assert r.returncode == 0, r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    h, w = rgba.shape[:2]
    ys, xs = np.nonzero(true > 0.5)
    bh, bw = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert h < 0.8 * image.shape[0] and w < 0.6 * image.shape[1]
    assert 0.9 * bw <= w <= 1.4 * bw and 0.9 * bh <= h <= 1.4 * bh
    a = rgba[..., 3]
    assert a.max() == 255
    # the margin: the border of the crop is (nearly) transparent
    assert max(a[0].max(), a[:, 0].max(), a[:, -1].max()) < 64


def test_shadow_through_the_cli(tmp_path):
    image, true = _portrait("p_a09f6d7a", 864)
    src = _write(tmp_path / "in.jpg", image)
    plain, shadowed = tmp_path / "plain.png", tmp_path / "shadow.png"
    assert run_livebg("cutout", src, "-o", plain).returncode == 0
    r = run_livebg("cutout", src, "-o", shadowed, "--shadow")
    assert r.returncode == 0, r.stderr
    a0 = cv2.imread(str(plain), cv2.IMREAD_UNCHANGED)
    a1 = cv2.imread(str(shadowed), cv2.IMREAD_UNCHANGED)
    assert a1.shape == a0.shape
    gained = a1[..., 3].astype(int) - a0[..., 3]
    assert gained.min() >= -1  # the shadow only adds
    ring = (gained > 20) & (a0[..., 3] < 5)
    assert ring.sum() > 500, "no shadow next to the subject"
    assert a1[..., :3][ring].max() < 40  # dark
    assert a1[..., 3][ring].max() < 200  # and semi-transparent
    ys, _ = np.nonzero(ring)
    ys_subject, _ = np.nonzero(a0[..., 3] > 128)
    assert np.median(ys) > np.median(ys_subject)  # mostly below: it falls down


def test_exif_orientation_is_respected(tmp_path):
    from PIL import Image

    image, true = _portrait("p_818e689d", 864)  # landscape, 864x540
    # Store it turned a quarter to the left; EXIF orientation 6 says "turn right to view".
    stored = cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    exif = Image.Exif()
    exif[0x0112] = 6
    src = tmp_path / "phone.jpg"
    Image.fromarray(cv2.cvtColor(stored, cv2.COLOR_BGR2RGB)).save(src, quality=95, exif=exif.tobytes())
    assert read_image(src).shape == image.shape
    out = tmp_path / "phone.png"
    r = run_livebg("cutout", src, "-o", out)
    assert r.returncode == 0, r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape[:2] == image.shape[:2]  # upright, not as stored
    a = rgba[..., 3] > 128
    t = true > 0.5
    assert (a & t).sum() / (a | t).sum() > 0.85


def test_jpeg_without_a_background_is_a_usage_error(tmp_path):
    image, _ = _portrait("p_07141906", 360)
    src = _write(tmp_path / "in.jpg", image)
    r = run_livebg("cutout", src, "-o", tmp_path / "out.jpg")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "alpha" in r.stderr
    assert not (tmp_path / "out.jpg").exists()


# ---------------------------------------------------------------- batches

def _folder(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    for name in ("p_07141906", "p_bac3c1ff"):
        _write(d / f"{name}.jpg", _portrait(name, 480)[0])
    (d / "notes.txt").write_text("not a picture\n")
    (d / "broken.jpg").write_bytes(b"")  # zero bytes
    (d / "fake.png").write_bytes(b"this is no PNG at all")
    return d


def test_folder_batch_skips_reports_and_does_not_stop(tmp_path):
    d = _folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "p_bac3c1ff.png"
    existing.write_bytes(b"keep me")
    r = run_livebg("cutout", d, "-o", out)
    assert r.returncode == 1, r.stderr  # something failed
    err = r.stderr
    assert "cutout: 1 done, 2 skipped, 2 failed" in err
    assert "notes.txt: not a picture (.txt)" in err
    assert "broken.jpg: empty file (0 bytes)" in err
    assert "fake.png: not a picture that can be decoded" in err
    assert "p_bac3c1ff.png exists (use --overwrite)" in err
    assert existing.read_bytes() == b"keep me"
    done = cv2.imread(str(out / "p_07141906.png"), cv2.IMREAD_UNCHANGED)
    assert done is not None and done.shape == (480, 480, 4)
    assert sorted(p.name for p in out.iterdir()) == ["p_07141906.png", "p_bac3c1ff.png"]  # no leftovers

    r = run_livebg("cutout", d, "-o", out, "--overwrite", "--jobs", "2")
    assert r.returncode == 1
    assert "cutout: 2 done, 1 skipped, 2 failed" in r.stderr
    replaced = cv2.imread(str(existing), cv2.IMREAD_UNCHANGED)
    assert replaced is not None and replaced.shape[2] == 4


def test_all_done_or_skipped_exits_zero(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    _write(d / "a.jpg", _portrait("p_07141906", 360)[0])
    (d / "readme.md").write_text("hello")
    out = tmp_path / "out"
    r = run_livebg("cutout", d, "-o", out, "--background", "white")
    assert r.returncode == 0, r.stderr
    assert "cutout: 1 done, 1 skipped, 0 failed" in r.stderr
    assert (out / "a.jpg").read_bytes()[:2] == b"\xff\xd8"  # folder + --background: JPEG by default
    r = run_livebg("cutout", d, "-o", out, "--background", "white")
    assert r.returncode == 0 and "cutout: 0 done, 2 skipped, 0 failed" in r.stderr


def test_empty_folder_and_missing_path_are_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    r = run_livebg("cutout", empty, "-o", tmp_path / "out")
    assert r.returncode == 1
    assert "empty: folder has no pictures" in r.stderr
    assert "Traceback" not in r.stderr
    # ...and neither stops the others
    good = _write(tmp_path / "good.jpg", _portrait("p_07141906", 360)[0])
    r = run_livebg("cutout", empty, tmp_path / "missing.jpg", good, "-o", tmp_path / "out")
    assert r.returncode == 1
    assert "missing.jpg: no such file or folder" in r.stderr
    assert "cutout: 1 done, 0 skipped, 2 failed" in r.stderr
    assert (tmp_path / "out" / "good.png").is_file()


def test_plan_never_overwrites_an_input(tmp_path):
    src = _write(tmp_path / "a.png", _portrait("p_07141906", 64)[0])
    summary, todo = plan([str(src)], str(tmp_path), overwrite=True)
    assert not todo
    assert summary.items[0].status == "failed" and "overwrite this input" in summary.items[0].reason


def test_plan_same_output_name_fails_the_second(tmp_path):
    a = _write(tmp_path / "a.jpg", _portrait("p_07141906", 64)[0])
    b = _write(tmp_path / "a.png", _portrait("p_07141906", 64)[0])
    summary, todo = plan([str(a), str(b)], str(tmp_path / "out"))
    assert [i.src for i in todo] == [a]
    assert "same output name" in summary.items[0].reason


def test_progress_bar_only_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        p = Progress(3, stream=stream, min_interval=0.0)
        for name in ("a", "b", "c"):
            p.step(name)
        p.message("livebg: skipped x: why")
        p.close()
    assert "3/3" in tty.getvalue() and "[" in tty.getvalue()
    assert plain.getvalue() == "livebg: skipped x: why\n"


# ---------------------------------------------------------------- quality

@pytest.mark.parametrize("image_name, alpha_name", [
    ("p_818e689d.jpg", "pseudo_alpha/p_818e689d.png"),
    ("p_07141906.jpg", "pseudo_alpha/p_07141906.png"),
    ("boy-1518482_1920_12.png", "alpha/boy-1518482_1920_12.png"),
    # the two that lost with a single crop: a feather, and autumn leaves the colour of a sleeve
    ("9_image.png", "alpha/9_alpha.png"),
    ("p_bd6af989.jpg", "pseudo_alpha/p_bd6af989.png"),
])
def test_the_selfie_pipeline_beats_its_raw_model(selfie_matter, image_name, alpha_name):
    image = read_image(EVAL / "images" / image_name)
    true = cv2.imread(str(EVAL / alpha_name), cv2.IMREAD_UNCHANGED)
    true = (true[..., 0] if true.ndim == 3 else true).astype(np.float32) / 255.0
    raw = selfie_matter.raw_alpha(image)
    ours = selfie_matter.alpha(image)
    assert ours.shape == true.shape and ours.dtype == np.float32
    for name in ("sad", "mse", "grad", "conn"):
        fn = getattr(metrics, name)
        assert fn(ours, true) < fn(raw, true), f"{name}: cutout {fn(ours, true):.2f} vs raw {fn(raw, true):.2f}"


@pytest.mark.parametrize("image_name, alpha_name", [
    ("p_818e689d.jpg", "pseudo_alpha/p_818e689d.png"),
    ("boy-1518482_1920_12.png", "alpha/boy-1518482_1920_12.png"),
    ("9_image.png", "alpha/9_alpha.png"),
    ("p_bd6af989.jpg", "pseudo_alpha/p_bd6af989.png"),
])
def test_the_default_beats_the_selfie_pipeline(matter, selfie_matter, image_name, alpha_name):
    """Robust Video Matting on a still (the picture and its mirror image as short
    videos, the memory settled) against the segmentation pipeline: a true matte."""
    image = read_image(EVAL / "images" / image_name)
    true = cv2.imread(str(EVAL / alpha_name), cv2.IMREAD_UNCHANGED)
    true = (true[..., 0] if true.ndim == 3 else true).astype(np.float32) / 255.0
    ours, theirs = matter.alpha(image), selfie_matter.alpha(image)
    assert ours.shape == true.shape and ours.dtype == np.float32
    for name in ("sad", "mse", "grad", "conn"):
        fn = getattr(metrics, name)
        assert fn(ours, true) < fn(theirs, true), f"{name}: rvm {fn(ours, true):.2f} vs selfie {fn(theirs, true):.2f}"


class _FickleModel:
    """A stand-in segmentation model (256x256 output): the red pixels are the person;
    green pixels are taken for a person too, but only in the right half of what it is shown."""

    caps = Capabilities()
    name, runtime, input_size, side = "fickle", "test", (256, 256), 256

    def predict(self, bgr, state=None):
        small = cv2.resize(bgr, (256, 256), interpolation=cv2.INTER_AREA).astype(np.int16)
        g, r = small[..., 1], small[..., 2]
        person = (r > 150) & (g < 100)
        fake = (g > 150) & (r < 100)
        fake[:, :128] = False
        return Prediction((person | fake).astype(np.float32))

    def close(self):
        pass


def test_a_mistake_that_comes_and_goes_between_views_is_dropped():
    """The views (crops and their mirror images) disagree on the green patch: it is left out,
    while the person, on whom they agree, is kept whole."""
    import threading

    m = StillMatter.__new__(StillMatter)
    m._matter, m.is_matting, m._lock, m.name = _FickleModel(), False, threading.Lock(), "fickle"
    image = np.full((480, 640, 3), 128, np.uint8)
    image[60:420, 120:300] = (40, 40, 220)   # the person (BGR red)
    image[200:260, 480:540] = (40, 220, 40)  # green: "a person" only when seen on the right
    alpha = m.alpha(image)
    assert alpha.shape == (480, 640) and alpha.dtype == np.float32
    assert alpha[200:260, 480:540].max() < 0.1
    assert alpha[80:400, 140:280].min() > 0.9
    assert alpha[5:40, 5:600].max() < 0.1
    views = m.views(image, (90, 45, 225, 315), 1.0, 640, 480)
    assert views.shape[0] == 2 * len(StillMatter.CROP_PADS)  # each crop as it is and mirrored


def _fringe_case(name="p_09ba26b4"):
    """A synthetic composite whose true foreground is known: the portrait's
    own pixels as F, pasted with its reference alpha over a loud green."""
    image, alpha = _portrait(name, 960)
    F = image.astype(np.float32) / 255.0
    old = np.empty_like(F)
    old[:] = (0.1, 0.85, 0.2)  # BGR: a green screen-ish old background
    a = alpha[..., None]
    I = a * F + (1.0 - a) * old
    return F, I, alpha


@pytest.mark.parametrize("new_bg", [(0.05, 0.05, 0.05), (0.97, 0.97, 0.97)], ids=["dark", "light"])
def test_estimate_foreground_lowers_the_fringe_error(new_bg):
    F, I, alpha = _fringe_case()
    edge = (alpha > 0.05) & (alpha < 0.95)
    assert edge.sum() > 1000
    a = alpha[..., None]
    B = np.empty_like(F)
    B[:] = new_bg
    reference = a * F + (1 - a) * B
    naive = a * I + (1 - a) * B
    F_est = estimate_foreground(I, alpha)
    assert F_est.dtype == np.float32 and F_est.shape == I.shape
    ours = a * F_est + (1 - a) * B
    err_naive = np.abs(naive - reference)[edge].mean()
    err_ours = np.abs(ours - reference)[edge].mean()
    assert err_ours < 0.75 * err_naive, (err_ours, err_naive)


@pytest.mark.parametrize("spec", ["color:#0d0d0d", "color:#f7f7f7"], ids=["dark", "light"])
def test_decontamination_in_the_output_lowers_the_fringe_error(spec):
    F, I, alpha = _fringe_case()
    I8 = np.clip(I * 255 + 0.5, 0, 255).astype(np.uint8)
    bg = open_background(spec, still=True)
    new = bg.render(I8).astype(np.float32) / 255.0
    a = alpha[..., None]
    reference = a * F + (1 - a) * new
    edge = (alpha > 0.05) & (alpha < 0.95)
    errors = {}
    for dec in (True, False):
        out = compose(I8, alpha, Options(background=spec, decontaminate=dec), bg).astype(np.float32) / 255.0
        errors[dec] = np.abs(out - reference)[edge].mean()
    assert errors[True] < 0.75 * errors[False], errors


def test_estimate_foreground_basics():
    image, alpha = _portrait("p_07141906", 200)
    F = estimate_foreground(image, alpha)
    assert F.dtype == np.uint8 and F.shape == image.shape
    inside = alpha > 0.999
    diff = np.abs(F[inside].astype(int) - image[inside])
    assert diff.max() <= 6 and diff.mean() < 0.5  # opaque: the picture itself (up to the smoothness term)
    F1 = estimate_foreground(image, np.ones(image.shape[:2], np.float32))
    assert np.abs(F1.astype(int) - image).max() <= 4  # only the weak smoothness term moves it
    F, B = estimate_foreground(image.astype(np.float32) / 255, (alpha * 255).astype(np.uint8), return_background=True)
    assert F.dtype == B.dtype == np.float32 and 0 <= F.min() and F.max() <= 1
    with pytest.raises(ValueError):
        estimate_foreground(image, alpha[:-1])


def test_no_decontaminate_keeps_the_photo_colours(tmp_path):
    image, _ = _portrait("p_07141906", 360)
    src = _write(tmp_path / "in.png", image)
    out = tmp_path / "out.png"
    r = run_livebg("cutout", src, "-o", out, "--no-decontaminate")
    assert r.returncode == 0, r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(rgba[..., :3], image)


def test_shadow_alpha_in_rgba_and_flattened():
    h, w = 200, 160
    alpha = np.zeros((h, w), np.float32)
    alpha[40:150, 50:110] = 1.0
    image = np.full((h, w, 3), 128, np.uint8)
    s = shadow_alpha(alpha)
    assert 0 < s.max() <= 0.5
    below = s[150:157, 55:105]
    assert below.mean() > 0.1  # under the subject
    assert s[150:157].sum() > s[33:40].sum() * 3  # falls down, not up
    assert s[5, 5] < 1e-3  # nothing far away
    rgba = compose(image, alpha, Options(shadow=True, decontaminate=False))
    assert 10 < rgba[152, 80, 3] < 200 and rgba[152, 80, :3].max() == 0  # semi-transparent black
    assert rgba[100, 80, 3] == 255 and tuple(rgba[100, 80, :3]) == (128, 128, 128)
    flat = compose(image, alpha, Options(background="white", shadow=True, decontaminate=False),
                   open_background("white", still=True))
    assert flat.shape == (h, w, 3)
    assert flat[152, 80].max() < 240 and flat[5, 5].min() == 255


def test_modnet_path_contract_with_the_proxy(tmp_path):
    """MODNet's code path, run on the MODNet-shaped proxy (random weights: no quality claim)."""
    image, _ = _portrait("p_07141906", 512)
    src = _write(tmp_path / "in.jpg", image)
    out = tmp_path / "out.png"
    r = run_livebg("cutout", src, "-o", out, "--model", PROXY)
    assert r.returncode == 0, r.stderr
    rgba = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == image.shape[:2] + (4,)


def test_light_wrap_and_colour_match_on_a_background(tmp_path):
    """On a new background the edge takes on some of its light and, with --color-match, the person's
    colours move toward its; well inside and well outside the person nothing else changes. Bad
    strengths are one clear line."""
    image, true = _portrait("p_818e689d", 864)
    src = _write(tmp_path / "in.jpg", image)
    beach = str(SHARED / "backgrounds" / "beach.png")
    outs = {}
    for name, extra in (("plain", ["--light-wrap", "0"]), ("wrap", ["--light-wrap", "0.6"]),
                        ("match", ["--light-wrap", "0", "--color-match", "1"])):
        out = tmp_path / f"{name}.png"
        r = run_livebg("cutout", src, "-o", out, "--background", beach, *extra)
        assert r.returncode == 0, r.stderr
        outs[name] = cv2.imread(str(out)).astype(np.int16)
    fg, bg = _regions(true)
    edge = (true > 0.3) & (true < 0.95)
    assert np.abs(outs["wrap"] - outs["plain"])[edge].mean() > 2
    deep = cv2.erode(fg.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    assert np.abs(outs["wrap"] - outs["plain"])[deep].mean() < 0.5
    assert (np.abs(outs["wrap"] - outs["plain"])[bg] > 1).mean() < 0.002  # (only where the matte strays)
    bg_mean = outs["plain"][bg].mean(0)
    before = np.abs(outs["plain"][fg].mean(0) - bg_mean).sum()
    after = np.abs(outs["match"][fg].mean(0) - bg_mean).sum()
    assert after < before - 20, (after, before)
    r = run_livebg("cutout", src, "-o", tmp_path / "x.png", "--background", beach, "--light-wrap", "2")
    assert r.returncode == 2 and r.stderr.strip().splitlines() == ["livebg: error: --light-wrap must be from 0 to 1, got 2.0"]
