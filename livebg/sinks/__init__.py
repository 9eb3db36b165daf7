"""Where composited frames go: virtual camera, recorder, preview, or nowhere (benchmarks)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


class Sink(Protocol):
    """Takes finished BGR uint8 frames of the output size, one at a time.

    send() may raise: livebg.faults.SinkGuard keeps the other sinks going."""

    name: str

    def send(self, frame: "np.ndarray") -> None: ...

    def close(self) -> None: ...
