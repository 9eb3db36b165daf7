"""Auto-frame: a virtual camera operator that keeps the person centred and at a steady size.

A crop of the composited output, scaled back to the output's size, that
follows the person smoothly. It reads only the matte livebg already has:
the person's centre (the matte's centroid), the top of their head and
their width. The framing it aims for:

- the person's centre in the middle, across;
- head room like a framed portrait: the top of the head HEADROOM of the
  picture's height below its top edge (where the zoom allows it);
- a steady size: the person about SIZE of the width wide, zooming in on
  someone further away, out on someone leaning in; and in any case as
  far in as it takes to bring an off-centre person to the middle.

The zoom stops at MAX_ZOOM (1.5x): the crop is then 2/3 of the picture
each way, 853x480 pixels of a 720p camera shown at 1280x720, the detail
of a 480p picture: bench/studio.py measures how much detail each zoom keeps.
(livebg takes the camera at the output's size, so there is no spare
resolution to crop into.)

How it moves, so that it never jitters and never adds motion:

- dead zones: where the framing is heading changes only when the person
  has moved more than DEAD_ZONE of the width (DEAD_ZONE_Y of the height) from where it
  would put them, or the zoom it would choose by more than
  ZOOM_DEAD_ZONE; then it heads all the way there;
- the person's position and size are followed smoothly (MEASURE_TAU), so
  a sway from side to side is not chased;
- first-order smoothing (time constants PAN_TAU, ZOOM_TAU, in seconds of
  the frames' own timestamps): a first-order follower moves the frame
  the same way as the person and never overshoots, so the person moves
  less in the frame than in the camera's picture, never more; and a
  least speed (MIN_PAN_SPEED, MIN_ZOOM_SPEED) ends each move instead of
  letting it creep on;
- the crop is placed to a fraction of a pixel (bilinear), so a slow pan
  does not step;
- no person in the matte (or no matte yet): the framing holds where it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MAX_ZOOM = 1.5
SIZE = 0.45          # the person's width (the middle 90% of the matte's columns) as a share of the picture's
HEADROOM = 0.10      # the top of the head below the picture's top edge, as a share of its height
DEAD_ZONE = 0.03     # across, in the output, as a share of its width
DEAD_ZONE_Y = 0.06   # up and down, as a share of its height: head room matters less than centring
ZOOM_DEAD_ZONE = 0.08
MEASURE_TAU = 1.2    # seconds: the person's position and size are followed this smoothly
PAN_TAU = 0.3
ZOOM_TAU = 0.4
MIN_PAN_SPEED = 0.01  # the least a move goes, per second: output widths, and the zoom's logarithm
MIN_ZOOM_SPEED = 0.03
MIN_PERSON = 0.01    # the matte's mass, as a share of its area, below which there is no person


@dataclass(frozen=True)
class Window:
    """The crop: its centre (cx, cy) in the frame's pixels and the zoom (>= 1)."""

    cx: float
    cy: float
    zoom: float

    def matrix(self, width: int, height: int) -> np.ndarray:
        """Output pixel -> source pixel (for cv2.warpAffine with WARP_INVERSE_MAP)."""
        s = 1.0 / self.zoom
        # Pixel centres: output x maps to cx + (x + 0.5 - W / 2) / zoom - 0.5.
        return np.float32([[s, 0.0, self.cx - 0.5 - (width / 2 - 0.5) * s],
                           [0.0, s, self.cy - 0.5 - (height / 2 - 0.5) * s]])

    def is_full(self, width: int, height: int) -> bool:
        return (self.zoom <= 1.0 + 1e-4 and abs(self.cx - width / 2) < 0.01 and abs(self.cy - height / 2) < 0.01)

    def to_output(self, x: float, y: float, width: int, height: int) -> tuple[float, float]:
        """Where the frame's point (x, y) lands in the output."""
        return (x - self.cx) * self.zoom + width / 2, (y - self.cy) * self.zoom + height / 2


@dataclass(frozen=True)
class Person:
    """What the matte says, in the frame's pixels."""

    cx: float
    cy: float
    top: float
    width: float


def measure(alpha: np.ndarray, width: int, height: int) -> Person | None:
    """The person in the matte (any size with the frame's aspect), or None when there is none."""
    a = np.asarray(alpha, dtype=np.float32)
    h, w = a.shape
    cols = a.sum(axis=0)
    mass = float(cols.sum())
    if mass < MIN_PERSON * h * w:
        return None
    rows = a.sum(axis=1)
    sx, sy = width / w, height / h
    cx = float((cols * (np.arange(w) + 0.5)).sum() / mass) * sx
    cy = float((rows * (np.arange(h) + 0.5)).sum() / mass) * sy
    # The top of the head: the first row that holds a tenth of the widest row's mass.
    top = int(np.argmax(rows >= 0.1 * rows.max())) * sy
    cum = np.cumsum(cols) / mass
    left, right = np.searchsorted(cum, 0.05), np.searchsorted(cum, 0.95)
    return Person(cx, cy, float(top), float(max(1, right - left + 1) * sx))


def target(person: Person, width: int, height: int, max_zoom: float = MAX_ZOOM) -> Window:
    """The framing aimed at for ``person`` (before smoothing)."""
    zoom = SIZE * width / max(person.width, 1.0)
    # As far in as it takes to bring the centre to the middle.
    off = min(person.cx, width - person.cx)
    if off > 0:
        zoom = max(zoom, width / (2.0 * off))
    zoom = float(min(max(zoom, 1.0), max_zoom))
    cy = person.top - HEADROOM * height / zoom + height / (2.0 * zoom)
    return clamp(Window(person.cx, cy, zoom), width, height)


def clamp(win: Window, width: int, height: int) -> Window:
    """The window moved (not zoomed) to lie inside the frame."""
    hw, hh = width / (2.0 * win.zoom), height / (2.0 * win.zoom)
    return Window(min(max(win.cx, hw), width - hw), min(max(win.cy, hh), height - hh), win.zoom)


def _step(e: float, k: float, least: float) -> float:
    """How far to move toward a target ``e`` away: the share ``k`` of it (a
    first-order follower), but at least ``least`` and never past it, so a
    move ends rather than creeping on (and the framing is then quite still)."""
    step = e * k
    if abs(step) < least:
        step = math.copysign(min(abs(e), least), e)
    return step


class AutoFramer:
    """Follows the person in each frame's matte; crops and scales the output.

    ``update(alpha, t)`` moves the framing (t: the frame's time in seconds);
    ``apply(image)`` crops ``image`` to it at the same size. One thread.
    """

    def __init__(self, width: int, height: int, max_zoom: float = MAX_ZOOM):
        self.width, self.height = width, height
        self.max_zoom = max_zoom
        self.window = Window(width / 2, height / 2, 1.0)
        self._aim: Window | None = None   # where the framing is heading (moved only past the dead zones)
        self._seen: Person | None = None  # the person, smoothed over time
        self._t: float | None = None
        self._forget = False

    def reset(self) -> None:
        """A new scene: the next frame starts from the full picture (from any thread)."""
        self._forget = True

    def resize(self, width: int, height: int) -> None:
        """Frames of another size from now on (a new scene)."""
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self._forget = True

    def update(self, alpha: np.ndarray | None, t: float) -> Window:
        W, H = self.width, self.height
        if self._forget:
            self._forget = False
            self.window = Window(W / 2, H / 2, 1.0)
            self._aim, self._seen, self._t = None, None, None
        dt = 1.0 / 30 if self._t is None else min(max(t - self._t, 0.0), 1.0)
        self._t = t
        person = measure(alpha, W, H) if alpha is not None else None
        if person is not None:
            seen = self._seen
            if seen is None:
                self._seen = person
            else:  # what the person does on average over the last second, not each sway
                k = 1.0 - math.exp(-dt / MEASURE_TAU)
                self._seen = Person(*(a + (b - a) * k for a, b in zip(
                    (seen.cx, seen.cy, seen.top, seen.width), (person.cx, person.cy, person.top, person.width))))
            self._retarget(target(self._seen, W, H, self.max_zoom))
        if self._aim is None:
            return self.window
        aim, win = self._aim, self.window
        kz = 1.0 - math.exp(-dt / ZOOM_TAU)
        kp = 1.0 - math.exp(-dt / PAN_TAU)
        # In the output's terms: pixels over its width, and the zoom's logarithm.
        pan_min = MIN_PAN_SPEED * dt / win.zoom
        zoom = win.zoom * math.exp(_step(math.log(aim.zoom) - math.log(win.zoom), kz, MIN_ZOOM_SPEED * dt))
        self.window = clamp(Window(win.cx + W * _step((aim.cx - win.cx) / W, kp, pan_min),
                                   win.cy + W * _step((aim.cy - win.cy) / W, kp, pan_min),
                                   min(max(zoom, 1.0), self.max_zoom)), W, H)
        return self.window

    def _retarget(self, goal: Window) -> None:
        """Move the aim to ``goal`` where it is past the dead zones (each of the
        three on its own): small movements of the person leave the framing still."""
        aim = self._aim
        if aim is None:
            self._aim = goal
            return
        # In the output's pixels (the zoom magnifies a move), as shares of its size.
        cx = goal.cx if abs(goal.cx - aim.cx) * aim.zoom > DEAD_ZONE * self.width else aim.cx
        cy = goal.cy if abs(goal.cy - aim.cy) * aim.zoom > DEAD_ZONE_Y * self.height else aim.cy
        zoom = goal.zoom if abs(math.log(goal.zoom / aim.zoom)) > ZOOM_DEAD_ZONE else aim.zoom
        self._aim = Window(cx, cy, zoom)

    def apply(self, image: np.ndarray, window: Window | None = None) -> np.ndarray:
        """``image`` (H, W[, C]) cropped to ``window`` (default: the current one) and
        scaled back to its size; the image itself when the window is the whole picture."""
        win = window or self.window
        h, w = image.shape[:2]
        if win.is_full(w, h):
            return image
        if (w, h) != (self.width, self.height):  # a window for another size: scaled to this one
            sx, sy = w / self.width, h / self.height
            win = Window(win.cx * sx, win.cy * sy, win.zoom)
        return cv2.warpAffine(image, win.matrix(w, h), (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def __call__(self, image: np.ndarray, alpha: np.ndarray | None, t: float) -> np.ndarray:
        h, w = image.shape[:2]
        self.resize(w, h)
        self.update(alpha, t)
        return self.apply(image)
