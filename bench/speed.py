"""Speed: livebg against a plain loop, the compositing kernel, the live path.

    python bench/speed.py              # everything (about 5 minutes on 2 cores)
    python bench/speed.py --only process,kernel
    python bench/speed.py --json bench/results/speed.json

Sections (each reports medians, and ratios against a baseline measured in the
same run, because a shared machine's absolute numbers drift):

process   `livebg process` on a 10 s 720p clip (default model, H.264 out plus
          --matte-out), the whole command timed with start-up, against a
          plain single-threaded loop: decode, MediaPipe selfie on the frame
          resized to 256x256, bilinear upsampling, float blend, libx264 out
          and the same lossless matte. Runs alternate, 3 of each.
kernel    the fused numba compositing kernel against the best OpenCV sequence
          for the same effect (matte scaled up bilinearly, blend, uint8 out),
          at 720p and 1080p.
live      `livebg run` with the clip as camera for --seconds (default 60) to
          the virtual camera (pyvirtualcam's real backend, the kernel device
          emulated as in the tests): output rate, repeated frames, latency,
          matting rate.
modnet    the same with the MODNet-shaped speed proxy (random weights) from
          ../shared/data/perf-proxy: the output rate held and the matting
          rate it settles on.
startup   `livebg run` start to first frame at the virtual camera, warm caches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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


def plain_loop(clip: Path, bg_path: Path, out: Path, matte_out: Path, encode: dict | None = None) -> float:
    """The single-threaded loop most tools are: returns frames per second.
    encode: libx264 options (None: libx264's own defaults, preset medium, crf 23)."""
    import av
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    from livebg.frames import cover_fit

    t0 = time.perf_counter()
    seg = vision.ImageSegmenter.create_from_options(vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=str(SHARED / "models" / "selfie_segmentation.tflite")),
        output_confidence_masks=True, output_category_mask=False))
    src = av.open(str(clip))
    rate = src.streams.video[0].average_rate
    dst = av.open(str(out), "w")
    vs = dst.add_stream("libx264", rate=rate)
    vs.width, vs.height, vs.pix_fmt = 1280, 720, "yuv420p"
    if encode:
        vs.options = dict(encode)
    mdst = av.open(str(matte_out), "w", format="matroska")
    ms = mdst.add_stream("ffv1", rate=rate)
    ms.width, ms.height, ms.pix_fmt = 1280, 720, "gray"
    bg = None
    n = 0
    for frame in src.decode(video=0):
        img = frame.to_ndarray(format="bgr24")
        h, w = img.shape[:2]
        if bg is None:
            bg = cover_fit(cv2.imread(str(bg_path)), w, h).astype(np.float32)
        small = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        mask = seg.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=small)).confidence_masks[0].numpy_view()
        a = cv2.resize(mask.reshape(256, 256), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        res = (img.astype(np.float32) * a + bg * (1.0 - a)).astype(np.uint8)
        for pkt in vs.encode(av.VideoFrame.from_ndarray(res, format="bgr24")):
            dst.mux(pkt)
        m8 = (a[..., 0] * 255 + 0.5).astype(np.uint8)
        for pkt in ms.encode(av.VideoFrame.from_ndarray(m8, format="gray")):
            mdst.mux(pkt)
        n += 1
    for s, c in ((vs, dst), (ms, mdst)):
        for pkt in s.encode(None):
            c.mux(pkt)
        c.close()
    src.close()
    seg.close()
    return n / (time.perf_counter() - t0)


def livebg_process(clip: Path, bg_path: Path, out: Path, matte_out: Path, frames: int) -> float:
    """The whole `livebg process` command, start-up included: frames per second."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "livebg", "process", str(clip), "-o", str(out), "--background",
                    str(bg_path), "--matte-out", str(matte_out)], check=True, capture_output=True)
    return frames / (time.perf_counter() - t0)


def section_process(tmp: Path, clip: Path) -> dict:
    bg_path = SHARED / "backgrounds" / "beach.png"
    import av

    with av.open(str(clip)) as c:
        frames = c.streams.video[0].frames or sum(1 for _ in c.decode(video=0))
    loop, loop_same, ours = [], [], []
    for _ in range(3):
        loop.append(plain_loop(clip, bg_path, tmp / "loop.mp4", tmp / "loop.mkv"))
        loop_same.append(plain_loop(clip, bg_path, tmp / "loop.mp4", tmp / "loop.mkv", ENCODE))
        ours.append(livebg_process(clip, bg_path, tmp / "ours.mp4", tmp / "ours.mkv", frames))
    lf, ls, of = statistics.median(loop), statistics.median(loop_same), statistics.median(ours)
    return {"frames": frames, "loop_fps": lf, "loop_same_encoder_fps": ls, "livebg_fps": of, "ratio": of / lf,
            "ratio_same_encoder": of / ls, "loop_runs": loop, "loop_same_encoder_runs": loop_same,
            "livebg_runs": ours}


def opencv_composite(fg, alpha, bg):
    """The best OpenCV sequence we found for the kernel's effect."""
    h, w = fg.shape[:2]
    a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.blendLinear(fg, bg, a, 1.0 - a)


def timeit(fn, n: int = 60) -> float:
    fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1000


def section_kernel() -> dict:
    from livebg.compositing import composite

    rng = np.random.default_rng(0)
    res = {}
    for name, (w, h) in {"720p": (1280, 720), "1080p": (1920, 1080)}.items():
        fg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        bg = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        alpha = rng.random((360, 640), dtype=np.float32)
        out = np.empty_like(fg)
        ref = opencv_composite(fg, alpha, bg)
        mine = composite(fg, alpha, bg, out)
        err = int(np.abs(ref.astype(int) - mine.astype(int)).max())
        cv_ms = timeit(lambda: opencv_composite(fg, alpha, bg))
        nb_ms = timeit(lambda: composite(fg, alpha, bg, out))
        res[name] = {"opencv_ms": cv_ms, "numba_ms": nb_ms, "ratio": nb_ms / cv_ms, "max_abs_diff": err}
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
    return {"seconds": seconds, "frames_out": int(sent), "output_fps": float(fps),
            "device_fps": float(dev.mean_fps()), "repeated": int(rep),
            "repeated_pct": 100.0 * int(rep) / max(1, int(sent)), "dropped_at_capture": int(drop),
            "latency_p50_ms": int(p50), "latency_p95_ms": int(p95), "matting_rate": float(mrate),
            "startup_s": float(ts[0] - t0) if len(ts) else None,
            "matte_size": int(settled.group(1)) if settled else None}


def section_startup(tmp: Path, clip: Path) -> dict:
    # The first run warms the numba and model caches; the second is measured.
    runs = [live_run(tmp, clip, 1.5, [])["startup_s"] for _ in range(2)]
    return {"cold_s": runs[0], "warm_s": runs[1]}


def main() -> int:
    ap = argparse.ArgumentParser(description="livebg speed benchmarks")
    ap.add_argument("--only", default="process,kernel,live,modnet,startup")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the live runs")
    ap.add_argument("--json", default=str(ROOT / "bench" / "results" / "speed.json"))
    args = ap.parse_args()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    only = set(args.only.split(","))
    res = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
           "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        clip = make_720p_clip(tmp / "clip720.mp4")
        if "kernel" in only:
            res["kernel"] = section_kernel()
            print(json.dumps(res["kernel"]), file=sys.stderr)
        if "process" in only:
            res["process"] = section_process(tmp, clip)
            print(json.dumps(res["process"]), file=sys.stderr)
        if "live" in only:
            res["live"] = live_run(tmp, clip, args.seconds, [])
            print(json.dumps(res["live"]), file=sys.stderr)
        if "modnet" in only:
            res["modnet"] = live_run(tmp, clip, min(args.seconds, 30.0), ["--model", str(PROXY)])
            print(json.dumps(res["modnet"]), file=sys.stderr)
        if "startup" in only:
            res["startup"] = section_startup(tmp, clip)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=1))
    print(report(res))
    Path(args.json).with_suffix(".md").write_text(report(res))
    return 0


def report(res: dict) -> str:
    lines = [f"Measured {res['date']} on {res['machine']} (`python bench/speed.py`).", ""]
    lines += ["| what | baseline | livebg | ratio | target |", "|---|---:|---:|---:|---|"]
    if "process" in res:
        p = res["process"]
        lines.append(f"| `livebg process`, 720p, H.264 + matte, whole command (fps) | plain loop, libx264 defaults "
                     f"{p['loop_fps']:.1f} | {p['livebg_fps']:.1f} | {p['ratio']:.2f}x | >= 2x |")
        lines.append(f"| the same, loop with livebg's encoder settings (veryfast, crf 20) (fps) | "
                     f"{p['loop_same_encoder_fps']:.1f} | {p['livebg_fps']:.1f} | {p['ratio_same_encoder']:.2f}x | |")
    for k, v in res.get("kernel", {}).items():
        lines.append(f"| compositing kernel {k} (ms) | OpenCV {v['opencv_ms']:.2f} | numba {v['numba_ms']:.2f} "
                     f"| {v['ratio']:.2f}x | <= 0.7x |")
    if "live" in res:
        lv = res["live"]
        lines.append(f"| `livebg run` {lv['seconds']:.0f} s to the virtual camera: fps / repeated / latency p95 | 30 "
                     f"| {lv['device_fps']:.1f} fps / {lv['repeated_pct']:.2f}% / {lv['latency_p95_ms']} ms "
                     f"| | 30 fps, < 1%, <= 50 ms |")
    if "modnet" in res:
        mo = res["modnet"]
        size = f" at {mo['matte_size']} px" if mo.get("matte_size") else ""
        lines.append(f"| same with the MODNet-shaped proxy: fps / matting rate | 30 | {mo['device_fps']:.1f} fps / "
                     f"{mo['matting_rate']:.1f} mattes/s{size} | | 30 fps |")
    if "startup" in res:
        st = res["startup"]
        lines.append(f"| start to first virtual-camera frame, warm (s) | | {st['warm_s']:.2f} | | <= 3 s |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
