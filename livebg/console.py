"""What livebg prints on the terminal besides its log lines: one progress bar,
and silencing native libraries that write their own error text on stderr."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Callable


def count_text(done: float, total: float) -> str:
    return f"{int(done)}/{int(total)}"


def megabytes_text(done: float, total: float) -> str:
    return f"{done / 1e6:.1f}/{total / 1e6:.1f} MB"


class Progress:
    """A one-line progress bar on stderr, drawn only when it is a terminal.

    ``total``: the amount at the end (pictures, bytes); ``text(done, total)``
    says how far along in words. :meth:`message` prints a line above the
    bar (the bar is redrawn below it), so reports and the bar never mix.
    Thread-safe: batch workers report from several threads.
    """

    WIDTH = 24

    def __init__(self, total: float, *, stream=None, enabled: bool = True,
                 text: Callable[[float, float], str] = count_text, min_interval: float = 0.1):
        self.stream = stream if stream is not None else sys.stderr
        self.total = max(total, 1)
        self.done = 0.0
        self.text = text
        self.min_interval = min_interval
        self.enabled = enabled and self.stream is not None and getattr(self.stream, "isatty", lambda: False)()
        self._lock = threading.Lock()
        self._shown = False
        self._last = 0.0
        self._note = ""

    def _bar(self) -> str:
        filled = int(self.WIDTH * min(self.done, self.total) / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        note = f" {self._note[:40]}" if self._note else ""
        return f"\rlivebg: [{bar}] {self.text(self.done, self.total)}{note}\x1b[K"

    def message(self, text: str) -> None:
        """Print ``text`` on a line of its own (always, terminal or not)."""
        if self.stream is None:
            return
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
            self.stream.write(text + "\n")
            if self._shown:
                self.stream.write(self._bar())
            self.stream.flush()

    def update(self, done: float, note: str = "") -> None:
        with self._lock:
            self.done = done
            self._note = note
            if not self.enabled:
                return
            now = time.monotonic()
            if now - self._last < self.min_interval and done < self.total:
                return
            self._last = now
            self.stream.write(self._bar())
            self.stream.flush()
            self._shown = True

    def step(self, note: str = "") -> None:
        """One more item done."""
        self.update(self.done + 1, note)

    def close(self) -> None:
        """Clear the bar (the messages stay)."""
        with self._lock:
            if self._shown:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
                self._shown = False


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def quiet_native_stderr():
    """Send file descriptor 2 to /dev/null for the block (not with --debug).

    For C libraries that print their own error text (libpng does) when we
    already turn the failure into one clear line. Keep the block short:
    other threads' stderr is silenced too while it runs.
    """
    if os.environ.get("LIVEBG_DEBUG") == "1":
        yield
        return
    with _stderr_lock:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:  # no stderr at all: nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
