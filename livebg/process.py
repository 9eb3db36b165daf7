"""``livebg process``: every frame of a video file, in order, composited (and its matte).

File input is lossless with backpressure: decoding, the model, the matte's
finishing step and the two encoders run on their own threads behind
bounded queues, and no frame is ever dropped. The outputs are written under
temporary names and appear under the names asked for only when complete.
"""

from __future__ import annotations

import logging
import queue
import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from livebg.config import Settings
from livebg.errors import ConfigError, InputError, LivebgError
from livebg.stage import Stage
from livebg.video import VideoReader, VideoWriter

log = logging.getLogger("livebg")


_END = object()


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse instead of handing them
    back to the kernel. Every frame allocates a few megabytes of arrays (decoded
    frames, composites, matte planes); by default each large one is a fresh
    mmap, so every page is faulted in and zeroed again, frame after frame: that
    cost a fifth of `livebg process`'s CPU time. Process-wide, for the file
    command (live runs keep the default). False where not glibc (nothing done)."""
    import ctypes

    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    # 32 MiB is the largest mmap threshold glibc accepts on 64-bit: blocks up to
    # a 1080p float plane come from the heap, and up to 512 MiB of freed heap is kept.
    ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
    return mallopt(M_TRIM_THRESHOLD, 512 << 20) == 1 and ok


def process_file(reader: VideoReader, stage: Stage, writer: VideoWriter, matte_writer: VideoWriter | None = None,
                 progress: Callable[[int], None] | None = None, queue_size: int = 8, lowlight=None,
                 framer=None, warmup: Callable[[], None] | None = None) -> int:
    """Every frame of ``reader``, in order, through ``stage`` into ``writer``.

    Five threads behind bounded queues (backpressure, never a dropped frame):
    decoding; the model (Stage.matte_guess, matte_begin); the matte's
    finishing step (Stage.matte_end: smoothing and edge, on this thread), so
    the model runs on frame k + 1 while frame k is refined (for a refiner
    that needs frame k's matte to begin frame k + 1, on the crop it had
    before frame k, and again only when frame k's matte moves the crop: the
    matte is the one Stage.matte() gives); compositing and video
    encoding; the matte's scaling to full size and its encoding. The stages
    keep the cores busy between them, so each runs its
    numeric libraries single-threaded: OpenCV's and numba's worker pools would
    only wait (spinning, on CPU) for work the other stages need the cores for.
    Returns the number of frames. Re-raises the first error from any thread.

    warmup: run on this thread once the others have started, before the
    first frame is finished (Stage.warmup: loading the compositing kernels
    takes a quarter of a second, while the first frames are decoded and
    matted meanwhile).

    lowlight (livebg.lowlight.LowLight): lifts each frame as it is decoded,
    before the model sees it. framer (livebg.autoframe.AutoFramer): follows
    each finished matte, in order; the output and the matte are both
    cropped to its framing.
    """
    import cv2

    stop = threading.Event()
    errors: list[BaseException] = []
    q_in: queue.Queue = queue.Queue(queue_size)
    q_mid: queue.Queue = queue.Queue(2)
    q_out: queue.Queue = queue.Queue(queue_size)
    q_matte: queue.Queue = queue.Queue(queue_size)
    finished: queue.Queue = queue.Queue()  # finished mattes, in order, back to the model step for the tracker
    matting = stage.enabled or matte_writer is not None or framer is not None

    def put(q, item):
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(q):
        while not stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _END

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:
                errors.append(e)
                stop.set()
        return run

    def decode():
        try:
            for k, image in enumerate(reader.frames()):
                if lowlight is not None:
                    image = lowlight(image, k / reader.fps)
                if not put(q_in, image):
                    return
        finally:
            put(q_in, _END)

    def model():
        try:
            k = 0
            while (image := get(q_in)) is not _END:
                pending = None
                if matting:
                    guess = None
                    if stage.needs_feedback:
                        guess = stage.matte_guess(image)  # while frame k - 1 is being finished
                        if k >= 1:  # the refiner learns the matte of frame k - 1 first, as in Stage.matte()
                            done = get(finished)
                            if done is _END:
                                return
                            stage.matte_learn(done)
                    pending = stage.matte_begin(image, guess)
                if not put(q_mid, (image, pending)):
                    return
                k += 1
        finally:
            put(q_mid, _END)

    def encode():
        import numba

        numba.set_num_threads(1)  # for this thread only: the compositing kernel runs here
        while (item := get(q_out)) is not _END:
            image, matte, window = item
            out = stage.composite(image, matte, reuse=False)
            writer.write(out if window is None else framer.apply(out, window))

    def encode_matte():
        while (item := get(q_matte)) is not _END:
            matte, h, w, window = item
            m = full_res_alpha_u8(matte.alpha if matte is not None else None, h, w)
            matte_writer.write(m if window is None else framer.apply(m, window))

    threads = [threading.Thread(target=guarded(decode), name="livebg-decode", daemon=True),
               threading.Thread(target=guarded(model), name="livebg-model", daemon=True),
               threading.Thread(target=guarded(encode), name="livebg-encode", daemon=True)]
    if matte_writer is not None:
        threads.append(threading.Thread(target=guarded(encode_matte), name="livebg-matte", daemon=True))
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # process-wide: restored below
    for t in threads:
        t.start()
    n = 0
    try:
        if warmup is not None:
            warmup()
        while True:
            item = get(q_mid)
            if item is _END:
                break
            image, pending = item
            matte = None
            if pending is not None:
                matte = stage.matte_end(pending)
                if stage.needs_feedback:
                    finished.put(pending)
            window = None
            if framer is not None:
                framer.resize(image.shape[1], image.shape[0])
                window = framer.update(matte.alpha if matte is not None else None, n / reader.fps)
            if not put(q_out, (image, matte, window)):
                break
            if matte_writer is not None and not put(q_matte, (matte, image.shape[0], image.shape[1], window)):
                break
            n += 1
            if progress is not None:
                progress(n)
    except BaseException as e:
        errors.append(e)
        stop.set()
    finally:
        put(q_out, _END)
        put(q_matte, _END)
        for t in threads:
            t.join()
        cv2.setNumThreads(cv_threads)
    if errors:
        raise errors[0]
    return n


def studio_parts(s: Settings, width: int, height: int):
    """(LowLight or None, AutoFramer or None) as the settings ask (compiled and ready)."""
    lowlight = framer = None
    if s.low_light:
        from livebg.lowlight import LowLight, warmup

        warmup()
        lowlight = LowLight()
    if s.auto_frame:
        from livebg.autoframe import AutoFramer

        framer = AutoFramer(width, height)
    return lowlight, framer


def full_res_alpha_u8(alpha: np.ndarray | None, height: int, width: int) -> np.ndarray:
    """The matte at frame size as uint8, scaled exactly as the compositor scales it
    (all 255 for None: a frame passed through because the model failed)."""
    import cv2

    if alpha is None:
        return np.full((height, width), 255, np.uint8)
    if alpha.dtype != np.float32:
        alpha = alpha.astype(np.float32)
    a = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    # One saturating, rounding pass (the matte is in [0, 1], so the "Abs" does
    # nothing): several times cheaper than scale, clip and cast as numpy steps.
    return cv2.convertScaleAbs(a, alpha=255.0)


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: every temporary file removed, exit 130."""


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises Terminated in the main thread while the block runs, so it
    unwinds (and cleans up) exactly as Ctrl-C does."""
    def on_term(signum, frame):
        raise Terminated()

    try:
        old = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def check_outputs(s: Settings, overwrite: bool) -> tuple[Path, Path | None]:
    """The output and matte paths, checked before any work. Raises ConfigError."""
    from livebg.files import background_path, refuse_clobbering, refuse_existing, writable_folder

    if not s.output:
        raise ConfigError("no output file: give -o OUTPUT.mp4")
    out = Path(s.output)
    if out.suffix.lower() != ".mp4":
        raise ConfigError(f"output must be an .mp4 file (H.264), got '{out.name}'")
    matte = Path(s.matte_out) if s.matte_out else None
    if matte is not None and matte.suffix.lower() != ".mkv":
        raise ConfigError(f"--matte-out must be a .mkv file (FFV1 in Matroska), got '{matte.name}'")
    outputs = [("-o", s.output), ("--matte-out", s.matte_out)]
    refuse_clobbering(outputs, [("input video", s.input), ("background", background_path(s.background))])
    if matte is not None and out.resolve() == matte.resolve():
        raise ConfigError("-o and --matte-out name the same file; choose two names")
    refuse_existing(outputs, overwrite)
    for option, path in outputs:
        writable_folder(option, path)
    return out, matte


def run(s: Settings, overwrite: bool = False) -> int:
    """The `process` command: ``s.input`` composited into ``s.output`` (and
    its matte into ``s.matte_out``), neither appearing until complete."""
    from livebg.backgrounds import open_background
    from livebg.faults import MattingGuard
    from livebg.files import atomic_file
    from livebg.matting import fallback_opener, open_matter, open_named

    out, matte = check_outputs(s, overwrite)
    keep_freed_memory()
    tmp_out = tmp_matte = None
    try:
        with ExitStack() as stack, _sigterm_as_interrupt():
            reader = stack.enter_context(VideoReader(s.input))
            background = open_background(s.background)
            matter, why = open_matter(s.model, s.provider, s.offline, purpose="file", fps=reader.fps,
                                      frame_size=(reader.height, reader.width))
            log.info("%s", why)
            stage = Stage(matter, background, smoothing=s.smoothing,
                          guard=MattingGuard(opener=fallback_opener(s.offline)),  # a failing model hands over
                          open_twin=lambda name: open_named(name, s.provider, s.offline),
                          light_wrap=s.light_wrap, color_match=s.color_match,
                          decontaminate=s.decontaminate)
            stack.callback(stage.close)
            lowlight, framer = studio_parts(s, reader.width, reader.height)
            t0 = time.monotonic()
            # Exited in reverse: the writers finish before the files move into place.
            tmp_out = stack.enter_context(atomic_file(out, overwrite=overwrite))
            tmp_matte = stack.enter_context(atomic_file(matte, overwrite=overwrite)) if matte else None
            writer = stack.enter_context(VideoWriter(tmp_out, reader.width, reader.height, reader.rate, kind="h264"))
            matte_writer = None
            if tmp_matte is not None:
                matte_writer = stack.enter_context(
                    VideoWriter(tmp_matte, reader.width, reader.height, reader.rate, kind="matte"))
            total = reader.frame_count
            show = sys.stderr.isatty()

            def progress(n):
                if show and (n % 10 == 0 or n == total):
                    print(f"\rlivebg: frame {n}/{total or '?'}", end="", file=sys.stderr, flush=True)

            n = process_file(reader, stage, writer, matte_writer, progress=progress, lowlight=lowlight,
                             framer=framer, warmup=stage.warmup)
            if show:
                print(file=sys.stderr)
            if n == 0:
                raise InputError(f"{s.input} has no frames")
    except FileExistsError as e:  # appeared while livebg worked: never replaced unasked
        raise LivebgError(f"{e.filename or e} appeared while livebg worked; it was kept (add --overwrite to "
                          f"replace it)") from None
    except LivebgError as e:  # name the file asked for, not its temporary name
        text = str(e)
        for tmp, final in ((tmp_out, out), (tmp_matte, matte)):
            if tmp is not None:
                text = text.replace(str(tmp), str(final))
        raise type(e)(text) from None
    dt = time.monotonic() - t0
    log.info("wrote %s: %d frames, %dx%d at %.3g fps (%.1f fps processing)%s", out, n, reader.width, reader.height,
             reader.fps, n / max(dt, 1e-9), f"; matte in {matte}" if matte else "")
    return 0
