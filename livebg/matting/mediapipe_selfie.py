"""MediaPipe selfie segmentation through mediapipe's Tasks ImageSegmenter.

Current mediapipe wheels no longer bundle the selfie models and
``mediapipe.solutions`` is gone, so the .tflite is loaded from a file. The
model uses a MediaPipe custom op, which a plain TFLite interpreter lacks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from livebg.console import quiet_native_stderr
from livebg.errors import ModelError, first_line
from livebg.matting.base import Capabilities, Prediction, check_frame


class MediaPipeSelfie:
    """Runs the square (256x256) or landscape (144x256) selfie model.

    The frame is resized to the model's input size here rather than inside
    MediaPipe, so the mask comes back at model resolution (MediaPipe would
    otherwise upsample it to the frame, which the compositor does fused).
    """

    caps = Capabilities()  # a segmentation mask: stateless, no foreground, fixed size

    def __init__(self, path: Path, name: str = "mediapipe-selfie", provider: str = "auto", input_size=None, **_):
        try:
            import mediapipe as mp
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as e:  # pragma: no cover - declared dependency
            raise ModelError(f"mediapipe is not installed ({e}); run: pip install mediapipe") from None
        if provider not in ("auto", "cpu", ""):
            raise ModelError(f"{name} runs through mediapipe on the CPU; --provider {provider} applies to ONNX models only")
        self._mp = mp
        self.name = name
        self.runtime = "mediapipe Tasks (CPU, XNNPACK)"
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ModelError(f"cannot read model file {path}: {e.strerror or e}") from None
        try:
            # The C++ side's start-up notes (TFLite delegate, glog) bypass Python logging.
            with quiet_native_stderr():
                self._create(vision, BaseOptions, data)
                # MediaPipe returns the mask at the size it is given, so the
                # model's own input size must come from the manifest.
                h, w = tuple(input_size) if input_size else (256, 256)
                self._segment(np.zeros((h, w, 3), np.uint8))  # warm up before frame one
        except ModelError:
            raise
        except Exception as e:  # mediapipe raises RuntimeError/ValueError with multi-line text
            raise ModelError(f"cannot load {path} as a MediaPipe segmentation model: {first_line(e)}") from None
        self.input_size = (int(h), int(w))
        self.side = max(self.input_size)

    def _create(self, vision, BaseOptions, data: bytes) -> None:
        options = vision.ImageSegmenterOptions(
            base_options=BaseOptions(model_asset_buffer=data),
            running_mode=vision.RunningMode.IMAGE,
            output_confidence_masks=True,
            output_category_mask=False,
        )
        self._seg = vision.ImageSegmenter.create_from_options(options)

    def _segment(self, rgb: np.ndarray) -> np.ndarray:
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        result = self._seg.segment(image)
        mask = result.confidence_masks[-1].numpy_view()
        return np.array(mask.reshape(mask.shape[0], mask.shape[1]), dtype=np.float32)

    def predict(self, bgr: np.ndarray, state=None) -> Prediction:
        check_frame(bgr)
        h, w = self.input_size
        small = bgr if bgr.shape[:2] == (h, w) else cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(small, cv2.COLOR_BGR2RGB)
        return Prediction(np.clip(self._segment(rgb), 0.0, 1.0))

    def close(self) -> None:
        seg, self._seg = getattr(self, "_seg", None), None
        if seg is not None:
            seg.close()
