"""The single-threaded loop most virtual-background tools are, as a command.

    python bench/plain_loop.py IN.mp4 BACKGROUND.png OUT.mp4 MATTE.mkv MODEL [--preset P --crf N] [--threads T]

One frame after another on one thread: decode, the model, the matte to the
frame's size, a float blend, libx264 out, plus the lossless FFV1 matte.
bench/speed.py times this whole command, start-up (interpreter, imports,
model) included, exactly as it times `livebg process`. MODEL picks the loop:

- ``selfie_segmentation.tflite``: MediaPipe's selfie model through
  MediaPipe on the frame resized to 256x256, bilinear upsampling;
- ``mediapipe_selfie.onnx``: the same network through ONNX Runtime
  (``--threads`` intra-op threads, default 2);
- ``rvm_mobilenetv3_fp32.onnx``: Robust Video Matting as its documentation
  runs it: the whole frame, downsample_ratio 0.375 (the authors' value for
  720p), the recurrent state carried from frame to frame, nothing else; the
  composite is its own foreground colours over the background through its
  alpha (fgr * pha + bg * (1 - pha)), ONNX Runtime with ``--threads``.

Without --preset/--crf libx264 runs with its own defaults (preset medium, crf 23).
Prints the number of frames written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import av
import cv2
import numpy as np


def cover_fit(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height keeping the aspect, centre-crop (as livebg does)."""
    h, w = image.shape[:2]
    scale = max(width / w, height / h)
    sw, sh = max(width, round(w * scale)), max(height, round(h * scale))
    resized = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    x0, y0 = (sw - width) // 2, (sh - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])


def _ort(path: str, threads: int):
    import onnxruntime as ort

    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    return ort.InferenceSession(path, sess_options=o, providers=["CPUExecutionProvider"])


def selfie_tflite(path: str, threads: int):
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    seg = vision.ImageSegmenter.create_from_options(vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=path), output_confidence_masks=True, output_category_mask=False))

    def matte(img):
        small = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        mask = seg.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=small)).confidence_masks[0].numpy_view()
        a = cv2.resize(mask.reshape(256, 256), (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        return a[..., None], img.astype(np.float32)
    matte.close = seg.close
    return matte


def selfie_onnx(path: str, threads: int):
    session = _ort(path, threads)

    def matte(img):
        small = cv2.cvtColor(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        x = (small.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        (mask,) = session.run(["alphas"], {"pixel_values": x})
        a = cv2.resize(mask[0, 0], (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        return a[..., None], img.astype(np.float32)
    return matte


def rvm(path: str, threads: int):
    session = _ort(path, threads)
    rec = [np.zeros((1, 1, 1, 1), np.float32)] * 4
    ratio = np.array([0.375], np.float32)

    def matte(img):
        nonlocal rec
        x = (img[..., ::-1].astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        fgr, pha, *rec = session.run(None, {"src": x, "r1i": rec[0], "r2i": rec[1], "r3i": rec[2], "r4i": rec[3],
                                            "downsample_ratio": ratio})
        fg = fgr[0].transpose(1, 2, 0)[..., ::-1] * 255.0
        return pha[0, 0][..., None], fg
    return matte


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    ap.add_argument("background")
    ap.add_argument("out")
    ap.add_argument("matte_out")
    ap.add_argument("model")
    ap.add_argument("--preset")
    ap.add_argument("--crf")
    ap.add_argument("--threads", type=int, default=2, help="ONNX Runtime's threads (ONNX models)")
    args = ap.parse_args(argv)

    name = Path(args.model).name
    kind = selfie_tflite if name.endswith(".tflite") else rvm if name.startswith("rvm") else selfie_onnx
    matte = kind(args.model, args.threads)
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
        a, fg = matte(img)
        res = np.clip(fg * a + bg * (1.0 - a) + 0.5, 0, 255).astype(np.uint8)
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
    getattr(matte, "close", lambda: None)()
    print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
