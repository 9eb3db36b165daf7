"""An optional preview window (OpenCV highgui), driven from the main thread.

highgui must run on the main thread on macOS, so the pipeline hands frames
to a slot and the main thread shows them.
"""

from __future__ import annotations

import logging

log = logging.getLogger("livebg")

WINDOW = "livebg preview (q or Esc to quit)"


class Preview:
    def __init__(self):
        self.ok = True

    def show(self, frame) -> int:
        """Show a frame; returns the key pressed (-1 for none). Disables itself if no display."""
        import cv2

        if not self.ok:
            return -1
        try:
            cv2.imshow(WINDOW, frame)
            return cv2.waitKey(1) & 0xFF if frame is not None else -1
        except cv2.error as e:
            self.ok = False
            log.warning("preview unavailable (no display?): %s", str(e).strip().splitlines()[-1])
            return -1

    def close(self) -> None:
        import cv2

        if self.ok:
            try:
                cv2.destroyAllWindows()
                cv2.waitKey(1)
            except cv2.error:
                pass
