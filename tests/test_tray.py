"""The real tray icon, for real: `livebg run` under Xvfb with a tray host
(trayer), driven with the mouse and keyboard through xdotool, with the
virtual camera emulated (tests/fakev4l2) so the frames it got can be checked.

The app writes its tray state (icon and menu geometry, notifications) to the
file named by LIVEBG_TRAY_STATUS; the test reads it to know where to click
and when the menu is up, and checks every effect in the output frames.
Screenshots are kept in artifacts/tray/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from clips import SHARED, person_frames, read_all, write_clip
from conftest import artifact_dir, run_livebg
from fakecam import FakeV4L2Device, build_shim

W, H, FPS = 320, 180, 15   # small frames: the emulated device writes every one of them to disk
TIMEOUT = 90               # for anything to happen, on a loaded 2-core machine
TOOLS = ("Xvfb", "trayer", "xdotool", "import")


def _require_tools():
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:  # CI installs them (.ci/run): a missing one is a broken setup, not a reason to skip
        pytest.fail(f"missing {', '.join(missing)}: scripts/test-deps installs everything the tests need")


def _wait(pred, what, timeout=TIMEOUT, every=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


@contextlib.contextmanager
def _env(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _tray_selection_owner(display: str) -> int:
    """The window owning the X selection _NET_SYSTEM_TRAY_S0 (the tray host), 0 if none."""
    import ctypes

    x11 = ctypes.CDLL("libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XInternAtom.restype = ctypes.c_ulong
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XGetSelectionOwner.restype = ctypes.c_ulong
    x11.XGetSelectionOwner.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    d = x11.XOpenDisplay(display.encode())
    assert d, f"cannot open X display {display}"
    try:
        return int(x11.XGetSelectionOwner(d, x11.XInternAtom(d, b"_NET_SYSTEM_TRAY_S0", 0)))
    finally:
        x11.XCloseDisplay(d)


class X:
    """One Xvfb server (the display number chosen by Xvfb itself: never a clash)."""

    def __init__(self, tmp: Path):
        _require_tools()
        r, w = os.pipe()
        self.log = open(tmp / "xvfb.log", "w")
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     pass_fds=(w,), stdout=self.log, stderr=subprocess.STDOUT)
        os.close(w)
        number = b""
        deadline = time.monotonic() + 60
        while not number.endswith(b"\n"):
            assert time.monotonic() < deadline and self.proc.poll() is None, "Xvfb did not start"
            chunk = os.read(r, 16)
            if not chunk:
                break
            number += chunk
        os.close(r)
        self.display = f":{int(number)}"
        self.env = dict(os.environ, DISPLAY=self.display)
        self.tray = None

    def run(self, *args, **kw):
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=60, **kw)

    def start_tray_host(self, tmp: Path):
        """trayer as the tray host, checked step by step so a broken setup fails
        at once with its reason (a missing Qt library, trayer exiting), not
        after a timeout."""
        from livebg.tray import _why_no_qt

        with _env(DISPLAY=self.display):
            why = _why_no_qt()  # names a missing library and its package; Qt itself would abort
        if why:
            pytest.fail(f"Qt cannot start under Xvfb: {why}; scripts/test-deps installs what the tests need")
        self.tray_log_path = tmp / "trayer.log"
        self.tray_log = open(self.tray_log_path, "w")
        self.tray = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                      "--height", "32", "--transparent", "false"],
                                     env=self.env, stdout=self.tray_log, stderr=subprocess.STDOUT)

        def owned():
            if self.tray.poll() is not None:
                pytest.fail(f"trayer exited ({self.tray.returncode}): {self.tray_log_path.read_text()[-2000:]}")
            return _tray_selection_owner(self.display)

        _wait(owned, "trayer to own the system tray selection")
        # ... and Qt sees it (one probe, not one a poll: each is a whole Python with PySide6).
        probe = ("import time; from PySide6.QtWidgets import QApplication, QSystemTrayIcon; app = QApplication([]); "
                 "t = time.monotonic() + 30\n"
                 "while not QSystemTrayIcon.isSystemTrayAvailable() and time.monotonic() < t:\n"
                 "    app.processEvents(); time.sleep(0.1)\n"
                 "print(QSystemTrayIcon.isSystemTrayAvailable())")
        r = self.run(sys.executable, "-c", probe)
        assert r.stdout.strip() == "True", f"Qt does not see trayer as the tray (exit {r.returncode}): {r.stderr[-2000:]}"

    def icon_windows(self) -> list[list[int]]:
        """Geometry [x, y, w, h] of every window of class livebg (the tray icon's)."""
        out = []
        for wid in self.run("xdotool", "search", "--class", "livebg").stdout.split():
            g = self.run("xdotool", "getwindowgeometry", "--shell", wid).stdout
            v = dict(line.split("=", 1) for line in g.split() if "=" in line)
            out.append([int(v["X"]), int(v["Y"]), int(v["WIDTH"]), int(v["HEIGHT"])])
        return out

    def screenshot(self, path: Path) -> np.ndarray:
        r = self.run("import", "-window", "root", str(path))
        assert r.returncode == 0, r.stderr
        return cv2.imread(str(path))

    def click(self, x, y, button=1):
        r = self.run("xdotool", "mousemove", "--sync", str(int(x)), str(int(y)), "click", str(button))
        assert r.returncode == 0, r.stderr

    def hover(self, x, y):
        r = self.run("xdotool", "mousemove", "--sync", str(int(x)), str(int(y)))
        assert r.returncode == 0, r.stderr

    def key(self, *keys, window=None):
        if window is not None:
            self.run("xdotool", "windowfocus", "--sync", str(window))
        r = self.run("xdotool", "key", "--delay", "80", *keys)
        assert r.returncode == 0, r.stderr

    def close(self):
        for p in (self.tray, self.proc):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


@pytest.fixture(scope="module")
def shim(tmp_path_factory):
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, _ = person_frames(60, W, H, amplitude=20)
    return write_clip(tmp_path_factory.mktemp("clip") / "cam.mp4", frames, fps=FPS)


@pytest.fixture(scope="module")
def camera(clip):
    """The camera's frames as the virtual camera shows them untouched (through I420)."""
    frames, _, _ = read_all(clip)
    out = [cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420) for f in frames]
    return np.stack(out).astype(np.int16)


@pytest.fixture(scope="module")
def corners():
    _, alphas = person_frames(60, W, H, amplitude=20)
    bg = np.logical_and.reduce([a == 0 for a in alphas])
    bg = cv2.erode(bg.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    bg[H // 3:] = False
    assert bg.sum() > 300
    return bg


@pytest.fixture(scope="module")
def xtray(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("x")
    x = X(tmp)
    try:
        x.start_tray_host(tmp)
        yield x
    finally:
        x.close()


class Livebg:
    """`livebg run` with the tray, its status file and the emulated virtual camera."""

    def __init__(self, x: X, device: FakeV4L2Device, tmp: Path, *args):
        self.x, self.device = x, device
        self.status_path = tmp / "tray-status.json"
        env = device.env(dict(os.environ, DISPLAY=x.display))  # this test's isolated user folders
        env["LIVEBG_TRAY_STATUS"] = str(self.status_path)
        env["PYTHONUNBUFFERED"] = "1"
        self.err_path = tmp / "livebg.err"
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "livebg", "run", "--device", device.device,
                                      "--width", str(W), "--height", str(H), "--fps", str(FPS), *map(str, args)],
                                     env=env, stdout=self.err, stderr=subprocess.STDOUT, text=True)

    def stderr(self) -> str:
        return self.err_path.read_text()

    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return {}

    def wait_status(self, pred, what, timeout=TIMEOUT):
        def check():
            assert self.proc.poll() is None, f"livebg exited ({self.proc.returncode}):\n{self.stderr()}"
            s = self.status()
            return s if s and pred(s) else None
        return _wait(check, what, timeout)

    def frame_count(self) -> int:
        p = self.device.out_path
        return p.stat().st_size // (W * H * 3 // 2) if p.exists() else 0

    def frames_after(self, n0: int, count: int) -> np.ndarray:
        """``count`` frames sent after the first ``n0``, as BGR (waits for them)."""
        size = W * H * 3 // 2
        _wait(lambda: self.frame_count() >= n0 + count, f"{count} frames after frame {n0}")
        with open(self.device.out_path, "rb") as f:
            f.seek(n0 * size)
            data = np.frombuffer(f.read(count * size), np.uint8)
        i420 = data.reshape(count, H * 3 // 2, W)
        return np.stack([cv2.cvtColor(x, cv2.COLOR_YUV2BGR_I420) for x in i420])

    def wait_frames(self, pred, what, stable=5, timeout=TIMEOUT):
        """Wait until sent frames satisfy ``pred``, then check the next ``stable`` ones do too."""
        deadline = time.monotonic() + timeout
        n = self.frame_count()
        while True:
            frame = self.frames_after(n, 1)[0]
            n += 1
            if pred(frame):
                break
            assert time.monotonic() < deadline, f"no frame showed {what} within {timeout} s:\n{self.stderr()}"
            n = max(n, self.frame_count() - 1)
        later = self.frames_after(n, stable)
        assert all(pred(f) for f in later), f"the output stopped showing {what}"
        return frame

    # -- the tray menu ---------------------------------------------------------
    def open_menu(self) -> dict:
        s = self.wait_status(lambda s: s.get("icon") and s["icon"][0] > 0, "the tray icon")
        x, y, w, h = s["icon"]
        self.x.click(x + w // 2, y + h // 2, button=3)
        return self.wait_status(lambda s: (s["menus"] or {}).get("main"), "the tray menu")["menus"]["main"]

    def menu_item(self, menu: dict, label: str):
        assert label in menu["items"], f"no '{label}' in the menu: {list(menu['items'])}"
        x, y, w, h = menu["items"][label]["rect"]
        return x + min(w // 2, 60), y + h // 2

    def choose(self, label: str, submenu: str | None = None) -> dict:
        """Open the menu and click ``label`` (in ``submenu``); returns the status once the menu closed."""
        main = self.open_menu()
        if submenu is not None:
            self.x.hover(*self.menu_item(main, submenu))
            menu = self.wait_status(lambda s: (s["menus"].get(submenu) or {}).get("items", {}).get(label),
                                    f"'{label}' in the {submenu} submenu")["menus"][submenu]
        else:
            menu = main
        self.x.click(*self.menu_item(menu, label))
        return self.wait_status(lambda s: not s["menus"]["main"], "the menu to close")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _user_config(tmp: Path, **values) -> Path:
    from livebg import config

    for v in values.values():
        Path(v).mkdir(parents=True, exist_ok=True)
    return config.save_user_values({k: str(v) for k, v in values.items()})


def _raw(camera):
    def pred(frame):
        return float(np.abs(camera - frame.astype(np.int16)).mean(axis=(1, 2, 3)).min()) < 4.0
    return pred


def _corners_are(bgr, corners, tol=40):
    def pred(frame):
        return bool(np.abs(frame[corners].mean(0) - np.array(bgr)).max() < tol)
    return pred


def _crop(image, rects, margin=6):
    x0 = max(0, min(r[0] for r in rects) - margin)
    y0 = max(0, min(r[1] for r in rects) - margin)
    x1 = min(image.shape[1], max(r[0] + r[2] for r in rects) + margin)
    y1 = min(image.shape[0], max(r[1] + r[3] for r in rects) + margin)
    return image[y0:y1, x0:x1]


def test_tray_menu_drives_the_running_pipeline(xtray, shim, clip, camera, corners, tmp_path):
    art = artifact_dir("tray")
    backgrounds, recordings = tmp_path / "backgrounds", tmp_path / "recordings"
    cfg = _user_config(tmp_path, backgrounds_dir=backgrounds, recordings_dir=recordings)
    shutil.copy(SHARED / "backgrounds" / "beach.png", backgrounds / "beach.png")  # there from the start
    device = FakeV4L2Device(tmp_path, "/dev/video7", lib=shim)
    # The light model: what auto picks depends on the machine's speed (RVM where it keeps up).
    app = Livebg(xtray, device, tmp_path, "--input", clip, "--background", "color:#0000ff",
                 "--model", "mediapipe-selfie-onnx")
    try:
        # The icon is up, embedded in the tray host (xdotool finds its window where the app says it is),
        # and frames flow with the blue background.
        s = app.wait_status(lambda s: s.get("icon") and s["tray_available"], "the tray icon")
        assert "Traceback" not in app.stderr()
        s = app.wait_status(lambda s: s["icon"] in xtray.icon_windows(), "the icon window to be embedded")
        x, y, w, h = s["icon"]
        assert x + w > 1000 and y < 32  # top right, where trayer is
        app.wait_frames(_corners_are((255, 0, 0), corners), "the blue background from --background")
        shot = xtray.screenshot(art / "01-icon.png")
        icon = shot[y:y + h, x:x + w].reshape(-1, 3)
        assert (np.abs(icon.astype(int) - [222, 111, 47]).sum(1) < 60).sum() > 20  # the blue icon is drawn
        _wait(lambda: "fps" in app.status().get("tooltip", "") and "model mediapipe-selfie" in app.status()["tooltip"],
              "the tooltip")

        # A background file added while running appears in the menu; picking it applies at once.
        red = np.zeros((90, 160, 3), np.uint8)
        red[:] = (0, 0, 255)
        cv2.imwrite(str(backgrounds / "red wall.png"), red)
        main = app.open_menu()
        assert ["Virtual background", "Backgrounds", "Start recording", "Mirror", "Model", "Pause camera"] == \
            list(main["items"])[:6] and main["items"]["Virtual background"]["checked"]
        assert list(main["items"])[-1] == "Quit"
        app.x.hover(*app.menu_item(main, "Backgrounds"))
        s = app.wait_status(lambda s: "red wall" in ((s["menus"].get("Backgrounds") or {}).get("items") or {}),
                            "the new file in the Backgrounds submenu")
        sub = s["menus"]["Backgrounds"]
        assert list(sub["items"])[:2] == ["beach", "red wall"]
        assert {"Blur: medium", "Green screen", "Choose colour…", "None (camera picture as is)"} <= set(sub["items"])
        shot = xtray.screenshot(art / "02-menu-backgrounds.png")
        menu_image = _crop(shot, [s["menus"]["main"]["rect"], sub["rect"], s["icon"]])
        cv2.imwrite(str(art / "tray-menu.png"), menu_image)  # docs/img/tray-menu.png is one of these
        app.x.click(*app.menu_item(sub, "red wall"))
        s = app.wait_status(lambda s: s["background"].endswith("red wall.png") and not s["menus"]["main"],
                            "the red background to be chosen")
        app.wait_frames(_corners_are((0, 0, 255), corners), "the red background from the menu")

        # A file that is not an image: a notification, and the red background stays.
        (backgrounds / "broken.png").write_bytes(b"not an image")
        s = app.choose("broken", submenu="Backgrounds")
        s = app.wait_status(lambda s: any("broken.png" in m for _, m in s["notifications"]), "a notification")
        assert s["background"].endswith("red wall.png")
        xtray.screenshot(art / "03-notification.png")
        app.wait_frames(_corners_are((0, 0, 255), corners), "the red background still")

        # Effect off with the keyboard in the menu: the raw camera picture.
        app.open_menu()
        xtray.key("Down", "Return")
        app.wait_status(lambda s: s["enabled"] is False, "the effect to be off")
        app.wait_frames(_raw(camera), "the raw camera picture")
        app.choose("Virtual background")
        app.wait_status(lambda s: s["enabled"] is True, "the effect to be on")
        app.wait_frames(_corners_are((0, 0, 255), corners), "the red background again")

        # Recording from the menu: a red dot on the icon, then a finalised MP4 in the recordings folder.
        s = app.choose("Start recording")
        s = app.wait_status(lambda s: s["recording"], "the recording to start")
        rec = Path(s["recording"])
        assert rec.parent == recordings and re.fullmatch(r"livebg-\d{8}-\d{6}\.mp4", rec.name)
        s = app.wait_status(lambda s: "recording livebg-" in s["tooltip"], "the tooltip to say so")
        x, y, w, h = s["icon"]

        def red_dot():
            img = xtray.screenshot(art / "04-recording-icon.png")[y:y + h, x:x + w].astype(int)
            return ((img[..., 2] > 180) & (img[..., 1] < 90) & (img[..., 0] < 90)).sum() > 10
        _wait(red_dot, "the red recording dot on the icon", every=1.0)
        app.frames_after(app.frame_count(), 2 * FPS)
        main = app.open_menu()
        assert "Stop recording" in main["items"]
        app.x.click(*app.menu_item(main, "Stop recording"))
        app.wait_status(lambda s: s["recording"] is None, "the recording to stop")
        frames, fps, size = read_all(rec)
        assert size == (W, H) and fps == pytest.approx(FPS) and len(frames) >= FPS
        assert _corners_are((0, 0, 255), corners)(frames[len(frames) // 2])

        # Model switch from the submenu, without stopping the output.
        n0 = app.frame_count()
        app.choose("mediapipe-selfie-landscape", submenu="Model")
        app.wait_status(lambda s: s["model"] == "mediapipe-selfie-landscape" and not s["switching_model"],
                        "the model switch")
        app.wait_frames(_corners_are((0, 0, 255), corners), "compositing with the new model")
        ts = device.timestamps()[n0:]
        assert len(ts) > FPS and np.diff(ts).max() < 1.0  # the virtual camera never stalled

        # Mirror from the menu.
        app.choose("Mirror")
        app.wait_status(lambda s: s["mirror"] is True, "mirror on")

        # Pause: the placeholder; resume: the picture again.
        app.choose("Pause camera")
        app.wait_status(lambda s: s["paused"], "the camera to pause")
        # The pipeline's own events (from its capture thread) become notifications too.
        app.wait_status(lambda s: any("camera paused" in m for _, m in s["notifications"]), "the pause notification")
        app.wait_frames(lambda f: abs(float(np.median(f)) - 32) <= 4, "the 'camera paused' placeholder", stable=3)
        app.choose("Pause camera")
        app.wait_status(lambda s: not s["paused"], "the camera to resume")
        app.wait_frames(_corners_are((0, 0, 255), corners), "the picture after resuming")

        # The preview window (a Qt window) and its shortcuts: b = effect, m = mirror.
        app.choose("Show preview")
        app.wait_status(lambda s: s["preview"] and s["preview"]["frames"] > 5, "preview frames")
        win = _wait(lambda: xtray.run("xdotool", "search", "--name", "livebg preview").stdout.split(), "the preview")[0]
        xtray.screenshot(art / "05-preview.png")
        xtray.key("b", window=win)
        app.wait_status(lambda s: s["enabled"] is False, "b to turn the effect off")
        xtray.key("m", window=win)
        app.wait_status(lambda s: s["mirror"] is False, "m to turn mirroring off")
        app.wait_frames(_raw(camera), "the raw, unmirrored picture")
        xtray.key("b", window=win)
        app.wait_status(lambda s: s["enabled"] is True, "b to turn the effect on")
        xtray.key("r", window=win)
        rec = Path(app.wait_status(lambda s: s["recording"], "r to start recording")["recording"])
        app.frames_after(app.frame_count(), FPS)

        # Quit from the menu: a clean exit that finalises the recording; the choices are
        # remembered for the next start.
        app.choose("Quit")
        assert app.proc.wait(TIMEOUT) == 0, app.stderr()
        assert "Traceback" not in app.stderr()
        assert len(read_all(rec)[0]) >= FPS
        from livebg import config

        saved = config.load_file(cfg)
        assert saved["background"] == str((backgrounds / "red wall.png").resolve())
        assert saved["model"] == "mediapipe-selfie-landscape" and saved["mirror"] is False
        assert config.build({}).background == saved["background"]
        assert app.status()["running"] is False
    finally:
        app.stop()
        (art / "livebg-stderr.txt").write_text(app.stderr())


def test_sigint_and_duration_stop_the_tray_cleanly(xtray, shim, clip, tmp_path):
    """The Qt loop still lets Ctrl-C through, and --duration still stops, finalising the recording."""
    _user_config(tmp_path, backgrounds_dir=tmp_path / "bg", recordings_dir=tmp_path / "rec")
    device = FakeV4L2Device(tmp_path, "/dev/video7", lib=shim)
    rec = tmp_path / "cli.mp4"
    app = Livebg(xtray, device, tmp_path, "--input", clip, "--record", rec)
    try:
        app.wait_status(lambda s: s.get("icon"), "the tray icon")
        app.frames_after(app.frame_count(), FPS)
        app.proc.send_signal(signal.SIGINT)
        assert app.proc.wait(TIMEOUT) == 0, app.stderr()
        assert len(read_all(rec)[0]) >= FPS
    finally:
        app.stop()
    app.status_path.unlink()
    t0 = time.monotonic()
    app = Livebg(xtray, device, tmp_path, "--input", clip, "--duration", 3)
    try:
        assert app.proc.wait(TIMEOUT + 60) == 0, app.stderr()
        assert time.monotonic() - t0 >= 3
        assert app.status()["icon"] is None and app.status()["running"] is False
        assert "no tray icon" not in app.stderr()
    finally:
        app.stop()


def test_no_virtual_camera_is_a_notification_and_a_preview(xtray, clip, tmp_path):
    """No virtual camera but a display: a tray notification says so and the preview shows instead."""
    _user_config(tmp_path, backgrounds_dir=tmp_path / "bg", recordings_dir=tmp_path / "rec")
    status = tmp_path / "status.json"
    env = dict(os.environ, DISPLAY=xtray.display, LIVEBG_TRAY_STATUS=str(status))
    r = run_livebg("run", "--input", clip, "--duration", 6, "--width", W, "--height", H, env=env, timeout=TIMEOUT + 60)
    assert r.returncode == 0, r.stderr
    assert "showing a preview window instead" in r.stderr
    s = json.loads(status.read_text())
    assert any(k == "warning" and m.startswith("virtual camera unavailable") for k, m in s["notifications"]), s
    assert s["preview"]["frames"] > 10 and s["tray_available"]


def test_no_tray_host_runs_without_the_tray(tmp_path, clip):
    """A display but nothing to show a tray icon in: one warning, and the run goes on."""
    x = X(tmp_path)
    backgrounds = tmp_path / "bg"
    _user_config(tmp_path, recordings_dir=tmp_path / "rec")
    from livebg import config

    config.save_user_values({"backgrounds_dir": str(backgrounds)})
    try:
        r = run_livebg("run", "--input", clip, "--no-vcam", "--duration", 2, "--width", W, "--height", H,
                       env=dict(os.environ, DISPLAY=x.display))
        assert r.returncode == 0, r.stderr
        assert "no tray icon: no system tray on this desktop; running without it" in r.stderr
        assert "Traceback" not in r.stderr
        assert not backgrounds.exists()  # as with --no-tray: no folder made for a menu nobody sees
    finally:
        x.close()


def test_no_display_runs_without_the_tray(tmp_path, clip):
    """conftest removes DISPLAY: the default (tray on) must still run, headless."""
    assert "DISPLAY" not in os.environ
    rec = tmp_path / "r.mp4"
    r = run_livebg("run", "--input", clip, "--no-vcam", "--duration", 2, "--width", W, "--height", H, "--record", rec)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "tray" in line]
    assert lines == ["livebg: no tray icon: no display (DISPLAY and WAYLAND_DISPLAY are not set); running without it"]
    assert len(read_all(rec)[0]) >= FPS


def test_unreachable_display_runs_without_the_tray(tmp_path, clip):
    """DISPLAY set to a server that is not there: Qt would abort the process; livebg checks first."""
    env = dict(os.environ, DISPLAY=":987")
    r = run_livebg("run", "--input", clip, "--no-vcam", "--duration", 2, "--width", W, "--height", H, env=env)
    assert r.returncode == 0, r.stderr
    assert "no tray icon: cannot connect to the X display :987" in r.stderr


def test_opencv_preview_shortcuts_without_the_tray(xtray, shim, clip, camera, tmp_path):
    """--no-tray keeps the OpenCV preview window; its keys are the tray's actions."""
    _user_config(tmp_path, backgrounds_dir=tmp_path / "bg", recordings_dir=tmp_path / "rec")
    device = FakeV4L2Device(tmp_path, "/dev/video7", lib=shim)
    app = Livebg(xtray, device, tmp_path, "--input", clip, "--no-tray", "--preview", "--background", "color:#00ff00")
    try:
        win = _wait(lambda: xtray.run("xdotool", "search", "--name", "livebg preview").stdout.split(),
                    "the OpenCV preview window")[0]
        app.frames_after(app.frame_count(), 5)
        xtray.screenshot(artifact_dir("tray") / "06-opencv-preview.png")
        xtray.key("b", window=win)
        app.wait_frames(_raw(camera), "the raw picture after b")
        xtray.key("m", window=win)
        app.wait_frames(_raw(camera[:, :, ::-1]), "the mirrored picture after m")
        xtray.key("q", window=win)
        assert app.proc.wait(TIMEOUT) == 0, app.stderr()
        assert not app.status_path.exists()  # no tray
        from livebg import config

        assert config.load_file(config.user_config_path())["mirror"] is True
    finally:
        app.stop()


def test_missing_qt_library_is_named_with_its_package(tmp_path):
    """The hint names what is really missing, as the loader sees it: a real plugin-like
    library built against two libraries that are then removed (named like Qt's
    xcb dependencies, but names no machine has), found by ldd without loading anything."""
    from livebg.tray import _plugin_problem, debian_package, missing_libraries

    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for soname in ("libxcb-nosuch.so.4", "libnosuch-x11.so.0"):
        short = soname.split(".so")[0][3:]
        src = stubs / f"{short}.c"
        src.write_text(f"int {short.replace('-', '_')}_stub(void) {{ return 1; }}\n")
        subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(stubs / soname), str(src)],
                       check=True)
        (stubs / f"lib{short}.so").symlink_to(soname)
    plugin_src = tmp_path / "plugin.c"
    plugin_src.write_text("int xcb_nosuch_stub(void); int nosuch_x11_stub(void);\n"
                          "int plugin(void) { return xcb_nosuch_stub() + nosuch_x11_stub(); }\n")
    plugin = tmp_path / "libqxcb.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wl,--no-as-needed", "-o", str(plugin), str(plugin_src),
                    f"-L{stubs}", "-lxcb-nosuch", "-lnosuch-x11"], check=True)
    shutil.rmtree(stubs)  # as on a machine where they were never installed

    assert missing_libraries(plugin) == ["libxcb-nosuch.so.4", "libnosuch-x11.so.0"]
    why = _plugin_problem(plugin, "Qt's X11 platform plugin")
    assert why == ("Qt's X11 platform plugin cannot load: libxcb-nosuch.so.4, libnosuch-x11.so.0 are missing "
                   "(Debian/Ubuntu: sudo apt install libxcb-nosuch4 libnosuch-x11-0)")
    # The real plugin here loads: nothing is missing.
    import PySide6

    real = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    assert missing_libraries(real) == [] and _plugin_problem(real, "Qt's X11 platform plugin") is None
    names = ("libxcb-icccm.so.4", "libxkbcommon-x11.so.0", "libX11-xcb.so.1", "libglib-2.0.so.0", "libdbus-1.so.3",
             "libEGL.so.1", "libxcb-render-util.so.0")
    assert [debian_package(n) for n in names] == ["libxcb-icccm4", "libxkbcommon-x11-0", "libx11-xcb1", "libglib2.0-0",
                                                  "libdbus-1-3", "libegl1", "libxcb-render-util0"]


def test_studio_look_submenu(xtray, shim, clip, camera, tmp_path):
    """The Studio look submenu's four switches, clicked in the real tray: each applies to the running
    pipeline (auto-frame crops the picture at once) and is remembered for the next start."""
    cfg = _user_config(tmp_path, backgrounds_dir=tmp_path / "bg", recordings_dir=tmp_path / "rec")
    device = FakeV4L2Device(tmp_path, "/dev/video7", lib=shim)
    app = Livebg(xtray, device, tmp_path, "--input", clip, "--background", "none")
    try:
        app.wait_frames(_raw(camera), "the camera picture (background none)")
        main = app.open_menu()
        assert "Studio look" in main["items"]
        app.x.hover(*app.menu_item(main, "Studio look"))
        s = app.wait_status(lambda s: (s["menus"].get("Studio look") or {}).get("items"), "the Studio look submenu")
        items = s["menus"]["Studio look"]["items"]
        assert list(items) == ["Light wrap", "Match colours", "Auto-frame", "Low-light boost"]
        assert items["Light wrap"]["checked"] and not items["Auto-frame"]["checked"]  # the defaults
        xtray.screenshot(artifact_dir("tray") / "07-studio-look.png")
        app.x.click(*app.menu_item(s["menus"]["Studio look"], "Auto-frame"))
        app.wait_status(lambda s: s["look"]["auto_frame"] and not s["menus"]["main"], "auto-frame on")
        app.wait_frames(lambda f: not _raw(camera)(f), "the framed picture")
        for label, key, want in (("Low-light boost", "low_light", True), ("Light wrap", "light_wrap", False),
                                 ("Match colours", "color_match", True)):
            app.choose(label, submenu="Studio look")
            app.wait_status(lambda s, k=key, w=want: s["look"][k] is w, f"{label} switched")
        app.wait_status(lambda s: "auto-frame, low light, colour match" in s["tooltip"], "the tooltip to say so")
        app.choose("Quit")
        assert app.proc.wait(TIMEOUT) == 0, app.stderr()
        from livebg import config

        saved = config.load_file(cfg)
        assert saved["auto_frame"] is True and saved["low_light"] is True
        assert saved["light_wrap"] == 0.0 and saved["color_match"] == 0.5
        assert "Traceback" not in app.stderr()
    finally:
        app.stop()
