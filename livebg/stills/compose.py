"""Composing the output picture: a cutout with straight alpha, or the subject on a
new background; colours decontaminated, an optional shadow, an optional crop."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livebg.backgrounds import Background
from livebg.stills.matter import StillMatter, person_box


@dataclass
class Options:
    """What to write. background: None for RGBA, else a background spec."""

    background: str | None = None
    shadow: bool = False
    crop: bool = False
    decontaminate: bool = True
    margin: float = 0.05
    light_wrap: float = 0.0    # on a background: its light on the subject's edge (livebg.look), 0 to 1
    color_match: float = 0.0   # on a background: the subject's colours moved this far toward its colours


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


def compose(bgr: np.ndarray, alpha: np.ndarray, options: Options,
            background: Background | None = None) -> np.ndarray:
    """The output picture: BGRA (straight alpha) or, with a background
    (livebg.backgrounds.open_background(spec, still=True)), BGR."""
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
        rendered = background.render(bgr, plate)
        colour = _look(fg.astype(np.float32), bgr, a, rendered, options)
        bg = rendered.astype(np.float32)
        if shadow is not None:
            bg *= 1.0 - shadow[..., None]
        out = colour * a3 + bg * (1.0 - a3)
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


def cutout(bgr: np.ndarray, matter: StillMatter, options: Options | None = None,
           background: Background | None = None) -> np.ndarray:
    """One picture in, the output picture out (BGRA, or BGR with a background)."""
    options = options or Options()
    return compose(bgr, matter.alpha(bgr), options, background)
