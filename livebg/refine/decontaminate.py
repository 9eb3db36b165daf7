"""The subject's own colours at the edge, free of the old room (live and files).

Where the alpha is fractional (hair, a blurred edge), the camera saw a mix
``I = a F + (1 - a) B`` of the subject's colour F and the room's B; laid
over a new background as it is, the pixel keeps a fringe of the old room.
Here B is estimated from the room just beside the subject (a normalised
blur of the frame, weighted towards where the alpha says room), F from the
subject just inside, and the mix is undone: ``F = (I - (1 - a) B) / a``.
Where the alpha is small that division is unreliable, and the colour
matters little: there the estimate leans on the subject's local colour.

Cheap on purpose (blurs of a quarter-size copy, then one pass at the
matte's size: about a millisecond at 640x360): it runs on every frame. The
compositor adds the correction, at the matte's resolution, to the full-size
frame's colours (livebg.compositing.composite's ``fg_delta``), so the
picture keeps its full detail. (Robust Video Matting's own foreground
output was measured too: it removed less of a coloured room's fringe; see
bench/quality.py's fringe figures.)
"""

from __future__ import annotations

import cv2
import numpy as np


def _local_mean(x: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    num = cv2.GaussianBlur(x * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    return num / np.maximum(den, np.float32(1e-4))[..., None]


def foreground_delta(small: np.ndarray, alpha: np.ndarray, scale: int = 4, sigma: float = 4.0,
                     low: float = 0.05, ramp: float = 0.25) -> np.ndarray:
    """The correction F - I at the matte's size: float32 (h, w, 3), 0 where the
    alpha is 0 or 1.

    small: the frame at the matte's size, BGR uint8 (h, w, 3); alpha: float32
    (h, w) in [0, 1]. The room's and the subject's local colours are found on
    a ``scale``-times smaller copy with a Gaussian of ``sigma`` (its pixels);
    below ``low`` + ``ramp`` the estimate blends towards the subject's colour.
    """
    h, w = alpha.shape
    I = small.astype(np.float32)
    sh, sw = max(1, h // scale), max(1, w // scale)
    Is = cv2.resize(I, (sw, sh), interpolation=cv2.INTER_AREA)
    As = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    room = (1.0 - As) ** 4        # where the room shows (weights, not a cut)
    subject = As ** 4
    B = cv2.resize(_local_mean(Is, room, sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    Fl = cv2.resize(_local_mean(Is, subject, sigma), (w, h), interpolation=cv2.INTER_LINEAR)
    a = alpha[..., None]
    F = (I - (1.0 - a) * B) / np.maximum(a, np.float32(1e-3))
    t = np.clip((a - low) / ramp, 0.0, 1.0)
    F = t * F + (1.0 - t) * Fl
    np.clip(F, 0.0, 255.0, out=F)
    delta = F - I
    # Only the fractional edge: solid subject and plain room keep the frame's colours exactly.
    band = ((alpha > 1.0 / 255.0) & (alpha < 254.0 / 255.0))[..., None]
    return np.where(band, delta, np.float32(0.0)).astype(np.float32, copy=False)
