"""The old room's colour at the edge: what decontamination removes, live and in `process`.

    python bench/fringe.py            # 15 portraits, about three minutes on 2 cores
    python bench/fringe.py --model mediapipe-selfie-onnx --out bench/results/fringe-light   # the light pipeline

Each evaluation portrait (../shared/data/eval) is laid through its reference
matte, at 1280x720, over two plain walls of strong, opposite colours (a
green and a magenta). livebg's own matting for files (Robust Video Matting
through the Stage, as `livebg process` runs it, the frame fed a few times
so the model's memory settles) gives the alpha on the green wall; with that
same alpha, each of the two frames is laid over a new background (the
pymatting beach) four ways:

- camera colours: the frame's own pixels (`--no-decontaminate`);
- RVM's fgr: the model's own foreground colours for that frame, at its
  output size;
- mix undone exactly: F = (I - (1 - a) B) / a with livebg's estimate of the
  room B (what livebg did first: right with the true alpha only);
- livebg: the Stage with decontamination on (the default): the pixel moved
  towards the subject's colour by the room's expected share
  (livebg/refine/decontaminate.py), added at the matte's size.

Everything but the old wall is the same in the two outputs, so their
difference is the old room showing through: the leak, measured in the band
where the alpha is fractional (0.02 to 0.98, and the true alpha above 0.02),
as the largest channel's difference in 8-bit levels (mean), and the share
of the band where it exceeds 20 levels (a fringe you see). With the camera's
colours the leak is alpha's complement times the walls' difference;
perfect foreground colours would leave none. And the error: the output
against the subject's true colours laid through the same alpha, where the
true alpha is over 0.3 (below that the true colour means little).

Writes bench/results/fringe.md and .json.
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

from synth import SHARED, portraits  # noqa: E402

from livebg.backgrounds import open_background  # noqa: E402
from livebg.errors import LivebgError  # noqa: E402
from livebg.matting import open_matter  # noqa: E402
from livebg.refine.base import Matte  # noqa: E402
from livebg.stage import Stage  # noqa: E402

W, H = 1280, 720
SETTLE = 5             # frames fed before the matte is taken
KEYS = ("camera", "rvm_fgr", "exact", "livebg")
LABELS = {"camera": "camera colours", "rvm_fgr": "RVM's fgr", "exact": "mix undone exactly",
          "livebg": "livebg (the default)"}
#: The portraits livebg's choices were made on (bench/clips.py's split); the rest only report.
TUNING = ("boy-1518482_1920_12", "p_07141906", "p_22fc0130", "p_51c916fc", "p_818e689d", "p_a09f6d7a",
          "p_bd6af989", "p_71bcce3a")


def exact_unmix(small: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The mix undone with the alpha taken as true, F = (I - (1 - a) B) / a, B and the subject's
    colour estimated as livebg does; leaning on the subject's colour below a = 0.3. The delta F - I."""
    h, w = alpha.shape
    Is = cv2.resize(small, (w // 4, h // 4), interpolation=cv2.INTER_AREA).astype(np.float32)
    As = cv2.resize(alpha, (w // 4, h // 4), interpolation=cv2.INTER_AREA)

    def local(weight):
        num = cv2.GaussianBlur(Is * weight[..., None], (0, 0), 4.0)
        return cv2.resize(num / np.maximum(cv2.GaussianBlur(weight, (0, 0), 4.0), 1e-4)[..., None], (w, h))
    B, Fl = local((1 - As) ** 4), local(As ** 4)
    I = small.astype(np.float32)
    a = alpha[..., None]
    t = np.clip((a - 0.05) / 0.25, 0, 1)
    F = t * (I - (1 - a) * B) / np.maximum(a, 1e-3) + (1 - t) * Fl
    delta = np.clip(F, 0, 255) - I
    delta[(alpha <= 1 / 255) | (alpha >= 254 / 255)] = 0
    return delta


def lay(portrait, room: np.ndarray):
    """The portrait at the frame's height, centred, over ``room``: (frame uint8, fg float, alpha float)."""
    ih, iw = portrait.image.shape[:2]
    s = H / ih
    w = round(iw * s)
    fg = cv2.resize(portrait.image, (w, H), interpolation=cv2.INTER_AREA).astype(np.float32)
    a = cv2.resize(portrait.alpha, (w, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    F = np.zeros((H, W, 3), np.float32)
    A = np.zeros((H, W), np.float32)
    x0 = (W - w) // 2
    sx0, dx0 = max(0, -x0), max(0, x0)
    n = min(w - sx0, W - dx0)
    F[:, dx0:dx0 + n] = fg[:, sx0:sx0 + n]
    A[:, dx0:dx0 + n] = a[:, sx0:sx0 + n]
    frame = F * A[..., None] + room.astype(np.float32) * (1.0 - A[..., None])
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8), F, A


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fringe"))
    ap.add_argument("--model", default="auto", help="the matting model (default: what `livebg process` takes)")
    args = ap.parse_args()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    t_start = time.time()
    new_bg_path = SHARED / "backgrounds" / "beach.png"
    try:
        matter, why = open_matter(args.model, purpose="file")
    except LivebgError as e:
        raise SystemExit(f"fringe.py: {e}")
    if not matter.caps.foreground:  # a segmentation model gives no fgr: that column is the camera's colours, small
        LABELS["rvm_fgr"] = "camera colours at the matte's size (no fgr)"
    print(f"matting: {why}", file=sys.stderr)
    stage = Stage(matter, open_background(str(new_bg_path)), decontaminate=True)
    if matter.caps.foreground:
        stage.refiner.foreground = True  # RVM's fgr for its column: the refiner makes it only when asked
    # The new background exactly as the compositor lays it (scaled to cover, centre-cropped).
    new = stage.background.render(np.zeros((H, W, 3), np.uint8)).astype(np.float32)
    walls = {"green": np.full((H, W, 3), (40, 200, 30), np.uint8), "magenta": np.full((H, W, 3), (200, 40, 200), np.uint8)}
    rows = []
    for p in portraits():
        outs = {k: {} for k in KEYS}
        alpha_small = band = None
        truth = None
        for wall, room in walls.items():
            frame, true_f, true_a = lay(p, room)
            stage.reset()
            for _ in range(SETTLE):
                matte = stage.matte(frame)
            if alpha_small is None:  # the green wall's alpha, for both walls
                alpha_small = matte.alpha
                alpha = cv2.resize(alpha_small, (W, H), interpolation=cv2.INTER_LINEAR)
                band = (alpha > 0.02) & (alpha < 0.98) & (true_a > 0.02)
                a3 = alpha[..., None]
            fixed = Matte(alpha_small)
            stage.decontaminate = False
            outs["camera"][wall] = stage.composite(frame, fixed, reuse=False)
            stage.decontaminate = True
            outs["livebg"][wall] = stage.composite(frame, fixed, reuse=False)
            fg_small = matte.foreground if matte.foreground is not None else cv2.resize(
                frame, alpha_small.shape[::-1], interpolation=cv2.INTER_AREA)  # no fgr: the camera's colours
            fgr = cv2.resize(fg_small, (W, H), interpolation=cv2.INTER_LINEAR).astype(np.float32)
            outs["rvm_fgr"][wall] = np.clip(new + a3 * (fgr - new) + 0.5, 0, 255).astype(np.uint8)
            h, w = alpha_small.shape
            small = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            fix = cv2.resize(exact_unmix(small, alpha_small), (W, H), interpolation=cv2.INTER_LINEAR)
            outs["exact"][wall] = np.clip(new + a3 * (np.clip(frame + fix, 0, 255) - new) + 0.5, 0, 255).astype(np.uint8)
            if truth is None:  # the subject's true colours over the new background, through the same alpha
                truth = new + a3 * (true_f - new)
                near = band & (true_a > 0.3)  # where the true colour means something
        row = {"portrait": p.name, "band_px": int(band.sum())}
        for k in KEYS:
            leak = np.abs(outs[k]["green"].astype(np.int16) - outs[k]["magenta"].astype(np.int16)).max(axis=2)[band]
            row[k], row[k + "_fringe"] = float(leak.mean()), float((leak > 20).mean())
            row[k + "_error"] = float(np.abs(outs[k]["green"].astype(np.float32) - truth).max(axis=2)[near].mean())
        rows.append(row)
        print(f"{p.name:24} " + "  ".join(f"{k} {row[k]:6.2f}" for k in KEYS), file=sys.stderr)
    stage.close()
    lines = ["# The old room's colour at the edge (`python bench/fringe.py`)", "",
             f"{len(rows)} evaluation portraits at 1280x720 over a green and a magenta wall, matted by {why}; "
             "each frame laid over the beach with the same alpha four ways.", "",
             "- **leak**: how much the output changes with the old wall alone, where the alpha is fractional "
             "(largest channel, 8-bit levels; in brackets the share of the band over 20 levels, a fringe you "
             "see); perfect foreground colours leak nothing;",
             "- **error**: the output against the subject's true colours laid through the same alpha, where the "
             "true alpha is over 0.3 (the green wall).", "",
             "Lower is better. The choice of livebg's strength (0.7) was made on the tuning portraits.", "",
             "| portraits | measure | " + " | ".join(LABELS[k] for k in KEYS) + " |",
             "|---|---|" + "---:|" * len(KEYS)]
    held = [r for r in rows if r["portrait"] not in TUNING]
    tune = [r for r in rows if r["portrait"] in TUNING]
    for label, sel in ((f"held out ({len(held)})", held), (f"tuning ({len(tune)})", tune)):
        leak = [f"{np.mean([r[k] for r in sel]):.2f} ({100 * np.mean([r[k + '_fringe'] for r in sel]):.0f}%)"
                for k in KEYS]
        err = [f"{np.mean([r[k + '_error'] for r in sel]):.2f}" for k in KEYS]
        lines.append(f"| {label} | leak | " + " | ".join(leak) + " |")
        lines.append("| | error | " + " | ".join(err) + " |")
    best = sum(r["livebg"] < min(r[k] for k in KEYS if k != "livebg") for r in rows)
    lines += ["", f"livebg leaks least of the four on {best} of {len(rows)} portraits."]
    lines += ["", f"_{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, {time.time() - t_start:.0f} s_", ""]
    text = "\n".join(lines)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(json.dumps({"why": why, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
