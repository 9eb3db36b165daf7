"""What goes behind the person: an image, a looping video, a blur, a colour, or nothing.

Spec strings (command line, config, tray):
    PATH            an image (scaled to cover, centre-cropped) or a video (looped)
    blur | blur:N   the camera picture blurred; N is the strength, 1-100 (default 25)
    color:#RRGGBB   a solid colour; also color:#RGB, color:NAME (a CSS colour name),
                    and NAME or #RRGGBB on their own (livebg.colors)
    none            pass-through: the camera picture untouched
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livebg.colors import CSS_COLORS, ColorError, parse_rgb
from livebg.errors import InputError
from livebg.frames import cover_fit

DEFAULT_BLUR = 25
#: Every form a spec may take, for help texts and error messages.
FORMS = ("an image or video file, blur, blur:N (N = strength 1-100), a colour (color:#RRGGBB, color:#RGB or "
         "color:NAME with a CSS colour name such as white, black, red or teal; NAME and #RRGGBB also work alone), "
         "or none")
_COLOR_EXPECTED = ("expected color:#RRGGBB, color:#RGB or color:NAME with a CSS colour name "
                   "(white, black, red, teal, ...), for example color:#00b140")


@dataclass(frozen=True)
class BackgroundSpec:
    """A parsed spec. kind: image, video, blur, color, none (or file before probing)."""

    kind: str
    path: Path | None = None
    strength: int = DEFAULT_BLUR
    color_bgr: tuple[int, int, int] = (0, 0, 0)
    text: str = ""


def parse(spec: str) -> BackgroundSpec:
    """Parse a background spec without opening any file except to check it exists.

    Raises InputError with a one-line message for malformed specs or missing files.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"background spec is empty (use {FORMS})")
    s = spec.strip()
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in s):
        raise InputError(f"invalid background {s!r}: it contains control characters")
    low = s.lower()
    if low == "none":
        return BackgroundSpec("none", text=s)
    if low == "blur" or low.startswith("blur:"):
        if low == "blur":
            return BackgroundSpec("blur", strength=DEFAULT_BLUR, text=s)
        n = low[5:]
        if not (n.isascii() and n.isdigit()) or not 1 <= int(n) <= 100:
            raise InputError(f"invalid background '{s}': blur strength must be a whole number from 1 to 100, as in blur:25")
        return BackgroundSpec("blur", strength=int(n), text=s)
    if low.startswith(("color:", "colour:")):
        return _color_spec(s, s.split(":", 1)[1])
    if low in CSS_COLORS or s.startswith("#"):  # white, teal, #00b140: a colour without the prefix
        return _color_spec(s, s)
    try:
        path = Path(s).expanduser()
        exists = path.exists()
    except (OSError, RuntimeError, ValueError):  # name too long, unknown ~user, ...
        exists = False
    if not exists:
        shown = s if len(s) <= 120 else s[:117] + "..."
        hint = ""
        if low.replace(":", "").isalnum():  # a word, not a path: perhaps a keyword or a colour mistyped
            close = difflib.get_close_matches(low, ["blur", "none", *CSS_COLORS], n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(
            f"background '{shown}' is not a file that exists{hint}, nor one of: blur, blur:N, color:#RRGGBB, "
            f"color:#RGB, color:NAME (a CSS colour name: white, black, red, teal, ...), none"
        )
    if path.is_dir():
        raise InputError(f"background '{s}' is a folder; give an image or video file")
    return BackgroundSpec("file", path=path, text=s)


def _color_spec(spec: str, value: str) -> BackgroundSpec:
    try:
        r, g, b = parse_rgb(value)
    except ColorError as e:
        raise InputError(f"invalid background '{spec}': {e}; {_COLOR_EXPECTED}") from None
    return BackgroundSpec("color", color_bgr=(b, g, r), text=spec)


class Background:
    """Renders the background for each output frame (or a still picture).

    render(frame, plate, alpha) returns a BGR uint8 image the size of
    ``frame``, or None for pass-through (no compositing wanted). ``plate``:
    the picture's background layer without the person, where known (stills
    estimate it): the blur blurs that rather than the frame. ``alpha``: the
    frame's matte (float32, any size with the frame's aspect), given to the
    kinds that say ``wants_alpha``: the blur leaves the person out with it.
    Safe to call from several threads at once (the stills' batch workers do).
    """

    kind = "none"
    wants_plate = False  # True when render() uses a plate given to it
    wants_alpha = False  # True when render() uses the frame's matte given to it

    def render(self, frame: np.ndarray, plate: np.ndarray | None = None,
               alpha: np.ndarray | None = None) -> np.ndarray | None:
        return None

    def reset(self) -> None:
        """Forget anything carried from frame to frame (the picture is no longer a continuation)."""

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return self.kind


class ColorBackground(Background):
    kind = "color"

    def __init__(self, bgr: tuple[int, int, int]):
        self.bgr = bgr
        self._cache: np.ndarray | None = None

    def render(self, frame, plate=None, alpha=None):
        cache = self._cache
        if cache is None or cache.shape != frame.shape:
            cache = np.empty_like(frame)
            cache[:] = self.bgr
            self._cache = cache
        return cache

    def describe(self):
        b, g, r = self.bgr
        return f"color #{r:02x}{g:02x}{b:02x}"


class BlurBackground(Background):
    """The camera picture itself, blurred. Strength N is the Gaussian sigma in
    pixels at 720p (scaled with the frame); the blur runs on a downscaled copy
    because a wide Gaussian at full size would cost more than the matting.

    Given the frame's matte, the person is left out of the blur (no glow):
    a normalised convolution, blur(picture x w) / blur(w), with the weight w
    zero on the person and on a margin around the matte's edge, so that
    only the room is averaged; where the person hides the room entirely,
    a four times wider blur of the same kind fills in (it is only seen
    through the matte's soft edge). All at the downscaled size, so it costs
    about what the plain blur does. See :func:`room_weight`.
    """

    kind = "blur"
    wants_plate = True
    wants_alpha = True

    def __init__(self, strength: int = DEFAULT_BLUR, remember: bool = True):
        self.strength = strength
        self.remember = remember
        self._plate: np.ndarray | None = None   # the room seen so far, at the downscaled size
        self._seen: np.ndarray | None = None    # how much each of its pixels is trusted, 0..1
        self._forget = False

    def reset(self) -> None:
        """Forget the room seen so far (the picture is no longer a continuation)."""
        self._forget = True

    def _small_size(self, h: int, w: int) -> tuple[float, float, int, int]:
        sigma = self.strength * min(h, w) / 720.0
        factor = max(1.0, sigma / 2.5)
        return sigma, factor, max(1, round(w / factor)), max(1, round(h / factor))

    def render(self, frame, plate=None, alpha=None):
        if plate is not None:
            frame = plate
        h, w = frame.shape[:2]
        sigma, factor, sw, sh = self._small_size(h, w)
        small = cv2.resize(frame, (sw, sh), interpolation=cv2.INTER_AREA)
        s = max(0.5, sigma / factor)
        if alpha is None or plate is not None:
            small = cv2.GaussianBlur(small, (0, 0), sigmaX=s)
        else:
            weight = room_weight(alpha, sw, sh)
            img = small.astype(np.float32)
            if self.remember:
                img, weight = self._recall(img, weight)
            small = _blur_without(img, weight, s)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)

    def _recall(self, img: np.ndarray, weight: np.ndarray):
        """The room hidden behind the person now, from the frames where it showed:
        the picture with the remembered room filled in, and the weights with the
        remembered pixels' trust. Trust fades in about ten seconds at 30 fps."""
        if self._forget or self._plate is None or self._plate.shape != img.shape:
            self._plate = img.copy()
            self._seen = weight.copy()
            self._forget = False
            return img, weight
        w3 = weight[..., None]
        self._plate += (img - self._plate) * w3
        seen = self._seen * np.float32(0.997)
        seen[seen < 0.05] = 0.0  # gone (and never a denormal number, which would slow every sum down)
        self._seen = np.maximum(seen, weight)
        held = (1.0 - weight) * self._seen
        filled = img * w3 + self._plate * (1.0 - w3)
        return filled, weight + held

    def describe(self):
        return f"blur:{self.strength}"


# How far around the matte's edge the room is not trusted, in pixels of the
# downscaled picture (each is strength / 2.5 pixels of the frame: 10 at the
# default strength at 720p), and how much of the person a pixel may hold to
# count as room. Chosen by bench/studio.py on its tuning clips.
ROOM_MARGIN = 0
ROOM_LEVEL = 0.1


def room_weight(alpha: np.ndarray, sw: int, sh: int, margin: int | None = None,
                level: float | None = None) -> np.ndarray:
    """Float32 (sh, sw) weights: 1 where a downscaled pixel is room only, 0
    where it holds any of the person. The matte is taken to the downscaled
    size by its maximum over each pixel's area (a pixel that is partly person
    is person), grown by ``margin`` pixels (the matte's edge is where a
    model is least sure), and pixels holding more than ``level`` of the
    person get no weight."""
    margin = ROOM_MARGIN if margin is None else margin
    level = ROOM_LEVEL if level is None else level
    a = np.asarray(alpha, dtype=np.float32)
    if a.shape != (sh, sw):
        # The maximum over an area is a dilation at the matte's size, sampled.
        h, w = a.shape
        kx, ky = max(1, int(np.ceil(w / sw))), max(1, int(np.ceil(h / sh)))
        if kx > 1 or ky > 1:
            a = cv2.dilate(a, np.ones((ky, kx), np.uint8))
        a = cv2.resize(a, (sw, sh), interpolation=cv2.INTER_LINEAR)
    if margin > 0:
        a = cv2.dilate(a, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    return (a <= level).astype(np.float32)


def _blur_without(img: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """``img`` (float32 BGR) blurred by ``sigma`` with the pixels of no
    ``weight`` filled in first: by the normalised blur of the others at the
    same sigma (what is near the hole predicts it best); where that has
    nothing near, by a four times wider one; where even that has nothing (the
    person fills the picture), by the picture itself. Returns uint8.
    (Filling, then blurring measured better in bench/studio.py than the
    normalised blur alone, which takes the hidden room to be the average of
    what shows, centred away from the hole.)"""
    wgt = weight[..., None]
    num = cv2.GaussianBlur(img * wgt, (0, 0), sigmaX=sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigmaX=sigma)
    # The wider blur at a quarter of the size (it is smooth; a fifth of the cost).
    h, w = weight.shape
    qw, qh = max(1, w // 4), max(1, h // 4)
    num_w = cv2.resize(cv2.GaussianBlur(cv2.resize(num, (qw, qh), interpolation=cv2.INTER_AREA), (0, 0),
                                        sigmaX=sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    den_w = cv2.resize(cv2.GaussianBlur(cv2.resize(den, (qw, qh), interpolation=cv2.INTER_AREA), (0, 0),
                                        sigmaX=sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    # The wide terms count for little where the near ones have weight, the
    # picture itself only where neither has any (1e-3 of a full weight).
    k, e = np.float32(0.05), np.float32(1e-3)
    fill = (num + k * num_w + e * img) / (den + k * den_w + e)[..., None]
    filled = img * wgt + fill * (1.0 - wgt)
    out = cv2.GaussianBlur(filled, (0, 0), sigmaX=sigma)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class ImageBackground(Background):
    kind = "image"

    def __init__(self, path: Path):
        self.path = path
        try:
            data = np.fromfile(str(path), dtype=np.uint8)
        except OSError as e:
            raise InputError(f"cannot read background {path}: {e.strerror or e}") from None
        from livebg.console import quiet_native_stderr

        with quiet_native_stderr():  # libpng prints its own complaint about a damaged file
            image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if image is None or image.size == 0:
            raise InputError(f"cannot read background image {path}")
        self.image = image
        self._cache: np.ndarray | None = None

    @classmethod
    def of(cls, image: np.ndarray, path: Path) -> "ImageBackground":
        """A background of a picture already decoded (a video's first frame)."""
        self = cls.__new__(cls)
        self.path, self.image, self._cache = path, image, None
        return self

    def render(self, frame, plate=None, alpha=None):
        h, w = frame.shape[:2]
        cache = self._cache
        if cache is None or cache.shape[:2] != (h, w):
            cache = self._cache = cover_fit(self.image, w, h)
        return cache

    def describe(self):
        return f"image {self.path.name}"


class VideoBackground(Background):
    """A video file, looped, one background frame per output frame."""

    kind = "video"

    def __init__(self, path: Path):
        from livebg.video import VideoReader

        self.path = path
        self._damaged = False
        self._reader = VideoReader(path, frame_threads=False)
        self._it = self._reader.frames()
        first = self._next()
        if first is None:
            self._reader.close()
            raise InputError(f"background video {path} has no frames")
        self._current = first

    def _next(self):
        try:
            return next(self._it)
        except StopIteration:
            return None

    @property
    def frame(self) -> np.ndarray:
        """The video frame the next render() shows (at the video's size)."""
        return self._current

    def render(self, frame, plate=None, alpha=None):
        h, w = frame.shape[:2]
        out = cover_fit(self._current, w, h)
        try:
            nxt = self._next()
            if nxt is None:
                self._restart()
                nxt = self._next()
        except InputError as e:
            # Damaged past some point: loop over what decodes. If even that
            # fails, the picture we have stays; the output must go on.
            if not self._damaged:
                self._damaged = True
                import logging

                logging.getLogger("livebg").warning("background video: %s; looping over the part that plays", e)
            try:
                self._restart()
                nxt = self._next()
            except InputError:
                nxt = None
        if nxt is not None:
            self._current = nxt
        return out

    def _restart(self) -> None:
        """Back to the first frame; a file that cannot seek (cut off) is opened again."""
        from livebg.video import VideoReader

        try:
            self._reader.rewind()
        except InputError:
            self._reader.close()
            self._reader = VideoReader(self.path, frame_threads=False)
        self._it = self._reader.frames()

    def close(self):
        self._reader.close()

    def describe(self):
        return f"video {self.path.name}"


def open_background(spec: str | BackgroundSpec, still: bool = False) -> Background:
    """Parse (if needed) and open a background. Raises InputError.
    ``still``: for pictures, where a video file gives its first frame."""
    bs = parse(spec) if isinstance(spec, str) else spec
    if bs.kind == "none":
        return Background()
    if bs.kind == "blur":
        return BlurBackground(bs.strength)
    if bs.kind == "color":
        return ColorBackground(bs.color_bgr)
    assert bs.path is not None
    try:
        with open(bs.path, "rb") as f:
            empty = not f.read(1)
    except OSError as e:  # say why (permission, I/O error) rather than "not an image"
        raise InputError(f"cannot read background {bs.path}: {e.strerror or e}") from None
    if empty:
        raise InputError(f"cannot use background {bs.path}: not a readable image or video (the file is empty)")
    try:
        return ImageBackground(bs.path)
    except InputError:
        pass
    try:
        video = VideoBackground(bs.path)
    except InputError:
        raise InputError(f"cannot use background {bs.path}: not a readable image or video") from None
    if not still:
        return video
    first = video.frame
    video.close()
    return ImageBackground.of(first, bs.path)
