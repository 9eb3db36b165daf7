"""Matting models: from a name or a file to a running matter, including ``--model auto``.

The runners (:mod:`livebg.matting.selfie`, ``mediapipe_selfie``, ``modnet``)
are imported only when a model of their kind is opened, so importing this
package is cheap.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from livebg.errors import LivebgError, ModelError
from livebg.matting.base import KINDS, Capabilities, Matter, Prediction, check_frame, runner

__all__ = ["KINDS", "Capabilities", "Matter", "Prediction", "check_frame", "open_named", "open_matter",
           "model_choices", "check_model_name", "time_matter", "fallback_opener", "LIGHT_MODELS"]

# The light default: MediaPipe's square selfie model, first as its ONNX export
# (the same network, about two thirds of the CPU per call through ONNX Runtime,
# and no MediaPipe import at start-up), else the .tflite through MediaPipe
# (when the ONNX file is neither here nor downloadable).
LIGHT_MODELS = ("mediapipe-selfie-onnx", "mediapipe-selfie")


def _build(kind: str, path: Path, name: str, provider: str, spec=None) -> Matter:
    try:
        cls = runner(kind)
    except KeyError:
        raise ModelError(f"model kind '{kind}' is not supported (supported: {', '.join(sorted(KINDS))})") from None
    extra = {}
    if spec is not None and spec.ref_size:
        extra["ref_size"] = spec.ref_size
    if spec is not None and spec.input_size:
        extra["input_size"] = tuple(spec.input_size)
    return cls(path, name=name, provider=provider, **extra)


#: The ONNX kinds a model file livebg does not know may be, tried in order.
_ONNX_FILE_KINDS = ("onnx-modnet", "onnx-selfie")


def _from_file(path: Path, name: str, provider: str) -> Matter:
    """A model file the manifest does not know: pick the kind from its contents."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _build("mediapipe-tflite", path, name, provider)
    if suffix == ".onnx":
        for kind in _ONNX_FILE_KINDS:
            try:
                return _build(kind, path, name, provider)
            except ModelError as e:
                if "expected interface" not in str(e):
                    raise
        raise ModelError(
            f"{path} is not a model livebg can run: it has neither MODNet's interface "
            f"(input 'input', output 'output') nor the selfie model's (input 'pixel_values', output 'alphas')"
        )
    raise ModelError(f"{path}: unknown model file type '{suffix}' (expected .onnx or .tflite)")


def open_named(model: str, provider: str = "auto", offline: bool = False) -> Matter:
    """Open a model by manifest name or file path (not 'auto'). Raises ModelError.

    The matter's ``name`` is the manifest name, or the file path as given:
    what opens it again (the tray's model menu, a second instance)."""
    from livebg import models

    spec, path = models.resolve(model, offline=offline)
    if spec is None:
        # Messages name the file as the user typed it, not its resolved target.
        given = Path(model).expanduser()
        return _from_file(given if given.is_file() else Path(path), model, provider)
    return _build(spec.kind, Path(path), spec.name, provider, spec)


def fallback_opener(offline: bool = False):
    """What livebg.faults.MattingGuard opens a model of its fallback chain with:
    by name, on the default provider (the fallbacks run through MediaPipe or on the CPU)."""

    def open_(name: str) -> Matter:
        return open_named(name, "auto", offline)

    return open_


def model_choices() -> list[str]:
    """What ``--model`` accepts by name: 'auto' and every manifest model (or a file path)."""
    from livebg import models

    return ["auto", *models.load_manifest()]


def check_model_name(model: str) -> None:
    """Raise ConfigError unless ``model`` is 'auto', a manifest name or looks like
    a model file (whose existence is checked when it is opened). The names come
    from the manifest, so the command line and the registry cannot drift."""
    from livebg import models
    from livebg.errors import ConfigError

    if model == "auto" or models.looks_like_path(model) or model in models.load_manifest():
        return
    raise ConfigError(models.unknown_model_message(model, ["auto", *models.load_manifest()]))


def time_matter(matter: Matter, height: int, width: int, runs: int = 5) -> float:
    """Median milliseconds per frame at height x width, after one warm-up run."""
    import numpy as np

    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    matter.predict(frame)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        matter.predict(frame)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _modnet_if_fast(provider: str, fps: float, frame_size: tuple[int, int], budget_check: bool) -> tuple[Matter, str]:
    from livebg import models

    spec = models.get_spec("modnet")
    path = models.find_present(spec)
    if path is None:
        raise ModelError("MODNet is not present (get it with: livebg models fetch modnet)")
    modnet = _build(spec.kind, Path(path), spec.name, provider, spec)
    if not budget_check:
        return modnet, f"modnet (present) at its reference size, on {modnet.runtime}"
    budget = 1000.0 / fps
    ms = time_matter(modnet, *frame_size)
    if ms <= budget * 0.8:
        return modnet, (f"modnet: {ms:.0f} ms per frame on {modnet.runtime}, "
                        f"within the {budget:.0f} ms frame budget at {fps:g} fps")
    modnet.close()
    raise ModelError(f"MODNet is present but takes {ms:.0f} ms per frame on {modnet.runtime}, "
                     f"over the {budget:.0f} ms frame budget at {fps:g} fps")


def _rvm_for(purpose: str, provider: str, offline: bool, fps: float, frame_size: tuple[int, int]) -> tuple[Matter, str]:
    """RVM, for files as it is; live only at a size where it keeps up: each
    matte within 80% of two frames' time (the output never waits; mattes are
    carried to the frames in between). The largest such size of its ladder
    is found by bisection (the cost grows with the size): the smallest size
    first, then at most three more, so the start stays short."""
    m = open_named("rvm", provider, offline)
    if purpose != "live":
        return m, f"rvm on {m.runtime}"
    limit = 0.8 * 2000.0 / fps
    timed: dict[int, float] = {}

    def fits(i: int) -> bool:
        m.side = m.ladder[i]
        timed[i] = time_matter(m, *frame_size, runs=3)
        return timed[i] <= limit

    try:
        last = len(m.ladder) - 1
        if not fits(last):
            raise ModelError(f"RVM takes {timed[last]:.0f} ms a matte even at {m.ladder[last]} px on {m.runtime}, "
                             f"over the {limit:.0f} ms it may take at {fps:g} fps (80% of two frames' time)")
        lo, hi = 0, last  # hi fits; find the smallest index (largest size) that does
        while lo < hi:
            mid = (lo + hi) // 2
            if fits(mid):
                hi = mid
            else:
                lo = mid + 1
    except BaseException:  # too slow even at its smallest size, or a failure: the session is let go
        m.close()
        raise
    m.side = m.ladder[hi]
    return m, (f"rvm at {m.side} px: {timed[hi]:.0f} ms a matte on {m.runtime}, within the {limit:.0f} ms it may "
               f"take (80% of two frames' time at {fps:g} fps); the size adapts while running")


def open_matter(model: str, provider: str = "auto", offline: bool = False, *, purpose: str = "live",
                fps: float = 30.0, frame_size: tuple[int, int] = (720, 1280)) -> tuple[Matter, str]:
    """Open the matter for ``model`` and say why it was chosen: (matter, reason).

    'auto' tries, in order: Robust Video Matting (a true matte with hair;
    downloaded if need be, unless ``offline``; live only where it keeps up;
    for stills the picture is run as a short video, livebg.stills.matter),
    MODNet when its file is present (live and for files only when it runs
    within the frame budget, 1/fps, here), then the light models. When
    every candidate fails, the ModelError gives each one's reason.
    purpose: "live", "file" or "still".
    """
    from livebg.matting.providers import require

    require(provider)  # an explicit provider that cannot start is one clear line, for every command
    if model != "auto":
        m = open_named(model, provider, offline)
        if purpose != "still" and not m.caps.video:
            m.close()
            raise ModelError(f"{m.name} is for still pictures (seconds a picture), not video: use it with "
                             f"`livebg cutout --subject object`; for video, --model auto picks the best that keeps up")
        if purpose == "live" and m.caps.resizable and m.side > m.ladder[0]:
            m.side = m.ladder[0]  # live starts at the top of its ladder; the size adapts while running
            return m, f"model {m.name} as asked, on {m.runtime}, from {m.side} px (the size adapts while running)"
        return m, f"model {m.name} as asked, on {m.runtime}"
    from livebg.models import ModelMissing

    reasons: list[str] = []
    missing: list[ModelMissing] = []

    def attempt(label, fn):
        try:
            return fn()
        except LivebgError as e:  # ModelError, or DeviceError for an explicit provider
            reasons.append(f"{label}: {e}")
            if isinstance(e, ModelMissing):
                missing.append(e)
            return None

    candidates = [("rvm", lambda: _rvm_for(purpose, provider, offline, fps, frame_size))]
    candidates.append(("modnet", lambda: _modnet_if_fast(provider, fps, frame_size, purpose != "still")))
    for label, fn in candidates:
        found = attempt(label, fn)
        if found is not None:
            return found[0], f"picked {found[1]}" + (f" ({'; '.join(reasons)})" if reasons else "")
    before = len(missing)
    for name in LIGHT_MODELS:
        m = attempt(name, lambda: open_named(name, provider, offline))
        if m is not None:
            return m, f"picked {m.name} on {m.runtime} ({'; '.join(reasons)})"
    light_missing = missing[before:]
    if len(light_missing) == len(LIGHT_MODELS):
        # The first start without a network (or with --offline): nothing is wrong
        # but the missing files, so one short line on how to get the light default.
        raise ModelMissing(_first_start_message(light_missing[0]), light_missing[0].spec, light_missing[0].why)
    raise ModelError("no model could be opened: " + "; ".join(reasons))


def _first_start_message(e) -> str:
    from livebg.models import how_to_get

    spec = e.spec
    if e.why == "downloading is off":
        return (f"the default model {spec.name} is not here and downloading is off (offline): "
                f"{how_to_get(spec, '(from any machine)')}, or run once without --offline to download it")
    return (f"the default model {spec.name} is not here and could not be downloaded ({e.why}): "
            f"{how_to_get(spec, '(on any machine with a network)')}")
