"""Composing the output picture: a cutout with straight alpha, or the subject on a
new background; colours decontaminated, an optional shadow, an optional crop."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livebg.backgrounds import Background


@dataclass
class Options:
    """What to write. background: None for RGBA, else a background spec.

    shadow_style: "drop" (the subject's shape, moved down and blurred) or
    "contact" (a soft ellipse where the subject meets the ground).
    canvas: (w, h), the aspect of a canvas the subject is centred on,
    filling ``fill`` of it (its box's larger share of the canvas's width or
    height), or None to keep the picture's frame. size: the output's
    longer side in pixels (None: as it comes). quality: JPEG/WebP quality.
    """

    background: str | None = None
    shadow: bool = False
    crop: bool = False
    decontaminate: bool = True
    margin: float = 0.05
    shadow_style: str = "drop"
    canvas: tuple[int, int] | None = None
    fill: float = 0.85
    size: int | None = None
    quality: int = 95

    light_wrap: float = 0.0    # on a background: its light on the subject's edge (livebg.look), 0 to 1
    color_match: float = 0.0   # on a background: the subject's colours moved this far toward its colours


#: Pictures bigger than this have their foreground colours solved at about this size and then
#: refined at full size along the edge only (livebg.foreground): a 12-megapixel photo in 0.6 s
#: of CPU instead of 4.2, its edge colours within 1/255 of the full solve on average.
FOREGROUND_PIXELS = 2_000_000

#: --preset NAME: the options it sets (each one can still be given on its own, and wins).
PRESETS = {
    # A listing picture for an online marketplace: the subject centred on a white
    # square, 85% of it (the usual rule), 2000x2000, JPEG (the default on a background).
    "marketplace": {"background": "white", "canvas": (1, 1), "fill": 0.85, "size": 2000,
                    "shadow_style": "contact"},
}


def shadow_alpha(alpha: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """A soft drop shadow of the subject: its alpha moved down (and a little
    right) and blurred, in proportion to the subject's height."""
    h, w = alpha.shape
    box = subject_box(alpha, 0.5)
    size = (box[3] - box[1]) if box else h
    dx, dy = 0.01 * size, 0.025 * size
    sigma = max(1.0, 0.025 * size)
    moved = cv2.warpAffine(alpha.astype(np.float32), np.float32([[1, 0, dx], [0, 1, dy]]), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.clip(cv2.GaussianBlur(moved, (0, 0), sigma) * opacity, 0.0, 1.0)


def contact_shadow(alpha: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """A soft contact shadow: a flat ellipse where the subject meets the ground
    (under the bottom of its box, as wide as what touches the bottom), with a
    darker core, in proportion to the subject's width."""
    h, w = alpha.shape
    box = subject_box(alpha, 0.5)
    if box is None:
        return np.zeros((h, w), np.float32)
    x0, y0, x1, y1 = box
    band = max(1, int(round(0.04 * (y1 - y0))))
    cols = np.flatnonzero((alpha[y1 - band:y1, x0:x1] > 0.5).any(axis=0))
    fx0, fx1 = x0 + int(cols.min()), x0 + int(cols.max()) + 1
    fw = max(4, fx1 - fx0)
    cx, cy = (fx0 + fx1) / 2.0, y1 - 0.01 * fw
    # Drawn and blurred at a quarter of the size for a big canvas (it is smooth), then scaled up.
    q = 4 if min(h, w) >= 256 else 1
    sh, sw = -(-h // q), -(-w // q)
    out = np.zeros((sh, sw), np.float32)
    for half_w, half_h, sigma, level in ((0.56, 0.07, 0.035, 0.6), (0.45, 0.025, 0.012, 1.0)):
        layer = np.zeros((sh, sw), np.float32)
        cv2.ellipse(layer, (int(round(cx / q * 4)), int(round(cy / q * 4))),
                    (max(1, int(half_w * fw / q * 4)), max(1, int(half_h * fw / q * 4))), 0, 0, 360, level, -1,
                    cv2.LINE_AA, shift=2)
        out = np.maximum(out, cv2.GaussianBlur(layer, (0, 0), max(1.0, sigma * fw / q)))
    if q > 1:
        out = cv2.resize(out, (sw * q, sh * q), interpolation=cv2.INTER_LINEAR)[:h, :w]
    return np.clip(out * opacity, 0.0, 1.0)


def subject_box(alpha: np.ndarray, threshold: float = 0.05):
    """(x0, y0, x1, y1) around the visible subject (alpha above ``threshold``), or None."""
    x, y, w, h = cv2.boundingRect((alpha > threshold).view(np.uint8))
    return None if w == 0 or h == 0 else (x, y, x + w, y + h)


def canvas_size(box, aspect: tuple[int, int], fill: float, size: int | None) -> tuple[int, int]:
    """(width, height) of the canvas: ``aspect``, its longer side ``size``, or, without
    a size, just big enough for the subject at its own resolution to fill ``fill`` of it."""
    aw, ah = aspect
    if size is not None:
        return (size, max(1, round(size * ah / aw))) if aw >= ah else (max(1, round(size * aw / ah)), size)
    bw, bh = box[2] - box[0], box[3] - box[1]
    k = max(bw / aw, bh / ah) / fill
    return max(1, round(aw * k)), max(1, round(ah * k))


def _resize(x: np.ndarray, w: int, h: int) -> np.ndarray:
    if x.shape[1] == w and x.shape[0] == h:
        return x
    interp = cv2.INTER_AREA if w < x.shape[1] and h < x.shape[0] else cv2.INTER_CUBIC
    out = cv2.resize(x, (w, h), interpolation=interp)
    return out[..., None] if x.ndim == 3 and out.ndim == 2 else out


def resample_cutout(colour: np.ndarray, alpha: np.ndarray, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour ((H, W, 3), uint8 or float) and alpha scaled to (w, h), colour premultiplied
    while it is filtered, so nothing of what is transparent bleeds into the edge.
    Returns (colour float32 (h, w, 3) in [0, 255], alpha float32 (h, w))."""
    if colour.dtype == np.uint8:
        # Premultiplied exactly in 16 bits (colour x alpha in 0..255 each), filtered, then divided.
        a8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        pre = _resize(cv2.multiply(colour, cv2.merge([a8, a8, a8]), dtype=cv2.CV_16U), w, h).astype(np.float32)
        a2 = _resize(a8.astype(np.float32), w, h)
        out = pre / np.maximum(a2, 1e-3)[..., None]
        return np.clip(out, 0.0, 255.0, out=out), np.clip(a2 * np.float32(1.0 / 255.0), 0.0, 1.0)
    a = np.ascontiguousarray(alpha, np.float32)
    pre = _resize(colour * a[..., None], w, h)
    a2 = np.clip(_resize(a, w, h), 0.0, 1.0)
    out = pre / np.maximum(a2, 1e-6)[..., None]
    return np.clip(out, 0.0, 255.0, out=out), a2


def place_on_canvas(colour: np.ndarray, alpha: np.ndarray, aspect: tuple[int, int], fill: float,
                    size: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The subject scaled to fill ``fill`` of a canvas of ``aspect`` and centred on it:
    (colour float (h, w, 3), alpha (h, w)) at the canvas size; None when nothing is visible."""
    box = subject_box(alpha)
    if box is None:
        return None
    CW, CH = canvas_size(box, aspect, fill, size)
    bw, bh = box[2] - box[0], box[3] - box[1]
    s = fill * min(CW / bw, CH / bh)
    # The part of the picture the canvas shows (in picture pixels), cut to the picture.
    cx, cy = (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
    sx0, sy0 = cx - CW / (2 * s), cy - CH / (2 * s)
    H, W = alpha.shape
    ix0, iy0 = max(0, int(np.floor(sx0))), max(0, int(np.floor(sy0)))
    ix1, iy1 = min(W, int(np.ceil(sx0 + CW / s))), min(H, int(np.ceil(sy0 + CH / s)))
    dx0, dy0 = max(0, int(round((ix0 - sx0) * s))), max(0, int(round((iy0 - sy0) * s)))
    dx1, dy1 = min(CW, int(round((ix1 - sx0) * s))), min(CH, int(round((iy1 - sy0) * s)))
    dx1, dy1 = max(dx1, dx0 + 1), max(dy1, dy0 + 1)  # (within a pixel of the exact place)
    part_c, part_a = resample_cutout(np.ascontiguousarray(colour[iy0:iy1, ix0:ix1]),
                                     np.ascontiguousarray(alpha[iy0:iy1, ix0:ix1]), dx1 - dx0, dy1 - dy0)
    out_c = np.zeros((CH, CW, 3), np.float32)
    out_a = np.zeros((CH, CW), np.float32)
    out_c[dy0:dy1, dx0:dx1] = part_c
    out_a[dy0:dy1, dx0:dx1] = part_a
    return out_c, out_a


def fit_size(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` (BGR, or BGRA with straight alpha) scaled so its longer side is ``size``."""
    h, w = image.shape[:2]
    k = size / max(h, w)
    nw, nh = max(1, round(w * k)), max(1, round(h * k))
    if (nw, nh) == (w, h):
        return image
    if image.shape[2] == 3:
        return _resize(image, nw, nh)
    colour, a = resample_cutout(np.ascontiguousarray(image[..., :3]), image[..., 3].astype(np.float32) / 255.0, nw, nh)
    out = np.empty((nh, nw, 4), np.uint8)
    out[..., :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
    out[..., 3] = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def crop_box(visible: np.ndarray, margin: float, threshold: float = 0.02):
    """(x0, y0, x1, y1) around what is visible, with ``margin`` of its longer side around it."""
    box = subject_box(visible, threshold)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    m = max(2, int(round(margin * max(x1 - x0, y1 - y0))))
    h, w = visible.shape
    return max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)


def compose(bgr: np.ndarray, alpha: np.ndarray, options: Options,
            background: Background | None = None) -> np.ndarray:
    """The output picture: BGRA (straight alpha) or, with a background
    (livebg.backgrounds.open_background(spec, still=True)), BGR."""
    a = np.clip(alpha.astype(np.float32), 0.0, 1.0)
    flat = background is not None and background.kind != "none"
    from livebg.foreground import estimate_foreground

    plate = None
    fg = bgr
    if flat and background.wants_plate and options.canvas is None:
        # blur: the background layer, without the person in it
        est, plate = estimate_foreground(bgr, a, return_background=True, max_pixels=FOREGROUND_PIXELS)
        if options.decontaminate:
            fg = est
    elif options.decontaminate:
        fg = estimate_foreground(bgr, a, max_pixels=FOREGROUND_PIXELS)
    if fg is not bgr:
        # where nothing shows through, the photo's own pixels, exactly
        np.copyto(fg, bgr, where=(a >= 1.0 - 0.5 / 255.0)[..., None])
    frame = bgr
    if options.canvas is not None:
        placed = place_on_canvas(fg, a, options.canvas, options.fill, options.size)
        if placed is not None:
            fg, a = placed
            frame = np.zeros(a.shape + (3,), np.uint8)  # what the background is rendered to fit
    shadow = None
    if options.shadow:
        shadow = contact_shadow(a) if options.shadow_style == "contact" else shadow_alpha(a)
    a3 = a[..., None]
    if flat:
        rendered = background.render(frame, plate)
        # On a canvas the subject has been placed already: its colours there are the picture.
        subject = bgr if frame is bgr else np.clip(fg, 0, 255).astype(np.uint8)
        colour = _look(fg.astype(np.float32), subject, a, rendered, options)
        bg = rendered.astype(np.float32)
        if shadow is not None:
            bg *= 1.0 - shadow[..., None]
        out = colour * a3 + bg * (1.0 - a3)
        visible = a if shadow is None else a + (1.0 - a) * shadow
        result = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    else:
        result = np.empty(a.shape + (4,), np.uint8)
        if shadow is None:
            visible = a
            if fg.dtype == np.uint8:  # the colours as they are (no float round trip: 12 MP pictures)
                result[..., :3] = fg
            else:
                result[..., :3] = np.clip(fg + 0.5, 0, 255).astype(np.uint8)
        else:
            # The shadow is black at its own opacity; the colour stays un-premultiplied.
            visible = a + (1.0 - a) * shadow
            colour = fg.astype(np.float32) * (a / np.maximum(visible, 1e-6))[..., None]
            result[..., :3] = np.clip(colour + 0.5, 0, 255).astype(np.uint8)
        result[..., 3] = np.clip(visible * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if options.crop and options.canvas is None:
        box = crop_box(visible, options.margin)
        if box is not None:
            x0, y0, x1, y1 = box
            result = np.ascontiguousarray(result[y0:y1, x0:x1])
    if options.size is not None and (options.canvas is None or frame is bgr):
        result = fit_size(result, options.size)
    return result


def _look(colour: np.ndarray, bgr: np.ndarray, alpha: np.ndarray, bg: np.ndarray, options: Options) -> np.ndarray:
    """The subject's colour with colour match and light wrap, as the live compositing kernel applies
    them (livebg.compositing.composite): the gain first, then the wrap moves the local average
    colour toward the light."""
    from livebg.look import background_light, match_gain, wrap_weight

    if options.light_wrap <= 0.0 and options.color_match <= 0.0:
        return colour
    h, w = alpha.shape
    qh, qw = max(1, h // 4), max(1, w // 4)  # smooth: worked out at a quarter of the size, as live
    light, mean = background_light(bg, qh, qw, need_light=options.light_wrap > 0.0)
    if options.color_match > 0.0:
        colour = colour * match_gain(bgr, alpha, mean, options.color_match)
    if options.light_wrap > 0.0:
        from livebg.compositing import local_average

        m = wrap_weight(alpha, options.light_wrap, (qh, qw))[..., None]
        lit = (light - local_average(colour, qh, qw)) * m
        colour = colour + cv2.resize(lit, (w, h), interpolation=cv2.INTER_LINEAR)
    return colour


def cutout(bgr: np.ndarray, matter, options: Options | None = None,
           background: Background | None = None) -> np.ndarray:
    """One picture in, the output picture out (BGRA, or BGR with a background)."""
    options = options or Options()
    return compose(bgr, matter.alpha(bgr), options, background)
