"""The README's picture of `livebg cutout`: docs/img/cutout-grid.png.

One row per P3M portrait (MIT-licensed, faces blurred by P3M; only these
may appear in the README), columns: the input, the alpha `livebg cutout`
computes, the cutout over a checkerboard, the cutout flattened on white.

    python bench/cutout_grid.py [--shared ../shared/data] [--out docs/img/cutout-grid.png]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ("p_d684dae3", "p_514ca06a", "p_818e689d", "p_bac3c1ff")
CELL = (320, 200)  # width, height: each picture is fitted inside, centred
GAP = 6


def checkerboard(h: int, w: int, square: int = 12) -> np.ndarray:
    y, x = np.indices((h, w))
    light = ((y // square + x // square) % 2) == 0
    out = np.empty((h, w, 3), np.uint8)
    out[light] = 235
    out[~light] = 190
    return out


def over(bgra: np.ndarray, bg: np.ndarray) -> np.ndarray:
    a = bgra[..., 3:].astype(np.float32) / 255.0
    return np.clip(bgra[..., :3] * a + bg * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)


def label(cell: np.ndarray, text: str) -> np.ndarray:
    out = cell.copy()
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(out, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("LIVEBG_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
    ap.add_argument("--out", default=str(ROOT / "docs" / "img" / "cutout-grid.png"))
    ap.add_argument("--portraits", nargs="+", default=list(PORTRAITS), help="P3M portrait names (p_*)")
    args = ap.parse_args(argv)
    shared = Path(args.shared).resolve()
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(shared / "models"))
    sys.path.insert(0, str(ROOT))
    from livebg.backgrounds import open_background
    from livebg.stills import Options, StillMatter, compose, read_image

    matter = StillMatter(offline=True)
    white = open_background("white", still=True)
    rows = []
    cw, ch = CELL
    for i, name in enumerate(args.portraits):
        if not name.startswith("p_"):
            raise SystemExit(f"{name}: only the P3M portraits (p_*) may be shown")
        image = read_image(shared / "eval" / "images" / f"{name}.jpg")
        alpha = matter.alpha(image)
        rgba = compose(image, alpha, Options())
        on_white = compose(image, alpha, Options(background="white"), white)
        h, w = image.shape[:2]
        s = min(cw / w, ch / h)
        sw, sh = round(w * s), round(h * s)
        x0, y0 = (cw - sw) // 2, (ch - sh) // 2

        def fit(x, fill=255):
            cell = np.full((ch, cw) + x.shape[2:], fill, np.uint8)
            cell[y0:y0 + sh, x0:x0 + sw] = cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA)
            return cell

        a8 = np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)
        board = np.full((ch, cw, 3), 255, np.uint8)
        board[y0:y0 + sh, x0:x0 + sw] = over(cv2.resize(rgba, (sw, sh), interpolation=cv2.INTER_AREA),
                                             checkerboard(sh, sw))
        cells = [fit(image), cv2.cvtColor(fit(a8), cv2.COLOR_GRAY2BGR), board, fit(on_white)]
        if i == 0:
            cells = [label(c, t) for c, t in zip(cells, ("input", "alpha", "cutout", "on white"))]
        gap = np.full((ch, GAP, 3), 255, np.uint8)
        row = cells[0]
        for c in cells[1:]:
            row = np.hstack([row, gap, c])
        rows.append(row)
    matter.close()
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
