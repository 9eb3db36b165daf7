"""Which steps the object pipeline (livebg.stills.general.ObjectMatter) keeps, measured.

The general model runs once per picture; then every combination of

* upsampling to full size: bilinear, or guided by the full-size picture
  (livebg.refine.guided.guided_upsample, as the person pipeline does);
* specks dropped (regions under 2% of the largest) or not;
* the edges re-solved as a matting problem on the colour picture
  (livebg.stills.solver.matting_refine, the person pipeline's edge step,
  in a narrow band) or not;

is scored (SAD, MSE, Grad, Conn; lower is better) on the 15 evaluation
portraits and on the objects drawn with a known alpha (bench/objects.py,
at 1920x1440 so that upsampling matters), with the CPU seconds of the
steps after the model. Writes bench/results/object_variants.md.

    python bench/object_variants.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
METRICS = ("sad", "mse", "grad", "conn")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("LIVEBG_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "object_variants.md"))
    args = ap.parse_args(argv)
    shared = Path(args.shared).resolve()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(shared / "models"))
    from objects import synthetic_objects
    from quality_stills import eval_sets, read_alpha

    from livebg import metrics
    from livebg.stills.general import ObjectMatter

    matter = ObjectMatter(offline=True)
    cases = []
    for items in eval_sets(shared).values():
        for _name, img, ref in items:
            image = cv2.imread(str(img), cv2.IMREAD_COLOR)
            cases.append(("portraits (15)", image, read_alpha(ref), matter.model_alpha(image)))
    for s in synthetic_objects(1440, 1920):
        cases.append(("drawn objects (4)", s.image, s.alpha, matter.model_alpha(s.image)))
    defaults = (matter.upsample, matter.drop_specks, matter.solve)
    results: dict[tuple, dict[str, list]] = {}
    for up, drop, solve in itertools.product(("bilinear", "guided"), (False, True), (False, True)):
        matter.upsample, matter.drop_specks, matter.solve = up, drop, solve
        for group, image, true, raw in cases:
            t = time.process_time()
            alpha = matter.alpha(image, raw)
            cpu = time.process_time() - t
            row = [getattr(metrics, m)(alpha, true) for m in METRICS] + [cpu]
            results.setdefault((up, drop, solve), {}).setdefault(group, []).append(row)
    matter.close()
    groups = list(dict.fromkeys(g for g, *_ in cases))
    out = ["# The object pipeline's steps, measured", "",
           "`python bench/object_variants.py`: the general model's alpha for each picture, then each combination "
           "of the steps after it. Means; SAD, Grad, Conn /1000, MSE x1000, lower is better; CPU: seconds per "
           "picture for the steps after the model. The last column marks livebg's choice "
           f"(upsampling {defaults[0]}, specks dropped {'yes' if defaults[1] else 'no'}, "
           f"matting solve {'yes' if defaults[2] else 'no'}).", ""]
    head = "| upsampling | specks dropped | matting solve | " + " | ".join(
        f"{ {'sad': 'SAD', 'mse': 'MSE', 'grad': 'Grad', 'conn': 'Conn'}[m]} {g.split(' ')[0]}" for g in groups for m in METRICS) + " | CPU s | livebg |"
    out += [head, "|---|---|---|" + "---:|" * (len(groups) * len(METRICS) + 1) + "---|"]
    for key, by in results.items():
        cells = []
        for g in groups:
            means = np.mean(by[g], axis=0)
            cells += [f"{v:.2f}" for v in means[:4]]
        cpu = np.mean([r[4] for g in groups for r in by[g]])
        label = [key[0], "yes" if key[1] else "no", "yes" if key[2] else "no"]
        out.append("| " + " | ".join(label + cells + [f"{cpu:.2f}", "**this**" if key == defaults else ""]) + " |")
    text = "\n".join(out) + "\n"
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
