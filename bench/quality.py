"""Matte quality: livebg's default pipeline against the naive per-frame pipeline.

    python bench/quality.py            # full run (a few minutes on 2 cores)
    python bench/quality.py --quick    # 5 clips, for a fast look

Clips are synthesised from the 15 evaluation portraits in ../shared/data/eval
(bench/synth.py): each portrait through its reference matte over a
background, still for 20 frames and then leaning side to side, with sensor
noise, H.264-compressed. Every frame's true alpha is known.

- naive: the MediaPipe selfie model on the whole frame squeezed to 256x256,
  alpha upsampled bilinearly, no smoothing (what most tools do);
- livebg: the default pipeline (livebg.refine.CropRefiner), scaled to the
  frame as the compositor scales it;
- floor: the *true* matte reduced to the model's 256x256 and scaled back: no
  256x256 segmentation can do better than this on fine hair.

Also the unsupervised flicker on the real talking-head clip
../shared/data/video/test.mp4: mean |alpha_t - alpha_t-1| over pixels whose
image did not change (blurred grey level moved by less than 2/255).

Writes bench/results/quality.md and .json, and docs/img/edge-comparison.png
(a P3M portrait over the pymatting beach: both are permissively licensed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import SHARED, background, make_clip, portraits  # noqa: E402

from livebg import metrics  # noqa: E402
from livebg.matting import open_named  # noqa: E402
from livebg.refine import CropRefiner  # noqa: E402

W, H = 1280, 720
HEAVY_EVERY = 4  # Grad and Conn cost 30-150 ms a frame at 720p: every 4th frame


def evaluate(preds, trues) -> dict:
    heavy = range(0, len(preds), HEAVY_EVERY)
    return {
        "MAD": float(np.mean([metrics.mad(p, t) for p, t in zip(preds, trues)])),
        "MSE": float(np.mean([metrics.mse(p, t) for p, t in zip(preds, trues)])),
        "Grad": float(np.mean([metrics.grad(preds[i], trues[i]) for i in heavy])),
        "Conn": float(np.mean([metrics.conn(preds[i], trues[i]) for i in heavy])),
        "dtSSD": metrics.dtssd(preds, trues),
    }


def run_clips(matter, kind: str, which: list[int]) -> dict:
    """Per pipeline: list of per-clip metric dicts, and per-frame milliseconds."""
    out = {"naive": [], "livebg": [], "floor": []}
    ms = {"naive": [], "livebg": []}
    ps = portraits()
    for i in which:
        p = ps[i]
        frames, trues = make_clip(p, background(i, W, H), seed=i, kind=kind)
        for name in ("naive", "livebg"):
            ref = CropRefiner.naive(matter) if name == "naive" else CropRefiner(matter)
            preds = []
            for f in frames:
                t = time.perf_counter()
                a = ref(f).alpha
                ms[name].append((time.perf_counter() - t) * 1000)
                preds.append(a if a.shape == (H, W) else cv2.resize(a, (W, H), interpolation=cv2.INTER_LINEAR))
            out[name].append(evaluate(preds, trues) | {"clip": p.name})
        floor = [cv2.resize(cv2.resize(t, (256, 256), interpolation=cv2.INTER_AREA), (W, H)) for t in trues]
        out["floor"].append(evaluate(floor, trues) | {"clip": p.name})
        print(f"  {kind} {p.name}: MAD naive {out['naive'][-1]['MAD']:.2f} livebg {out['livebg'][-1]['MAD']:.2f}",
              file=sys.stderr, flush=True)
    return {"clips": out, "ms": {k: float(np.median(v)) for k, v in ms.items()}}


def flicker(matter, limit: int | None = None) -> dict:
    import av

    with av.open(str(SHARED / "video" / "test.mp4")) as c:
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    frames = frames[:limit] if limit else frames
    h, w = frames[0].shape[:2]
    greys = [cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY).astype(np.float32), (0, 0), 1.0) for f in frames]
    result = {}
    for name in ("naive", "livebg"):
        ref = CropRefiner.naive(matter, work_height=h) if name == "naive" else CropRefiner(matter)
        alphas = [cv2.resize(ref(f).alpha, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
        vals = []
        for k in range(1, len(frames)):
            static = np.abs(greys[k] - greys[k - 1]) < 2.0
            if static.any():
                vals.append(float(np.abs(alphas[k] - alphas[k - 1])[static].mean()))
        result[name] = float(np.mean(vals)) * 1e3
    result["frames"] = len(frames)
    return result


def mean_of(rows: list[dict]) -> dict:
    keys = [k for k in rows[0] if k != "clip"]
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def table(res: dict, title: str) -> list[str]:
    naive, live, floor = (mean_of(res["clips"][k]) for k in ("naive", "livebg", "floor"))
    lines = [f"**{title}**", "", "| metric | naive | livebg | livebg / naive | floor (true matte at 256x256) |",
             "|---|---:|---:|---:|---:|"]
    for k in ("MAD", "MSE", "Grad", "Conn", "dtSSD"):
        lines.append(f"| {k} | {naive[k]:.2f} | {live[k]:.2f} | **{live[k] / naive[k]:.2f}x** | {floor[k]:.2f} |")
    lines.append(f"| ms per 720p frame (median) | {res['ms']['naive']:.1f} | {res['ms']['livebg']:.1f} | | |")
    return lines + [""]


def edge_picture(matter, path: Path) -> None:
    """Naive vs livebg at the hair edge of a P3M portrait (face blurred, MIT)
    composited over the pymatting beach (MIT): nothing else may go in the README."""
    from livebg.compositing import composite
    from livebg.frames import cover_fit

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    room = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "background_bauhaus.png")), W, H)
    frames, trues = make_clip(p, room, n=12, still=12)
    new_bg = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "beach.png")), W, H)
    # Around the top of the head, found from the true matte.
    mask = trues[-1] > 0.5
    top = int(np.flatnonzero(mask.any(1))[0])
    left = int(np.flatnonzero(mask[top + 60:top + 260].any(0))[0])
    side = 300
    y0 = max(0, min(H - side, top - 30))
    x0 = max(0, min(W - side, left - side // 3))
    tiles = []
    for name in ("naive", "livebg"):
        ref = CropRefiner.naive(matter) if name == "naive" else CropRefiner(matter)
        for f in frames:
            a = ref(f).alpha
        out = composite(frames[-1], a, new_bg)
        crop = cv2.resize(out[y0:y0 + side, x0:x0 + side], None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
        for color, width in (((255, 255, 255), 4), ((0, 0, 0), 2)):
            cv2.putText(crop, name, (14, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, color, width, cv2.LINE_AA)
        tiles.append(crop)
    path.parent.mkdir(parents=True, exist_ok=True)
    gap = np.full((tiles[0].shape[0], 8, 3), 255, np.uint8)
    cv2.imwrite(str(path), np.hstack([tiles[0], gap, tiles[1]]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 clips, no stress variant, 150 frames of flicker")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality"), help="output path without suffix")
    args = ap.parse_args()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    matter = open_named("mediapipe-selfie-onnx")  # livebg's default model: MediaPipe's selfie network, on ONNX Runtime
    which = [0, 2, 3, 6, 9] if args.quick else list(range(len(portraits())))
    t0 = time.time()
    results = {"sway": run_clips(matter, "sway", which)}
    if not args.quick:
        results["fast"] = run_clips(matter, "fast", which)
    results["flicker"] = flicker(matter, 150 if args.quick else None)
    edge_picture(matter, ROOT / "docs" / "img" / "edge-comparison.png")
    matter.close()
    n = len(which)
    lines = ["## Matte quality (bench/quality.py)", "",
             f"{n} synthetic 1280x720 clips of 60 frames, one per evaluation portrait (3 hand-made mattes, "
             f"12 P3M-Net mattes), still then moving, sensor noise, H.264; MediaPipe selfie model ({matter.name}). "
             "MAD and MSE x1e3, Grad and Conn /1e3 (every 4th frame), dtSSD x1e2; lower is better.", ""]
    lines += table(results["sway"], "Leaning side to side (up to 9 px a frame)")
    if "fast" in results:
        lines += table(results["fast"], "Stress: swinging (up to 44 px a frame)")
    fl = results["flicker"]
    lines += [f"**Flicker on the real talking-head clip** ({fl['frames']} frames, mean |alpha change| where the "
              f"image did not change, x1e3): naive {fl['naive']:.3f}, livebg {fl['livebg']:.3f}, "
              f"**{fl['livebg'] / fl['naive']:.2f}x**", "",
              f"_{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, {time.time() - t0:.0f} s_", ""]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
