"""The README's picture of `livebg cutout` on objects and animals: docs/img/cutout-objects.png.

One row per picture: scikit-image's sample photos whose licences allow it
(the coffee cup and the cat Chelsea, CC0; the DSCOVR rocket launch, public
domain; the astronaut Eileen Collins, public domain, a person: there auto
picks the person pipeline) and a plant drawn here (bench/objects.py).
Columns: the input; the alpha of the person pipeline (`--subject person`,
what `livebg cutout` did before); the alpha of the object pipeline
(`--subject object`, the general model); what `--subject auto --preset
marketplace --shadow` writes (the subject centred on a white square, 85% of
it, a contact shadow), with auto's choice written on it.

    python bench/object_grid.py [--shared ../shared/data] [--out docs/img/cutout-objects.png]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
CELL = 260  # each picture is fitted inside a CELL x CELL square, centred
GAP = 6


def label(cell: np.ndarray, text: str, y: int = 20) -> np.ndarray:
    out = cell.copy()
    cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (6, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def fit(x: np.ndarray, fill: int = 255) -> np.ndarray:
    h, w = x.shape[:2]
    s = min(CELL / w, CELL / h)
    sw, sh = max(1, round(w * s)), max(1, round(h * s))
    cell = np.full((CELL, CELL, 3), fill, np.uint8)
    if x.ndim == 2:
        x = cv2.cvtColor(x, cv2.COLOR_GRAY2BGR)
    x0, y0 = (CELL - sw) // 2, (CELL - sh) // 2
    cell[y0:y0 + sh, x0:x0 + sw] = cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA)
    return cell


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("LIVEBG_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "cutout-objects.png"))
    args = ap.parse_args(argv)
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(Path(args.shared).resolve() / "models"))
    from objects import sample_photos, synthetic_objects

    from livebg.backgrounds import open_background
    from livebg.stills.compose import PRESETS, Options, compose
    from livebg.stills.subject import SubjectCutter

    samples = [s for s in sample_photos() if s.name in ("coffee", "chelsea", "rocket", "astronaut")]
    samples += [s for s in synthetic_objects() if s.name == "synthetic-plant"]
    cutter = SubjectCutter("auto", offline=True)
    person = cutter._person
    obj = cutter.object_matter()
    white = open_background("white", still=True)
    market = Options(**PRESETS["marketplace"], shadow=True)
    rows = []
    for i, s in enumerate(samples):
        a_person = person.alpha(s.image)
        a_object = obj.alpha(s.image)
        alpha, choice, _note = cutter.alpha(s.image)
        flat = compose(s.image, alpha, market, white)
        to8 = lambda a: np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)  # noqa: E731
        cells = [fit(s.image), fit(to8(a_person), 0), fit(to8(a_object), 0),
                 label(fit(flat), f"auto: {choice.subject}", CELL - 10)]
        if i == 0:
            cells = [label(c, t) for c, t in zip(cells, ("input", "person pipeline", "object pipeline",
                                                          "auto, marketplace"))]
        print(f"{s.name}: auto chose {choice.subject} ({choice.why}); licence: {s.licence}")
        gap = np.full((CELL, GAP, 3), 255, np.uint8)
        row = cells[0]
        for c in cells[1:]:
            row = np.hstack([row, gap, c])
        rows.append(row)
    cutter.close()
    parts = []
    for r in rows:
        parts += [r, np.full((GAP, r.shape[1], 3), 255, np.uint8)]
    grid = np.vstack(parts[:-1])
    dest = Path(args.out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", grid, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    if not ok:
        raise SystemExit("could not encode the grid")
    dest.write_bytes(buf.tobytes())
    print(f"wrote {dest}: {grid.shape[1]}x{grid.shape[0]}, {len(buf) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
