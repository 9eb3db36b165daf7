"""The single-threaded loop most virtual-background tools are, as a command.

    python bench/plain_loop.py IN.mp4 BACKGROUND.png OUT.mp4 MATTE.mkv MODEL.tflite [--preset P --crf N]

Read a frame, MediaPipe selfie on the frame resized to 256x256, bilinear
upsampling, float blend, libx264 out, plus the lossless FFV1 matte; one frame
after another on one thread. bench/speed.py times this whole command, start-up
(interpreter, imports, model) included, exactly as it times `livebg process`.
Without --preset/--crf libx264 runs with its own defaults (preset medium, crf 23).
Prints the number of frames written.
"""

from __future__ import annotations

import argparse
import sys

import av
import cv2
import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import BaseOptions, vision


def cover_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height keeping the aspect, centre-crop (as livebg does)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("background")
    ap.add_argument("out")
    ap.add_argument("matte_out")
    ap.add_argument("model")
    ap.add_argument("--preset")
    ap.add_argument("--crf")
    args = ap.parse_args(argv)

    seg = vision.ImageSegmenter.create_from_options(vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=args.model), output_confidence_masks=True,
        output_category_mask=False))
    src = av.open(args.clip)
    stream = src.streams.video[0]
    rate = stream.average_rate
    width, height = stream.codec_context.width, stream.codec_context.height
    dst = av.open(args.out, "w")
    vs = dst.add_stream("libx264", rate=rate)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    options = {k: v for k, v in (("preset", args.preset), ("crf", args.crf)) if v}
    if options:
        vs.options = options
    mdst = av.open(args.matte_out, "w", format="matroska")
    ms = mdst.add_stream("ffv1", rate=rate)
    ms.width, ms.height, ms.pix_fmt = width, height, "gray"
    bg = cover_fit(cv2.imread(args.background), width, height).astype(np.float32)
    n = 0
    for frame in src.decode(stream):
        img = frame.to_ndarray(format="bgr24")
        h, w = img.shape[:2]
        small = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        mask = seg.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=small)).confidence_masks[0].numpy_view()
        a = cv2.resize(mask.reshape(256, 256), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        res = (img.astype(np.float32) * a + bg * (1.0 - a)).astype(np.uint8)
        for pkt in vs.encode(av.VideoFrame.from_ndarray(res, format="bgr24")):
            dst.mux(pkt)
        m8 = (a[..., 0] * 255 + 0.5).astype(np.uint8)
        for pkt in ms.encode(av.VideoFrame.from_ndarray(m8, format="gray")):
            mdst.mux(pkt)
        n += 1
    for s, c in ((vs, dst), (ms, mdst)):
        for pkt in s.encode(None):
            c.mux(pkt)
        c.close()
    src.close()
    seg.close()
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
