"""From a model's raw output to the matte that is composited.

- :mod:`.crop`: the refiner for stateless models: the model on a tracked
  crop (:mod:`.tracking`), the edge refined (:mod:`.edges`, with the guided
  filter of :mod:`.guided` and its numba kernel :mod:`.guided_kernel`),
  smoothed over time (:mod:`.smoothing`).
- :mod:`.recurrent`: the refiner for recurrent models (Robust Video
  Matting): the one owner of the model's memory.
- :mod:`.carry`: a matte moved along the motion to the frame it is laid
  over (live, where the model mattes every second or third frame).
- :mod:`.base`: the :class:`Matte` a refiner returns and the interface all
  refiners share.

:func:`for_matter` picks the refiner, and its settings, for a model's
declared capabilities.
"""

from __future__ import annotations

from livebg.matting.base import Matter
from livebg.refine.base import Matte, Refiner
from livebg.refine.crop import CropRefiner
from livebg.refine.recurrent import RecurrentRefiner
from livebg.refine.tracking import PersonTracker

__all__ = ["Matte", "Refiner", "CropRefiner", "RecurrentRefiner", "for_matter", "warmup"]


def for_matter(matter: Matter, smoothing: float = 0.6, refine: bool = True) -> Refiner:
    """livebg's pipeline for this model (or the bare model, smoothed, if ``refine`` is off).
    The refiner owns ``matter`` from here on (closes it)."""
    if matter.caps.recurrent:
        return RecurrentRefiner(matter)
    if not refine:
        return CropRefiner(matter, crop=False, guided=False, sharpen=1.0, post_sharpen=1.0, smoothing=smoothing,
                           flip=False)
    if matter.caps.soft_alpha:
        # MODNet's quality could not be measured here (no weights), so it
        # keeps the roomier crop it was written with and no speck removal.
        return CropRefiner(matter, work_height=540, guided=False, sharpen=1.0, post_sharpen=1.0,
                           smoothing=smoothing, flip=False, tracker=PersonTracker(margin=0.12, slack=0.08),
                           min_speck=0.0)
    return CropRefiner(matter, smoothing=smoothing)


def warmup() -> None:
    """Compile (or load from the cache) the refinement kernels before the first frame."""
    from livebg.refine import decontaminate, edges

    edges.warmup()
    decontaminate.warmup()
