"""Every kind of bad input, through the real command line: one clear line.

Each case runs `python -m livebg ...` as a user would and must end with a
non-zero exit, exactly one stderr line starting with "livebg: error:" that
carries the key phrase, no traceback and no stray text from native
libraries (libpng, OpenCV). With --debug the same failure shows its
traceback, for a bug report.

"Unreadable" is real, not simulated: the tests run as root, for whom
chmod 000 changes nothing, so those cases run livebg under
``setpriv --bounding-set=-dac_override,-dac_read_search``, which is root
without the capabilities that bypass file permissions (util-linux; the
kernel then enforces the mode bits as for anyone). A read-only file system
is a real read-only tmpfs mount.

The cases run in parallel, four at a time, in one module fixture; each
is still reported by its own test.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from clips import SHARED, person_frames, write_clip
from conftest import MODELS, run_livebg
from mounts import tmpfs

NO_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--")
RUN = ("run", "--no-tray", "--no-vcam", "--duration", "1")
NO_DISPLAY = {"DISPLAY": "", "WAYLAND_DISPLAY": ""}


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple          # "{d}" in an argument is the case folder
    phrase: str          # must appear in the error line (case-insensitive)
    unprivileged: bool = False  # run under setpriv: root that obeys file permissions
    env: dict = field(default_factory=dict, hash=False)
    absent: tuple = ()   # files that must not exist afterwards ("{d}/o.mp4")


CASES = [
    # ---- input files
    Case("input-missing", ("process", "{d}/missing.mp4", "-o", "{d}/o.mp4"), "input file not found", absent=("{d}/o.mp4",)),
    Case("input-missing-run", RUN + ("--input", "{d}/missing.mp4"), "input file not found"),
    Case("input-broken-link", ("process", "{d}/dangling.mp4", "-o", "{d}/o.mp4"), "broken link"),
    Case("input-is-folder", ("process", "{d}/folder.mp4", "-o", "{d}/o.mp4"), "is a folder"),
    Case("input-unreadable", ("process", "{d}/locked.mp4", "-o", "{d}/o.mp4"), "permission denied",
         unprivileged=True, absent=("{d}/o.mp4",)),
    Case("input-unreadable-run", RUN + ("--input", "{d}/locked.mp4"), "permission denied", unprivileged=True),
    Case("input-empty", ("process", "{d}/empty.mp4", "-o", "{d}/o.mp4"), "is empty (0 bytes)"),
    Case("input-empty-run", RUN + ("--input", "{d}/empty.mp4"), "is empty (0 bytes)"),
    Case("input-random-bytes", ("process", "{d}/random.mp4", "-o", "{d}/o.mp4"), "as video: invalid data"),
    Case("input-cut-off", ("process", "{d}/cut.mp4", "-o", "{d}/o.mp4"), "as video: invalid data"),
    Case("input-no-video-stream", ("process", "{d}/sound.wav", "-o", "{d}/o.mp4"), "has no video stream"),
    Case("input-no-video-stream-run", RUN + ("--input", "{d}/sound.wav"), "has no video stream"),
    # ---- backgrounds
    Case("background-missing", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/nope.png"),
         "is not a file that exists"),
    Case("background-text-file", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/text.png"),
         "not a readable image or video"),
    Case("background-damaged-png", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/garbled.png"),
         "not a readable image or video"),
    Case("background-damaged-video", RUN + ("--input", "{d}/clip.mp4", "--background", "{d}/random.webm"),
         "not a readable image or video"),
    Case("background-empty", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/empty.jpg"),
         "the file is empty"),
    Case("background-unreadable", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/locked.jpg"),
         "cannot read background", unprivileged=True),
    Case("background-folder", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/folder.mp4"),
         "is a folder"),
    # ---- colour specs
    Case("colour-short", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "color:#12"),
         "expected color:#RRGGBB"),
    Case("colour-not-hex", RUN + ("--input", "{d}/clip.mp4", "--background", "color:#gg0000"), "expected color:#RRGGBB"),
    Case("colour-empty", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "colour:"),
         "expected color:#RRGGBB"),
    Case("blur-strength", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "blur:500"), "1 to 100"),
    # ---- models
    Case("model-unknown-name", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "modnet-xl"),
         "unknown model 'modnet-xl'"),
    Case("model-file-missing", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "{d}/none.onnx"),
         "model file not found"),
    Case("model-corrupt-onnx", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "{d}/random.onnx"),
         "as an ONNX model"),
    Case("model-corrupt-tflite", RUN + ("--input", "{d}/clip.mp4", "--model", "{d}/random.tflite"),
         "as a MediaPipe segmentation model"),
    Case("model-wrong-interface", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model",
                                   str(MODELS / "SINet_Softmax.onnx")), "not a model livebg can run"),
    Case("model-sha256-mismatch", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "mediapipe-selfie"),
         "is corrupt: sha256", env={"LIVEBG_MODEL_DIR": "{d}/flipped-models"}),
    Case("model-sha256-mismatch-auto", RUN + ("--input", "{d}/clip.mp4"), "is corrupt: sha256",
         env={"LIVEBG_MODEL_DIR": "{d}/flipped-models"}),
    Case("model-size-mismatch", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "mediapipe-selfie"),
         "is corrupt: 1000 bytes", env={"LIVEBG_MODEL_DIR": "{d}/cut-models"}),
    Case("model-fetch-corrupt-copy", ("models", "fetch", "mediapipe-selfie"), "is corrupt: sha256",
         env={"LIVEBG_MODEL_DIR": "{d}/flipped-models"}),
    Case("model-unreadable", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "{d}/locked.tflite"),
         "permission denied", unprivileged=True),
    Case("model-offline-missing", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--model", "mediapipe-selfie",
                                   "--offline"), "downloading is off",
         env={"LIVEBG_MODEL_DIR": "{d}/no-models", "LIVEBG_CACHE_DIR": "{d}/no-cache"}),
    # ---- config files
    Case("config-not-toml", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--config", "{d}/bad.toml"),
         "is not valid TOML"),
    Case("config-unknown-key", RUN + ("--config", "{d}/unknown.toml"), "unknown key 'wdith'"),
    Case("config-out-of-range", RUN + ("--config", "{d}/range.toml"), "'width' = 99999 is out of range (160 to 3840)"),
    Case("config-wrong-type", RUN + ("--config", "{d}/type.toml"), "'mirror' must be true or false"),
    Case("config-not-text", RUN + ("--config", "{d}/binary.toml"), "is not text"),
    Case("config-missing", RUN + ("--config", "{d}/nope.toml"), "config file not found"),
    Case("config-unreadable", RUN + ("--config", "{d}/locked.toml"), "permission denied", unprivileged=True),
    Case("user-config-broken", RUN + ("--input", "{d}/clip.mp4"), "config.toml: unknown key 'colour'",
         env={"LIVEBG_CONFIG_DIR": "{d}/user-config"}),
    Case("option-out-of-range", RUN + ("--smoothing", "2"), "'smoothing' = 2.0 is out of range (0 to 0.95)"),
    # ---- outputs
    Case("output-folder-missing", ("process", "{d}/clip.mp4", "-o", "{d}/nodir/o.mp4"), "output folder does not exist"),
    Case("output-is-folder", ("process", "{d}/clip.mp4", "-o", "{d}/folder.mp4"), "is a folder"),
    Case("output-not-writable", ("process", "{d}/clip.mp4", "-o", "{d}/ro/o.mp4"), "permission denied",
         unprivileged=True),
    Case("output-read-only-fs", ("process", "{d}/clip.mp4", "-o", "{d}/rofs/o.mp4"), "read-only file system"),
    Case("matte-not-writable", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--matte-out", "{d}/ro/m.mkv"),
         "permission denied", unprivileged=True, absent=("{d}/o.mp4",)),
    Case("output-wrong-type", ("process", "{d}/clip.mp4", "-o", "{d}/o.avi"), "output must be an .mp4 file"),
    Case("record-read-only-fs", RUN + ("--input", "{d}/clip.mp4", "--record", "{d}/rofs/r.mp4"),
         "cannot write to {d}/rofs: read-only file system"),
    Case("record-not-writable", RUN + ("--input", "{d}/clip.mp4", "--record", "{d}/ro/r.mp4"),
         "permission denied", unprivileged=True),
    Case("record-folder-missing", RUN + ("--input", "{d}/clip.mp4", "--record", "{d}/nodir/r.mp4"),
         "output folder does not exist"),
    # ---- cameras
    Case("camera-index-absent", RUN + ("--input", "7"), "camera 7 could not be opened"),
    # A device path is a camera, never "input file not found".
    Case("camera-device-absent", RUN + ("--input", "/dev/video57"), "camera /dev/video57 does not exist"),
    Case("camera-device-not-a-camera", RUN + ("--input", "/dev/null"), "/dev/null is not a camera device"),
    # ---- nothing to show the output on (the test machines have no V4L2 at all, so no virtual camera either)
    Case("preview-without-display", ("run", "--input", "{d}/clip.mp4", "--no-vcam", "--no-tray", "--preview",
                                     "--duration", "1"), "--preview cannot open its window here: no display",
         env=NO_DISPLAY),
    Case("preview-without-display-tray", ("run", "--input", "{d}/clip.mp4", "--no-vcam", "--preview",
                                          "--duration", "1"), "--preview cannot open its window here: no display",
         env=NO_DISPLAY),
    Case("preview-display-not-answering", ("run", "--input", "{d}/clip.mp4", "--no-vcam", "--no-tray", "--preview",
                                           "--duration", "1"), "cannot connect to the X display :4093",
         env={"DISPLAY": ":4093", "WAYLAND_DISPLAY": ""}),
    Case("no-vcam-no-display", ("run", "--input", "{d}/clip.mp4", "--no-tray", "--duration", "1"),
         "and no preview window instead: no display (DISPLAY and WAYLAND_DISPLAY are not set); add --no-vcam",
         env=NO_DISPLAY),
    # ---- conflicting options
    Case("device-and-no-vcam", RUN + ("--input", "{d}/clip.mp4", "--device", "/dev/video7"), "contradict"),
    Case("record-over-input", RUN + ("--input", "{d}/clip.mp4", "--record", "{d}/clip.mp4"),
         "would overwrite the input video"),
    Case("record-over-background", RUN + ("--input", "{d}/clip.mp4", "--background", "{d}/bgvideo.mp4",
                                          "--record", "{d}/bgvideo.mp4"), "would overwrite the background"),
    Case("output-over-input", ("process", "{d}/clip.mp4", "-o", "{d}/clip.mp4"), "would overwrite the input"),
    Case("matte-over-background", ("process", "{d}/clip.mp4", "-o", "{d}/o.mp4", "--background", "{d}/bgvideo.mkv",
                                   "--matte-out", "{d}/bgvideo.mkv"), "would overwrite the background"),
    Case("odd-size-for-vcam", RUN + ("--input", "{d}/clip.mp4", "--width", "641"), "must be even"),
]

# These must come through untouched (the conflict tests check nothing was clobbered).
PRECIOUS = ("clip.mp4", "bgvideo.mp4", "bgvideo.mkv")


def _sub(text: str, d: Path) -> str:
    return str(text).replace("{d}", str(d))


def _make_files(d: Path) -> None:
    rng = np.random.default_rng(5)
    frames, _ = person_frames(8, width=320, height=180)
    write_clip(d / "clip.mp4", frames, fps=15)
    shutil.copyfile(d / "clip.mp4", d / "bgvideo.mp4")
    shutil.copyfile(SHARED / "backgrounds" / "rotating_earth.webm", d / "bgvideo.mkv")  # Matroska inside
    (d / "empty.mp4").write_bytes(b"")
    (d / "empty.jpg").write_bytes(b"")
    (d / "random.mp4").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (d / "random.webm").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (d / "random.onnx").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    (d / "random.tflite").write_bytes(rng.integers(0, 256, 20000, dtype=np.uint8).tobytes())
    # A real MP4 with its index at the end, cut off before it: nothing to find the frames with.
    (d / "cut.mp4").write_bytes((SHARED / "video" / "test.mp4").read_bytes()[:30000])
    with wave.open(str(d / "sound.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    (d / "text.png").write_text("this is not a picture\n")
    png = bytearray((SHARED / "backgrounds" / "beach.png").read_bytes())
    for i in range(200, len(png), 7):  # damage the compressed data, keep the signature and header
        png[i] ^= 0x55
    (d / "garbled.png").write_bytes(bytes(png))
    (d / "folder.mp4").mkdir()
    (d / "dangling.mp4").symlink_to(d / "gone" / "away.mp4")
    (d / "nodir").mkdir()
    (d / "nodir").rmdir()
    # Unreadable for anyone who obeys permissions (setpriv'd root included).
    for name, src in (("locked.mp4", d / "clip.mp4"), ("locked.jpg", SHARED / "backgrounds" / "beach.jpg"),
                      ("locked.tflite", MODELS / "selfie_segmentation.tflite")):
        shutil.copyfile(src, d / name)
        os.chmod(d / name, 0)
    (d / "locked.toml").write_text("fps = 30\n")
    os.chmod(d / "locked.toml", 0)
    (d / "ro").mkdir()
    os.chmod(d / "ro", 0o555)
    # Models folders: one byte flipped (right size, wrong sha256), a cut-off copy, none at all.
    for sub in ("flipped-models", "cut-models", "no-models"):
        (d / sub).mkdir()
    data = bytearray((MODELS / "selfie_segmentation.tflite").read_bytes())
    data[len(data) // 2] ^= 1
    (d / "flipped-models" / "selfie_segmentation.tflite").write_bytes(bytes(data))
    (d / "cut-models" / "selfie_segmentation.tflite").write_bytes(bytes(data[:1000]))
    # Config files.
    (d / "bad.toml").write_text("width = = 3\n")
    (d / "unknown.toml").write_text("width = 640\nwdith = 480\n")
    (d / "range.toml").write_text("width = 99999\n")
    (d / "type.toml").write_text('mirror = "yes"\n')
    (d / "binary.toml").write_bytes(b"\xff\xfe\x00bad" * 10)
    (d / "user-config").mkdir()
    (d / "user-config" / "config.toml").write_text('colour = "red"\n')


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-input")
    _make_files(d)
    with tmpfs(d / "rofs", size="64k", read_only=True):
        yield d


def _run_case(case: Case, d: Path, debug: bool = False):
    env = dict(os.environ)
    env.update({k: _sub(v, d) for k, v in case.env.items()})
    args = [_sub(a, d) for a in case.args] + (["--debug"] if debug else [])
    return run_livebg(*args, env=env, timeout=180, cwd=d, prefix=NO_DAC if case.unprivileged else ())


@pytest.fixture(scope="module")
def results(folder):
    """Every case run once as is, and the unprivileged ones once more with --debug."""
    jobs = [(c, False) for c in CASES] + [(c, True) for c in CASES if c.unprivileged]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futures = {(c.id, debug): pool.submit(_run_case, c, folder, debug) for c, debug in jobs}
        return {key: f.result() for key, f in futures.items()}


def assert_one_clear_error(r, phrase: str) -> str:
    """Non-zero exit, one "livebg: error:" line with the phrase, nothing else alarming."""
    err = r.stderr
    assert r.returncode != 0, f"exit 0 for bad input; stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("livebg: error:")]
    assert len(errors) == 1, f"want exactly one error line:\n{err}"
    assert phrase.lower() in errors[0].lower(), f"{phrase!r} not in: {errors[0]}"
    # No stray lines from native libraries (libpng, OpenCV): only livebg's own.
    assert all(ln.startswith("livebg") for ln in lines), f"stray output:\n{err}"
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line(case, results, folder):
    r = results[(case.id, False)]
    assert_one_clear_error(r, _sub(case.phrase, folder))
    for path in case.absent:
        assert not Path(_sub(path, folder)).exists(), f"{path} was left behind"
    assert not list(folder.glob(".o.*")), "a temporary output was left behind"


def test_inputs_were_never_clobbered(results, folder):
    """The conflict cases refused before writing anything over their inputs."""
    from clips import read_all

    got, _, size = read_all(folder / "clip.mp4")
    assert len(got) == 8 and size == (320, 180)
    assert (folder / "bgvideo.mkv").read_bytes() == (SHARED / "backgrounds" / "rotating_earth.webm").read_bytes()
    assert (folder / "bgvideo.mp4").read_bytes() == (folder / "clip.mp4").read_bytes()


def test_setpriv_really_takes_away_roots_override(folder):
    """The unprivileged cases mean something only if root then obeys the mode bits."""
    import subprocess

    r = subprocess.run([*NO_DAC, "cat", str(folder / "locked.toml")], capture_output=True, text=True)
    assert r.returncode != 0 and "Permission denied" in r.stderr
    assert (folder / "locked.toml").read_text() == "fps = 30\n"  # and root as such still reads it


# ---------------------------------------------------------------- --debug

@pytest.fixture
def logging_restored():
    """cli.main() configures logging for the process; put it back for the other tests."""
    import logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


@pytest.mark.parametrize("case", [c for c in CASES if not c.unprivileged],
                         ids=[c.id for c in CASES if not c.unprivileged])
def test_debug_raises_for_a_traceback(case, folder, monkeypatch, logging_restored):
    """With --debug the error is not caught: Python prints its traceback. In
    process (fast); the two tests below check the printed traceback for real."""
    from livebg import cli
    from livebg.errors import LivebgError

    monkeypatch.setenv("LIVEBG_DEBUG", "0")  # main() sets it to 1; restored afterwards
    monkeypatch.chdir(folder)
    for k, v in case.env.items():
        monkeypatch.setenv(k, _sub(v, folder))
    with pytest.raises(LivebgError) as e:
        cli.main([_sub(a, folder) for a in case.args] + ["--debug"])
    assert _sub(case.phrase, folder).lower() in str(e.value).lower()


@pytest.mark.parametrize("case", [c for c in CASES if c.unprivileged], ids=[c.id for c in CASES if c.unprivileged])
def test_debug_prints_the_traceback_unprivileged(case, results, folder):
    r = results[(case.id, True)]
    assert r.returncode != 0
    assert "Traceback (most recent call last)" in r.stderr
    assert _sub(case.phrase, folder).lower() in r.stderr.lower()


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_flag_before_or_after_the_command(where, folder):
    args = ["process", str(folder / "missing.mp4"), "-o", str(folder / "o.mp4")]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    r = run_livebg(*args, timeout=120)
    assert r.returncode != 0
    assert "Traceback (most recent call last)" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("livebg.errors.InputError: input file not found")


def test_missing_system_library_is_named_with_its_package(tmp_path):
    """A minimal Debian lacks libGL, which OpenCV's wheel loads: one line naming
    the library and its package, not "internal error". The missing library is
    played by a stand-in cv2 module that fails as the real one does there
    (ImportError with the loader's message); the machine has libGL."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "cv2.py").write_text('raise ImportError("libGL.so.1: cannot open shared object file: '
                                 'No such file or directory")\n')
    frames, _ = person_frames(2, width=320, height=180)
    clip = write_clip(tmp_path / "clip.mp4", frames, fps=15)
    r = run_livebg("process", clip, "-o", tmp_path / "o.mp4", env=dict(os.environ, PYTHONPATH=str(fake)))
    assert_one_clear_error(r, "a system library is missing: libGL.so.1 (Debian/Ubuntu: sudo apt install libgl1")
