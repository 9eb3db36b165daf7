"""Model graphs livebg derives from the files it downloads, kept in its cache folder.

Some released graphs run slower in ONNX Runtime than they need to, for
reasons in how they were exported, not in what they compute: livebg
edits them when they are first loaded (:mod:`livebg.matting.rvm_graph`
for Robust Video Matting, :func:`resizes_by_scale` for the selfie model).
The file on disk stays the official one, checked by its sha256; the
edited graph is written to ``<cache>/models/derived/`` under the file's
sha256, so later starts open it without importing onnx (0.6 s here).
Where an edit does not apply, or its result does not load, the file is
run as released.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable


def file_sha256(path: str | Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None  # the caller's own open reports it
    return h.hexdigest()


def derived_model(path: str | Path, tag: str, version: int, make: Callable[[Path], bytes | None],
                  fresh: bool = False) -> str | bytes | None:
    """The graph ``make`` derives from the model file at ``path``: the path of
    its cached copy (``<tag>-v<version>-<sha>.onnx``), or its bytes where the
    cache folder cannot be written; None where ``make`` has nothing to change
    (run the file as it is). fresh: make it again even when a cached copy
    exists (one that would not load)."""
    from livebg.files import cache_root, write_bytes

    sha = file_sha256(path)
    if sha is None:
        return None
    final = cache_root() / "models" / "derived" / f"{tag}-v{version}-{sha[:20]}.onnx"
    if final.is_file() and not fresh:
        return str(final)
    made = make(Path(path))
    if made is None:
        return None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(final, made, overwrite=True)  # whole or not at all
    except OSError:
        return made
    return str(final)


def open_derived(derive: Callable[[bool], str | bytes | None], provider: str, threads: int | None):
    """(session, provider in use) on the derived graph, or (None, None) where
    there is none or it will not load. A cached copy that does not load
    (damaged) is derived again, once. ``derive(fresh)`` is derived_model()
    for one file."""
    from livebg.errors import ModelError
    from livebg.matting.providers import open_session

    def attempt(model):
        try:
            return open_session(model, provider, threads)
        except ModelError:
            return None, None

    made = derive(False)
    if made is None:
        return None, None
    session, used = attempt(made)
    if session is None and isinstance(made, str):
        made = derive(True)
        if made is not None:
            session, used = attempt(made)
    return session, used


def _constant(graph, name: str):
    from onnx import numpy_helper

    for t in graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    for n in graph.node:
        if n.op_type == "Constant" and n.output[0] == name and n.attribute:
            return numpy_helper.to_array(n.attribute[0].t)
    return None


def _ints(graph, name: str):
    v = _constant(graph, name)
    return None if v is None else [int(x) for x in v.ravel()]


def resizes_by_scale(model) -> int:
    """Resize nodes that give an output size (``sizes``) exactly twice their
    input's spatial size, as far as onnx's shape inference can tell (a model
    with a fixed input size), rewritten in place to give the scale (1, 1, 2, 2)
    instead: the same output (ONNX Runtime derives the same scale from the
    sizes), but only a Resize by a constant scale runs on ONNX Runtime's
    blocked (NCHWc) kernels, between blocked convolutions, without converting
    the tensor's layout before and after. Returns how many were rewritten."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    g = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info]:
        dims = v.type.tensor_type.shape.dim
        shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None for d in dims]
    producer = {out: n for n in g.node for out in n.output}
    changed = 0
    for n in g.node:
        if n.op_type != "Resize" or len(n.input) != 4 or not n.input[3]:
            continue
        spatial = shapes.get(n.input[0], [None])[2:]
        if len(spatial) != 2 or None in spatial or 0 in spatial:
            continue
        # sizes = Concat(first two of Shape(x), constant (H, W)) as exported, or a constant outright
        cat = producer.get(n.input[3])
        target = _constant(g, n.input[3])
        if target is None and cat is not None and cat.op_type == "Concat" and len(cat.input) == 2:
            head = producer.get(cat.input[0])
            shape = producer.get(head.input[0]) if head is not None and head.op_type == "Slice" else None
            if (shape is not None and shape.op_type == "Shape" and shape.input[0] == n.input[0]
                    and len(head.input) >= 3 and _ints(g, head.input[1]) == [0] and _ints(g, head.input[2]) == [2]):
                target = _constant(g, cat.input[1])
        if target is None:
            continue
        target = [int(v) for v in np.asarray(target).ravel()[-2:]]
        if target != [2 * spatial[0], 2 * spatial[1]]:
            continue
        scales = f"{n.name or n.output[0]}_livebg_scales"
        g.initializer.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scales))
        n.input[2] = scales
        del n.input[3]
        changed += 1
    return changed


def selfie_fixed(path: Path) -> bytes | None:
    """The selfie model's graph with its upsampling Resizes by scale, or None
    (not loadable by onnx here, or nothing to change)."""
    try:
        import onnx

        model = onnx.load(str(path))
        if resizes_by_scale(model) == 0:
            return None
    except Exception:  # the caller opens the file as it is and reports on it
        return None
    return model.SerializeToString()
