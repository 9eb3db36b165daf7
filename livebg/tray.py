"""The system-tray icon and its menu (PySide6), and the Qt preview window.

Only calls the Controller (livebg.controls), which only calls the pipeline:
every action here is one click, applies to the running pipeline at once and
is remembered in the user's config. The Qt event loop runs on the main
thread; pipeline events arrive from its threads through a Qt signal.

Set LIVEBG_TRAY_STATUS to a file path to have the tray write its state
there as JSON (icon and menu geometry, notifications): for tests and bug
reports.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import signal
import time
from pathlib import Path

log = logging.getLogger("livebg")

APP = "livebg"

# The Studio look submenu: Controller property / set_ method name, label.
LOOK_ITEMS = (("light_wrap", "Light wrap"), ("color_match", "Match colours"), ("auto_frame", "Auto-frame"),
              ("low_light", "Low-light boost"))


# ---------------------------------------------------------------- can we show anything?
def _x11_reachable() -> bool | None:
    """True/False whether $DISPLAY accepts a connection; None if libX11 is not found."""
    import ctypes
    import ctypes.util

    try:
        lib = ctypes.CDLL("libX11.so.6")
    except OSError:
        name = ctypes.util.find_library("X11")
        try:
            lib = ctypes.CDLL(name) if name else None
        except OSError:
            lib = None
    if lib is None:
        return None
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    d = lib.XOpenDisplay(None)
    if not d:
        return False
    lib.XCloseDisplay(d)
    return True


# Debian package names of the libraries Qt's X11 plugin needs whose names do not
# follow the usual rule (lower-case name, then the version; a dash between two digits).
_DEBIAN_EXCEPTIONS = {"libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
                      "libxcb-util.so.0": "libxcb-util0", "libxcb-util.so.1": "libxcb-util1"}


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that usually provides a library (libxcb-icccm.so.4
    -> libxcb-icccm4, libxkbcommon-x11.so.0 -> libxkbcommon-x11-0)."""
    if soname in _DEBIAN_EXCEPTIONS:
        return _DEBIAN_EXCEPTIONS[soname]
    name, _, version = soname.partition(".so.")
    name = name.lower()
    version = version.split(".")[0]
    if not version:
        return name
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def missing_libraries(library: str | Path) -> list[str] | None:
    """The shared libraries ``library`` needs (directly or through others) that
    cannot be found here, without loading it: from ``ldd``. None when that
    cannot be told (no ldd)."""
    import shutil
    import subprocess

    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        out = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    missing = []
    for line in out.splitlines():
        name, sep, where = line.strip().partition(" => ")
        if sep and where.strip().startswith("not found") and name not in missing:
            missing.append(name)
    return missing


def _plugin_problem(plugin: Path, what: str) -> str | None:
    """Why Qt's X11 platform plugin ``plugin`` would not load (Qt would abort
    the process), naming the missing libraries and their packages; or None."""
    if not plugin.is_file():
        return None
    missing = missing_libraries(plugin)
    if missing is None:  # no ldd: load it, and take the first missing library from the loader's error
        import ctypes

        try:
            ctypes.CDLL(str(plugin))
            return None
        except OSError as e:
            text = str(e)
            first = text.split(": cannot open shared object file")[0].rsplit(": ", 1)[-1]
            missing = [first] if first.startswith("lib") else []
            if not missing:
                return f"{what} cannot load ({text})"
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(m) for m in missing))
    return (f"{what} cannot load: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing "
            f"(Debian/Ubuntu: sudo apt install {packages})")


def _why_no_qt() -> str | None:
    """Why Qt cannot start here (so it never aborts the process), or None."""
    if platform.system() in ("Windows", "Darwin"):
        return None
    wayland = bool(os.environ.get("WAYLAND_DISPLAY"))
    x11 = bool(os.environ.get("DISPLAY"))
    if not (wayland or x11):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    qpa = os.environ.get("QT_QPA_PLATFORM", "")
    uses_xcb = qpa.startswith("xcb") or (not qpa and x11 and not (wayland and os.environ.get("XDG_SESSION_TYPE") == "wayland"))
    if uses_xcb:
        if not x11:
            return "QT_QPA_PLATFORM is xcb but DISPLAY is not set"
        if _x11_reachable() is False:
            return f"cannot connect to the X display {os.environ.get('DISPLAY')}"
        try:
            import PySide6
        except ImportError as e:
            return f"PySide6 is not installed ({e})"
        plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        return _plugin_problem(plugin, "Qt's X11 platform plugin")
    return None


def why_no_window(opencv: bool = False) -> str | None:
    """Why no window (the tray's Qt, or with ``opencv`` also OpenCV's own Qt,
    which shows the preview when the tray is off) can open here, or None."""
    why = _why_no_qt()
    if why or not opencv or platform.system() in ("Windows", "Darwin"):
        return why
    if not os.environ.get("DISPLAY"):
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("cv2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        why = _plugin_problem(Path(folder) / "qt" / "plugins" / "platforms" / "libqxcb.so",
                              "OpenCV's X11 window plugin")
        if why:
            return why
    return None


def start_app():
    """The QApplication, created if Qt can start here. Returns (app, None) or (None, why not)."""
    why = _why_no_qt()
    if why:
        return None, why
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as e:
        return None, f"PySide6 is not installed ({e})"
    app = QApplication.instance()
    if app is None:
        app = QApplication([APP])
    app.setApplicationName(APP)
    app.setQuitOnLastWindowClosed(False)
    return app, None


def tray_available() -> bool:
    from PySide6.QtWidgets import QSystemTrayIcon

    return bool(QSystemTrayIcon.isSystemTrayAvailable())


# ---------------------------------------------------------------- the icon
def make_icon(enabled: bool = True, recording: bool = False, paused: bool = False):
    """livebg's icon, drawn: a person on a coloured square; grey when the effect
    is off or the camera paused, with a red dot while recording."""
    from PySide6.QtCore import QPointF, QRectF, Qt
    from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap

    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64):
        pm = QPixmap(size, size)
        pm.fill(Qt.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.Antialiasing)
        p.scale(size / 64.0, size / 64.0)
        square = QPainterPath()
        square.addRoundedRect(QRectF(2, 2, 60, 60), 12, 12)
        p.setPen(Qt.NoPen)
        p.setBrush(QColor("#2f6fde") if enabled and not paused else QColor("#80868b"))
        p.drawPath(square)
        p.setClipPath(square)
        p.setBrush(QColor("white"))
        p.drawEllipse(QPointF(32, 25), 11, 11)
        p.drawEllipse(QRectF(12, 40, 40, 34))
        p.setClipping(False)
        if paused:
            p.setBrush(QColor("#202124"))
            p.drawRect(QRectF(8, 40, 6, 18))
            p.drawRect(QRectF(18, 40, 6, 18))
        if recording:
            p.setPen(QPen(QColor("white"), 3))
            p.setBrush(QColor("#e8231d"))
            p.drawEllipse(QPointF(47, 17), 14, 14)
        p.end()
        icon.addPixmap(pm)
    return icon


# ---------------------------------------------------------------- the GUI
def run(app, controller, show_icon: bool = True, show_preview: bool = False, deadline: float | None = None,
        notices: tuple[str, ...] = (), events=None) -> None:
    """Run the Qt event loop on this (the main) thread until the pipeline
    stops: Quit, q/Esc in the preview, --duration, SIGINT/SIGTERM, or an error.

    events: the pipeline's EventRelay; its events become tray notifications.
    """
    gui = _Gui(app, controller, show_icon, show_preview, events)
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, lambda signum, frame: gui.quit())
    try:
        gui.start(notices, deadline)
        if not controller.stopped:
            app.exec()
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        gui.close()


def _make_gui_classes():
    """Qt classes, defined on first use so importing this module needs no Qt."""
    from PySide6.QtCore import QObject, Qt, Signal
    from PySide6.QtGui import QImage, QPixmap
    from PySide6.QtWidgets import QLabel

    class Bridge(QObject):
        event = Signal(str, str)          # kind, message: from the pipeline's threads
        model_done = Signal(str, str)     # model name, error ('' when it worked)

    class PreviewWindow(QLabel):
        """The preview as a Qt window (OpenCV's own Qt must not run beside PySide6)."""

        def __init__(self, on_key, on_close):
            super().__init__()
            from livebg.controls import KEY_HELP

            self._on_key, self._on_close = on_key, on_close
            self.setWindowTitle(f"livebg preview ({KEY_HELP})")
            self.setAlignment(Qt.AlignCenter)
            self.setMinimumSize(320, 180)
            self.setStyleSheet("background: black")
            self.setFocusPolicy(Qt.StrongFocus)
            self.resize(960, 540)
            self.frames = 0

        def show_frame(self, image) -> None:
            h, w = image.shape[:2]
            qimg = QImage(image.data, w, h, image.strides[0], QImage.Format_BGR888)
            pm = QPixmap.fromImage(qimg)  # copies: the frame may be reused after this
            self.setPixmap(pm.scaled(self.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))
            self.frames += 1

        def keyPressEvent(self, ev):
            key = {Qt.Key_Escape: "\x1b", Qt.Key_Space: " "}.get(ev.key(), ev.text())
            if not key or not self._on_key(key):
                super().keyPressEvent(ev)

        def closeEvent(self, ev):
            self._on_close()
            super().closeEvent(ev)

    return Bridge, PreviewWindow


class _Gui:
    TICK_MS = 1000      # tooltip, icon, status file
    POLL_MS = 100       # has the pipeline stopped? (also lets Python run its signal handlers)
    PREVIEW_MS = 15     # preview frames

    def __init__(self, app, controller, show_icon, show_preview, events):
        from PySide6.QtCore import QFileSystemWatcher, QTimer
        from PySide6.QtWidgets import QMenu, QSystemTrayIcon

        Bridge, self._PreviewWindow = _make_gui_classes()
        self.app = app
        self.c = controller
        self.events = events
        self.status_path = os.environ.get("LIVEBG_TRAY_STATUS") or None
        self.notifications: list[list[str]] = []
        self.bridge = Bridge()
        self.bridge.event.connect(self._on_event)
        self.bridge.model_done.connect(self._on_model_done)
        self.preview = None
        self._want_preview = show_preview
        self._icon_key = None
        self._rec_error_shown = None
        self.icon = None
        self.menu = None
        self.tray_available = False
        if show_icon:
            self.tray_available = tray_available()
            self.menu = QMenu()
            self._build_menu()
            self.icon = QSystemTrayIcon()
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._on_activated)
            self._update_icon()
        self.watcher = QFileSystemWatcher()
        self.watcher.directoryChanged.connect(lambda _path: self._fill_backgrounds())
        self.tick = QTimer()
        self.tick.timeout.connect(self._on_tick)
        self.poll = QTimer()
        self.poll.timeout.connect(self._on_poll)
        self.preview_timer = QTimer()
        self.preview_timer.timeout.connect(self._on_preview_timer)

    # -- lifecycle -------------------------------------------------------
    def start(self, notices, deadline) -> None:
        from PySide6.QtCore import QTimer

        if self.events is not None:
            self.events.attach(self.bridge.event.emit)
        if self.icon is not None:
            self.icon.show()
            log.debug("tray: system tray available %s", self.tray_available)
        if self.icon is not None:
            bdir = self.c.backgrounds_dir
            self.c.background_files()  # creates the folder
            if bdir.is_dir():
                self.watcher.addPath(str(bdir))
        if self._want_preview:
            self._show_preview(True)
        self.tick.start(self.TICK_MS)
        self.poll.start(self.POLL_MS)
        for message in notices:
            self.notify(message, "warning")
        if deadline is not None:
            QTimer.singleShot(max(0, int((deadline - time.monotonic()) * 1000)), self.quit)
        QTimer.singleShot(0, self._on_tick)
        QTimer.singleShot(500, self._write_status)

    def quit(self) -> None:
        self.c.quit()
        self.app.quit()

    def close(self) -> None:
        self.tick.stop()
        self.poll.stop()
        self.preview_timer.stop()
        if self.preview is not None:
            self.preview.hide()
        if self.icon is not None:
            self.icon.hide()
        self._write_status(running=False)
        self.app.processEvents()

    # -- menu --------------------------------------------------------------
    def _build_menu(self) -> None:
        from PySide6.QtGui import QAction, QActionGroup

        m = self.menu
        self.a_effect = QAction("Virtual background", m, checkable=True)
        self.a_effect.triggered.connect(lambda on: self._do(self.c.set_enabled, on))
        m.addAction(self.a_effect)
        self.m_backgrounds = m.addMenu("Backgrounds")
        self.m_backgrounds.aboutToShow.connect(self._fill_backgrounds)
        self.g_backgrounds = QActionGroup(self.m_backgrounds)
        m.addSeparator()
        self.a_record = QAction("Start recording", m)
        self.a_record.triggered.connect(self._toggle_recording)
        m.addAction(self.a_record)
        m.addSeparator()
        self.a_mirror = QAction("Mirror", m, checkable=True)
        self.a_mirror.triggered.connect(lambda on: self._do(self.c.set_mirror, on))
        m.addAction(self.a_mirror)
        self.m_model = m.addMenu("Model")
        self.m_model.aboutToShow.connect(self._fill_models)
        self.g_model = QActionGroup(self.m_model)
        self.a_pause = QAction("Pause camera", m, checkable=True)
        self.a_pause.triggered.connect(lambda on: self._do(self.c.pause_camera if on else self.c.resume_camera))
        m.addAction(self.a_pause)
        # Studio look: each a switch, applied from the next frame and remembered.
        self.m_look = m.addMenu("Studio look")
        self.look_actions = {}
        for key, label in LOOK_ITEMS:
            a = QAction(label, self.m_look, checkable=True)
            a.triggered.connect(lambda on, k=key: self._do(getattr(self.c, f"set_{k}"), on))
            self.m_look.addAction(a)
            self.look_actions[key] = a
        self.a_preview = QAction("Show preview", m, checkable=True)
        self.a_preview.triggered.connect(self._show_preview)
        m.addAction(self.a_preview)
        m.addSeparator()
        a = m.addAction("Open backgrounds folder")
        a.triggered.connect(lambda: self._open_folder(self.c.backgrounds_dir))
        a = m.addAction("Open recordings folder")
        a.triggered.connect(lambda: self._open_folder(self.c.recordings_dir))
        m.addSeparator()
        a = m.addAction("Quit")
        a.triggered.connect(self.quit)
        m.aboutToShow.connect(self._sync_menu)
        m.aboutToShow.connect(self._fill_backgrounds)
        m.aboutToShow.connect(self._fill_models)
        for menu in (m, self.m_backgrounds, self.m_model, self.m_look):
            menu.aboutToShow.connect(self._status_soon)
            menu.aboutToHide.connect(self._status_soon)
        self._fill_backgrounds()
        self._fill_models()
        self._sync_menu()

    def _sync_menu(self) -> None:
        if self.menu is None:
            return
        self.a_effect.setChecked(self.c.enabled)
        self.a_mirror.setChecked(self.c.mirror)
        self.a_pause.setChecked(self.c.paused)
        self.a_preview.setChecked(self.preview is not None and self.preview.isVisible())
        self.a_record.setText("Stop recording" if self.c.recording is not None else "Start recording")
        self.m_model.setEnabled(self.c.switching_model is None)
        for key, a in self.look_actions.items():
            a.setChecked(getattr(self.c, key))

    def _fill_backgrounds(self) -> None:
        from PySide6.QtGui import QAction

        from livebg.controls import BLURS, COLORS, NONE, canonical_background

        if self.menu is None:
            return
        menu = self.m_backgrounds
        if menu.isVisible() and getattr(self, "_bg_listing", None) == self._background_listing():
            self._check_background()
            return  # nothing new: do not rebuild a menu under the pointer
        self._bg_listing = self._background_listing()
        menu.clear()
        for a in self.g_backgrounds.actions():
            self.g_backgrounds.removeAction(a)

        def add(label, spec):
            a = QAction(label, menu, checkable=True)
            a.setData(spec)
            a.triggered.connect(lambda _on=False, s=spec: self._set_background(s))
            self.g_backgrounds.addAction(a)
            menu.addAction(a)
            return a

        files = self.c.background_choices()[:-(len(BLURS) + len(COLORS) + 1)]
        for choice in files:
            add(choice.label, choice.spec)
        if not files:
            a = menu.addAction("(no images or videos in the backgrounds folder yet)")
            a.setEnabled(False)
        menu.addSeparator()
        for label, spec in BLURS:
            add(label, spec)
        menu.addSeparator()
        for label, spec in COLORS:
            add(label, spec)
        current = self.c.background
        custom = current.startswith("color:") and current not in {canonical_background(s) for _, s in COLORS}
        if custom:
            add(f"Colour {current[6:]}", current)
        a = menu.addAction("Choose colour…")
        a.triggered.connect(self._choose_color)
        menu.addSeparator()
        add(*NONE)
        menu.addSeparator()
        a = menu.addAction("Add backgrounds…")
        a.triggered.connect(lambda: self._open_folder(self.c.backgrounds_dir))
        self._check_background()

    def _background_listing(self):
        return (tuple(c.spec for c in self.c.background_choices()), self.c.background)

    def _check_background(self) -> None:
        for a in self.g_backgrounds.actions():
            a.setChecked(a.data() == self.c.background)

    def _fill_models(self) -> None:
        from PySide6.QtGui import QAction

        if self.menu is None:
            return
        menu = self.m_model
        menu.clear()
        for a in self.g_model.actions():
            self.g_model.removeAction(a)
        for name in self.c.model_choices():
            a = QAction(name, menu, checkable=True)
            a.setChecked(name == self.c.model)
            a.triggered.connect(lambda _on=False, n=name: self._set_model(n))
            self.g_model.addAction(a)
            menu.addAction(a)
        menu.setEnabled(self.c.switching_model is None)

    # -- actions -------------------------------------------------------------
    def _do(self, fn, *args):
        """Run one action; a failure becomes a notification and the menu shows the real state."""
        from livebg.errors import LivebgError

        try:
            return fn(*args)
        except (LivebgError, RuntimeError, OSError) as e:
            self.notify(str(e), "warning")
            return None
        finally:
            self._sync_menu()
            self._update_icon()
            self._status_soon()

    def _set_background(self, spec: str) -> None:
        self._do(self.c.set_background, spec)
        self._check_background()

    def _choose_color(self) -> None:
        from PySide6.QtGui import QColor
        from PySide6.QtWidgets import QColorDialog

        current = self.c.background
        start = QColor(current[6:]) if current.startswith("color:") else QColor("#00b140")
        color = QColorDialog.getColor(start, None, "livebg: background colour")
        if color.isValid():
            self._set_background(f"color:{color.name()}")
            self._fill_backgrounds()

    def _toggle_recording(self) -> None:
        if self.c.recording is None:
            path = self._do(self.c.start_recording)
            if path is not None:
                self.notify(f"recording to {path}", "info")
        else:
            rec = self._do(self.c.stop_recording)
            if rec is not None:
                self.notify(f"saved {rec.path.name} ({rec.frames_written} frames)", "info")

    def _set_model(self, name: str) -> None:
        # The controller shows the switch at once (switching_model) and reports
        # back from its thread through the bridge's signal, on the GUI thread.
        if self.c.set_model_in_background(name, self.bridge.model_done.emit):
            self.m_model.setEnabled(False)
            self._update_tooltip()

    def _on_model_done(self, name: str, error: str) -> None:
        if error:
            self.notify(f"could not switch to {name}: {error}", "warning")
        else:
            log.info("model %s", name)
        self._fill_models()
        self._sync_menu()
        self._update_tooltip()
        self._status_soon()

    def _open_folder(self, folder: Path) -> None:
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.notify(f"cannot create {folder}: {e.strerror or e}", "warning")
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.notify(f"could not open a file manager; the folder is {folder}", "warning")

    def _show_preview(self, on: bool) -> None:
        if on:
            if self.preview is None:
                self.preview = self._PreviewWindow(self._on_key, self._on_preview_closed)
            self.c.preview_slot()
            self.preview.show()
            self.preview_timer.start(self.PREVIEW_MS)
            self.preview.raise_()
            self.preview.activateWindow()
        elif self.preview is not None:
            self.preview.hide()
        self._sync_menu()

    def _on_preview_closed(self) -> None:
        if self.icon is None:  # no tray to come back from: closing the preview quits
            self.quit()
        self._sync_menu()

    def _on_key(self, key: str) -> bool:
        from livebg.errors import LivebgError

        try:
            action = self.c.handle_key(key)
        except (LivebgError, RuntimeError, OSError) as e:
            self.notify(str(e), "warning")
            return True
        if action == "quit":
            self.app.quit()
        elif action is not None:
            if action == "toggle_recording":
                self.notify(f"recording to {self.c.recording}" if self.c.recording else "recording saved", "info")
            self._sync_menu()
            self._update_icon()
            self._status_soon()
        return action is not None

    def _on_activated(self, reason) -> None:
        from PySide6.QtGui import QCursor
        from PySide6.QtWidgets import QSystemTrayIcon

        if reason == QSystemTrayIcon.Trigger and platform.system() not in ("Darwin",):
            self.menu.popup(QCursor.pos())  # a left click opens the menu too

    # -- state shown -----------------------------------------------------------
    def notify(self, message: str, kind: str = "info", logged: bool = False) -> None:
        """A tray notification (and a log line unless ``logged`` already)."""
        from PySide6.QtWidgets import QSystemTrayIcon

        if not logged:
            (log.warning if kind in ("warning", "error") else log.debug)("%s", message)
        self.notifications.append([kind, message])
        if self.icon is not None and self.icon.isVisible():
            level = QSystemTrayIcon.Warning if kind in ("warning", "error") else QSystemTrayIcon.Information
            self.icon.showMessage(APP, message, level, 8000 if level == QSystemTrayIcon.Warning else 4000)
        self._status_soon()

    def _on_event(self, kind: str, message: str) -> None:
        self.notify(message, "warning" if kind == "error" else "info", logged=kind == "error")
        self._sync_menu()
        self._update_icon()

    def _update_icon(self) -> None:
        if self.icon is None:
            return
        key = (self.c.enabled, self.c.recording is not None, self.c.paused)
        if key != self._icon_key:
            self._icon_key = key
            self.icon.setIcon(make_icon(*key))

    def _update_tooltip(self) -> None:
        if self.icon is not None:
            self.icon.setToolTip(f"{APP}\n{self.c.status()}")

    def _on_tick(self) -> None:
        self._update_icon()
        self._update_tooltip()
        rec = self.c.recorder
        if rec is not None and rec.error and self._rec_error_shown is not rec:
            self._rec_error_shown = rec
            self.notify(f"recording stopped: {rec.error}", "warning")
        self._write_status()

    def _on_poll(self) -> None:
        if self.c.stopped:
            self.app.quit()

    def _on_preview_timer(self) -> None:
        if self.preview is None or not self.preview.isVisible():
            self.preview_timer.stop()
            return
        image = self.c.preview_frame()
        if image is not None:
            self.preview.show_frame(image)

    # -- status file (tests, bug reports) ---------------------------------------
    def _status_soon(self) -> None:
        from PySide6.QtCore import QTimer

        if self.status_path:
            QTimer.singleShot(150, self._write_status)

    def _menu_geometry(self, menu) -> dict | None:
        if menu is None or not menu.isVisible():
            return None
        g = menu.geometry()
        items = {}
        for a in menu.actions():
            if a.isSeparator() or not a.isVisible():
                continue
            r = menu.actionGeometry(a)
            items[a.text()] = {"rect": [g.x() + r.x(), g.y() + r.y(), r.width(), r.height()],
                               "checked": a.isChecked(), "enabled": a.isEnabled()}
        return {"rect": [g.x(), g.y(), g.width(), g.height()], "items": items}

    def _write_status(self, running: bool = True) -> None:
        if not self.status_path:
            return
        icon_rect = None
        if self.icon is not None and self.icon.isVisible():
            r = self.icon.geometry()
            icon_rect = [r.x(), r.y(), r.width(), r.height()]
        rec = self.c.recording
        state = {
            "running": running,
            "tray_available": self.tray_available,
            "icon": icon_rect,
            "menus": {name: self._menu_geometry(m) for name, m in
                      (("main", self.menu), ("Backgrounds", getattr(self, "m_backgrounds", None)),
                       ("Model", getattr(self, "m_model", None)), ("Studio look", getattr(self, "m_look", None)))},
            "preview": None if self.preview is None else {"visible": self.preview.isVisible(),
                                                            "frames": self.preview.frames},
            "notifications": self.notifications,
            "enabled": self.c.enabled,
            "background": self.c.background,
            "mirror": self.c.mirror,
            "paused": self.c.paused,
            "model": self.c.model,
            "switching_model": self.c.switching_model,
            "recording": str(rec) if rec is not None else None,
            "look": {key: getattr(self.c, key) for key, _ in LOOK_ITEMS},
            "tooltip": self.icon.toolTip() if self.icon is not None else "",
            "time": time.time(),
        }
        tmp = f"{self.status_path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(state, f)
            os.replace(tmp, self.status_path)
        except OSError as e:
            log.debug("tray status file: %s", e)
