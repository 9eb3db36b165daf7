"""Matting: model names and files to a running matter, including ``--model auto``."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from livebg.errors import ModelError
from livebg.matting.base import KINDS, Matter, check_frame  # noqa: F401
from livebg.matting import mediapipe_selfie as _mp  # noqa: F401  (registers its kind)
from livebg.matting import onnx_models as _onnx  # noqa: F401  (registers its kinds)

# The default model when MODNet is not used: MediaPipe's square selfie model,
# first as its ONNX export (the same network, about two thirds of the CPU per
# call through ONNX Runtime, and no MediaPipe import at start-up), else the
# .tflite through MediaPipe (when the ONNX file is neither here nor downloadable).
DEFAULT_MODELS = ("mediapipe-selfie-onnx", "mediapipe-selfie")


def _build(kind: str, path: Path, name: str, provider: str, spec=None) -> Matter:
    factory = KINDS.get(kind)
    if factory is None:
        raise ModelError(f"model kind '{kind}' is not supported (supported: {', '.join(sorted(KINDS))})")
    extra = {}
    if spec is not None and spec.ref_size:
        extra["ref_size"] = spec.ref_size
    if spec is not None and spec.input_size:
        extra["input_size"] = tuple(spec.input_size)
    return factory(path, name=name, provider=provider, **extra)


def _from_file(path: Path, provider: str) -> Matter:
    """A model file the manifest does not know: pick the kind from its contents."""
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _build("mediapipe-tflite", path, path.stem, provider)
    if suffix == ".onnx":
        errors = []
        for kind in ("onnx-modnet", "onnx-selfie"):
            try:
                return _build(kind, path, path.stem, provider)
            except ModelError as e:
                errors.append(str(e))
                if "expected interface" not in str(e):
                    raise
        raise ModelError(
            f"{path} is not a model livebg can run: it has neither MODNet's interface "
            f"(input 'input', output 'output') nor the selfie model's (input 'pixel_values', output 'alphas')"
        )
    raise ModelError(f"{path}: unknown model file type '{suffix}' (expected .onnx or .tflite)")


def open_named(model: str, provider: str = "auto", offline: bool = False) -> Matter:
    """Open a model by manifest name or file path (not 'auto'). Raises ModelError."""
    from livebg import models

    spec, path = models.resolve(model, offline=offline)
    if spec is None:
        # Messages name the file as the user typed it, not its resolved target.
        given = Path(model).expanduser()
        return _from_file(given if given.is_file() else Path(path), provider)
    return _build(spec.kind, Path(path), spec.name, provider, spec)


def open_default(provider: str = "auto", offline: bool = False) -> tuple[Matter, str]:
    """The first of DEFAULT_MODELS that is present or can be downloaded, and why
    the ones before it were not taken ("" for the first). Raises the last one's ModelError."""
    passed = []
    for name in DEFAULT_MODELS[:-1]:
        try:
            return open_named(name, provider, offline), "; ".join(passed)
        except ModelError as e:
            passed.append(f"{name} is not available ({e})")
    return open_named(DEFAULT_MODELS[-1], provider, offline), "; ".join(passed)


def time_matter(matter: Matter, height: int, width: int, runs: int = 5) -> float:
    """Median milliseconds per frame at height x width, after one warm-up run."""
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    matter(frame)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        matter(frame)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def open_matter(model: str, provider: str = "auto", offline: bool = False,
                fps: float = 30.0, frame_size: tuple[int, int] = (720, 1280)) -> tuple[Matter, str]:
    """Open the matter for ``model`` and say why it was chosen.

    'auto' picks MODNet when its file is present and it runs within the frame
    budget (1/fps) here, else the MediaPipe selfie model. Returns (matter, reason).
    """
    if model != "auto":
        m = open_named(model, provider, offline)
        return m, f"model {m.name} as asked, on {m.runtime}"
    from livebg import models

    spec = models.load_manifest()["modnet"]
    path = models.find_present(spec)
    budget = 1000.0 / fps
    if path is None:
        why = "MODNet is not present (get it with: livebg models fetch modnet)"
    else:
        modnet = _build(spec.kind, Path(path), spec.name, provider, spec)
        ms = time_matter(modnet, *frame_size)
        if ms <= budget * 0.8:
            return modnet, (f"picked modnet: {ms:.0f} ms per frame on {modnet.runtime}, "
                            f"within the {budget:.0f} ms frame budget at {fps:g} fps")
        modnet.close()
        why = (f"MODNet is present but takes {ms:.0f} ms per frame on {modnet.runtime}, "
               f"over the {budget:.0f} ms frame budget at {fps:g} fps")
    m, not_first = open_default("auto", offline)
    return m, f"picked {m.name}: {why}; {not_first}" if not_first else f"picked {m.name}: {why}"
