"""Speed: livebg against a plain loop, the compositing kernel, the live path.

    python bench/speed.py              # everything (about 5 minutes on 2 cores)
    python bench/speed.py --only process,kernel
    python bench/speed.py --json bench/results/speed.json

Sections (each reports medians, and ratios against a baseline measured in the
same run, because a shared machine's absolute numbers drift):

process   `livebg process` on a 10 s 720p clip (H.264 out plus --matte-out),
          the whole command timed with start-up, against a plain
          single-threaded loop (bench/plain_loop.py) with the same model and
          the same encoder settings, also run and timed as a whole command:
          `--model rvm` against RVM as its documentation runs it (the whole
          frame, downsample_ratio 0.375), and the light path `--model
          mediapipe-selfie-onnx` against the selfie model on the frame
          resized to 256x256 (ONNX Runtime, 2 threads, bilinear upsampling,
          float blend). Runs alternate, --runs (3) of each; medians.
kernel    the fused numba compositing kernel against the best OpenCV sequence
          for the same effect (matte scaled up bilinearly, blend, uint8 out),
          at 720p and 1080p.
parts     what the default's choices save, each against the alternative in the
          same run: the selfie model per call (CPU ms, one calling thread) as
          its ONNX export on ONNX Runtime and as the .tflite through
          MediaPipe, and the ONNX file as released against the graph livebg
          derives from it (livebg.matting.derived); the whole `livebg process` command on a 5-frame clip
          with each (start-up dominates), and the light one with the
          interpreter's teardown against leaving at once when done; the light
          pipeline's 720p composite with the refiner's copy of the frame for
          the edge colours against scaling the frame again; the FFV1 matte
          encoder per 720p frame (CPU ms) with FFmpeg's default threads and
          with one.
look      the studio look's cost at 720p, each against the plain kernel in the
          same run: the kernel with colour match (a gain), light wrap (its
          weight and light at the matte's size), a foreground correction
          (fg_delta, for matting models' foreground colours) and all three;
          what livebg.look prepares per frame for light wrap and colour
          match; the blur background leaving the person out against the
          plain blur.
edge      the matte's edge step (contrast, fast colour guided filter,
          contrast) at the 640x360 working size: the numba kernel
          (livebg.guided) against the same steps as NumPy/OpenCV calls, both
          single-threaded, as the matting thread runs them.
live      `livebg run` with the clip as camera for --seconds (default 60) to
          the virtual camera (pyvirtualcam's real backend, the kernel device
          emulated as in the tests): output rate, repeated frames, latency,
          matting rate, and which model --model auto took.
rvm       the same with `--model rvm`: the size it settles on, the matting rate.
modnet    the same with the MODNet-shaped speed proxy (random weights) from
          ../shared/data/perf-proxy: the output rate held and the matting
          rate it settles on.
startup   `livebg run` start to first frame at the virtual camera, warm caches.
passes    the light pipeline's per-frame passes in numba (smoothing, speck
          removal, edge colours) against the NumPy/OpenCV steps they
          replaced, one thread at 640x360; a 5-frame `livebg process`'s CPU
          with one OpenBLAS thread (livebg's default) and with two.
rvmmodel  RVM's network alone on a 720p frame at the documented ratio 0.375
          (ONNX Runtime, state carried), wall and CPU per call on one and on
          two threads: the floor under any `livebg process --model rvm`
          that runs it as documented, and so the ceiling on its frame rate
          on this machine (frames one after another, as the state demands:
          each takes at least the network's wall time, and at least its
          CPU time over the two cores); the same for livebg's model thread
          (the graph cut at load, livebg.matting.rvm_graph), the same cut
          without its convolutions split (what livebg ran before), and the
          full-size step that thread leaves to the finishing one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from synth import SHARED, background, make_clip, portraits  # noqa: E402

PROXY = SHARED / "perf-proxy" / "modnet_arch_random_weights.onnx"
ENCODE = {"crf": "20", "preset": "veryfast"}  # livebg's own H.264 settings, used by the loop too


def make_720p_clip(path: Path, seconds: int = 10) -> Path:
    """A person leaning side to side in front of a picture, 1280x720 at 30 fps."""
    from livebg.video import VideoWriter

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, _ = make_clip(p, background(2, 1280, 720), n=60, still=20)
    with VideoWriter(path, 1280, 720, 30) as w:
        for i in range(seconds * 30):
            k = i % 120
            w.write(frames[k if k < 60 else 119 - k])  # there and back, no jump at the loop
    return path


def _timed(cmd: list[str], frames: int) -> tuple[float, float]:
    """Run a whole command, start-up included: (frames per second, CPU seconds per frame, all threads)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    dt = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return frames / dt, cpu / frames


def plain_loop(clip: Path, bg_path: Path, out: Path, matte_out: Path, frames: int, model: str,
               encode: dict | None = None) -> tuple[float, float]:
    """The single-threaded loop most tools are (bench/plain_loop.py) with ``model``
    (a file in the shared models folder), run as its own command and timed whole
    like `livebg process`: (fps, CPU s per frame). encode: libx264 options
    (None: libx264's own defaults, preset medium, crf 23)."""
    extra = [a for k, v in (encode or {}).items() for a in (f"--{k}", str(v))]
    return _timed([sys.executable, str(ROOT / "bench" / "plain_loop.py"), str(clip), str(bg_path), str(out),
                   str(matte_out), str(SHARED / "models" / model), "--threads", "2", *extra], frames)


def livebg_process(clip: Path, bg_path: Path, out: Path, matte_out: Path, frames: int,
                   model: str = "auto", extra: tuple[str, ...] = ()) -> tuple[float, float]:
    """The whole `livebg process` command, start-up included: (fps, CPU s per frame)."""
    return _timed([sys.executable, "-m", "livebg", "process", str(clip), "-o", str(out), "--overwrite", "--background",
                   str(bg_path), "--matte-out", str(matte_out), "--model", model, *extra], frames)


#: (row, livebg's --model, the loop's model file): each livebg command against
#: the plain loop with the same model and the same encoder settings.
PROCESS_PAIRS = (
    ("rvm", "rvm", "rvm_mobilenetv3_fp32.onnx"),
    ("light", "mediapipe-selfie-onnx", "mediapipe_selfie.onnx"),
)
#: The light path again without the two per-frame extras its defaults add (edge colours, light wrap),
#: against the same loop runs: what those defaults cost.
LIGHT_PLAIN = ("--no-decontaminate", "--light-wrap", "0")


def section_process(tmp: Path, clip: Path, runs: int = 3, rows: tuple[str, ...] = ("rvm", "light")) -> dict:
    """`livebg process` against the plain loop, for the default (RVM) and the light
    path, each with the same model and encoder settings (veryfast x264, crf 20,
    the FFV1 matte, ONNX Runtime on 2 threads in the loop); all commands take
    turns, so a drifting machine load hits them alike; medians of ``runs``."""
    bg_path = SHARED / "backgrounds" / "beach.png"
    import av

    with av.open(str(clip)) as c:
        frames = c.streams.video[0].frames or sum(1 for _ in c.decode(video=0))
    pairs = [p for p in PROCESS_PAIRS if p[0] in rows]
    got = {row: {"loop": [], "livebg": []} for row, _, _ in pairs}
    for _ in range(runs):
        for row, model, loop_model in pairs:
            got[row]["loop"].append(plain_loop(clip, bg_path, tmp / "loop.mp4", tmp / "loop.mkv", frames, loop_model,
                                               ENCODE))
            got[row]["livebg"].append(livebg_process(clip, bg_path, tmp / "ours.mp4", tmp / "ours.mkv", frames, model))
            if row == "light":
                got[row].setdefault("plain", []).append(livebg_process(
                    clip, bg_path, tmp / "ours.mp4", tmp / "ours.mkv", frames, model, LIGHT_PLAIN))
    res = {"frames": frames}
    for row, model, loop_model in pairs:
        loop, ours = got[row]["loop"], got[row]["livebg"]
        lf, of = (statistics.median(r[0] for r in x) for x in (loop, ours))
        res[row] = {"model": model, "loop_model": loop_model, "loop_fps": lf, "livebg_fps": of, "ratio": of / lf,
                    "loop_runs": [r[0] for r in loop], "livebg_runs": [r[0] for r in ours],
                    "loop_cpu_ms_per_frame": 1000 * statistics.median(r[1] for r in loop),
                    "livebg_cpu_ms_per_frame": 1000 * statistics.median(r[1] for r in ours),
                    # Each round's loop and livebg ran back to back: their ratio sees
                    # the same machine load (this machine's neighbours come and go).
                    "round_ratios": [o[0] / lo[0] for o, lo in zip(ours, loop)]}
        if "plain" in got[row]:
            pf = statistics.median(r[0] for r in got[row]["plain"])
            res[row].update(plain_fps=pf, plain_ratio=pf / lf, plain_runs=[r[0] for r in got[row]["plain"]])
    return res


def opencv_composite(fg, alpha, bg, out=None, work=None):
    """The best OpenCV sequence we found for the kernel's effect at the kernel's
    accuracy (within one level of the float reference): the matte scaled up
    bilinearly (cv2.resize INTER_LINEAR, the kernel's taps), its complement,
    cv2.blendLinear to uint8. With ``out`` and ``work`` (two float32 (H, W)
    buffers) it allocates nothing frame-sized, as the kernel does not. On 2
    cores at 720p: 1.74 ms, against 1.80 ms with NumPy's 1 - a, 1.92 ms with
    the complement taken at the matte's size and scaled up too, 6.2 ms
    allocating per call (page faults on fresh arrays). The matte is in
    [0, 1], so the kernel's clamp is left out here."""
    h, w = fg.shape[:2]
    a, rest = work if work is not None else (np.empty((h, w), np.float32), np.empty((h, w), np.float32))
    cv2.resize(alpha, (w, h), dst=a, interpolation=cv2.INTER_LINEAR)
    cv2.subtract(1.0, a, dst=rest)
    return cv2.blendLinear(fg, bg, a, rest, dst=out)


def opencv_composite_8bit(fg, alpha, bg, out=None, work=None):
    """The usual uint8 sequence: 8-bit matte scaled up, merged to 3 channels,
    multiply, multiply by the complement, add. Faster than the float one but
    *less* accurate than the kernel (an 8-bit alpha: off by up to 2 levels, a
    quarter of the bytes off by one), timed for reference only. ``work``:
    buffers from work_8bit(), so that nothing frame-sized is allocated."""
    h, w = fg.shape[:2]
    a, a3, inv, x, y = work if work is not None else work_8bit(h, w)
    cv2.resize(cv2.convertScaleAbs(alpha, alpha=255.0), (w, h), dst=a, interpolation=cv2.INTER_LINEAR)
    cv2.merge([a, a, a], dst=a3)
    cv2.bitwise_not(a3, dst=inv)
    cv2.multiply(fg, a3, dst=x, scale=1 / 255)
    cv2.multiply(bg, inv, dst=y, scale=1 / 255)
    return cv2.add(x, y, dst=out)


def work_8bit(h: int, w: int) -> tuple:
    return (np.empty((h, w), np.uint8), *(np.empty((h, w, 3), np.uint8) for _ in range(4)))


def timeit(fns: dict, rounds: int = 10, per: int = 10) -> dict:
    """Median milliseconds of each function over rounds x per calls. The
    functions take turns in blocks of ``per`` calls, each block after one
    untimed call: blocks so that one library's thread pool, still spinning
    after its last call (numba's OpenMP workers do for a while), is not
    counted against the other's; turns so that all see the same machine."""
    ts = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            fn()
            for _ in range(per):
                t = time.perf_counter()
                fn()
                ts[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1000 for k, v in ts.items()}


def section_kernel() -> dict:
    """Same inputs (uint8 frames, a float32 640x360 matte), same output (uint8
    frame into a preallocated buffer), same threads (OpenCV's and numba's
    pools both as many as the machine has cores)."""
    import numba

    from livebg.compositing import composite

    from test_compositing import reference_composite  # the float64 reference the kernel is tested against

    rng = np.random.default_rng(0)
    res = {}
    for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
        fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        alpha = rng.random((360, 640), dtype=np.float32)
        ref = reference_composite(fg, alpha, bg)
        out_cv, out_cv8, out_nb = np.empty_like(fg), np.empty_like(fg), np.empty_like(fg)
        work = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        work8 = work_8bit(h, w)

        def diff(x):
            return int(np.abs(ref.astype(int) - x.astype(int)).max())

        ms = timeit({"opencv": lambda: opencv_composite(fg, alpha, bg, out_cv, work),
                     "opencv8": lambda: opencv_composite_8bit(fg, alpha, bg, out_cv8, work8),
                     "numba": lambda: composite(fg, alpha, bg, out_nb)})
        res[name] = {"opencv_ms": ms["opencv"], "numba_ms": ms["numba"], "ratio": ms["numba"] / ms["opencv"],
                     "max_abs_diff": int(np.abs(out_cv.astype(int) - out_nb.astype(int)).max()),
                     "opencv_vs_reference": diff(out_cv), "numba_vs_reference": diff(out_nb),
                     "opencv_8bit_ms": ms["opencv8"], "ratio_8bit": ms["numba"] / ms["opencv8"],
                     "opencv_8bit_vs_reference": diff(out_cv8),
                     "threads": {"opencv": cv2.getNumThreads(), "numba": numba.get_num_threads()}}
    return res


LOG = re.compile(r"(\d+) frames out in ([\d.]+) s \(([\d.]+) fps\), (\d+) repeated, (\d+) captured, (\d+) dropped "
                 r"at capture, latency p50 (\d+) ms / p95 (\d+) ms, (\d+) mattes \(([\d.]+) per second\)")


def live_run(tmp: Path, clip: Path, seconds: float, extra: list[str]) -> dict:
    from fakecam import FakeV4L2Device, build_shim

    dev = FakeV4L2Device(tmp, "/dev/video7", lib=build_shim(tmp))
    dev.reset()
    env = dev.env()
    env.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "livebg", "run", "--input", str(clip), "--device", "/dev/video7",
                        "--no-tray", "--duration", str(seconds), *extra], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.strip().splitlines()[-1])
    m = LOG.search(r.stderr)
    ts = dev.timestamps()
    sent, dur, fps, rep, cap, drop, p50, p95, mattes, mrate = m.groups()
    settled = re.search(r"matting settled at (\d+) px", r.stderr)
    picked = re.search(r"^livebg: ((?:picked|model) .*)$", r.stderr, re.M)
    return {"seconds": seconds, "frames_out": int(sent), "output_fps": float(fps),
            "device_fps": float(dev.mean_fps()), "repeated": int(rep),
            "repeated_pct": 100.0 * int(rep) / max(1, int(sent)), "dropped_at_capture": int(drop),
            "latency_p50_ms": int(p50), "latency_p95_ms": int(p95), "matting_rate": float(mrate),
            "startup_s": float(ts[0] - t0) if len(ts) else None,
            "matte_size": int(settled.group(1)) if settled else None,
            "model": picked.group(1) if picked else None}


def section_startup(tmp: Path, clip: Path) -> dict:
    # The first run warms the numba and model caches; the second is measured.
    runs = [live_run(tmp, clip, 1.5, [])["startup_s"] for _ in range(2)]
    return {"cold_s": runs[0], "warm_s": runs[1]}


def _cpu_ms(fn, n: int = 100) -> float:
    """Median CPU milliseconds of the whole process per call, over blocks of 10."""
    fn()
    blocks = []
    for _ in range(n // 10):
        t = time.process_time()
        for _ in range(10):
            fn()
        blocks.append((time.process_time() - t) * 100)
    return statistics.median(blocks)


def section_passes(tmp: Path, calls: int = 300) -> dict:
    """The light pipeline's per-frame passes at the 640x360 working size, one
    thread, ms per call (medians of ``calls``), each against the NumPy/OpenCV
    steps it replaced, written out here: the motion-gated smoothing, the speck
    removal's label areas and lookup, the edge colours (both small maps
    scaled up whole, then the shift). And the CPU of a whole 5-frame `livebg
    process` (start-up dominates) with one OpenBLAS thread, livebg's default,
    and with the pool of two the libraries start otherwise; medians of 3.
    And the edge colours on a 1280x720 matte (RVM's in `process`) with the
    local colours on a quarter-size copy and on the ~160 px copy used now."""
    from livebg.refine import matte_kernel
    from livebg.refine.decontaminate import _local_mean, _shift, foreground_delta
    from livebg.video import VideoWriter

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, trues = make_clip(p, background(2, 1280, 720), n=5, still=5)
    small = cv2.resize(frames[0], (640, 360), interpolation=cv2.INTER_AREA)
    a = cv2.resize(np.clip(trues[0], 0, 1).astype(np.float32), (640, 360), interpolation=cv2.INTER_AREA)
    prev = cv2.resize(np.clip(trues[1], 0, 1).astype(np.float32), (640, 360), interpolation=cv2.INTER_AREA)
    n, labels = cv2.connectedComponents((a > 0.1).astype(np.uint8), connectivity=8)
    lut = np.ones(n, np.float32)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)

    def ms(fn):
        fn()
        ts = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return 1000 * statistics.median(ts)

    def smooth_numpy():
        d = a - prev
        w = (1.0 - 0.6) + 0.6 * np.minimum(np.abs(d) * (1.0 / 0.25), 1.0)
        return prev + w * d

    def colours_whole():
        Is = cv2.resize(small, (160, 90), interpolation=cv2.INTER_AREA).astype(np.float32)
        As = cv2.resize(a, (160, 90), interpolation=cv2.INTER_AREA)
        B = cv2.resize(_local_mean(Is, (1.0 - As) ** 4, 4.0), (640, 360), interpolation=cv2.INTER_LINEAR)
        Fl = cv2.resize(_local_mean(Is, As ** 4, 4.0), (640, 360), interpolation=cv2.INTER_LINEAR)
        out = np.empty((360, 640, 3), np.float32)
        _shift(small, a, B, Fl, np.float32(0.7), out)  # the taps at ratio 1 read the full-size maps as they are
        return out

    try:
        res = {"smoothing": {"numpy": ms(smooth_numpy), "kernel": ms(lambda: matte_kernel.smooth(a, prev, 0.6, 0.25))},
               "speck_areas": {"numpy": ms(lambda: np.bincount(labels.ravel(), minlength=n)),
                               "kernel": ms(lambda: matte_kernel.areas(labels, n))},
               "speck_lookup": {"numpy": ms(lambda: a * lut[labels]),
                                "kernel": ms(lambda: matte_kernel.keep(a, labels, lut))},
               "edge_colours": {"numpy": ms(colours_whole), "kernel": ms(lambda: foreground_delta(small, a))}}
        # RVM's 720p matte: the local colours on a quarter-size copy (as before) and on the
        # ~160 px copy foreground_delta now takes at any size.
        big, a_big = frames[0], np.clip(trues[0], 0, 1).astype(np.float32)
        res["edge_colours_720p"] = {"numpy": ms(lambda: foreground_delta(big, a_big, scale=4)),
                                    "kernel": ms(lambda: foreground_delta(big, a_big))}
    finally:
        cv2.setNumThreads(threads)
    short = tmp / "short-passes.mp4"
    with VideoWriter(short, 1280, 720, 30) as w:
        for f in frames:
            w.write(f)
    cpu = {}
    for label, value in (("one", "1"), ("two", "2")):
        got = []
        for _ in range(3):
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "livebg", "process", str(short), "-o", str(tmp / "short-p.mp4"),
                            "--overwrite", "--matte-out", str(tmp / "short-p.mkv"), "--model", "mediapipe-selfie-onnx"],
                           check=True, capture_output=True, env=dict(os.environ, OPENBLAS_NUM_THREADS=value))
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            got.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
        cpu[label] = statistics.median(got)
    res["openblas_process_5_frames_cpu_s"] = cpu
    return res


def section_rvm_model(calls: int = 10) -> dict:
    """RVM's network on a 1280x720 frame at downsample_ratio 0.375 with the state
    carried, medians over ``calls`` after two warm-up calls: wall and process
    CPU ms per call, on 1 and 2 intra-op threads; the release file run whole
    (as documented), and what livebg's model thread does per frame (the graph
    cut at load, livebg.matting.rvm_graph: the picture scaled to the base in
    numba, the network), with the full-size step it leaves to the finishing
    thread timed on its own."""
    import onnxruntime as ort

    from livebg.matting import rvm as rvm_module
    from livebg.matting import rvm_graph
    from livebg.matting.rvm import Rvm

    def unsplit(path, fresh=False):
        """The cut graph as livebg made it before it split the small concatenated parts."""
        keep = rvm_graph.split_small_parts
        rvm_graph.split_small_parts = lambda model: 0
        try:
            return rvm_graph.cut(path).model
        finally:
            rvm_graph.split_small_parts = keep

    frame = make_clip({q.name: q for q in portraits()}["p_514ca06a"], background(2, 1280, 720), n=1, still=1)[0][0]
    x = cv2.dnn.blobFromImage(frame, scalefactor=1.0 / 255.0, swapRB=True)
    ratio = np.array([0.375], np.float32)
    model = SHARED / "models" / "rvm_mobilenetv3_fp32.onnx"

    def timed(call) -> dict:
        walls, cpus = [], []
        for i in range(calls + 2):
            t, c = time.perf_counter(), time.process_time()
            call()
            if i >= 2:
                walls.append(1000 * (time.perf_counter() - t))
                cpus.append(1000 * (time.process_time() - c))
        return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus)}

    res = {}
    for threads in (1, 2):
        o = ort.SessionOptions()
        o.intra_op_num_threads = threads
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as livebg runs it: CPU is real work
        s = ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])
        rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4

        def whole():
            nonlocal rec
            _, _, *rec = s.run(None, {"src": x, "r1i": rec[0], "r2i": rec[1], "r3i": rec[2], "r4i": rec[3],
                                      "downsample_ratio": ratio})
        res[f"threads_{threads}"] = timed(whole)
        m = Rvm(model, threads=threads)
        assert m._small is not None, "the graph was not cut"
        state, last = None, None

        def ours():
            nonlocal state, last
            last = m.predict(frame, state, defer=True)
            state = last.state
        res[f"livebg_threads_{threads}"] = timed(ours)
        res["livebg_finish"] = timed(lambda: m.finish(last, foreground=False))
        m.close()
        keep, rvm_module.cut_model = rvm_module.cut_model, unsplit
        try:
            m = Rvm(model, threads=threads)
        finally:
            rvm_module.cut_model = keep
        assert m._small is not None
        state = None
        res[f"unsplit_threads_{threads}"] = timed(ours)
        m.close()
    res["alpha_vs_release"] = _rvm_alpha_agreement(model, frames=150)
    return res


def _rvm_alpha_agreement(model: Path, frames: int) -> dict:
    """livebg's RVM alpha (the graph cut and split at load, numba's full-size
    step) against the release file run whole by ONNX Runtime, the state carried
    in both, over the first ``frames`` of the real talking-head clip at 1280x720,
    ratio 0.375: the largest and the mean absolute difference."""
    import onnxruntime as ort

    from livebg.matting.rvm import Rvm

    whole = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    ours = Rvm(model)
    ratio = np.array([0.375], np.float32)
    rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    state, worst, means = None, 0.0, []
    cap = cv2.VideoCapture(str(SHARED / "video" / "test.mp4"))
    try:
        for _ in range(frames):
            ok, f = cap.read()
            if not ok:
                break
            f = cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA)
            _, pha, *rec = whole.run(None, {"src": cv2.dnn.blobFromImage(f, 1 / 255, swapRB=True), "r1i": rec[0],
                                            "r2i": rec[1], "r3i": rec[2], "r4i": rec[3], "downsample_ratio": ratio})
            p = ours.predict(f, state)
            state = p.state
            d = np.abs(p.alpha - np.clip(pha[0, 0], 0, 1))
            worst, means = max(worst, float(d.max())), means + [float(d.mean())]
    finally:
        cap.release()
        ours.close()
    return {"frames": len(means), "max": worst, "mean": float(np.mean(means))}


def section_parts(tmp: Path, clip: Path) -> dict:
    import av

    from livebg.matting import open_named
    from livebg.video import VideoWriter

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, trues = make_clip(p, background(2, 1280, 720), n=5, still=5)
    small = cv2.resize(frames[0], (640, 360), interpolation=cv2.INTER_AREA)
    crop = np.ascontiguousarray(small[:, 140:500])  # about the tracked crop's size
    res = {}
    for name in ("mediapipe-selfie-onnx", "mediapipe-selfie"):
        m = open_named(name, offline=True)
        try:
            res[name] = {"cpu_ms_per_call": _cpu_ms(lambda: m.predict(crop))}
        finally:
            m.close()
    from livebg.matting import selfie

    keep, selfie.derived_model = selfie.derived_model, lambda *a, **k: None  # the ONNX file as released
    try:
        m = open_named("mediapipe-selfie-onnx", offline=True)
    finally:
        selfie.derived_model = keep
    try:
        res["selfie_released_cpu_ms_per_call"] = _cpu_ms(lambda: m.predict(crop))
    finally:
        m.close()
    short = tmp / "short.mp4"
    with VideoWriter(short, 1280, 720, 30) as w:
        for f in frames:
            w.write(f)
    bg_path = SHARED / "backgrounds" / "beach.png"
    for name in ("mediapipe-selfie-onnx", "mediapipe-selfie"):
        walls = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "livebg", "process", str(short), "-o", str(tmp / "short-out.mp4"), "--overwrite",
                            "--background", str(bg_path), "--matte-out", str(tmp / "short-out.mkv"),
                            "--model", name], check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
        res[name]["process_5_frames_s"] = statistics.median(walls)
    # The same command with the interpreter's teardown: main() called with its
    # arguments (as a caller in the same process would) returns instead of
    # leaving at once (livebg.cli.leave_now). Turns alternate; medians of 5.
    args = ["process", str(short), "-o", str(tmp / "short-out.mp4"), "--overwrite", "--background", str(bg_path),
            "--matte-out", str(tmp / "short-out.mkv"), "--model", "mediapipe-selfie-onnx"]
    with_teardown = f"import sys; from livebg.cli import main; raise SystemExit(main({args!r}))"
    walls = {"leave_now": [], "teardown": []}
    for _ in range(5):
        for key, cmd in (("leave_now", [sys.executable, "-m", "livebg", *args]),
                         ("teardown", [sys.executable, "-c", with_teardown])):
            t = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            walls[key].append(time.perf_counter() - t)
    res["process_5_frames_exit_s"] = {k: statistics.median(v) for k, v in walls.items()}
    # The edge colours with the crop refiner's copy of the frame (Matte.picture)
    # against scaling the frame again, the light pipeline's 720p composite, one
    # thread; the two alternate frame by frame (either order), medians.
    import numba

    from livebg.backgrounds import open_background
    from livebg.refine import Matte
    from livebg.stage import Stage

    numba.set_num_threads(1)
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    stage = Stage(open_named("mediapipe-selfie-onnx", offline=True), open_background(str(bg_path)),
                  decontaminate=True, light_wrap=0.3)
    try:
        stage.warmup()
        clip, _ = make_clip(p, background(2, 1280, 720), n=40, still=10)
        made = [stage.matte(f) for f in clip]
        times = {"picture": [], "again": []}
        for _ in range(3):
            for i, (f, m) in enumerate(zip(clip, made)):
                for key in (("picture", "again") if i % 2 else ("again", "picture")):
                    mm = m if key == "picture" else Matte(m.alpha)
                    t = time.thread_time()
                    stage.composite(f, mm, reuse=False)
                    times[key].append(1000 * (time.thread_time() - t))
        res["composite_picture_ms"] = {k: statistics.median(v) for k, v in times.items()}
    finally:
        stage.close()
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        cv2.setNumThreads(cv_threads)
    mattes = [(np.clip(t, 0, 1) * 255).astype(np.uint8) for t in trues]

    def ffv1(threads):
        buf = tmp / f"matte-{threads}.mkv"
        t = time.process_time()
        with av.open(str(buf), "w", format="matroska") as c:
            st = c.add_stream("ffv1", rate=30)
            st.width, st.height, st.pix_fmt = 1280, 720, "gray"
            if threads:
                st.codec_context.thread_count = threads
            for i in range(60):
                vf = av.VideoFrame.from_ndarray(mattes[i % len(mattes)], format="gray")
                vf.pts = i
                for pkt in st.encode(vf):
                    c.mux(pkt)
            for pkt in st.encode(None):
                c.mux(pkt)
        return (time.process_time() - t) / 60 * 1000

    res["ffv1_cpu_ms"] = {"default_threads": statistics.median(ffv1(0) for _ in range(3)),
                          "one_thread": statistics.median(ffv1(1) for _ in range(3))}
    return res


def section_look() -> dict:
    """The kernel's corrections at 720p against the plain kernel (same inputs, same buffer, same
    threads), on a real frame and matte; livebg.look's per-frame preparation; the blur's render
    with and without the matte."""
    from livebg.backgrounds import BlurBackground
    from livebg.compositing import composite
    from livebg.look import Look

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, trues = make_clip(p, background(2, 1280, 720), n=1, still=1)
    fg = frames[0]
    alpha = cv2.resize(trues[0], (640, 360), interpolation=cv2.INTER_AREA)
    bg = cover_background(1280, 720)
    out = np.empty_like(fg)
    wrap_look, match_look, both = Look(0.3, 0.0), Look(0.0, 0.5), Look(0.3, 0.5)
    wrap_args = wrap_look.kernel_args(fg, alpha, bg)
    match_args = match_look.kernel_args(fg, alpha, bg)
    both_args = both.kernel_args(fg, alpha, bg)
    delta = np.random.default_rng(0).normal(0, 8, (360, 640, 3)).astype(np.float32)
    blur = BlurBackground(25)
    fns = {"plain": lambda: composite(fg, alpha, bg, out),
           "color_match": lambda: composite(fg, alpha, bg, out, **match_args),
           "light_wrap": lambda: composite(fg, alpha, bg, out, **wrap_args),
           "both": lambda: composite(fg, alpha, bg, out, **both_args),
           "fg_delta": lambda: composite(fg, alpha, bg, out, fg_delta=delta),
           "all": lambda: composite(fg, alpha, bg, out, fg_delta=delta, **both_args),
           "prepare_both": lambda: both.kernel_args(fg, alpha, bg),
           "prepare_both_new_background": lambda: both.kernel_args(fg, alpha, bg.copy()),
           "copy_720p": lambda: bg.copy(),
           "blur_plain": lambda: blur.render(fg),
           "blur_without_person": lambda: blur.render(fg, alpha=alpha)}
    res = {"wall_ms": timeit(fns, rounds=20)}
    # CPU time on one thread: what each costs whatever else the machine is doing (a shared
    # machine's wall times drift; waiting for a busy core is not work).
    import numba

    threads, cv_threads = numba.get_num_threads(), cv2.getNumThreads()
    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        cpu = {}
        for _ in range(3):  # taking turns, medians of the three
            for k, fn in fns.items():
                cpu.setdefault(k, []).append(_cpu_ms(fn, 60))
        res["cpu_ms_one_thread"] = {k: statistics.median(v) for k, v in cpu.items()}
    finally:
        numba.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)
    for ms in (res["wall_ms"], res["cpu_ms_one_thread"]):
        for k in ("color_match", "light_wrap", "both", "fg_delta", "all"):
            ms[f"{k}_extra"] = ms[k] - ms["plain"]
        ms["prepare_new_background"] = ms["prepare_both_new_background"] - ms["copy_720p"]
        ms["blur_extra"] = ms["blur_without_person"] - ms["blur_plain"]
    return res


def cover_background(w: int, h: int) -> np.ndarray:
    from livebg.frames import cover_fit

    return cover_fit(cv2.imread(str(SHARED / "backgrounds" / "beach.png")), w, h)


def section_edge() -> dict:
    """The edge kernel against the NumPy/OpenCV steps it replaces, on a real frame."""
    from livebg.refine.edges import refine_edge

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, trues = make_clip(p, background(2, 1280, 720), n=1, still=1)
    small = cv2.resize(frames[0], (640, 360), interpolation=cv2.INTER_AREA)
    coarse = cv2.GaussianBlur(cv2.resize(trues[0], (640, 360), interpolation=cv2.INTER_AREA), (0, 0), 4)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    def numpy_path():
        return refine_edge(small, coarse, use_kernel=False)

    try:
        ms = timeit({"numpy": numpy_path, "numba": lambda: refine_edge(small, coarse)})
    finally:
        cv2.setNumThreads(threads)
    diff = float(np.abs(numpy_path() - refine_edge(small, coarse)).max())
    return {"numpy_ms": ms["numpy"], "numba_ms": ms["numba"], "ratio": ms["numba"] / ms["numpy"], "max_diff": diff}


def main() -> int:
    ap = argparse.ArgumentParser(description="livebg speed benchmarks")
    ap.add_argument("--only", default="process,kernel,look,edge,parts,live,rvm,modnet,startup,passes,rvmmodel")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the live runs")
    ap.add_argument("--runs", type=int, default=3, help="runs of each command in the process section")
    ap.add_argument("--rows", default="rvm,light", help="the process section's rows (rvm, light)")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "speed.json"))
    args = ap.parse_args()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    rows = tuple(args.rows.split(","))
    if not rows or any(r not in {p[0] for p in PROCESS_PAIRS} for r in rows):
        ap.error(f"--rows takes rvm, light or both (comma-separated), got {args.rows!r}")
    only = set(args.only.split(","))
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
           "date": time.strftime("%Y-%m-%d"),
           "command": " ".join(["python", "bench/speed.py", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clip = make_720p_clip(tmp / "clip720.mp4")
        if "kernel" in only:
            res["kernel"] = section_kernel()
            print(json.dumps(res["kernel"]), file=sys.stderr)
        if "look" in only:
            res["look"] = section_look()
            print(json.dumps(res["look"]), file=sys.stderr)
        if "parts" in only:
            res["parts"] = section_parts(tmp, clip)
            print(json.dumps(res["parts"]), file=sys.stderr)
        if "edge" in only:
            res["edge"] = section_edge()
            print(json.dumps(res["edge"]), file=sys.stderr)
        if "process" in only:
            res["process"] = section_process(tmp, clip, args.runs, rows)
            print(json.dumps(res["process"]), file=sys.stderr)
        if "live" in only:
            res["live"] = live_run(tmp, clip, args.seconds, [])
            print(json.dumps(res["live"]), file=sys.stderr)
        if "rvm" in only:
            res["rvm"] = live_run(tmp, clip, args.seconds, ["--model", "rvm"])
            print(json.dumps(res["rvm"]), file=sys.stderr)
        if "modnet" in only:
            res["modnet"] = live_run(tmp, clip, min(args.seconds, 30.0), ["--model", str(PROXY)])
            print(json.dumps(res["modnet"]), file=sys.stderr)
        if "startup" in only:
            res["startup"] = section_startup(tmp, clip)
        if "passes" in only:
            res["passes"] = section_passes(tmp)
            print(json.dumps(res["passes"]), file=sys.stderr)
        if "rvmmodel" in only:
            res["rvm_model"] = section_rvm_model()
            print(json.dumps(res["rvm_model"]), file=sys.stderr)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))
    print(report(res))
    Path(args.json).with_suffix(".md").write_text(report(res))
    return 0


def report(res: dict) -> str:
    lines = [f"Measured {res['date']} on {res['machine']} (`{res.get('command', 'python bench/speed.py')}`).", ""]
    lines += ["| what | baseline | livebg | ratio | target |", "|---|---:|---:|---:|---|"]
    if "process" in res:
        p = res["process"]
        targets = {"rvm": ">= 1.5x", "light": ">= 2x"}
        for row, model, loop_model in PROCESS_PAIRS:
            if row not in p:
                continue
            r = p[row]
            what = ("RVM as documented (whole frame, ratio 0.375)" if row == "rvm"
                    else "the selfie model on ONNX Runtime")
            lines.append(f"| `livebg process --model {model}`, 720p, H.264 + matte, whole command (fps) | plain loop, "
                         f"{what}, same encoder settings {r['loop_fps']:.1f} | {r['livebg_fps']:.1f} | "
                         f"**{r['ratio']:.2f}x** | {targets[row]} |")
            if "round_ratios" in r:
                rr = r["round_ratios"]
                lines.append(f"| the same, each round's ratio (the two commands back to back; median) | | | "
                             f"{', '.join(f'{x:.2f}' for x in rr)} ({statistics.median(rr):.2f}x) | |")
            lines.append(f"| the same, CPU time per frame, all threads, start-up included (ms) | "
                         f"{r['loop_cpu_ms_per_frame']:.1f} | {r['livebg_cpu_ms_per_frame']:.1f} | | |")
            # The rate this much CPU a frame allows with every core busy all the time, and how
            # near livebg came to it: the ceiling under the ratio without doing less work.
            cores = int(re.search(r"(\d+) cores", res["machine"]).group(1))
            ceiling = cores * 1000.0 / r["livebg_cpu_ms_per_frame"]
            lines.append(f"| the same, livebg's ceiling: {cores} cores never idle at its CPU per frame (fps) | "
                         f"{r['loop_fps']:.1f} | at most {ceiling:.1f} (it ran at {100 * r['livebg_fps'] / ceiling:.0f}%"
                         f" of that) | at most {ceiling / r['loop_fps']:.2f}x | |")
            if "plain_fps" in r:
                lines.append(f"| the same without edge colours and light wrap (`{' '.join(LIGHT_PLAIN)}`) (fps) | "
                             f"{r['loop_fps']:.1f} | {r['plain_fps']:.1f} | {r['plain_ratio']:.2f}x | |")
    for k, v in res.get("kernel", {}).items():
        lines.append(f"| compositing kernel {k} (ms) | OpenCV {v['opencv_ms']:.2f} | numba {v['numba_ms']:.2f} "
                     f"| {v['ratio']:.2f}x | <= 0.7x |")
    for k, v in res.get("kernel", {}).items():
        if "opencv_8bit_ms" in v:
            lines.append(f"| the same {k}, OpenCV with an 8-bit alpha (less accurate: off by up to "
                         f"{v['opencv_8bit_vs_reference']}) (ms) | {v['opencv_8bit_ms']:.2f} | {v['numba_ms']:.2f} "
                         f"| {v['ratio_8bit']:.2f}x | |")
    if "look" in res:
        w, c = res["look"]["wall_ms"], res["look"]["cpu_ms_one_thread"]
        for key, what in (("color_match", "colour match (a gain per channel)"), ("light_wrap", "light wrap"),
                          ("both", "light wrap and colour match"), ("fg_delta", "a foreground correction (fg_delta)"),
                          ("all", "all three")):
            lines.append(f"| compositing kernel 720p with {what}: wall, 2 threads / CPU, 1 thread (ms) | plain kernel "
                         f"{w['plain']:.2f} / {c['plain']:.2f} | {w[key]:.2f} / {c[key]:.2f} | +{w[f'{key}_extra']:.2f}"
                         f" / +{c[f'{key}_extra']:.2f} | <= +1 ms |")
        lines.append(f"| light wrap and colour match prepared per frame, 720p, CPU 1 thread (ms) | | "
                     f"{c['prepare_both']:.2f} (a still background); {c['prepare_new_background']:.2f} (a new one "
                     f"every frame) | | |")
        lines.append(f"| blur background 720p, the person left out: wall / CPU 1 thread (ms) | plain blur "
                     f"{w['blur_plain']:.2f} / {c['blur_plain']:.2f} | {w['blur_without_person']:.2f} / "
                     f"{c['blur_without_person']:.2f} | +{w['blur_extra']:.2f} / +{c['blur_extra']:.2f} | <= +1 ms |")
    if "edge" in res:
        e = res["edge"]
        lines.append(f"| matte edge step, 640x360, one thread (ms) | NumPy/OpenCV {e['numpy_ms']:.2f} | numba "
                     f"{e['numba_ms']:.2f} | {e['ratio']:.2f}x | |")
    if "parts" in res:
        pa = res["parts"]
        onnx, mp = pa["mediapipe-selfie-onnx"], pa["mediapipe-selfie"]
        lines.append(f"| selfie model per call, CPU (ms) | .tflite through MediaPipe {mp['cpu_ms_per_call']:.1f} | "
                     f"ONNX Runtime, one thread {onnx['cpu_ms_per_call']:.1f} | "
                     f"{onnx['cpu_ms_per_call'] / mp['cpu_ms_per_call']:.2f}x | |")
        if "selfie_released_cpu_ms_per_call" in pa:
            r = pa["selfie_released_cpu_ms_per_call"]
            lines.append(f"| the same through ONNX Runtime, CPU (ms) | the file as released {r:.2f} | its upsampling "
                         f"by scale (livebg.matting.derived) {onnx['cpu_ms_per_call']:.2f} | "
                         f"{onnx['cpu_ms_per_call'] / r:.2f}x | |")
        lines.append(f"| `livebg process` on a 5-frame clip, whole command (s) | with the .tflite "
                     f"{mp['process_5_frames_s']:.2f} | {onnx['process_5_frames_s']:.2f} | "
                     f"{onnx['process_5_frames_s'] / mp['process_5_frames_s']:.2f}x | |")
        if "process_5_frames_exit_s" in pa:
            e = pa["process_5_frames_exit_s"]
            lines.append(f"| the same (light model), with the interpreter's teardown / leaving at once when done "
                         f"(livebg.cli.leave_now) (s) | {e['teardown']:.2f} | {e['leave_now']:.2f} | "
                         f"{e['leave_now'] / e['teardown']:.2f}x | |")
        if "composite_picture_ms" in pa:
            c = pa["composite_picture_ms"]
            lines.append(f"| light pipeline's 720p composite with edge colours, one thread, CPU (ms) | the frame scaled "
                         f"again {c['again']:.2f} | the crop refiner's copy (Matte.picture) {c['picture']:.2f} | "
                         f"{c['picture'] / c['again']:.2f}x | |")
        f = pa["ffv1_cpu_ms"]
        lines.append(f"| FFV1 matte, 720p, CPU per frame (ms) | FFmpeg's default threads {f['default_threads']:.1f} | "
                     f"one thread {f['one_thread']:.1f} | {f['one_thread'] / f['default_threads']:.2f}x | |")
    if "live" in res:
        lv = res["live"]
        which = f" ({lv['model']})" if lv.get("model") else ""
        lines.append(f"| `livebg run` {lv['seconds']:.0f} s to the virtual camera, --model auto{which}: fps / repeated / latency p95 | 30 "
                     f"| {lv['device_fps']:.1f} fps / {lv['repeated_pct']:.2f}% / {lv['latency_p95_ms']} ms "
                     f"| | 30 fps, < 1%, <= 50 ms |")
    if "rvm" in res:
        rv = res["rvm"]
        size = f" at {rv['matte_size']} px" if rv.get("matte_size") else ""
        lines.append(f"| `livebg run --model rvm` {rv['seconds']:.0f} s to the virtual camera: fps / repeated / "
                     f"latency p95 / matting rate | 30 | {rv['device_fps']:.1f} fps / {rv['repeated_pct']:.2f}% / "
                     f"{rv['latency_p95_ms']} ms / {rv['matting_rate']:.1f} mattes/s{size} | | >= 28.5 fps, <= 1%, "
                     f"<= 60 ms, >= 15 mattes/s |")
    if "modnet" in res:
        mo = res["modnet"]
        size = f" at {mo['matte_size']} px" if mo.get("matte_size") else ""
        lines.append(f"| same with the MODNet-shaped proxy: fps / matting rate | 30 | {mo['device_fps']:.1f} fps / "
                     f"{mo['matting_rate']:.1f} mattes/s{size} | | 30 fps |")
    if "startup" in res:
        st = res["startup"]
        lines.append(f"| start to first virtual-camera frame, warm (s) | | {st['warm_s']:.2f} | | <= 3 s |")
    if "passes" in res:
        what = {"smoothing": "the matte's motion-gated smoothing", "speck_areas": "speck removal: label areas",
                "speck_lookup": "speck removal: the lookup", "edge_colours": "edge colours (foreground_delta)"}
        for key, label in what.items():
            v = res["passes"][key]
            lines.append(f"| {label}, 640x360, one thread (ms) | NumPy/OpenCV {v['numpy']:.2f} | numba "
                         f"{v['kernel']:.2f} | {v['kernel'] / v['numpy']:.2f}x | |")
        if "edge_colours_720p" in res["passes"]:
            v = res["passes"]["edge_colours_720p"]
            lines.append(f"| edge colours on RVM's 1280x720 matte, one thread (ms) | a quarter-size copy "
                         f"{v['numpy']:.2f} | the 160 px copy {v['kernel']:.2f} | {v['kernel'] / v['numpy']:.2f}x | |")
        c = res["passes"]["openblas_process_5_frames_cpu_s"]
        lines.append(f"| `livebg process` on a 5-frame clip, CPU of the whole command (s) | two OpenBLAS threads "
                     f"{c['two']:.2f} | one (livebg's default) {c['one']:.2f} | {c['one'] / c['two']:.2f}x | |")
    if "rvm_model" in res:
        rm = res["rvm_model"]
        # One frame after another (the state of frame k goes into frame k + 1): a frame
        # takes at least its wall time, and at least its CPU time over the two cores.
        rows = [("RVM's network alone, 720p, ratio 0.375, the release file run whole", "threads"),
                ("livebg's model thread: the same network, the graph cut at load (picture scaled to "
                 "the base in numba, convolutions over a small concatenated part split)", "livebg_threads"),
                ("the same without the split convolutions (livebg before)", "unsplit_threads")]
        for what, key in rows:
            if f"{key}_1" not in rm:
                continue
            one, two = rm[f"{key}_1"], rm[f"{key}_2"]
            floor = min(max(t["wall_ms"], t["cpu_ms"] / 2) for t in (one, two))
            lines.append(f"| {what}, per frame: wall / CPU (ms) | one thread {one['wall_ms']:.0f} / "
                         f"{one['cpu_ms']:.0f} | two threads {two['wall_ms']:.0f} / {two['cpu_ms']:.0f} | at most "
                         f"{1000 / floor:.1f} fps on two cores, nothing else done | |")
        if "alpha_vs_release" in rm:
            d = rm["alpha_vs_release"]
            lines.append(f"| livebg's RVM alpha against the release file run whole, the real clip's first {d['frames']} "
                         f"frames at 720p, state carried: largest / mean difference | | {d['max']:.1e} / "
                         f"{d['mean']:.1e} | | |")
        lines.append(f"| the full-size step it leaves to the finishing thread (alpha at 720p), one thread (ms) | | "
                     f"{rm['livebg_finish']['wall_ms']:.1f} / {rm['livebg_finish']['cpu_ms']:.1f} | | |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
