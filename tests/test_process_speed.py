"""What makes `livebg process` faster must not change what it writes: the matte
with the mirror-image call on a second model instance, the matte's scaling to
full size, the decoder's and the encoder's colour conversions."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from clips import person_frames, write_clip
from livebg.matting import open_named
from livebg.pipeline import Stage, full_res_alpha_u8, keep_freed_memory
from livebg.refine import MatteRefiner
from livebg.video import VideoReader, VideoWriter


@pytest.fixture(scope="module")
def frames():
    return person_frames(12)[0]


def test_flip_call_on_a_second_instance_gives_the_same_matte(frames):
    one, a, b = (open_named("mediapipe-selfie") for _ in range(3))
    try:
        plain = MatteRefiner.for_matter(one)
        paired = MatteRefiner.for_matter(a)
        paired.use_flip_matter(b)
        for f in frames:
            assert np.array_equal(plain(f), paired(f))
        paired.use_flip_matter(None)  # back to one instance, one call after the other
        assert np.array_equal(plain(frames[0]), paired(frames[0]))
    finally:
        for m in (one, a, b):
            m.close()


def test_stage_closes_the_second_instance_and_drops_it_with_its_model(frames):
    from livebg.backgrounds import open_background

    closed = []

    class Tracked:
        def __init__(self):
            self.m = open_named("mediapipe-selfie")
            self.name = self.m.name

        def __call__(self, bgr):
            return self.m(bgr)

        def close(self):
            closed.append(self)
            self.m.close()

    stage = Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"))
    assert stage.wants_flip_matter
    first = Tracked()
    stage.set_flip_matter(first)
    assert not stage.wants_flip_matter
    assert stage.matte(frames[0]) is not None
    stage.set_matter(open_named("mediapipe-selfie"))  # a new model: the old one's second instance goes
    assert closed == [first]
    second = Tracked()
    stage.set_flip_matter(second)
    stage.close()
    assert closed == [first, second]


def test_full_size_matte_rounds_as_before():
    rng = np.random.default_rng(1)
    alpha = rng.random((360, 640), dtype=np.float32)
    alpha[:40] = 0.0
    alpha[40:80] = 1.0
    got = full_res_alpha_u8(alpha, 720, 1280)
    before = np.clip(cv2.resize(alpha, (1280, 720), interpolation=cv2.INTER_LINEAR) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    assert got.dtype == np.uint8 and got.shape == (720, 1280)
    assert np.abs(got.astype(int) - before).max() <= 1  # only exact halves may round the other way
    assert (got != before).mean() < 1e-4
    assert (got[:70] == 0).all() and (got[90:150] == 255).all()
    assert (full_res_alpha_u8(None, 4, 6) == 255).all()
    assert np.array_equal(full_res_alpha_u8(alpha.astype(np.float64), 720, 1280), got)


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


def test_keep_freed_memory_is_harmless():
    assert keep_freed_memory() in (True, False)
    a = np.ones((1080, 1920), np.float32)
    assert float(a.sum()) == 1080 * 1920


def test_process_file_gives_the_mattes_of_one_frame_after_another(tmp_path):
    """The model runs on the next frame while this one is refined, on a guessed
    crop: where the guess is wrong it runs again, so every matte is the one
    Stage.matte() gives frame by frame (a fast sideways move makes the crop jump)."""
    from livebg.backgrounds import open_background
    from livebg.pipeline import process_file

    frames, _ = person_frames(40, amplitude=250)
    path = write_clip(tmp_path / "in.mp4", frames, fps=30)
    r = VideoReader(path)
    decoded = list(r.frames())
    r.close()

    def stage():
        return Stage(open_named("mediapipe-selfie"), open_background("color:#00ff00"))

    one = stage()
    try:
        expected = [full_res_alpha_u8(one.matte(f), 720, 1280) for f in decoded]
        moves_one_by_one = one.refiner.tracker.moves
    finally:
        one.close()
    assert moves_one_by_one >= 2  # the crop did move: guesses were wrong sometimes

    two = stage()
    two.set_flip_matter(open_named("mediapipe-selfie"))
    reader = VideoReader(path)
    writer = VideoWriter(tmp_path / "out.mp4", 1280, 720, 30)
    mw = VideoWriter(tmp_path / "m.mkv", 1280, 720, 30, kind="matte")
    try:
        assert process_file(reader, two, writer, mw) == 40
    finally:
        reader.close()
        writer.close()
        mw.close()
        moves = two.refiner.tracker.moves
        two.close()
    with av.open(str(tmp_path / "m.mkv")) as c:
        got = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
    assert len(got) == 40 and moves >= moves_one_by_one - 1  # (the last matte is not shown to the tracker)
    assert all(np.array_equal(g, e) for g, e in zip(got, expected))
