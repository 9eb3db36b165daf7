"""Quality of `livebg cutout` on stills against reference mattes, for each --subject.

Compares, on ../shared/data/eval, the alpha of

* raw: the MediaPipe selfie model on the whole picture (squeezed to its
  256x256 input) scaled back bilinearly: what the live path starts from;
* person: the alpha channel of the PNG `livebg cutout --subject person`
  writes (the person pipeline: what `livebg cutout` did before --subject);
* auto: the same with `--subject auto` (the default), with its choice;
* object: the same with `--subject object` (the general model, IS-Net);

(each run as a user runs it, on all the pictures in one batch) against the
3 hand-made mattes (eval/alpha, channel 0) and the 12 P3M pseudo mattes
(eval/pseudo_alpha, P3M-Net predictions), with SAD, MSE, Grad and Conn from
:mod:`livebg.metrics` (lower is better). Then the same three on objects
drawn here with a known alpha (bench/objects.py), and what decontamination
does at their edges. Prints markdown and writes it to bench/results/stills.md.

    python bench/quality_stills.py [--shared ../shared/data] [--out bench/results/stills.md]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
METRICS = ("sad", "mse", "grad", "conn")
LABELS = {"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}
SUBJECTS = ("person", "auto", "object")
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


def run_cutout(pictures: list[Path], out_dir: Path, subject: str) -> tuple[float, str, dict[str, str]]:
    """`livebg cutout --subject SUBJECT` on all pictures at once; returns (seconds, its stderr,
    {picture name: "person"/"object" and why} for auto)."""
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "livebg", "cutout", *map(str, pictures), "-o", str(out_dir),
                        "--overwrite", "--subject", subject], capture_output=True, text=True, cwd=ROOT)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(f"livebg cutout --subject {subject} failed ({r.returncode}):\n{r.stderr}")
    choices = {}
    for line in r.stderr.splitlines():
        m = re.match(r"livebg: (\S+): (person|object): (.*)$", line)
        if m and m.group(1) != "model":
            choices[Path(m.group(1)).stem] = f"{m.group(2)} ({m.group(3)})"
    return dt, r.stderr, choices


def table(rows: list[tuple[str, dict, dict[str, dict]]], choices: dict[str, str]) -> list[str]:
    """rows: (name, raw scores, {subject: scores})."""
    cols = ["raw", *SUBJECTS]
    head = "| image | auto chose | " + " | ".join(f"{LABELS[m]} {c}" for m in METRICS for c in cols) + " |"
    lines = [head, "|---|---|" + "---:|" * (len(cols) * len(METRICS))]

    def cells(raw, by):
        out = []
        for m in METRICS:
            best = min([raw[m]] + [by[s][m] for s in SUBJECTS])
            for v in [raw[m]] + [by[s][m] for s in SUBJECTS]:
                out.append(f"**{v:.2f}**" if v == best else f"{v:.2f}")
        return out

    for name, raw, by in rows:
        lines.append(f"| {name} | {choices.get(name, '?').split(' ')[0]} | " + " | ".join(cells(raw, by)) + " |")
    mean_raw = {m: float(np.mean([r[1][m] for r in rows])) for m in METRICS}
    mean_by = {s: {m: float(np.mean([r[2][s][m] for r in rows])) for m in METRICS} for s in SUBJECTS}
    lines.append("| **mean** | | " + " | ".join(cells(mean_raw, mean_by)) + " |")
    return lines


def auto_vs_person(rows) -> str:
    worse = [(name, m) for name, _raw, by in rows for m in METRICS if by["auto"][m] > by["person"][m] + 1e-9]
    if not worse:
        return f"auto is no worse than person on any metric of any of the {len(rows)} pictures."
    return "auto is worse than person on: " + ", ".join(f"{n} {LABELS[m]}" for n, m in worse)


def synthetic_section(tmp: Path) -> list[str]:
    """The three subjects on objects with a known alpha; decontamination at their edges."""
    from objects import synthetic_objects

    from livebg.backgrounds import open_background
    from livebg.stills.compose import Options, compose

    samples = synthetic_objects(1440, 1920)
    folder = tmp / "synthetic"
    folder.mkdir()
    for s in samples:
        cv2.imwrite(str(folder / f"{s.name}.png"), s.image)
    pictures = [folder / f"{s.name}.png" for s in samples]
    by_subject, choices = {}, {}
    for subject in SUBJECTS:
        out = tmp / f"synthetic-{subject}"
        _dt, _log, ch = run_cutout(pictures, out, subject)
        choices.update(ch) if subject == "auto" else None
        by_subject[subject] = {s.name: scores(read_alpha(out / f"{s.name}.png"), s.alpha) for s in samples}
    lines = ["", "## Objects drawn here, with a known alpha (bench/objects.py, 1920x1440)", "",
             "| object | auto chose | " + " | ".join(f"{LABELS[m]} {s}" for m in METRICS for s in SUBJECTS) + " |",
             "|---|---|" + "---:|" * (len(SUBJECTS) * len(METRICS))]
    for s in samples:
        vals = []
        for m in METRICS:
            best = min(by_subject[x][s.name][m] for x in SUBJECTS)
            vals += [f"**{by_subject[x][s.name][m]:.2f}**" if by_subject[x][s.name][m] == best
                     else f"{by_subject[x][s.name][m]:.2f}" for x in SUBJECTS]
        lines.append(f"| {s.name} | {choices.get(s.name, '?').split(' ')[0]} | " + " | ".join(vals) + " |")

    # Decontamination: the object pipeline's alpha, the object composited on white and on a dark
    # grey, against the true composite (true colour, true alpha), at the edge (0.05 < true alpha < 0.95).
    lines += ["", "Colour decontamination at the objects' edges (mean absolute error of the composite, "
              "0-255, where the true alpha is between 0.05 and 0.95; the alpha is the object pipeline's):", "",
              "| object | new background | decontaminated | photo colours |", "|---|---|---:|---:|"]
    from objects import SYNTHETIC

    for s in samples:
        alpha = read_alpha(tmp / "synthetic-object" / f"{s.name}.png")
        make, _bg = SYNTHETIC[s.name.removeprefix("synthetic-")]
        true_fg, _a = make(*s.image.shape[:2])
        edge = (s.alpha > 0.05) & (s.alpha < 0.95)
        for spec in ("white", "color:#202020"):
            bg = open_background(spec, still=True)
            new = bg.render(s.image).astype(np.float32)
            reference = true_fg * s.alpha[..., None] + new * (1 - s.alpha[..., None])
            errs = []
            for dec in (True, False):
                out = compose(s.image, alpha, Options(background=spec, decontaminate=dec), bg).astype(np.float32)
                errs.append(float(np.abs(out - reference)[edge].mean()))
            lines.append(f"| {s.name} | {spec} | {errs[0]:.1f} | {errs[1]:.1f} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("LIVEBG_SHARED_DATA", str(ROOT.parent / "shared" / "data")),
                    help="the shared data folder (default ../shared/data or $LIVEBG_SHARED_DATA)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "stills.md"), help="markdown file to write")
    ap.add_argument("--no-synthetic", action="store_true", help="only the portraits")
    args = ap.parse_args(argv)
    shared = Path(args.shared).resolve()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(shared / "models"))
    sys.path.insert(0, str(ROOT))
    from livebg.matting import open_named

    sets = eval_sets(shared)
    pictures = [img for items in sets.values() for _, img, _ in items]
    selfie = open_named("mediapipe-selfie", offline=True)
    with tempfile.TemporaryDirectory(prefix="livebg-stills-") as tmp:
        runs = {}
        for subject in SUBJECTS:
            runs[subject] = run_cutout(pictures, Path(tmp) / subject, subject)
        log = runs["person"][1]
        model_line = next((ln.split("model: ", 1)[1] for ln in log.splitlines() if "model: " in ln), "?")
        choices = runs["auto"][2]
        out = [
            "# `livebg cutout` on stills: alpha against reference mattes",
            "",
            "raw = MediaPipe selfie on the whole picture (squeezed to 256x256), scaled back bilinearly; "
            "person / auto / object = the alpha channel of the PNG `livebg cutout --subject person|auto|object` "
            f"writes (person model: {model_line}). SAD and Grad and Conn /1000, MSE x1000, whole picture, lower "
            "is better; bold: the best of the four.",
            "",
            f"`python bench/quality_stills.py` - {len(pictures)} pictures, one `livebg cutout` batch each "
            f"({os.cpu_count()} CPUs, shared machine, model loading included): "
            + ", ".join(f"{s} {runs[s][0]:.1f} s" for s in SUBJECTS) + ".",
        ]
        all_rows = []
        for title, items in sets.items():
            rows = []
            for name, img, ref in items:
                image = cv2.imread(str(img), cv2.IMREAD_COLOR)
                true = read_alpha(ref)
                h, w = image.shape[:2]
                raw = np.clip(cv2.resize(selfie.predict(image).alpha, (w, h), interpolation=cv2.INTER_LINEAR),
                              0.0, 1.0)
                by = {}
                for subject in SUBJECTS:
                    cut = read_alpha(Path(tmp) / subject / f"{img.stem}.png")
                    if cut.shape != true.shape:
                        raise SystemExit(f"{img.name}: cutout is {cut.shape}, reference {true.shape}")
                    by[subject] = scores(cut, true)
                rows.append((name, scores(raw, true), by))
            out += ["", f"## {title}", ""] + table(rows, choices)
            all_rows += rows
        out += ["", f"**auto against person on all {len(all_rows)} portraits:** {auto_vs_person(all_rows)}",
                "", "auto's reasons: " + "; ".join(f"{k}: {v}" for k, v in sorted(choices.items()))]
        if not args.no_synthetic:
            out += synthetic_section(Path(tmp))
    selfie.close()
    text = "\n".join(out) + "\n"
    print(text)
    dest = Path(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
