"""Pictures for the README, made by livebg itself from permissively licensed data.

    python bench/readme_images.py

docs/img/hero.png: a 720p clip synthesised from a P3M portrait (MIT, face
blurred) standing in front of a backscrub picture (Apache-2.0),
run through the real `livebg process` command with the pymatting beach (MIT)
as the new background; one frame of input, output and matte side by side.
(The edge comparison comes from bench/quality.py, the tray menu from the
tray test, the cutout grid from bench/cutout_grid.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from synth import SHARED, make_clip, portraits  # noqa: E402

from livebg.frames import cover_fit  # noqa: E402
from livebg.video import VideoWriter  # noqa: E402


def read_frame(path: Path, index: int, fmt: str = "bgr24") -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i == index:
                return f.to_ndarray(format=fmt)
    raise IndexError(index)


def label(img: np.ndarray, text: str) -> np.ndarray:
    img = img.copy()
    for color, width in (((0, 0, 0), 5), ((255, 255, 255), 2)):
        cv2.putText(img, text, (16, 44), cv2.FONT_HERSHEY_SIMPLEX, 1.3, color, width, cv2.LINE_AA)
    return img


def main() -> int:
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    p = {q.name: q for q in portraits()}["p_514ca06a"]
    room = cover_fit(cv2.imread(str(SHARED / "backgrounds" / "total_landscaping.jpg")), 1280, 720)
    frames, _ = make_clip(p, room, n=40, still=20)
    with tempfile.TemporaryDirectory() as d:
        clip, out, matte = Path(d) / "clip.mp4", Path(d) / "out.mp4", Path(d) / "matte.mkv"
        with VideoWriter(clip, 1280, 720, 30) as w:
            for f in frames:
                w.write(f)
        subprocess.run([sys.executable, "-m", "livebg", "process", str(clip), "-o", str(out),
                        "--background", str(SHARED / "backgrounds" / "beach.png"), "--matte-out", str(matte)],
                       check=True)
        k = 30
        src, res = read_frame(clip, k), read_frame(out, k)
        m = cv2.cvtColor(read_frame(matte, k, "gray"), cv2.COLOR_GRAY2BGR)
    tiles = [label(cv2.resize(t, (640, 360), interpolation=cv2.INTER_AREA), name)
             for t, name in ((src, "camera"), (res, "livebg"), (m, "matte"))]
    gap = np.full((360, 6, 3), 255, np.uint8)
    path = ROOT / "docs" / "img" / "hero.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.hstack([tiles[0], gap, tiles[1], gap, tiles[2]]))
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
