class NullSink:
    """Discards frames, counting them: the sink for benchmarks."""

    name = "null"

    def __init__(self):
        self.frames = 0

    def send(self, frame) -> None:
        self.frames += 1

    def close(self) -> None:
        pass
