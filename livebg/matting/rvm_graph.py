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
While it is cut, one more change is made that ONNX Runtime does not make
itself: each of the decoder's convolutions that reads its features
concatenated with the picture (or the picture's averaged copy: three
channels), and the guided filter's that reads two four-channel statistics
beside its sixteen features, is split into one convolution per small part
plus one for the rest, summed (:func:`split_small_parts`). The sum is the
same convolution, added in another order (the alpha moves by float rounding
only); but a concatenation of 35, 59, 107 or 171 channels keeps ONNX
Runtime's convolution off its blocked (NCHWc) kernels, which need channel
counts in whole blocks, and on this machine those four convolutions were a
third of the network's time. Split, a 720p call at ratio 0.375 takes 91-97
ms on one thread instead of 105-106, and 98-99 ms of CPU on two instead of
113-118 (``python bench/speed.py --only rvmmodel``, two runs).

Making the cut takes about 0.7 s, most of it importing onnx (its ml_dtypes
extension alone is 0.5 s here), so the cut graph is kept in livebg's cache
folder, named by the release file's sha256, and later starts open that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livebg.matting.derived import derived_model

#: Part of the cached file's name: raise it when the cut changes.
CUT_VERSION = 2

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
    split_small_parts(model)
    return Cut(model.SerializeToString(), small, coefficients)


#: A concatenated part with fewer channels than this gets a convolution of its
#: own: a small part cannot fill a block of ONNX Runtime's NCHWc kernels (8
#: channels with AVX2, 16 with AVX-512), and a convolution reading fewer
#: channels than a block runs blocked straight from the plain layout.
SMALL_PART = 8


def _channels(model) -> dict[str, int]:
    """Channel counts (dimension 1) that onnx's shape inference can give."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    known = {}
    for v in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = v.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[1].HasField("dim_value"):
            known[v.name] = dims[1].dim_value
    return known


def split_small_parts(model) -> int:
    """Conv(concat(x1, ..., xn)) -> Conv(concat(the large parts)) + Conv(small part) + ...,
    in place, for every plain convolution (one group, weights stored in the graph)
    reading a channel concatenation with a part of fewer than SMALL_PART channels.
    The sums are declared of one shape, so that ONNX Runtime folds each addition
    (and the activation after it) into a convolution. Returns how many were split."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    producer = {out: n for n in g.node for out in n.output}
    users: dict[str, int] = {}
    for n in g.node:
        for i in n.input:
            users[i] = users.get(i, 0) + 1
    weights = {t.name: t for t in g.initializer}
    channels = _channels(model)
    nodes, split, dropped = [], 0, set()
    for n in g.node:
        cat = producer.get(n.input[0]) if n.op_type == "Conv" else None
        w = weights.get(n.input[1]) if cat is not None and len(n.input) > 1 else None
        attrs = _attrs(n)
        if (w is None or cat.op_type != "Concat" or _attrs(cat).get("axis") != 1 or attrs.get("group", 1) != 1
                or users.get(cat.output[0]) != 1):
            nodes.append(n)
            continue
        W = numpy_helper.to_array(w)
        sizes = [channels.get(i) for i in cat.input]
        if sizes.count(None) == 1:  # the one shape inference cannot tell is the rest of the weights'
            sizes[sizes.index(None)] = W.shape[1] - sum(c for c in sizes if c is not None)
        if None in sizes or sum(sizes) != W.shape[1] or min(sizes) < 1:
            nodes.append(n)
            continue
        starts = np.cumsum([0, *sizes])
        small = [k for k, c in enumerate(sizes) if c < SMALL_PART]
        large = [k for k in range(len(sizes)) if k not in small]
        if not small or not large:
            nodes.append(n)
            continue
        split += 1
        dropped.add(cat.output[0])  # read by this convolution only
        tag = f"{n.output[0]}_livebg_split"
        shape = [1, W.shape[0], f"{tag}_h", f"{tag}_w"]

        def weight(ks, name):
            part = np.concatenate([W[:, starts[k]:starts[k + 1]] for k in ks], axis=1)
            g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(part), name))
            return name

        if len(large) == 1:
            rest = cat.input[large[0]]
        else:
            rest = f"{tag}_rest_in"
            nodes.append(helper.make_node("Concat", [cat.input[k] for k in large], [rest], name=f"{tag}_concat",
                                          axis=1))
        total = f"{tag}_rest"
        nodes.append(helper.make_node("Conv", [rest, weight(large, f"{tag}_w_rest"), *n.input[2:]], [total],
                                      name=f"{tag}_conv_rest", **attrs))
        sums = [total]
        for j, k in enumerate(small):
            part = f"{tag}_part{j}"
            nodes.append(helper.make_node("Conv", [cat.input[k], weight([k], f"{tag}_w{j}")], [part],
                                          name=f"{tag}_conv{j}", **attrs))
            out = n.output[0] if j == len(small) - 1 else f"{tag}_sum{j}"
            nodes.append(helper.make_node("Add", [part, total], [out], name=f"{tag}_add{j}"))
            sums += [part, out]
            total = out
        g.value_info.extend(helper.make_tensor_value_info(v, TensorProto.FLOAT, shape) for v in sums)
    if split:
        del g.node[:]
        g.node.extend(m for m in nodes if m.output[0] not in dropped)
        used = {i for m in g.node for i in m.input}
        kept = [t for t in g.initializer if t.name in used]
        del g.initializer[:]
        g.initializer.extend(kept)
    return split


def _cut_bytes(path: Path) -> bytes | None:
    made = cut(path)
    return None if made is None else made.model


def cut_model(path: str | Path, fresh: bool = False) -> str | bytes | None:
    """The cut graph of the model file at ``path``: the path of its cached copy,
    or its bytes where the cache folder cannot be written; None where the graph
    has no such cut (run the file whole). The cut graph's input besides the
    state is the small picture, its other two outputs A and b, in that order.
    fresh: cut it again even when a cached copy exists (one that would not load)."""
    return derived_model(path, "rvm-cut", CUT_VERSION, _cut_bytes, fresh)
