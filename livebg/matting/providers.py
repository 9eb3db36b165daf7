"""ONNX Runtime execution providers: choosing one, and reporting what is really used.

onnxruntime-gpu lists CUDA among its available providers even on a machine
with no GPU, and silently falls back to the CPU when CUDA cannot start, so
the truth is only ``session.get_providers()`` after the session exists.
"""

from __future__ import annotations

from livebg.errors import DeviceError, ModelError, first_line

# Best first. TensorRT is left out on purpose: its engine build takes minutes
# at first use, which is no way to start a camera.
PREFERENCE = (
    "CUDAExecutionProvider",
    "DmlExecutionProvider",
    "CoreMLExecutionProvider",
    "CPUExecutionProvider",
)
SHORT_NAMES = {
    "cuda": "CUDAExecutionProvider",
    "directml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


#: What --provider accepts (full ONNX Runtime names of these work too).
CHOICES = ("auto", "cpu", "cuda", "directml", "coreml")


def check_name(requested: str) -> None:
    """Raise ConfigError unless ``requested`` is a provider livebg knows (auto,
    cpu, cuda, directml, coreml, or the full ONNX Runtime name of one): the same
    check for run, process and cutout, before anything starts."""
    from livebg.errors import ConfigError

    value = (requested or "auto").strip()
    if value.lower() in CHOICES or value in PREFERENCE:
        return
    import difflib

    close = difflib.get_close_matches(value.lower(), CHOICES, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise ConfigError(f"unknown --provider '{value}'{hint} (choose from {', '.join(CHOICES)})")


def _probe_model() -> bytes:
    """A one-node ONNX model (y = Identity(x), one float), written out as its
    protobuf bytes: enough to see whether a provider starts, without a model file."""
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            byte, n = n & 0x7F, n >> 7
            out.append(byte | (0x80 if n else 0))
            if not n:
                return bytes(out)

    def sub(number: int, payload: bytes) -> bytes:  # a length-delimited field
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    def num(number: int, value: int) -> bytes:  # a varint field
        return varint(number << 3) + varint(value)

    # TypeProto.tensor_type: elem_type FLOAT (1), shape [1].
    tensor = num(1, 1) + sub(2, sub(1, num(1, 1)))
    value_info = lambda name: sub(1, name) + sub(2, sub(1, tensor))  # noqa: E731
    node = sub(1, b"x") + sub(2, b"y") + sub(4, b"Identity")
    graph = sub(1, node) + sub(2, b"livebg-probe") + sub(11, value_info(b"x")) + sub(12, value_info(b"y"))
    # ModelProto: ir_version 8, graph, opset_import {version 13}.
    return num(1, 8) + sub(7, graph) + sub(8, num(2, 13))


_started: dict[str, bool] = {}


def starts(provider: str) -> bool:
    """Whether a session on ``provider`` (a full ONNX Runtime name) really comes
    up here: onnxruntime-gpu lists CUDA even without a GPU and falls back to the
    CPU in silence. Checked once per process on a one-node model."""
    if provider not in _started:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        wanted = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
        ort.set_default_logger_severity(4)
        try:
            session = ort.InferenceSession(_probe_model(), sess_options=opts, providers=wanted)
            _started[provider] = session.get_providers()[0] == provider
        except Exception:  # onnxruntime's own error types: it does not start
            _started[provider] = False
        finally:
            ort.set_default_logger_severity(3)
    return _started[provider]


def survey() -> tuple[list[str], list[str]]:
    """The providers livebg would use that start here, best first, and those that
    are installed but do not start (full names). TensorRT is not used (see PREFERENCE)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    ours = [p for p in PREFERENCE if p in available]
    return [p for p in ours if starts(p)], [p for p in ours if not starts(p)]


def require(requested: str) -> None:
    """For an explicit --provider: raise DeviceError, on one line, unless it is
    installed and really starts here. 'auto' always passes."""
    check_name(requested)
    if (requested or "auto").strip().lower() == "auto":
        return
    import onnxruntime as ort

    value = requested.strip()
    full = SHORT_NAMES.get(value.lower(), value)
    if full in ort.get_available_providers() and starts(full):
        return
    good = ", ".join(map(short_name, survey()[0])) or "none"
    if full not in ort.get_available_providers():
        raise DeviceError(f"--provider {value} is not in this onnxruntime build (onnxruntime {ort.__version__}); "
                          f"providers that start here: {good}")
    raise DeviceError(f"--provider {value} is installed but does not start here (no usable device, or its driver "
                      f"and runtime libraries are missing); providers that start here: {good}")


def short_name(provider: str) -> str:
    for short, full in SHORT_NAMES.items():
        if full == provider:
            return short
    return provider


def choose_providers(requested: str, available: list[str]) -> list[str]:
    """The provider list to create a session with, best first.

    requested: "auto" or a short name (cpu, cuda, directml, coreml) or a full
    ONNX Runtime provider name. Raises DeviceError when the request names a
    provider this onnxruntime build does not have, listing those it has.
    """
    if requested in ("", "auto"):
        chosen = [p for p in PREFERENCE if p in available]
        return chosen or ["CPUExecutionProvider"]
    full = SHORT_NAMES.get(requested.lower(), requested)
    if full not in available:
        have = ", ".join(short_name(p) for p in available if p in PREFERENCE) or "none"
        raise DeviceError(f"execution provider '{requested}' is not available here (available: {have})")
    return [full] if full == "CPUExecutionProvider" else [full, "CPUExecutionProvider"]


def create_session(path: str, requested: str = "auto", threads: int | None = None, arena: bool = True):
    """An InferenceSession on the best provider that really starts.

    threads: ONNX Runtime's intra-op threads (default: one per core). Where
    other stages keep the cores busy (``livebg process`` runs two model
    instances beside decoding, edge finishing and encoding), 1 is cheaper:
    the per-call hand-over to worker threads is pure overhead then.

    arena: keep ONNX Runtime's memory arena (the default: fastest for a model
    called again and again). Off, a big model's activations are given back
    after each call instead of held (IS-Net at 1024x1024: 0.9 GB), which
    matters when the caller then needs the memory itself.

    Returns (session, provider_in_use). Raises DeviceError when an explicitly
    requested provider could not start (onnxruntime fell back to the CPU).
    """
    import os

    import onnxruntime as ort

    wanted = choose_providers(requested, ort.get_available_providers())
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads or os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.enable_cpu_mem_arena = arena
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 4
    # ONNX Runtime's threads spin between runs by default; live, that takes the
    # cores from capture and compositing, which run beside matting.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    # A provider that cannot load logs errors at creation; we report the outcome ourselves.
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(path, sess_options=opts, providers=wanted)
    finally:
        ort.set_default_logger_severity(3)
    in_use = session.get_providers()[0]
    if requested not in ("", "auto") and in_use != wanted[0]:
        raise DeviceError(
            f"execution provider '{requested}' is installed but could not start "
            f"(onnxruntime fell back to {short_name(in_use)}); check the GPU driver and runtime libraries"
        )
    return session, in_use


def open_session(path, provider: str = "auto", threads: int | None = None, arena: bool = True):
    """create_session() for a model file (or a serialized graph, as bytes), with
    any ONNX Runtime failure to load it turned into a one-line ModelError. Returns (session, provider_in_use)."""
    from pathlib import Path

    in_memory = isinstance(path, (bytes, bytearray))  # a graph made at load (livebg.matting.rvm_graph)
    try:
        return create_session(bytes(path) if in_memory else str(Path(path).resolve()), provider, threads, arena)
    except (ModelError, DeviceError):
        raise
    except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
        what = "a graph made in memory" if in_memory else path
        raise ModelError(f"cannot load {what} as an ONNX model: {first_line(e)}") from None


def check_interface(session, path, inputs: dict[str, int], outputs: tuple[str, ...]) -> None:
    """Raise ModelError unless the session has these inputs (name: rank) and outputs
    (the message says "does not have the expected interface", which callers that
    try several kinds on one file look for)."""
    got_in = {i.name: i.shape for i in session.get_inputs()}
    got_out = tuple(o.name for o in session.get_outputs())
    for name, rank in inputs.items():
        if name not in got_in or len(got_in[name]) != rank:
            raise ModelError(
                f"{path} does not have the expected interface: wants input '{name}' of rank {rank}, "
                f"has inputs {sorted(got_in)}"
            )
    for name in outputs:
        if name not in got_out:
            raise ModelError(f"{path} does not have the expected interface: wants output '{name}', has {list(got_out)}")
