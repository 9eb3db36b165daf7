"""``--subject auto|person|object``: which pipeline cuts out each picture, and why.

* person: :class:`~livebg.stills.matter.StillMatter`, the person pipeline
  (two passes, views, the matting solve);
* object: :class:`~livebg.stills.general.ObjectMatter`, the general model
  (IMG.LY's IS-Net) for any subject: products, animals, things;
* auto: per picture, from what the light person model (MediaPipe's selfie
  network, a few milliseconds) says about the whole picture. A person
  pipeline is chosen only when that model is sure of someone who stands
  out from a background: it claims between 1% and 80% of the picture, its
  mean confidence there is high, few of its pixels are in doubt, and the
  core of what it claims (its inside, away from the outline) is solid. On
  a product it claims odd patches with little confidence, or, for a
  skin-coloured one, the right shape but a patchy inside; on a close-up
  of an animal it claims nearly everything; on a rocket or a landscape,
  nothing. Measured on the 15 evaluation portraits (all "person", each
  rule with a margin) and on object and animal photos
  (bench/quality_stills.py, bench/object_grid.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from livebg.errors import LivebgError

SUBJECTS = ("auto", "person", "object")

#: The person model must claim (alpha > 0.5) at least this share of the picture ...
MIN_SHARE = 0.01
#: ... and at most this one (more is a close-up of something else, or a wall it takes for skin).
MAX_SHARE = 0.80
#: Its mean alpha over what it claims must be at least this (portraits: 0.94 to 1.00; a cup: 0.86) ...
MIN_CONFIDENCE = 0.92
#: ... and its doubtful pixels (alpha between 0.2 and 0.8) at most this share of what it claims
#: (portraits: 2% to 29%; a cup: 74%).
MAX_DOUBT = 0.40
#: Inside what it claims (eroded by CORE_EROSION of the mask's longer side), at most this share
#: below 0.9 (portraits: 0% to 1.5%, an astronaut 2.2%; a red mug it takes for skin 9.9%, a cat 12.5%).
MAX_CORE_DOUBT = 0.05
CORE_EROSION = 0.06


@dataclass(frozen=True)
class Choice:
    subject: str  # "person" or "object"
    why: str


def decide(person_alpha: np.ndarray) -> Choice:
    """Person or object, from the light person model's alpha for the whole picture (any size)."""
    p = np.asarray(person_alpha, np.float32)
    claimed = p > 0.5
    share = float(claimed.mean())
    if share < MIN_SHARE:
        return Choice("object", "the person model finds no one")
    if share > MAX_SHARE:
        return Choice("object", f"the person model claims {share:.0%} of the picture: no person stands out")
    confidence = float(p[claimed].mean())
    doubt = float(((p > 0.2) & (p < 0.8)).sum()) / float(claimed.sum())
    if confidence < MIN_CONFIDENCE or doubt > MAX_DOUBT:
        return Choice("object", f"the person model is unsure (confidence {confidence:.2f}; doubtful pixels "
                                f"{doubt:.0%} of what it claims)")
    k = max(3, int(round(CORE_EROSION * max(p.shape))) | 1)
    core = cv2.erode(claimed.view(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))).view(bool)
    patchy = float((p[core] < 0.9).mean()) if core.any() else 1.0
    if patchy > MAX_CORE_DOUBT:
        return Choice("object", f"the person model's find is patchy inside ({patchy:.0%} of its core "
                                "below 0.9): not a person")
    return Choice("person", f"the person model is sure of someone ({share:.0%} of the picture, "
                            f"confidence {confidence:.2f})")


class SubjectCutter:
    """Cuts out pictures with the pipeline ``subject`` names (or, for auto, decides per picture).

    ``model`` is the person pipeline's model (as ``--model``), or, for
    subject "object", the general model ("auto": imgly-isnet). Models open when first needed:
    for auto, the general model only once a picture needs it; if it cannot
    be had then (offline, a failed download), such pictures get the person
    pipeline and a note saying why. Thread-safe.
    """

    def __init__(self, subject: str = "auto", model: str = "auto", provider: str = "auto", offline: bool = False):
        if subject not in SUBJECTS:
            raise ValueError(f"subject must be one of {', '.join(SUBJECTS)}, got {subject!r}")
        self.subject = subject
        self._args = (provider, offline)
        self._model = model or "auto"
        self._lock = threading.Lock()
        self._person = None
        self._object = None
        self._object_error: str | None = None
        self._detector = None
        self.why = ""
        if subject in ("person", "auto"):
            self._person = self._open_person()
            self.why = f"person: {self._person.why}"
        if subject == "object":
            self._object = self._open_object(self._model)
            self.why = f"object: {self._object.why}"
        if subject == "auto":
            self._detector = self._open_detector()
            self.why += f"; object: {self._object_label()} (opened when a picture needs it)"

    # ------------------------------------------------------------ models
    def _open_person(self):
        from livebg.stills.matter import StillMatter

        return StillMatter(self._model, *self._args)

    def _open_object(self, model: str = "auto"):
        from livebg.stills.general import OBJECT_MODEL, ObjectMatter

        return ObjectMatter(OBJECT_MODEL if model == "auto" else model, *self._args)

    @staticmethod
    def _object_label() -> str:
        from livebg.stills.general import OBJECT_MODEL

        return OBJECT_MODEL

    def _open_detector(self):
        """The light person model auto decides with: the person pipeline's own model when
        it is the selfie network, else that network opened beside it."""
        from livebg.matting import LIGHT_MODELS, open_named

        if self._person.name in LIGHT_MODELS:
            return self._person.model_alpha
        reasons = []
        for name in LIGHT_MODELS:
            try:
                m = open_named(name, "auto", self._args[1])
            except LivebgError as e:
                reasons.append(f"{name}: {e}")
                continue
            lock = threading.Lock()

            def run(bgr, m=m, lock=lock):
                with lock:
                    return m.predict(np.ascontiguousarray(bgr)).alpha

            self._detector_matter = m
            return run
        raise LivebgError("--subject auto needs the light person model to decide: " + "; ".join(reasons))

    def object_matter(self):
        """The object pipeline, opened on first use; None (with the reason kept) if it cannot be."""
        with self._lock:
            if self._object is None and self._object_error is None:
                try:
                    self._object = self._open_object()
                except LivebgError as e:
                    self._object_error = str(e)
            return self._object

    # ------------------------------------------------------------ cutting
    def alpha(self, bgr: np.ndarray) -> tuple[np.ndarray, Choice, str]:
        """(alpha float32 (H, W), the choice, a note for the user or "")."""
        if self.subject == "person":
            return self._person.alpha(bgr), Choice("person", "as asked"), ""
        if self.subject == "object":
            return self._object.alpha(bgr), Choice("object", "as asked"), ""
        choice = decide(self._detector(bgr))
        if choice.subject == "person":
            return self._person.alpha(bgr), choice, ""
        obj = self.object_matter()
        if obj is None:
            note = f"the general model is not available ({self._object_error}); used the person pipeline"
            return self._person.alpha(bgr), Choice("person", choice.why + "; but " + note), note
        return obj.alpha(bgr), choice, ""

    def close(self) -> None:
        for m in (self._person, self._object, getattr(self, "_detector_matter", None)):
            if m is not None:
                m.close()
