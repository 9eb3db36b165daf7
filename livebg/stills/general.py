"""Any subject, not only people: the general model (IMG.LY's IS-Net) for still pictures."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from livebg.refine.edges import drop_small_regions
from livebg.refine.guided import guided_upsample
from livebg.stills.matter import _resize_to
from livebg.stills.solver import matting_refine

#: The manifest name of the general-subject model.
OBJECT_MODEL = "imgly-isnet"


class ObjectMatter:
    """The general model's alpha for a whole picture, brought to full size along the picture's edges.

    1. the model sees the whole picture squeezed to its 1024x1024 input;
    2. its alpha is scaled to the working size (longer side ``WORK_SIZE``,
       the picture's aspect);
    3. specks far smaller than the subject are dropped (``drop_specks``:
       regions under 2% of the largest, joined where alpha > 0.1);
    4. optionally (``solve``) the edges are re-solved as a matting problem on
       the colour picture, as the person pipeline does;
    5. guided upsampling (``upsample="guided"``) brings it to the full size
       along the full-size picture's edges, else it is scaled bilinearly.

    The defaults are measured (bench/object_variants.py, SAD/MSE/Grad/Conn
    on the 15 portraits and on objects drawn with a known alpha): guided
    upsampling lowers Grad by a fifth on the portraits and by more than
    half on the objects, for 0.1 s; dropping specks helps a little on
    both. The matting solve lowers SAD and Conn on both and MSE on the
    objects, but raises Grad on the objects by half and MSE on the
    portraits, for a second of CPU a picture (a fifth of the 12-megapixel
    budget): off by default. The model runs under a lock, so one
    ObjectMatter can serve several threads.
    """

    WORK_SIZE = 1024

    def __init__(self, model: str = OBJECT_MODEL, provider: str = "auto", offline: bool = False, *,
                 upsample: str = "guided", solve: bool = False, drop_specks: bool = True):
        from livebg.matting import open_named

        self._matter = open_named(model, provider, offline)
        self.name = self._matter.name
        self.why = f"{self._matter.name} on {self._matter.runtime}"
        self.upsample = upsample
        self.solve = solve
        self.drop_specks = drop_specks
        self._lock = threading.Lock()

    def model_alpha(self, bgr: np.ndarray) -> np.ndarray:
        """The model's own output for the whole picture (1024x1024, squeezed)."""
        with self._lock:
            return self._matter.predict(np.ascontiguousarray(bgr)).alpha

    def alpha(self, bgr: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        """The alpha for the whole picture: float32 (H, W) in [0, 1]. ``raw``: the
        model's output for this picture, if already at hand."""
        H, W = bgr.shape[:2]
        scale = min(1.0, self.WORK_SIZE / max(H, W))
        w, h = max(1, round(W * scale)), max(1, round(H * scale))
        raw = self.model_alpha(bgr) if raw is None else raw
        coarse = np.clip(_resize_to(np.ascontiguousarray(raw), w, h), 0.0, 1.0)
        if self.drop_specks and coarse.max() >= 0.5:
            # Regions joined where the alpha is above 0.1, not 0.5: a plant's leaves hang on stems
            # thinner than a pixel at the working size, and are not specks (bench/object_variants.py).
            coarse = drop_small_regions(coarse, 0.02, level=0.1, halo=0.01)
        small = None
        if self.solve or (self.upsample == "guided" and scale < 1.0):
            small = _resize_to(bgr, w, h)
        if self.solve and coarse.max() >= 0.5:
            coarse = matting_refine(small, coarse, band=0.006)
        if scale == 1.0:
            return coarse.astype(np.float32, copy=False)
        if self.upsample == "guided":
            return guided_upsample(coarse, small, bgr, kernel=True)
        return np.clip(cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)

    def close(self) -> None:
        self._matter.close()
