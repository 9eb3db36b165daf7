"""Still images: the person cut out with a real alpha channel, or put on a new background.

There is no frame budget here, so every picture gets the most careful
treatment livebg has:

1. the best model present: MODNet (a true matting model) at its reference
   size when its file is here, else the MediaPipe selfie model;
2. a first pass on the whole picture finds the person; a second pass on a
   square crop around them (padded, kept inside the picture) sees them at
   a higher resolution;
3. for the selfie model, which gives a soft *segmentation* rather than a
   matte: the second pass is a small test-time ensemble, square crops with
   three paddings, each also mirrored (six views; a crop that would cover
   nearly the whole picture is the whole picture). The model's mistakes
   on stills (a feather, a statue, a wall or autumn leaves taken for part
   of the person) come and go between such views, while the person stays,
   so where the views disagree the alpha is not trusted: the prior is the
   views' mean less one standard deviation (a pessimistic estimate), and
   only where even the optimistic one (mean plus one standard deviation)
   says background is it sure background;
4. stray blobs far smaller than the main subject are dropped, and the
   edges are re-solved as a matting problem guided by the colour picture
   (the matting Laplacian of Levin et al. 2008 with the large windows and
   box-filter products of He, Sun and Tang 2010, solved by conjugate
   gradients with that prior): the sure inside and outside are fixed; a
   narrow band around the prior's edge, and the views' zone of doubt, are
   free;
5. the result is brought to the full resolution by guided upsampling
   (local linear models of alpha in the colours, fitted at the working
   size and applied to the full-size picture, as in the fast guided
   filter), so edges follow the full-size picture;
6. by default the foreground colour is estimated at semi-transparent
   pixels (:mod:`livebg.foreground`), so no fringe of the old background
   shows on a new one.

Reading, writing, batches of files (with a thread pool; the model itself
runs under a lock), the progress bar and the end summary are here too; the
command line only parses its options and calls :func:`run_batch`.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from livebg.errors import ConfigError, InputError, LivebgError

#: File name endings taken as pictures when a folder is given.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: Output formats: name -> file suffix.
FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}
_ALPHA_SUFFIXES = (".png", ".webp")
_OUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


# ================================================================ reading and writing

def read_image(path: str | os.PathLike) -> np.ndarray:
    """A picture file as BGR uint8 (H, W, 3), turned upright by its EXIF orientation.

    Raises InputError with a one-line reason: missing, a folder, empty,
    unreadable, or not a picture OpenCV can decode.
    """
    p = Path(path)
    if not p.exists():
        raise InputError("no such file or folder")
    if p.is_dir():
        raise InputError("is a folder")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except PermissionError:
        raise InputError("cannot read: permission denied") from None
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}") from None
    if data.size == 0:
        raise InputError("empty file (0 bytes)")
    # imdecode, like imread, applies the EXIF orientation with IMREAD_COLOR
    # (JPEG, PNG and WebP); grey and 16-bit pictures come back as 8-bit BGR.
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise InputError("not a picture that can be decoded (JPEG, PNG or WebP expected)")
    return image


def encode(image: np.ndarray, suffix: str) -> bytes:
    """Encode BGR or BGRA uint8 as PNG, JPEG (BGR only) or WebP."""
    suffix = suffix.lower()
    if suffix == ".png":
        params = [cv2.IMWRITE_PNG_COMPRESSION, 3]
    elif suffix in (".jpg", ".jpeg"):
        if image.ndim == 3 and image.shape[2] == 4:
            raise ValueError("JPEG has no alpha channel")
        params = [cv2.IMWRITE_JPEG_QUALITY, 95]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, 95]
    else:
        raise ValueError(f"unsupported output format {suffix}")
    ok, buf = cv2.imencode(suffix, image, params)
    if not ok:
        raise LivebgError(f"could not encode the picture as {suffix}")
    return buf.tobytes()


_UMASK: list[int] = []
_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    with _UMASK_LOCK:
        if not _UMASK:
            current = os.umask(0o022)
            os.umask(current)
            _UMASK.append(current)
        return _UMASK[0]


def write_atomic(path: Path, data: bytes, overwrite: bool) -> None:
    """Write under a temporary name beside ``path``, then move it into place,
    so ``path`` never holds half a file. Without ``overwrite`` an existing
    file is left alone (FileExistsError), even one that appeared meanwhile."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; give it a new file's usual mode
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # atomic, and fails if path exists
            except FileExistsError:
                raise
            except OSError:  # no hard links on this file system
                if path.exists():
                    raise FileExistsError(str(path)) from None
                os.replace(tmp, path)
            else:
                os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ================================================================ image operations

def _box_sum(x: np.ndarray, r: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each pixel; outside the picture counts 0."""
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=False, borderType=cv2.BORDER_CONSTANT)


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def _inverse_sym3(c: dict, eps: float):
    """Element-wise inverse of symmetric 3x3 matrices [[c00 c01 c02] [. c11 c12] [. . c22]] + eps I.

    Returns the six distinct entries (i00, i01, i02, i11, i12, i22)."""
    a, b, cc = c[0, 0] + eps, c[0, 1], c[0, 2]
    d, e, f = c[1, 1] + eps, c[1, 2], c[2, 2] + eps
    A = d * f - e * e
    B = cc * e - b * f
    C = b * e - cc * d
    det = a * A + b * B + cc * C
    inv = 1.0 / det
    return A * inv, B * inv, C * inv, (a * f - cc * cc) * inv, (b * cc - a * e) * inv, (a * d - b * b) * inv


def _window_stats(I: np.ndarray, r: int, mean):
    mu = [mean(np.ascontiguousarray(I[..., c])) for c in range(3)]
    cov = {}
    for i in range(3):
        for j in range(i, 3):
            cov[i, j] = mean(I[..., i] * I[..., j]) - mu[i] * mu[j]
    return mu, cov


class _MattingLaplacian:
    """Matrix-free product with the matting Laplacian of ``I`` (float (h, w, 3)).

    For windows w_k of radius r, alpha^T L alpha is the sum over windows of
    the residual of the best local linear fit alpha ~ a_k . I + b_k
    (ridge eps on a_k). Its gradient is, per pixel i,
    (L p)_i = sum_{k: i in w_k} (p_i - a_k . I_i - b_k), with a_k, b_k the
    fit for p: a handful of box sums whatever the window size.
    """

    def __init__(self, I: np.ndarray, r: int, eps: float):
        self.I = I
        self.r = r
        ones = np.ones(I.shape[:2], np.float32)
        self.count = _box_sum(ones, r)  # pixels in each window = windows on each pixel
        self._inv_n = 1.0 / self.count
        mean = lambda x: _box_sum(x, r) * self._inv_n  # noqa: E731
        self.mu, cov = _window_stats(I, r, mean)
        self.inv = _inverse_sym3(cov, eps)
        self._mean = mean

    def __call__(self, p: np.ndarray) -> np.ndarray:
        I, mu, mean = self.I, self.mu, self._mean
        mp = mean(p)
        cv = [mean(I[..., c] * p) - mu[c] * mp for c in range(3)]
        i00, i01, i02, i11, i12, i22 = self.inv
        a0 = i00 * cv[0] + i01 * cv[1] + i02 * cv[2]
        a1 = i01 * cv[0] + i11 * cv[1] + i12 * cv[2]
        a2 = i02 * cv[0] + i12 * cv[1] + i22 * cv[2]
        b = mp - a0 * mu[0] - a1 * mu[1] - a2 * mu[2]
        r = self.r
        return self.count * p - (_box_sum(a0, r) * I[..., 0] + _box_sum(a1, r) * I[..., 1]
                                 + _box_sum(a2, r) * I[..., 2] + _box_sum(b, r))


def _conjugate_gradients(apply, rhs: np.ndarray, x0: np.ndarray, iterations: int, tol: float) -> np.ndarray:
    x = x0.astype(np.float32, copy=True)
    r = rhs - apply(x)
    p = r.copy()
    rs = float(np.vdot(r, r))
    stop = tol * tol * float(np.vdot(rhs, rhs))
    for _ in range(iterations):
        if rs <= stop:
            break
        ap = apply(p)
        step = rs / max(float(np.vdot(p, ap)), 1e-30)
        x += step * p
        r -= step * ap
        rs_new = float(np.vdot(r, r))
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def matting_refine(image: np.ndarray, prior: np.ndarray, *, upper: np.ndarray | None = None,
                   band: float = 0.01, radius: int = 3, eps: float = 1e-4, known_weight: float = 100.0,
                   prior_weight: float = 0.2, iterations: int = 200, tol: float = 1e-4) -> np.ndarray:
    """Re-solve a soft mask's edges as a matting problem on the colour picture.

    image: BGR uint8 (h, w, 3); prior: float (h, w) in [0, 1], e.g. a
    segmentation model's output at this size. Pixels farther than ``band``
    (a fraction of the longer side) from the prior's 0.5 contour are held
    at 0 or 1 (weight ``known_weight``); inside the band the prior only
    nudges (weight ``prior_weight``) and the matting Laplacian (windows of
    ``radius``, ridge ``eps``) decides. ``upper``, an optimistic estimate
    (>= the prior), makes the background sure only where it too is below
    0.5 (and ``band`` away from its contour): between the two the
    Laplacian decides. Returns float32 (h, w) in [0, 1].
    """
    h, w = prior.shape
    I = image.astype(np.float32) * (1.0 / 255.0)
    p = np.clip(prior.astype(np.float32), 0.0, 1.0)
    k = max(1, int(round(band * max(h, w))))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    inside = p > 0.5
    outside = ~inside if upper is None else np.asarray(upper) <= 0.5
    sure_fg = cv2.erode(inside.astype(np.uint8), se, borderType=cv2.BORDER_REPLICATE).astype(bool)
    sure_bg = cv2.erode(outside.astype(np.uint8), se, borderType=cv2.BORDER_REPLICATE).astype(bool)
    target = np.where(sure_fg, np.float32(1.0), np.where(sure_bg, np.float32(0.0), p)).astype(np.float32)
    weight = np.where(sure_fg | sure_bg, np.float32(known_weight), np.float32(prior_weight)).astype(np.float32)
    if not (~(sure_fg | sure_bg)).any():
        return target
    lap = _MattingLaplacian(I, radius, eps)
    x = _conjugate_gradients(lambda v: lap(v) + weight * v, weight * target, target, iterations, tol)
    return np.clip(x, 0.0, 1.0)


def guided_upsample(alpha: np.ndarray, guide_small: np.ndarray, guide_full: np.ndarray,
                    radius: int = 4, eps: float = 1e-4) -> np.ndarray:
    """Bring ``alpha`` (h, w) to the size of ``guide_full`` (H, W, 3) along its edges.

    Local linear models alpha ~ a . I + b are fitted in windows of
    ``radius`` on the small guide (BGR uint8, (h, w, 3)), averaged, scaled up
    bilinearly and applied to the full-size guide (He et al.'s guided filter,
    in its fast, subsampled form). Returns float32 (H, W) in [0, 1].
    """
    I = guide_small.astype(np.float32) * (1.0 / 255.0)
    p = alpha.astype(np.float32)
    mean = lambda x: _box_mean(x, radius)  # noqa: E731
    mu, cov = _window_stats(I, radius, mean)
    mp = mean(p)
    cv = [mean(I[..., c] * p) - mu[c] * mp for c in range(3)]
    i00, i01, i02, i11, i12, i22 = _inverse_sym3(cov, eps)
    a = [i00 * cv[0] + i01 * cv[1] + i02 * cv[2],
         i01 * cv[0] + i11 * cv[1] + i12 * cv[2],
         i02 * cv[0] + i12 * cv[1] + i22 * cv[2]]
    b = mp - a[0] * mu[0] - a[1] * mu[1] - a[2] * mu[2]
    H, W = guide_full.shape[:2]
    up = lambda x: cv2.resize(mean(x), (W, H), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    out = up(b)
    for c in range(3):
        out += up(a[c]) * (guide_full[..., c].astype(np.float32) * (1.0 / 255.0))
    return np.clip(out, 0.0, 1.0)


def person_box(alpha: np.ndarray, threshold: float = 0.5):
    """(x0, y0, x1, y1) around the pixels above ``threshold``, or None."""
    ys, xs = np.nonzero(alpha > threshold)
    if ys.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def square_around(box, width: int, height: int, pad: float = 0.05):
    """A square around ``box``, grown by ``pad`` of its side on every side, cut to the picture."""
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1.0 + 2.0 * pad)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    X0, Y0 = int(math.floor(cx - side / 2)), int(math.floor(cy - side / 2))
    X1, Y1 = int(math.ceil(cx + side / 2)), int(math.ceil(cy + side / 2))
    return max(0, X0), max(0, Y0), min(width, X1), min(height, Y1)


def keep_main_subjects(alpha: np.ndarray, keep: float = 0.1) -> np.ndarray:
    """Zero the blobs (alpha > 0.5, 8-connected) smaller than ``keep`` times the largest,
    with their soft surroundings: stray false detections, not a second person."""
    mask = (alpha > 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 2:
        return alpha
    areas = stats[1:, cv2.CC_STAT_AREA]
    drop = np.zeros(n, bool)
    drop[1:] = areas < keep * areas.max()
    if not drop.any():
        return alpha
    dropped = drop[labels].astype(np.uint8)
    k = max(3, int(round(0.01 * max(alpha.shape))) | 1)
    dropped = cv2.dilate(dropped, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).astype(bool)
    out = alpha.copy()
    out[dropped & (labels == 0) | drop[labels]] = 0.0
    return out


def _resize_to(x: np.ndarray, width: int, height: int) -> np.ndarray:
    if x.shape[1] == width and x.shape[0] == height:
        return x
    interp = cv2.INTER_AREA if width < x.shape[1] and height < x.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(x, (width, height), interpolation=interp)


# ================================================================ the model for stills

class StillMatter:
    """The best matting for stills: model choice, two passes, refinement.

    ``model``: "auto" (MODNet when its file is present, else the MediaPipe
    selfie model), or a model name or file as for the live path. The model
    runs under a lock, so one StillMatter can serve several threads.
    """

    #: Longest side of the working picture for the edge solve (then guided upsampling).
    WORK_SIZE = 1024
    #: Paddings (of the person's box, on every side) of the square crops of the second pass.
    CROP_PADS = (0.05, 0.10, 0.15)
    #: Standard deviations of the views' disagreement taken off the alpha prior (and added
    #: to the optimistic estimate that decides the sure background).
    DOUBT = 1.0

    def __init__(self, model: str = "auto", provider: str = "auto", offline: bool = False):
        from livebg.matting import open_default, open_named

        model = model or "auto"
        if model == "auto":
            from livebg import models

            if models.find_present(models.load_manifest()["modnet"]) is not None:
                self._matter = open_named("modnet", provider, offline=True)
                self.why = f"modnet (present) at its reference size, on {self._matter.runtime}"
            else:
                self._matter, not_first = open_default(provider, offline)
                self.why = (f"{self._matter.name} with edge refinement (MODNet is not present; "
                            f"get it with: livebg models fetch modnet){'; ' + not_first if not_first else ''}")
        else:
            self._matter = open_named(model, provider, offline)
            self.why = f"{self._matter.name} as asked, on {self._matter.runtime}"
        self.name = self._matter.name
        from livebg.matting.onnx_models import ModNet

        self.is_matting = isinstance(self._matter, ModNet)  # a true matte: no segmentation clean-up
        self._lock = threading.Lock()

    def model_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The model's own output for the whole picture, at the model's size."""
        with self._lock:
            return self._matter(np.ascontiguousarray(bgr))

    def raw_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The model on the whole picture, scaled bilinearly to its size (no refinement)."""
        h, w = bgr.shape[:2]
        a = self.model_alpha(bgr)
        return np.clip(cv2.resize(a, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def _crop_boxes(self, box, scale: float, width: int, height: int) -> list:
        """Full-size squares around ``box`` (working-size pixels), one per padding; None for the
        whole picture, where a square would cover nearly all of it anyway."""
        fx0, fy0, fx1, fy1 = (int(v / scale) for v in box)
        person = (fx0, fy0, min(width, fx1 + 1), min(height, fy1 + 1))
        pads = self.CROP_PADS if not self.is_matting else self.CROP_PADS[:1]
        boxes = []
        for pad in pads:
            X0, Y0, X1, Y1 = square_around(person, width, height, pad)
            boxes.append((X0, Y0, X1, Y1) if (X1 - X0) * (Y1 - Y0) < 0.9 * width * height else None)
        return boxes

    def views(self, bgr: np.ndarray, box, scale: float, w: int, h: int) -> np.ndarray:
        """The model's alpha for each view of the person, at the working size (w, h): float32 (n, h, w).

        A view is a square crop around ``box`` (or the whole picture, see
        :meth:`_crop_boxes`), as it is and mirrored (not for a matting
        model: one crop, as it is). Outside its crop a view is 0."""
        H, W = bgr.shape[:2]
        mirror = not self.is_matting
        done: dict = {}
        out = []
        for crop in self._crop_boxes(box, scale, W, H):
            if crop not in done:
                X0, Y0, X1, Y1 = crop if crop is not None else (0, 0, W, H)
                x0, y0 = int(round(X0 * scale)), int(round(Y0 * scale))
                x1, y1 = max(x0 + 1, int(round(X1 * scale))), max(y0 + 1, int(round(Y1 * scale)))
                part = np.ascontiguousarray(bgr[Y0:Y1, X0:X1])
                found = [self.model_alpha(part)]
                if mirror:
                    found.append(self.model_alpha(np.ascontiguousarray(part[:, ::-1]))[:, ::-1])
                placed = []
                for a in found:
                    full = np.zeros((h, w), np.float32)
                    full[y0:y1, x0:x1] = _resize_to(np.ascontiguousarray(a), x1 - x0, y1 - y0)
                    placed.append(full)
                done[crop] = placed
            out.extend(done[crop])
        return np.clip(np.stack(out), 0.0, 1.0)

    def alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The refined alpha for the whole picture: float32 (H, W) in [0, 1]."""
        H, W = bgr.shape[:2]
        scale = min(1.0, self.WORK_SIZE / max(H, W))
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        small = _resize_to(bgr, w, h)
        box = person_box(_resize_to(self.model_alpha(bgr), w, h))
        if box is None:
            return np.zeros((H, W), np.float32)  # nobody here
        # Second pass: views of a square around the person, in full-size pixels.
        views = self.views(bgr, box, scale, w, h)
        if self.is_matting:
            coarse = views.mean(axis=0)
        else:
            mean, spread = views.mean(axis=0), views.std(axis=0)
            low = keep_main_subjects(np.clip(mean - self.DOUBT * spread, 0.0, 1.0))
            high = np.clip(mean + self.DOUBT * spread, 0.0, 1.0)
            coarse = matting_refine(small, low, upper=high)
        if scale == 1.0:
            return coarse.astype(np.float32, copy=False)
        return guided_upsample(coarse, small, bgr)

    def close(self) -> None:
        self._matter.close()


# ================================================================ composing the output

@dataclass
class Options:
    """What to write. background: None for RGBA, else a background spec."""

    background: str | None = None
    shadow: bool = False
    crop: bool = False
    decontaminate: bool = True
    margin: float = 0.05


def shadow_alpha(alpha: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """A soft drop shadow of the subject: its alpha moved down (and a little
    right) and blurred, in proportion to the subject's height."""
    h, w = alpha.shape
    box = person_box(alpha, 0.5)
    size = (box[3] - box[1]) if box else h
    dx, dy = 0.01 * size, 0.025 * size
    sigma = max(1.0, 0.025 * size)
    moved = cv2.warpAffine(alpha.astype(np.float32), np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(cv2.GaussianBlur(moved, (0, 0), sigma) * opacity, 0.0, 1.0)


def crop_box(visible: np.ndarray, margin: float, threshold: float = 0.02):
    """(x0, y0, x1, y1) around what is visible, with ``margin`` of its longer side around it."""
    box = person_box(visible, threshold)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    m = max(2, int(round(margin * max(x1 - x0, y1 - y0))))
    h, w = visible.shape
    return max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)


class BackgroundMaker:
    """Renders a background spec for one picture; thread-safe, deterministic.

    ``blur`` blurs the picture's own background, taken from the estimated
    background layer, so the person does not bleed into it; an image file
    is scaled to cover the picture; a video file gives its first frame.
    """

    def __init__(self, spec: str):
        from livebg import backgrounds as bgs

        self.spec = bgs.parse(spec)
        self.kind = self.spec.kind
        self.image = None
        if self.kind == "file":
            try:
                self.image = bgs.ImageBackground(self.spec.path).image
            except InputError:
                from livebg.video import VideoReader

                try:
                    reader = VideoReader(self.spec.path)
                    try:
                        self.image = next(iter(reader.frames()), None)
                    finally:
                        reader.close()
                except InputError:
                    self.image = None
                if self.image is None:
                    raise InputError(f"cannot use background {self.spec.path}: not a readable image or video") from None
            self.kind = "image"

    @property
    def wants_plate(self) -> bool:
        return self.kind == "blur"

    def render(self, bgr: np.ndarray, plate: np.ndarray | None = None) -> np.ndarray | None:
        from livebg import backgrounds as bgs
        from livebg.frames import cover_fit

        h, w = bgr.shape[:2]
        if self.kind == "none":
            return None
        if self.kind == "color":
            out = np.empty_like(bgr)
            out[:] = self.spec.color_bgr
            return out
        if self.kind == "blur":
            return bgs.BlurBackground(self.spec.strength).render(plate if plate is not None else bgr)
        return cover_fit(self.image, w, h)


def compose(bgr: np.ndarray, alpha: np.ndarray, options: Options,
            background: BackgroundMaker | None = None) -> np.ndarray:
    """The output picture: BGRA (straight alpha) or, with a background, BGR."""
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    flat = background is not None and background.kind != "none"
    from livebg.foreground import estimate_foreground

    plate = None
    fg = bgr
    if flat and background.wants_plate:  # blur: the background layer, without the person in it
        est, plate = estimate_foreground(bgr, a, return_background=True)
        if options.decontaminate:
            fg = est
    elif options.decontaminate:
        fg = estimate_foreground(bgr, a)
    if fg is not bgr:
        opaque = a >= 1.0 - 0.5 / 255.0
        fg[opaque] = bgr[opaque]  # where nothing shows through, the photo's own pixels, exactly
    shadow = shadow_alpha(a) if options.shadow else None
    a3 = a[..., None]
    if flat:
        bg = background.render(bgr, plate).astype(np.float32)
        if shadow is not None:
            bg *= 1.0 - shadow[..., None]
        out = fg.astype(np.float32) * a3 + bg * (1.0 - a3)
        visible = a if shadow is None else a + (1.0 - a) * shadow
        result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    else:
        colour = fg.astype(np.float32)
        if shadow is None:
            visible = a
        else:
            # The shadow is black at its own opacity; the colour stays un-premultiplied.
            visible = a + (1.0 - a) * shadow
            colour = colour * (a / np.maximum(visible, 1e-6))[..., None]
        result = np.empty(bgr.shape[:2] + (4,), np.uint8)
        result[..., :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
        result[..., 3] = np.clip(visible * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if options.crop:
        box = crop_box(visible, options.margin)
        if box is not None:
            x0, y0, x1, y1 = box
            result = np.ascontiguousarray(result[y0:y1, x0:x1])
    return result


def cutout(bgr: np.ndarray, matter: StillMatter, options: Options | None = None,
           background: BackgroundMaker | None = None) -> np.ndarray:
    """One picture in, the output picture out (BGRA, or BGR with a background)."""
    options = options or Options()
    return compose(bgr, matter.alpha(bgr), options, background)


# ================================================================ batches of files

@dataclass
class Item:
    """One input's fate. status: done, skipped, failed."""

    src: Path
    dst: Path | None = None
    status: str = "pending"
    reason: str = ""
    note: str = ""  # a warning about a picture that was done
    seconds: float = 0.0


@dataclass
class Summary:
    items: list[Item] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)

    @property
    def ok(self) -> bool:
        return self.count("failed") == 0


def output_suffix(out: Path, fmt: str | None, flattened: bool, single_file: bool) -> tuple[str, bool]:
    """(suffix of the files to write, whether OUT is a file). Raises ConfigError."""
    out_is_file = single_file and out.suffix.lower() in _OUT_SUFFIXES and not out.is_dir()
    if out_is_file:
        suffix = out.suffix.lower()
        if fmt and FORMATS[fmt] != (".jpg" if suffix == ".jpeg" else suffix):
            raise ConfigError(f"--format {fmt} contradicts the output file name '{out.name}'")
    elif fmt:
        suffix = FORMATS[fmt]
    else:
        suffix = ".jpg" if flattened else ".png"
    if not flattened and suffix not in _ALPHA_SUFFIXES:
        raise ConfigError("JPEG has no alpha channel: write .png or .webp, or give --background (e.g. white)")
    return suffix, out_is_file


def plan(inputs: list[str], out: str, *, fmt: str | None = None, flattened: bool = False,
         overwrite: bool = False) -> tuple[Summary, list[Item]]:
    """Match inputs to outputs. Returns (summary with the items already
    skipped or failed, the items to process). Raises ConfigError for an
    unusable OUT; everything else about one input is that input's fate."""
    out_path = Path(out).expanduser()
    paths = [Path(p).expanduser() for p in inputs]
    single_file = len(paths) == 1 and not paths[0].is_dir()
    suffix, out_is_file = output_suffix(out_path, fmt, flattened, single_file)
    if out_is_file:
        folder = out_path.parent if str(out_path.parent) else Path(".")
        if not folder.is_dir():
            raise ConfigError(f"output folder does not exist: {folder}")
    else:
        if out_path.exists() and not out_path.is_dir():
            raise ConfigError(f"output {out_path} is a file, but several pictures need a folder")
        if out_path.suffix.lower() in _OUT_SUFFIXES and not out_path.is_dir():
            what = f"there are {len(paths)} inputs" if len(paths) > 1 else "the input is a folder"
            raise ConfigError(f"output {out_path} looks like a file name, but {what}; give a folder")
        if not out_path.is_dir() and not (out_path.parent if str(out_path.parent) else Path(".")).is_dir():
            raise ConfigError(f"output folder's parent does not exist: {out_path.parent}")

    summary = Summary()
    todo: list[Item] = []
    candidates: list[Path] = []
    for p in paths:
        if not p.exists():
            summary.items.append(Item(p, status="failed", reason="no such file or folder"))
        elif p.is_dir():
            try:
                entries = sorted(e for e in p.iterdir() if not e.name.startswith("."))
            except OSError as e:
                summary.items.append(Item(p, status="failed", reason=f"cannot list folder: {e.strerror or e}"))
                continue
            files = [e for e in entries if e.is_file()]
            pictures = [e for e in files if e.suffix.lower() in IMAGE_SUFFIXES]
            others = [e for e in files if e.suffix.lower() not in IMAGE_SUFFIXES]
            if not pictures:
                extra = f" ({len(others)} other file{'s' * (len(others) != 1)})" if others else ""
                summary.items.append(Item(p, status="failed",
                                          reason=f"folder has no pictures (JPEG, PNG, WebP){extra}"))
                continue
            for e in others:
                summary.items.append(Item(e, status="skipped", reason=f"not a picture ({e.suffix or 'no suffix'})"))
            candidates.extend(pictures)
        else:
            candidates.append(p)

    taken: dict[Path, Path] = {}
    for src in candidates:
        dst = out_path if out_is_file else out_path / (src.stem + suffix)
        key = Path(os.path.abspath(dst))
        item = Item(src, dst)
        if key in taken:
            item.status, item.reason = "failed", f"same output name as {taken[key]}"
        elif src.exists() and dst.exists() and src.resolve() == dst.resolve():
            item.status, item.reason = "failed", "the output would overwrite this input"
        elif dst.exists() and not overwrite:
            taken[key] = src
            item.status, item.reason = "skipped", f"{dst} exists (use --overwrite)"
        else:
            taken[key] = src
            todo.append(item)
            continue
        summary.items.append(item)
    return summary, todo


class _Progress:
    """One-line progress bar on stderr, only when it is a terminal."""

    def __init__(self, total: int, stream=None):
        self.stream = stream or sys.stderr
        self.total = total
        self.done = 0
        self.enabled = total > 1 and getattr(self.stream, "isatty", lambda: False)()
        self._lock = threading.Lock()
        self._shown = False

    def _bar(self, name: str) -> str:
        width = 24
        filled = int(width * self.done / max(1, self.total))
        return f"\rlivebg: [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {name[:40]}\x1b[K"

    def message(self, text: str) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            if self._shown:
                self.stream.write(self._bar(""))
            self.stream.flush()

    def step(self, name: str) -> None:
        with self._lock:
            self.done += 1
            if self.enabled:
                self.stream.write(self._bar(name))
                self.stream.flush()
                self._shown = True

    def close(self) -> None:
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = False


def process_one(item: Item, matter: StillMatter, options: Options, background: BackgroundMaker | None,
                overwrite: bool) -> Item:
    t0 = time.monotonic()
    try:
        bgr = read_image(item.src)
        alpha = matter.alpha(bgr)
        if float(alpha.max()) < 0.5:
            item.note = "no person found: the cutout is empty"
        result = compose(bgr, alpha, options, background)
        data = encode(result, item.dst.suffix)
        try:
            write_atomic(item.dst, data, overwrite)
        except FileExistsError:
            item.status, item.reason = "skipped", f"{item.dst} exists (use --overwrite)"
            return item
        except PermissionError:
            raise InputError(f"cannot write {item.dst}: permission denied") from None
        except OSError as e:
            raise InputError(f"cannot write {item.dst}: {e.strerror or e}") from None
        item.status = "done"
        h, w = result.shape[:2]
        kind = "RGBA" if result.shape[2] == 4 else "RGB"
        item.reason = f"{w}x{h} {kind}"
    except LivebgError as e:
        item.status, item.reason = "failed", str(e)
    except MemoryError:
        item.status, item.reason = "failed", "out of memory"
    except Exception as e:  # a bug, but one picture must not end the batch
        first = str(e).splitlines()[0] if str(e) else ""
        item.status, item.reason = "failed", f"internal error: {type(e).__name__}: {first}"
    item.seconds = time.monotonic() - t0
    return item


def default_jobs() -> int:
    """Pictures in flight at once. OpenCV's filters already use every core,
    so extra workers only pay off with many cores: on a 2-core machine two
    workers took twice as long as one (15 portraits: 39.6 s against 18.6 s)."""
    cpus = os.cpu_count() or 1
    return 1 if cpus <= 4 else min(4, cpus // 4)


def run_batch(inputs: list[str], out: str, options: Options, *, fmt: str | None = None, overwrite: bool = False,
              jobs: int | None = None, model: str = "auto", provider: str = "auto", offline: bool = False,
              stream=None, log=None) -> Summary:
    """Cut out every input into ``out``; report as it goes and at the end.

    One line per skipped or failed input (as it happens), a progress bar on
    a terminal, and a summary line. Raises ConfigError/LivebgError only for
    problems that concern the whole run (bad OUT, bad background, no model).
    """
    stream = stream or sys.stderr
    flattened = options.background is not None and options.background.strip().lower() != "none"
    summary, todo = plan(inputs, out, fmt=fmt, flattened=flattened, overwrite=overwrite)
    progress = _Progress(len(todo), stream)
    say = progress.message
    for item in summary.items:
        say(f"livebg: {item.status} {item.src}: {item.reason}")
    if todo:
        background = BackgroundMaker(options.background) if flattened else None
        todo[0].dst.parent.mkdir(parents=True, exist_ok=True)  # the output folder
        matter = StillMatter(model, provider, offline)
        if log is not None:
            log(f"model: {matter.why}")
        try:
            n = max(1, min(jobs or default_jobs(), len(todo)))

            def work(item):
                process_one(item, matter, options, background, overwrite)
                if item.status != "done":
                    say(f"livebg: {item.status} {item.src}: {item.reason}")
                elif item.note:
                    say(f"livebg: warning: {item.src}: {item.note}")
                progress.step(item.src.name)
                return item

            if n == 1:
                for item in todo:
                    work(item)
            else:
                cv_threads = cv2.getNumThreads()
                cv2.setNumThreads(max(1, (os.cpu_count() or 1) // n))  # share the cores, do not oversubscribe
                try:
                    with ThreadPoolExecutor(max_workers=n, thread_name_prefix="cutout") as pool:
                        list(pool.map(work, todo))
                finally:
                    cv2.setNumThreads(cv_threads)
        finally:
            progress.close()
            matter.close()
        summary.items.extend(todo)
    done = [i for i in summary.items if i.status == "done"]
    if len(done) == 1 and len(summary.items) == 1:
        stream.write(f"livebg: wrote {done[0].dst} ({done[0].reason})\n")
    parts = ", ".join(f"{summary.count(s)} {s}" for s in ("done", "skipped", "failed"))
    stream.write(f"livebg: cutout: {parts}\n")
    failed = [i for i in summary.items if i.status == "failed"]
    if failed and len(summary.items) > 1:
        for i in failed:
            stream.write(f"livebg:   failed {i.src}: {i.reason}\n")
    stream.flush()
    return summary
