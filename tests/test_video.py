"""Video files in and out (livebg.video): the frames FFmpeg decodes, colours kept
through H.264, and what a writer does when the work around it fails."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from clips import person_frames, write_clip
from livebg.errors import LivebgError
from livebg.video import VideoReader, VideoWriter


@pytest.fixture(scope="module")
def frames():
    return person_frames(12)[0]


def test_reader_gives_the_frames_ffmpeg_converts(tmp_path, frames):
    path = write_clip(tmp_path / "c.mp4", frames, fps=30)
    with av.open(str(path)) as c:
        expected = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    r = VideoReader(path)
    try:
        got = list(r.frames())
    finally:
        r.close()
    assert len(got) == len(expected)
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))


@pytest.mark.parametrize("size", [(1280, 720), (321, 241)])
def test_writer_keeps_colours(tmp_path, frames, size):
    w, h = size
    src = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
    out = tmp_path / "o.mp4"
    with VideoWriter(out, w, h, 30) as wr:
        for f in src:
            wr.write(f)
        wr.write(cv2.resize(src[0], (w // 2 * 2 + 2, h)))  # another size: still written (scaled by FFmpeg)
    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(got) == len(src) + 1
    err = np.mean([np.abs(g.astype(int) - s).mean() for g, s in zip(got, src)])
    assert err < 3, err


def test_a_writer_leaving_a_failing_block_keeps_that_failure(tmp_path, frames):
    """Closing a writer as an error unwinds must not replace the error with its own
    (a full disk makes the close fail too); without an error, a failing close is reported."""
    def failing_close():
        raise LivebgError("finishing o.mp4 failed: No space left on device")

    w = VideoWriter(tmp_path / "o.mp4", 1280, 720, 30)
    with pytest.raises(RuntimeError, match="the real failure"):
        with w:
            w.write(frames[0])
            w.close = failing_close
            raise RuntimeError("the real failure")
    w2 = VideoWriter(tmp_path / "p.mp4", 1280, 720, 30)
    with pytest.raises(LivebgError, match="No space left"):
        with w2:
            w2.close = failing_close
