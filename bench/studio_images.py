"""README pictures for the studio look, made by livebg itself from permissively licensed data only:
P3M portraits (MIT, faces blurred), the pymatting beach (MIT), backscrub's backgrounds (Apache-2.0).

    python bench/studio_images.py

docs/img/studio-blur.png        the blur before (the whole camera picture blurred: the person glows
                                into the room) and now (`livebg process --background blur`), with a
                                close-up of the shoulder line
docs/img/studio-look.png        light wrap and colour match: plain, light wrap 0.3 (the default),
                                light wrap and colour match 0.5, over the beach, with close-ups
docs/img/studio-autoframe.png   auto-frame: the camera picture (the person right of the middle) and
                                `livebg process --auto-frame` 3 s in
docs/img/studio-lowlight.png    low light: the camera picture with a third of the light, lifted by
                                `livebg process --low-light`, and the picture in full light
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

from readme_images import read_frame  # noqa: E402
from studio import H, W, darken, load_background  # noqa: E402
from synth import SHARED, Portrait, make_clip, place, portraits  # noqa: E402

from livebg.video import VideoWriter  # noqa: E402

IMG = ROOT / "docs" / "img"
# Only P3M portraits whose faces are blurred (some of the twelve show faces: not used here).

GAP = 6


def write(path: Path, frames) -> Path:
    with VideoWriter(path, W, H, 30) as w:
        for f in frames:
            w.write(f)
    return path


def livebg(*args) -> None:
    subprocess.run([sys.executable, "-m", "livebg", "process", *map(str, args), "--overwrite"], check=True,
                   capture_output=True)


def tile(img, text, size=(480, 270)):
    img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    scale = 0.8 * size[0] / 480
    for color, width in (((0, 0, 0), 4), ((255, 255, 255), 2)):
        cv2.putText(img, text, (12, int(32 * scale / 0.8)), cv2.FONT_HERSHEY_SIMPLEX, scale, color, width, cv2.LINE_AA)
    return img


def row(tiles):
    h = tiles[0].shape[0]
    gap = np.full((h, GAP, 3), 255, np.uint8)
    out = [tiles[0]]
    for t in tiles[1:]:
        out += [gap, t]
    return np.hstack(out)


def stack(rows):
    w = max(r.shape[1] for r in rows)
    gap = np.full((GAP, w, 3), 255, np.uint8)
    out = [rows[0]]
    for r in rows[1:]:
        out += [gap, r]
    return np.vstack(out)


def zoom(img, box, size=(480, 270)):
    x0, y0, x1, y1 = box
    return cv2.resize(img[y0:y1, x0:x1], size, interpolation=cv2.INTER_CUBIC)


def blur_picture(tmp: Path, p) -> Path:
    from livebg import compositing
    from livebg.backgrounds import BlurBackground
    from livebg.matting import open_named
    from livebg.stage import Stage

    room = load_background("background_bauhaus.png")
    frames, trues = make_clip(p, room, n=50, still=20)
    clip = write(tmp / "blur-in.mp4", frames)
    livebg(clip, "-o", tmp / "blur-out.mp4", "--background", "blur")
    k = 45
    now = read_frame(tmp / "blur-out.mp4", k)
    # Before: the same model and refinement, the whole camera picture blurred behind the person.
    stage = Stage(open_named("mediapipe-selfie-onnx", offline=True), BlurBackground())
    try:
        for f in frames[:k]:
            stage.matte(f)
        src = read_frame(clip, k)
        matte = stage.matte(src)
        before = compositing.composite(src, matte.alpha, BlurBackground().render(src))
    finally:
        stage.close()
    ideal = BlurBackground().render(room)
    ys, xs = np.nonzero(trues[k] > 0.5)
    cx, top = int(xs.mean()), int(ys.min())
    box = (max(0, cx - 320), max(0, top - 40), max(0, cx - 320) + 400, max(0, top - 40) + 225)
    path = IMG / "studio-blur.png"
    cv2.imwrite(str(path), stack([row([tile(src, "camera"), tile(before, "before: whole picture blurred"),
                                       tile(now, "livebg now")]),
                                  row([tile(zoom(ideal, box), "the room blurred (no one in it)"),
                                       tile(zoom(before, box), "before: the person glows"),
                                       tile(zoom(now, box), "now: the room")])]))
    return path


def look_picture(tmp: Path, p) -> Path:
    room = load_background("total_landscaping.jpg")
    frames, trues = make_clip(p, room, n=30, still=30)
    clip = write(tmp / "look-in.mp4", frames)
    beach = SHARED / "backgrounds" / "beach.png"
    outs = {}
    for name, extra in (("plain", ["--light-wrap", "0"]), ("wrap", []), ("both", ["--color-match", "0.5"])):
        livebg(clip, "-o", tmp / f"look-{name}.mp4", "--background", beach, *extra)
        outs[name] = read_frame(tmp / f"look-{name}.mp4", 25)
    ys, xs = np.nonzero(trues[25] > 0.5)
    top = int(ys.min())
    right = int(np.percentile(xs[ys < top + 200], 99))
    box = (max(0, right - 260), max(0, top - 30), max(0, right - 260) + 384, max(0, top - 30) + 216)
    path = IMG / "studio-look.png"
    cv2.imwrite(str(path), stack([
        row([tile(outs["plain"], "no light wrap"), tile(outs["wrap"], "light wrap 0.3 (default)"),
             tile(outs["both"], "+ colour match 0.5")]),
        row([tile(zoom(outs["plain"], box), "no light wrap"), tile(zoom(outs["wrap"], box), "light wrap 0.3"),
             tile(zoom(outs["both"], box), "+ colour match 0.5")])]))
    return path


def autoframe_picture(tmp: Path, p) -> Path:
    room = load_background("total_landscaping.jpg")
    _, a0 = place(p, W, H, 0.0, 1.0)
    natural = float((a0.sum(0) * (np.arange(W) + 0.5)).sum() / a0.sum()) - W / 2
    frames, _ = make_clip(p, room, n=100, still=15, offset=0.15 * W - natural)
    clip = write(tmp / "frame-in.mp4", frames)
    livebg(clip, "-o", tmp / "frame-out.mp4", "--background", "blur", "--auto-frame")
    k = 90
    src, out = read_frame(clip, k), read_frame(tmp / "frame-out.mp4", k)
    for img in (src, out):
        cv2.line(img, (W // 2, 0), (W // 2, H), (255, 255, 255), 2, cv2.LINE_AA)
    path = IMG / "studio-autoframe.png"
    cv2.imwrite(str(path), row([tile(src, "camera (the middle marked)", (640, 360)),
                                tile(out, "--auto-frame, 3 s in", (640, 360))]))
    return path


def lowlight_picture(tmp: Path, p) -> Path:
    room = load_background("background_bauhaus.png")
    frames, _ = make_clip(p, room, n=40, still=40, crf=16)
    dark_p = Portrait(p.name, darken(p.image, "linear"), p.alpha, p.handmade)
    dark, _ = make_clip(dark_p, darken(room, "linear"), n=40, still=40, crf=16)
    clip = write(tmp / "dark.mp4", dark)
    livebg(clip, "-o", tmp / "lifted.mp4", "--background", "none", "--low-light")
    k = 35
    path = IMG / "studio-lowlight.png"
    cv2.imwrite(str(path), row([tile(read_frame(clip, k), "a third of the light"),
                                tile(read_frame(tmp / "lifted.mp4", k), "--low-light"),
                                tile(frames[k], "full light")]))
    return path


def main() -> int:
    os.environ.setdefault("LIVEBG_MODEL_DIR", str(SHARED / "models"))
    by_name = {q.name: q for q in portraits()}
    IMG.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for made in (blur_picture(tmp, by_name["p_514ca06a"]), look_picture(tmp, by_name["p_d684dae3"]),
                     autoframe_picture(tmp, by_name["p_09ba26b4"]), lowlight_picture(tmp, by_name["p_22fc0130"])):
            print(made)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
