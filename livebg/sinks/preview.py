"""An optional preview window (OpenCV highgui), driven from the main thread.

highgui must run on the main thread on macOS, so the pipeline hands frames
to a slot and the main thread shows them.
"""

from __future__ import annotations

import logging

log = logging.getLogger("livebg")

WINDOW = "livebg preview (q or Esc to quit)"


class Preview:
    """controller: a livebg.controls.Controller; its keyboard shortcuts work in
    the window (b effect, n/p background, m mirror, r record, space pause, q/Esc quit)."""

    def __init__(self, controller=None):
        self.ok = True
        self.controller = controller
        self.window = WINDOW
        if controller is not None:
            from livebg.controls import KEY_HELP

            self.window = f"livebg preview ({KEY_HELP})"

    def show(self, frame) -> int:
        """Show a frame; returns the key pressed (-1 for none). Disables itself if no display."""
        import cv2

        if not self.ok:
            return -1
        try:
            cv2.imshow(self.window, frame)
            return cv2.waitKey(1) & 0xFF if frame is not None else -1
        except cv2.error as e:
            self.ok = False
            log.warning("preview unavailable (no display?): %s", str(e).strip().splitlines()[-1])
            return -1

    def handle_key(self, key: int) -> bool:
        """Run the shortcut for ``key`` (from show()); True when it asks to quit."""
        if key < 0 or key == 255:
            return False
        if key in (ord("q"), ord("Q"), 27):
            return True
        if self.controller is None:
            return False
        from livebg.errors import LivebgError

        try:
            action = self.controller.handle_key(chr(key))
        except (LivebgError, RuntimeError, OSError) as e:
            log.warning("%s", e)
            return False
        if action is not None:
            log.info("preview: %s", action.replace("_", " "))
        return action == "quit"

    def close(self) -> None:
        import cv2

        if self.ok:
            try:
                cv2.destroyAllWindows()
                cv2.waitKey(1)
            except cv2.error:
                pass
