"""Robust Video Matting's network without its first and last full-size steps.

The release graph begins by scaling the whole frame down for its base
(``downsample_ratio``) and ends with its guided-filter refiner at full size:
two coefficient maps ``A`` and ``b`` (four channels each, at the base's size)
are scaled up to the frame with two Resize nodes, then ``A * [R, G, B, grey]
+ b`` gives the foreground's correction (three channels) and the alpha (the
fourth). At 720p the two full-size steps and feeding the whole frame as
floats made the network's call 94 ms instead of 82 on two threads here (164
instead of 141 ms of CPU, ``python bench/speed.py --only rvmmodel``), and the
last step computes the foreground colour, which livebg's
compositing does not use (bench/fringe.py: RVM's ``fgr`` leaks more of the old
room than the camera's own colours with livebg's edge step).

So the graph is cut at load, in memory (the file on disk stays the official
release, checked by its sha256): its input is the network's small picture,
its outputs the coefficient maps and the state.
:mod:`livebg.matting.rvm_kernel` does the two full-size steps in numba, the
same arithmetic as ONNX Runtime's Resize (linear, ``pytorch_half_pixel``),
only the alpha unless the foreground is asked for, and on whichever thread
finishes the frame, not the model's.

The cut is found from the graph's structure, not from tensor names, and
every node it relies on is checked; a graph that does not have this shape
(another RVM export, a different model) returns None and is run whole.
Making the cut takes about 0.7 s, most of it importing onnx (its ml_dtypes
extension alone is 0.5 s here), so the cut graph is kept in livebg's cache
folder, named by the release file's sha256, and later starts open that.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

#: Part of the cached file's name: raise it when the cut changes.
CUT_VERSION = 1

_STATE_OUT = ("r1o", "r2o", "r3o", "r4o")
_STATE_IN = ("r1i", "r2i", "r3i", "r4i")


@dataclass(frozen=True)
class Cut:
    """The cut graph (serialized ONNX) and the names of its tensors."""

    model: bytes
    small: str        # input: the network's picture, RGB in [0, 1], (1, 3, h, w)
    coefficients: tuple[str, str]  # outputs: A and b, (1, 4, h, w) each


class _NoMatch(Exception):
    pass


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_linear_half_pixel(node) -> bool:
    a = _attrs(node)
    return (node.op_type == "Resize" and a.get("mode") == b"linear"
            and a.get("coordinate_transformation_mode") == b"pytorch_half_pixel")


def cut(path: str | Path) -> Cut | None:
    """The cut graph of the RVM release at ``path``, or None where the graph
    does not have the expected shape (or onnx cannot read it)."""
    try:
        import onnx
        from onnx import TensorProto, helper

        model = onnx.load(str(path))
    except Exception:  # not loadable here: the caller opens the file whole and reports
        return None
    g = model.graph
    producer = {out: n for n in g.node for out in n.output}

    def made_by(name: str, op: str):
        n = producer.get(name)
        if n is None or n.op_type != op:
            raise _NoMatch(name)
        return n

    try:
        if {i.name for i in g.input} != {"src", "downsample_ratio", *_STATE_IN} or \
                {o.name for o in g.output} != {"fgr", "pha", *_STATE_OUT}:
            raise _NoMatch("interface")
        split = made_by(made_by("pha", "Clip").input[0], "Split")
        fgr_add = made_by(made_by("fgr", "Clip").input[0], "Add")  # the correction plus the picture
        if split.output[0] not in fgr_add.input or "src" not in fgr_add.input:
            raise _NoMatch("fgr")
        add = made_by(split.input[0], "Add")  # A_up * x + b_up
        mul = b_up = None
        for name in add.input:
            n = producer.get(name)
            if n is not None and n.op_type == "Mul":
                mul = n
            elif n is not None and _is_linear_half_pixel(n):
                b_up = n
        if mul is None or b_up is None:
            raise _NoMatch("add")
        a_up = x = None
        for name in mul.input:
            n = producer.get(name)
            if n is not None and _is_linear_half_pixel(n):
                a_up = n
            elif n is not None and n.op_type == "Concat":
                x = n
        if a_up is None or x is None:
            raise _NoMatch("mul")
        grey = made_by(x.input[1], "ReduceMean") if len(x.input) == 2 else None
        if (grey is None or x.input[0] != "src" or list(grey.input) != ["src"]
                or _attrs(grey).get("axes") != [1] or _attrs(x).get("axis") != 1):
            raise _NoMatch("x = [src, mean(src)]")
        downs = [n for n in g.node if n.op_type == "Resize" and n.input[0] == "src"]
        if len(downs) != 1 or not _is_linear_half_pixel(downs[0]):
            raise _NoMatch("the base's scaling")
        small = downs[0].output[0]
        coefficients = (a_up.input[0], b_up.input[0])

        # Keep what the new outputs need, walking back from them, stopping at the small picture.
        outputs = [*coefficients, *_STATE_OUT]
        need, kept = set(outputs), []
        for n in reversed(list(g.node)):
            if any(o in need for o in n.output):
                kept.append(n)
                need.update(i for i in n.input if i and i != small)
        if "src" in need or "downsample_ratio" in need:
            raise _NoMatch("the network reads the full-size frame")
    except _NoMatch:
        return None

    kept.reverse()
    state_in = [i for i in g.input if i.name in _STATE_IN]
    state_out = [o for o in g.output if o.name in _STATE_OUT]
    del g.node[:]
    g.node.extend(kept)
    used = {i for n in kept for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)
    del g.input[:]
    g.input.extend([helper.make_tensor_value_info(small, TensorProto.FLOAT, [1, 3, "height", "width"]), *state_in])
    del g.output[:]
    g.output.extend([helper.make_tensor_value_info(c, TensorProto.FLOAT, None) for c in coefficients])
    g.output.extend(state_out)
    del g.value_info[:]  # shapes recorded for the whole graph; ONNX Runtime infers its own
    return Cut(model.SerializeToString(), small, coefficients)


def cut_model(path: str | Path, fresh: bool = False) -> str | bytes | None:
    """The cut graph of the model file at ``path``: the path of its cached copy,
    or its bytes where the cache folder cannot be written; None where the graph
    has no such cut (run the file whole). The cut graph's input besides the
    state is the small picture, its other two outputs A and b, in that order.
    fresh: cut it again even when a cached copy exists (one that would not load)."""
    from livebg.files import cache_root, write_bytes

    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None  # the caller's own open reports it
    final = cache_root() / "models" / "derived" / f"rvm-cut-v{CUT_VERSION}-{h.hexdigest()[:20]}.onnx"
    if final.is_file() and not fresh:
        return str(final)
    made = cut(path)
    if made is None:
        return None
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(final, made.model, overwrite=True)  # whole or not at all
    except OSError:
        return made.model
    return str(final)
