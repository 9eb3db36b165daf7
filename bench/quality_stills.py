"""Quality of `livebg cutout` on stills against reference mattes.

Compares, on ../shared/data/eval, the alpha of

* raw: the MediaPipe selfie model on the whole picture (squeezed to its
  256x256 input) scaled back bilinearly: what the live path starts from;
* cutout: the alpha channel of the PNG that `livebg cutout` writes
  (run as a user runs it, on all the pictures in one batch);

against the 3 hand-made mattes (eval/alpha, channel 0) and the 12 P3M
pseudo mattes (eval/pseudo_alpha, P3M-Net predictions), with SAD, MSE,
Grad and Conn from :mod:`livebg.metrics` (lower is better). Prints a
markdown table and writes it to bench/results/stills.md.

    python bench/quality_stills.py [--shared ../shared/data] [--out bench/results/stills.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("sad", "mse", "grad", "conn")
LABELS = {"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}
HAND_MADE = [
    ("4_image.png", "alpha/4_alpha.png"),
    ("9_image.png", "alpha/9_alpha.png"),
    ("boy-1518482_1920_12.png", "alpha/boy-1518482_1920_12.png"),
]


def eval_sets(shared: Path) -> dict[str, list[tuple[str, Path, Path]]]:
    ev = shared / "eval"
    hand = [(Path(i).stem, ev / "images" / i, ev / a) for i, a in HAND_MADE]
    p3m = [(p.stem, p, ev / "pseudo_alpha" / f"{p.stem}.png") for p in sorted((ev / "images").glob("p_*.jpg"))]
    return {"3 hand-made mattes (eval/alpha)": hand, "12 P3M pseudo mattes (eval/pseudo_alpha)": p3m}


def read_alpha(path: Path) -> np.ndarray:
    a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise SystemExit(f"cannot read {path}")
    if a.ndim == 3:
        a = a[..., 3] if a.shape[2] == 4 else a[..., 0]  # RGBA: alpha; 3-channel matte: channel 0
    return a.astype(np.float32) / 255.0


def scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    from livebg import metrics

    return {m: getattr(metrics, m)(pred, true) for m in METRICS}


def run_cutout(pictures: list[Path], out_dir: Path) -> tuple[float, str]:
    """`livebg cutout` on all pictures at once; returns (seconds, its stderr)."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "livebg", "cutout", *map(str, pictures), "-o", str(out_dir),
                        "--overwrite"], capture_output=True, text=True, cwd=ROOT)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"livebg cutout failed ({r.returncode}):\n{r.stderr}")
    return dt, r.stderr


def table(rows: list[tuple[str, dict, dict]]) -> list[str]:
    head = "| image | " + " | ".join(f"{LABELS[m]} raw | {LABELS[m]} cutout" for m in METRICS) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(METRICS))]

    def cells(raw, cut, bold_better=True):
        out = []
        for m in METRICS:
            r, c = raw[m], cut[m]
            out += [f"{r:.2f}", f"**{c:.2f}**" if (bold_better and c < r) else f"{c:.2f}"]
        return out

    for name, raw, cut in rows:
        lines.append(f"| {name} | " + " | ".join(cells(raw, cut)) + " |")
    mean_raw = {m: float(np.mean([r[1][m] for r in rows])) for m in METRICS}
    mean_cut = {m: float(np.mean([r[2][m] for r in rows])) for m in METRICS}
    lines.append("| **mean** | " + " | ".join(cells(mean_raw, mean_cut)) + " |")
    wins = {m: sum(1 for _, r, c in rows if c[m] < r[m]) for m in METRICS}
    lines.append("| cutout better on | " + " | ".join(f" | {wins[m]}/{len(rows)}" for m in METRICS) + " |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("LIVEBG_SHARED_DATA", str(ROOT.parent / "shared" / "data")),
                    help="the shared data folder (default ../shared/data or $LIVEBG_SHARED_DATA)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stills.md"), help="markdown file to write")
    args = ap.parse_args(argv)
    shared = Path(args.shared).resolve()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(shared / "models"))
    sys.path.insert(0, str(ROOT))
    from livebg.matting import open_named

    sets = eval_sets(shared)
    pictures = [img for items in sets.values() for _, img, _ in items]
    selfie = open_named("mediapipe-selfie", offline=True)
    with tempfile.TemporaryDirectory(prefix="livebg-stills-") as tmp:
        seconds, log = run_cutout(pictures, Path(tmp))
        model_line = next((ln.split("model: ", 1)[1] for ln in log.splitlines() if "model: " in ln), "?")
        out = [
            "# `livebg cutout` on stills: alpha against reference mattes",
            "",
            "raw = MediaPipe selfie on the whole picture (squeezed to 256x256), scaled back bilinearly; "
            "cutout = the alpha channel of the PNG `livebg cutout` writes "
            f"(model: {model_line}). SAD and Grad and Conn /1000, MSE x1000, whole picture, lower is better; "
            "bold where cutout beats raw.",
            "",
            f"`python bench/quality_stills.py` - {len(pictures)} pictures in {seconds:.1f} s "
            f"(one `livebg cutout` batch, {os.cpu_count()} CPUs, model loading included).",
        ]
        for title, items in sets.items():
            rows = []
            for name, img, ref in items:
                image = cv2.imread(str(img), cv2.IMREAD_COLOR)
                true = read_alpha(ref)
                h, w = image.shape[:2]
                raw = np.clip(cv2.resize(selfie.predict(image).alpha, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
                cut = read_alpha(Path(tmp) / f"{img.stem}.png")
                if cut.shape != true.shape:
                    raise SystemExit(f"{img.name}: cutout is {cut.shape}, reference {true.shape}")
                rows.append((name, scores(raw, true), scores(cut, true)))
            out += ["", f"## {title}", ""] + table(rows)
    selfie.close()
    text = "\n".join(out) + "\n"
    print(text)
    dest = Path(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
