"""The studio look, measured: the blur's glow, light wrap and colour match,
auto-frame, low light.

    python bench/studio.py                     # everything (about 10 minutes on 2 cores)
    python bench/studio.py --only blur,frame   # some sections
    python bench/studio.py --set tune          # only the clips the settings were tuned on

Clips are synthesised as in bench/synth.py (a portrait through its reference
matte over a background, moving, sensor noise, H.264), so the truth is known:
the room without the person, every frame's alpha. The portraits and the
backgrounds are split in two: the settings in livebg were chosen on the
"tune" set; the "report" set was only measured. Both are printed.

blur    In a band 4-60 px outside the person, the mean 8-bit error against
        the blurred true room (the room without the person, blurred by the
        same blur): livebg's output (default model and settings, blur
        background), the whole frame blurred (the person smeared into the
        room: the glow), livebg before the person was left out (the matte
        only used for compositing), and the oracle (the person left out by
        the true matte). Also the render's cost at 720p, with the matte and
        without, in the same process.
look    Light wrap and colour match on a new background (beach.png and the
        report set's backgrounds): the colour step across the person's edge
        (mean |inside ring - outside ring| at 3 px either side, over the
        same at 12 px: 1.0 is no sharper than the pictures' own contrast),
        the change inside the person (more than 15 px from the edge), and
        how far the colour match moves the person's mean colour toward the
        background's (in 8-bit levels, per channel).
frame   Auto-frame on clips where the person stands right of centre and
        sways: after the first 1.5 s, the share of frames with the person's
        centre (the true alpha's centroid, in the output) within 8% of the
        width from the middle, and the centre's motion frame to frame in
        the output divided by the zoom against the same in the input (mean
        and 95th percentile), the zoom reached, and the cost per frame.
light   Low light on clips darkened to a third of their light (in linear
        light, and, harder, a third of the 8-bit values) before the sensor
        noise and H.264: the person's brightness lifted, against the
        original clip's (target: within 15%), the frames' brightness
        stability over time (no pumping), and the noise (the temporal
        standard deviation of the still frames' background, 8-bit levels) of
        the original, the dark clip, lifted without and with the denoiser.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import SHARED, make_clip, portraits  # noqa: E402

from livebg.frames import cover_fit  # noqa: E402

W, H = 1280, 720

# Tuned on these; the report set is never looked at while choosing settings.
SETS = {
    "tune": {"portraits": ["4", "p_07141906", "p_09ba26b4", "p_22fc0130", "p_514ca06a"],
             "backgrounds": ["beach.png", "background_bauhaus.png", "0001.png"]},
    "report": {"portraits": ["9", "boy-1518482_1920_12", "p_51c916fc", "p_71bcce3a", "p_818e689d", "p_a09f6d7a",
                             "p_bac3c1ff", "p_bc5cfad1", "p_bd6af989", "p_d684dae3"],
               "backgrounds": ["total_landscaping.jpg", "sky.jpg", "sunset.jpg", "0002.png", "beach.jpg",
                               "blue.jpg", "ocean.jpeg"]},
}


def load_background(name: str, width: int = W, height: int = H) -> np.ndarray:
    img = cv2.imread(str(SHARED / "backgrounds" / name), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(name)
    return cover_fit(img, width, height)


def pairs(which: str) -> list[tuple]:
    """(portrait, background name) pairs of a set: each portrait once, the backgrounds in turn."""
    by_name = {p.name: p for p in portraits()}
    s = SETS[which]
    return [(by_name[n], s["backgrounds"][i % len(s["backgrounds"])]) for i, n in enumerate(s["portraits"])]


def open_model():
    from livebg.matting import open_matter

    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    matter, _ = open_matter("auto", "auto", True, purpose="file")
    return matter


# ---------------------------------------------------------------------------------------------- blur
def band_mask(true_alpha: np.ndarray, near: int = 4, far: int = 60) -> np.ndarray:
    """Pixels between ``near`` and ``far`` px outside the person (the true alpha > 0.01)."""
    outside = (true_alpha <= 0.01).astype(np.uint8)
    d = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    return (d >= near) & (d <= far)


def section_blur(which: str, strength: int = 25, n: int = 60) -> dict:
    from livebg import compositing
    from livebg.backgrounds import BlurBackground, open_background
    from livebg.config import Settings
    from livebg.stage import Stage

    blur = BlurBackground(strength)  # without a matte: no memory, the same for every clip
    rows = []
    for portrait, bg_name in pairs(which):
        room = load_background(bg_name)
        frames, trues = make_clip(portrait, room, n=n, still=20)
        ref = blur.render(room).astype(np.int16)
        oracle_blur = BlurBackground(strength)  # its memory of the room is this clip's only
        s = Settings()
        stage = Stage(open_model(), open_background(f"blur:{strength}"), smoothing=s.smoothing,
                      light_wrap=s.light_wrap, color_match=s.color_match)
        errs = {"livebg": [], "whole_frame": [], "matte_for_compositing_only": [], "oracle": []}
        try:
            for frame, true in zip(frames, trues):
                band = band_mask(true)
                matte = stage.matte(frame)
                out = stage.composite(frame, matte, reuse=False)
                whole = blur.render(frame)
                before = compositing.composite(frame, matte.alpha, whole)
                small_true = cv2.resize(true, (640, 360), interpolation=cv2.INTER_AREA)
                oracle = compositing.composite(frame, small_true, oracle_blur.render(frame, alpha=small_true))
                for k, img in (("livebg", out), ("whole_frame", whole), ("matte_for_compositing_only", before),
                               ("oracle", oracle)):
                    errs[k].append(float(np.abs(img.astype(np.int16) - ref)[band].mean()))
        finally:
            stage.close()
        row = {k: float(np.mean(v)) for k, v in errs.items()}
        row.update(portrait=portrait.name, background=bg_name)
        rows.append(row)
        print(f"  blur {which} {portrait.name} on {bg_name}: " +
              ", ".join(f"{k} {row[k]:.2f}" for k in errs), file=sys.stderr)
    keys = ["livebg", "whole_frame", "matte_for_compositing_only", "oracle"]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["ratio"] = mean["livebg"] / mean["whole_frame"]
    mean["ratio_before"] = mean["matte_for_compositing_only"] / mean["whole_frame"]
    mean["ratio_oracle"] = mean["oracle"] / mean["whole_frame"]
    return {"clips": rows, "mean": mean}


def section_blur_cost(strength: int = 25) -> dict:
    """The blur's render at 720p with the matte (the person left out) and without, in the same
    process, taking turns: wall time (bench/speed.py's timeit) and CPU time on one thread."""
    from speed import _cpu_ms, timeit

    from livebg.backgrounds import BlurBackground

    p = {q.name: q for q in portraits()}["p_514ca06a"]
    frames, trues = make_clip(p, load_background("total_landscaping.jpg"), n=1, still=1)
    alpha = cv2.resize(trues[0], (640, 360), interpolation=cv2.INTER_AREA)
    blur = BlurBackground(strength)
    fns = {"plain": lambda: blur.render(frames[0]), "without_person": lambda: blur.render(frames[0], alpha=alpha)}
    wall = timeit(fns, rounds=20)
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        cpu = {k: statistics.median(_cpu_ms(fn, 60) for _ in range(3)) for k, fn in fns.items()}
    finally:
        cv2.setNumThreads(threads)
    return {"wall_ms": wall, "cpu_ms_one_thread": cpu,
            "extra_wall_ms": wall["without_person"] - wall["plain"],
            "extra_cpu_ms": cpu["without_person"] - cpu["plain"]}


# ---------------------------------------------------------------------------------------------- look
def edge_step(out: np.ndarray, true_alpha: np.ndarray, near: int = 3, far: int = 12) -> float:
    """Mean |colour just inside the edge - just outside| (rings ``near`` px either side, blurred a
    little so noise does not count) over the same at ``far`` px: how sharply the person is cut
    out, relative to the picture's own contrast between person and background."""
    inside = (true_alpha > 0.5).astype(np.uint8)
    d_in = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    img = cv2.GaussianBlur(out.astype(np.float32), (0, 0), 1.0)

    def step(k):
        ring_in = (d_in > k - 1) & (d_in <= k + 1)
        ring_out = (d_out > k - 1) & (d_out <= k + 1)
        # Pair each inside pixel with the background just outside it: compare local means.
        mean_in = cv2.blur(img * ring_in[..., None], (4 * k + 1, 4 * k + 1))
        cnt_in = cv2.blur(ring_in.astype(np.float32), (4 * k + 1, 4 * k + 1))
        mean_out = cv2.blur(img * ring_out[..., None], (4 * k + 1, 4 * k + 1))
        cnt_out = cv2.blur(ring_out.astype(np.float32), (4 * k + 1, 4 * k + 1))
        both = (cnt_in > 0.02) & (cnt_out > 0.02) & ((d_in == 0) & (d_out <= 1) | (d_out == 0) & (d_in <= 1))
        diff = np.abs(mean_in[both] / cnt_in[both][:, None] - mean_out[both] / cnt_out[both][:, None])
        return float(diff.mean())

    return step(near) / step(far)


def section_look(which: str) -> dict:
    """Light wrap (at the default and twice it) and colour match (0.5) on new backgrounds, the true
    matte at the working size (so the figures are about the look, not the matte)."""
    from livebg import compositing
    from livebg.config import Settings
    from livebg.look import DEFAULT_COLOR_MATCH, Look, person_mean

    default = Settings().light_wrap
    variants = {"plain": (0.0, 0.0), f"wrap {default:g}": (default, 0.0), f"wrap {2 * default:g}": (2 * default, 0.0),
                f"match {DEFAULT_COLOR_MATCH:g}": (0.0, DEFAULT_COLOR_MATCH)}
    rows = []
    new_bgs = SETS[which]["backgrounds"][::-1]
    for i, (portrait, room_name) in enumerate(pairs(which)):
        bg_name = new_bgs[i % len(new_bgs)]
        if bg_name == room_name:
            bg_name = new_bgs[(i + 1) % len(new_bgs)]
        frames, trues = make_clip(portrait, load_background(room_name), n=1, still=1)
        frame, true = frames[0], trues[0]
        a = cv2.resize(true, (640, 360), interpolation=cv2.INTER_AREA)
        bg = load_background(bg_name)
        inside = cv2.distanceTransform((true > 0.5).astype(np.uint8), cv2.DIST_L2, 5) > 15
        outs = {}
        for name, (wrap, match) in variants.items():
            look = Look(wrap, match)
            outs[name] = compositing.composite(frame, a, bg, **look.kernel_args(frame, a, bg))
        row = {"portrait": portrait.name, "background": bg_name}
        for name, out in outs.items():
            row[f"{name}: edge step"] = edge_step(out, true)
            row[f"{name}: change inside"] = float(np.abs(out.astype(np.int16) - outs["plain"])[inside].mean())
        p0 = person_mean(frame, a)
        bgm = cv2.resize(bg, (160, 90), interpolation=cv2.INTER_AREA).reshape(-1, 3).mean(0)
        p1 = outs[f"match {DEFAULT_COLOR_MATCH:g}"][true > 0.9].reshape(-1, 3).mean(0)
        row["match: distance to the background's mean colour, before"] = float(np.abs(p0 - bgm).mean())
        row["match: after"] = float(np.abs(p1 - bgm).mean())
        rows.append(row)
        print(f"  look {which} {portrait.name} on {bg_name}: " +
              ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)), file=sys.stderr)
    keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
    return {"clips": rows, "mean": {k: float(np.mean([r[k] for r in rows])) for k in keys}}


# ---------------------------------------------------------------------------------------------- frame
def section_frame(which: str, n: int = 150, fps: float = 30.0, offset: float = 0.15) -> dict:
    """Auto-frame with the real model's mattes on clips of a person whose centre (the alpha's
    centroid) stands ``offset`` of the width right of the middle, swaying (bench/synth.py's sway,
    60 px either way) after half a second. (With the zoom at most 1.5x, a centre up to 1/6 of the
    width off the middle can be brought to it: the crop must stay inside the picture.)"""
    from synth import place
    from livebg.autoframe import AutoFramer
    from livebg.backgrounds import open_background
    from livebg.stage import Stage

    rows = []
    for portrait, bg_name in pairs(which):
        _, a0 = place(portrait, W, H, 0.0, 1.0)
        natural = float((a0.sum(0) * (np.arange(W) + 0.5)).sum() / a0.sum()) - W / 2
        frames, trues = make_clip(portrait, load_background(bg_name), n=n, still=15, offset=offset * W - natural)
        stage = Stage(open_model(), open_background("color:#000000"))
        framer = AutoFramer(W, H)
        wins, ms = [], []
        try:
            for i, (frame, true) in enumerate(zip(frames, trues)):
                matte = stage.matte(frame)
                t0 = time.process_time()
                win = framer.update(matte.alpha, i / fps)
                framer.apply(frame, win)
                ms.append((time.process_time() - t0) * 1000)
                wins.append(win)
        finally:
            stage.close()
        cols = np.arange(W) + 0.5
        rows_y = np.arange(H) + 0.5
        cin = np.array([[(t.sum(0) * cols).sum() / t.sum(), (t.sum(1) * rows_y).sum() / t.sum()] for t in trues])
        cout = np.array([win.to_output(x, y, W, H) for (x, y), win in zip(cin, wins)])
        zoom = np.array([w.zoom for w in wins])
        first = int(round(1.5 * fps))
        centred = np.abs(cout[first:, 0] - W / 2) <= 0.08 * W
        move_in = np.linalg.norm(np.diff(cin, axis=0), axis=1)[first:]
        move_out = (np.linalg.norm(np.diff(cout, axis=0), axis=1) / zoom[1:])[first:]
        row = {"portrait": portrait.name, "background": bg_name,
               "start_offset_pct": float(100 * (cin[0, 0] - W / 2) / W),
               "centred_pct": float(100 * centred.mean()),
               "offset_pct_median": float(100 * np.median(np.abs(cout[first:, 0] - W / 2)) / W),
               "motion_in_mean": float(move_in.mean()), "motion_out_mean": float(move_out.mean()),
               "motion_in_p95": float(np.percentile(move_in, 95)), "motion_out_p95": float(np.percentile(move_out, 95)),
               "zoom_median": float(np.median(zoom[first:])), "zoom_max": float(zoom.max()),
               "cpu_ms": float(np.median(ms))}
        rows.append(row)
        print(f"  frame {which} {portrait.name} on {bg_name}: " +
              ", ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), file=sys.stderr)
    keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    mean["centred_pct_min"] = float(min(r["centred_pct"] for r in rows))
    mean["motion_ratio_max"] = float(max(r["motion_out_mean"] / r["motion_in_mean"] for r in rows))
    return {"clips": rows, "mean": mean}


def section_zoom_detail() -> dict:
    """How much detail a zoom keeps: a portrait at 4x the output's resolution stands for the
    scene; the camera sees it at 1280x720; the zoomed crop, scaled up, is compared with the same
    crop taken from the scene at full resolution. The share of the true gradient energy kept."""
    by_name = {p.name: p for p in portraits()}
    kept = {}
    for z in (1.0, 1.25, 1.5, 1.75, 2.0):
        vals = []
        for name in SETS["report"]["portraits"][2:6]:
            img = by_name[name].image
            scene = cover_fit(img, 4 * W // 2, 4 * H // 2) if img.shape[0] < 4 * H else cover_fit(img, 4 * W, 4 * H)
            sh, sw = scene.shape[:2]
            cam = cv2.resize(scene, (W, H), interpolation=cv2.INTER_AREA)
            cw, ch = int(round(W / z)), int(round(H / z))
            x0, y0 = (W - cw) // 2, (H - ch) // 2
            ours = cv2.resize(cam[y0:y0 + ch, x0:x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)
            fx, fy = sw / W, sh / H
            truth = cv2.resize(scene[int(y0 * fy):int((y0 + ch) * fy), int(x0 * fx):int((x0 + cw) * fx)], (W, H),
                               interpolation=cv2.INTER_AREA)

            def energy(x):
                g = cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32)
                return float((cv2.Sobel(g, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(g, cv2.CV_32F, 0, 1) ** 2).mean())

            vals.append(energy(ours) / energy(truth))
        kept[f"{z:g}"] = float(np.mean(vals))
    return kept


# ---------------------------------------------------------------------------------------------- light
def darken(img: np.ndarray, how: str) -> np.ndarray:
    """A third of the light: in linear light ('linear') or of the 8-bit values ('values')."""
    from livebg.lowlight import _linear_to_srgb, _srgb_to_linear

    if how == "values":
        return np.clip(img.astype(np.float32) / 3.0 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(_linear_to_srgb(_srgb_to_linear(img) / 3.0) + 0.5, 0, 255).astype(np.uint8)


# The sensor noise must survive the compression to be measured: a high-quality stream here.
CRF_LIGHT = 16


def section_light(which: str, n: int = 60, fps: float = 30.0) -> dict:
    import numba
    from synth import Portrait

    from livebg.lowlight import LowLight

    # CPU time on one thread (numba's and OpenCV's pools would count their waiting as work).
    threads, cv_threads = numba.get_num_threads(), cv2.getNumThreads()
    numba.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        return _light(which, n, fps, Portrait, LowLight)
    finally:
        numba.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)


def _light(which, n, fps, Portrait, LowLight) -> dict:
    rows = []
    for portrait, bg_name in pairs(which):
        room = load_background(bg_name)
        orig, trues = make_clip(portrait, room, n=n, still=20, seed=1, crf=CRF_LIGHT)
        still_bg = np.logical_and.reduce([t < 0.01 for t in trues[:20]])

        def luma(x):
            return cv2.cvtColor(x, cv2.COLOR_BGR2GRAY).astype(np.float32)

        def person_level(frames):
            return float(np.mean([luma(f)[t > 0.95].mean() for f, t in zip(frames, trues)]))

        def noise(frames):  # temporal std over the still frames, on the background that stays still
            stack = np.stack([f.astype(np.float32) for f in frames[2:20]])
            return float(stack.std(axis=0)[still_bg].mean())

        row = {"portrait": portrait.name, "background": bg_name, "original_person": person_level(orig),
               "original_noise": noise(orig)}
        for how in ("linear", "values"):
            dark_p = Portrait(portrait.name, darken(portrait.image, how), portrait.alpha, portrait.handmade)
            dark, _ = make_clip(dark_p, darken(room, how), n=n, still=20, seed=1, crf=CRF_LIGHT)
            outs = {}
            for name, denoise in (("lifted", True), ("lifted_no_filter", False)):
                ll = LowLight(denoise=denoise)
                ms = []
                frames = []
                for i, f in enumerate(dark):
                    t0 = time.process_time()
                    frames.append(ll(f, i / fps))
                    ms.append((time.process_time() - t0) * 1000)
                outs[name] = frames
                row[f"{how}: {name} cpu_ms"] = float(np.median(ms))
            lifted = outs["lifted"]
            means = np.array([luma(f).mean() for f in lifted[5:]])
            row.update({f"{how}: dark_person": person_level(dark), f"{how}: lifted_person": person_level(lifted),
                        f"{how}: ratio": person_level(lifted) / row["original_person"],
                        f"{how}: dark_noise": noise(dark), f"{how}: lifted_noise": noise(lifted),
                        f"{how}: lifted_no_filter_noise": noise(outs["lifted_no_filter"]),
                        f"{how}: brightness_wobble_pct": float(100 * np.abs(np.diff(means)).mean() / means.mean())})
        rows.append(row)
        print(f"  light {which} {portrait.name} on {bg_name}: " +
              ", ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float)), file=sys.stderr)
    keys = [k for k in rows[0] if isinstance(rows[0][k], float)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in keys}
    for how in ("linear", "values"):
        mean[f"{how}: ratio_min"] = float(min(r[f"{how}: ratio"] for r in rows))
        mean[f"{how}: ratio_max"] = float(max(r[f"{how}: ratio"] for r in rows))
    return {"clips": rows, "mean": mean}


# ---------------------------------------------------------------------------------------------- report
def report(res: dict) -> str:
    lines = [f"Measured {res['date']} on {res['machine']} (`python bench/studio.py`). Clips: bench/synth.py's, "
             f"a portrait over a background at 1280x720, H.264; tune = {', '.join(SETS['tune']['portraits'])} over "
             f"{', '.join(SETS['tune']['backgrounds'])}; report = {', '.join(SETS['report']['portraits'])} over "
             f"{', '.join(SETS['report']['backgrounds'])}. Settings were chosen on the tune set only.", ""]
    if "blur" in res:
        lines += ["Blur (strength 25): mean 8-bit error 4-60 px outside the person against the room blurred "
                  "without the person in it", "",
                  "| set | whole picture blurred | livebg before (matte for compositing only) | livebg | "
                  "livebg / whole | oracle (true matte) | target |", "|---|---:|---:|---:|---:|---:|---|"]
        for w, b in res["blur"].items():
            m = b["mean"]
            lines.append(f"| {w} ({len(b['clips'])} clips) | {m['whole_frame']:.2f} | {m['matte_for_compositing_only']:.2f} "
                         f"({m['ratio_before']:.2f}x) | {m['livebg']:.2f} | **{m['ratio']:.2f}x** | {m['oracle']:.2f} "
                         f"({m['ratio_oracle']:.2f}x) | <= 0.4x |")
        c = res.get("blur_cost")
        if c:
            lines += ["", f"Cost of the blur's render at 720p: plain {c['cpu_ms_one_thread']['plain']:.2f} ms, the "
                      f"person left out {c['cpu_ms_one_thread']['without_person']:.2f} ms (CPU, one thread: "
                      f"+{c['extra_cpu_ms']:.2f} ms); wall {c['wall_ms']['plain']:.2f} / "
                      f"{c['wall_ms']['without_person']:.2f} ms."]
        lines.append("")
    if "look" in res:
        lines += ["Light wrap and colour match (true matte at the working size; edge step: the colour step "
                  "across the edge at 3 px over that at 12 px)", "",
                  "| set | edge step: plain / wrap 0.3 / wrap 0.6 / match 0.5 | change > 15 px inside: wrap 0.3 / "
                  "0.6 (levels) | person's mean to the background's mean: before / after match 0.5 (levels) |",
                  "|---|---|---|---|"]
        for w, lk in res["look"].items():
            m = lk["mean"]
            lines.append(f"| {w} | {m['plain: edge step']:.3f} / {m['wrap 0.3: edge step']:.3f} / "
                         f"{m['wrap 0.6: edge step']:.3f} / {m['match 0.5: edge step']:.3f} | "
                         f"{m['wrap 0.3: change inside']:.2f} / {m['wrap 0.6: change inside']:.2f} | "
                         f"{m['match: distance to the background' + chr(39) + 's mean colour, before']:.1f} / "
                         f"{m['match: after']:.1f} |")
        lines.append("")
    if "frame" in res:
        lines += ["Auto-frame: the person's centre 15% of the width right of the middle, swaying 60 px either "
                  "way; after the first 1.5 s", "",
                  "| set | frames within 8% of the middle: mean (worst clip) | centre's motion per frame, input / "
                  "output over zoom: mean, p95 (px) | worst clip's motion ratio | zoom (median) | CPU per frame |",
                  "|---|---|---|---|---|---|"]
        for w, fr in res["frame"].items():
            m = fr["mean"]
            lines.append(f"| {w} ({len(fr['clips'])} clips) | {m['centred_pct']:.1f}% ({m['centred_pct_min']:.1f}%) | "
                         f"{m['motion_in_mean']:.2f} / {m['motion_out_mean']:.2f}, {m['motion_in_p95']:.2f} / "
                         f"{m['motion_out_p95']:.2f} | {m['motion_ratio_max']:.3f} | {m['zoom_median']:.2f} | "
                         f"{m['cpu_ms']:.2f} ms |")
        if "zoom_detail" in res:
            lines += ["", "Detail a zoom keeps (gradient energy of the zoomed crop against the same crop at the "
                      "scene's own resolution): " + ", ".join(f"{z}x {100 * v:.0f}%" for z, v in res["zoom_detail"].items())]
        lines.append("")
    if "light" in res:
        lines += ["Low light: the clip with a third of its light (in linear light; in brackets a third of the "
                  "8-bit values), sensor noise and H.264 after", "",
                  "| set | person's brightness lifted / original: mean (range) | noise (temporal std, levels): "
                  "original / dark / lifted without filter / lifted | frame brightness wobble | CPU per frame |",
                  "|---|---|---|---|---|"]
        for w, li in res["light"].items():
            m = li["mean"]
            lines.append(f"| {w} ({len(li['clips'])} clips) | {m['linear: ratio']:.2f} ({m['linear: ratio_min']:.2f}-"
                         f"{m['linear: ratio_max']:.2f}) [{m['values: ratio']:.2f} ({m['values: ratio_min']:.2f}-"
                         f"{m['values: ratio_max']:.2f})] | {m['original_noise']:.2f} / {m['linear: dark_noise']:.2f} / "
                         f"{m['linear: lifted_no_filter_noise']:.2f} / {m['linear: lifted_noise']:.2f} "
                         f"[{m['values: dark_noise']:.2f} / {m['values: lifted_no_filter_noise']:.2f} / "
                         f"{m['values: lifted_noise']:.2f}] | {m['linear: brightness_wobble_pct']:.2f}% | "
                         f"{m['linear: lifted cpu_ms']:.2f} ms |")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(description="livebg studio-look benchmarks")
    ap.add_argument("--only", default="blur,look,frame,light")
    ap.add_argument("--set", default="tune,report", help="tune, report or both")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "studio"),
                    help="where to write .json and .md (when both sets ran)")
    args = ap.parse_args()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    only = set(args.only.split(","))
    sets = args.set.split(",")
    res: dict = {"date": time.strftime("%Y-%m-%d"), "machine": f"{os.cpu_count()} cores"}
    if "blur" in only:
        res["blur"] = {w: section_blur(w) for w in sets}
        res["blur_cost"] = section_blur_cost()
    if "look" in only:
        res["look"] = {w: section_look(w) for w in sets}
    if "frame" in only:
        res["frame"] = {w: section_frame(w) for w in sets}
        res["zoom_detail"] = section_zoom_detail()
    if "light" in only:
        res["light"] = {w: section_light(w) for w in sets}
    if set(sets) == {"tune", "report"}:
        # Both sets: the sections measured replace theirs in the results (the others stay).
        path = Path(args.out).with_suffix(".json")
        if path.exists() and only != {"blur", "look", "frame", "light"}:
            res = {**json.loads(path.read_text()), **res}
        path.write_text(json.dumps(res, indent=1))
        Path(args.out).with_suffix(".md").write_text(report(res))
    print(report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
