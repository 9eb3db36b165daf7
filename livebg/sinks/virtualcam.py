"""The virtual camera through pyvirtualcam: v4l2loopback on Linux, OBS Virtual Camera elsewhere."""

from __future__ import annotations

import platform

import numpy as np

from livebg.errors import DeviceError

SETUP = {
    "Linux": (
        "install v4l2loopback and create a device: "
        "sudo apt install v4l2loopback-dkms && "
        "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=livebg"
    ),
    "Windows": "install OBS Studio (26 or newer) and start its Virtual Camera once, so the driver is registered",
    "Darwin": "install OBS Studio (30 or newer), start its Virtual Camera once and allow the system extension",
}


def setup_hint() -> str:
    return SETUP.get(platform.system(), "install a pyvirtualcam backend (see pyvirtualcam's documentation)")


class NoVirtualCamera(DeviceError):
    """No virtual camera could be opened. ``reason``: why, in a few words;
    ``setup``: how to set one up (may be empty)."""

    def __init__(self, message: str, reason: str = "", setup: str = ""):
        super().__init__(message)
        self.reason = reason
        self.setup = setup


def _first_sentence(text: str) -> str:
    """pyvirtualcam's messages go on ("Did you run ...? See also ..."): the first sentence says it."""
    text = text.strip().splitlines()[0] if text.strip() else ""
    for end in (". ", "? "):
        text = text.split(end, 1)[0]
    return text.rstrip(".")


class VirtualCamSink:
    """Sends BGR uint8 frames of a fixed size to the virtual camera.

    Raises DeviceError with the setup steps for this OS when no device can be opened.
    """

    name = "virtual camera"

    def __init__(self, width: int, height: int, fps: float, device: str | None = None):
        try:
            import pyvirtualcam
        except ImportError as e:  # pragma: no cover - declared dependency
            raise DeviceError(f"pyvirtualcam is not installed ({e}); run: pip install pyvirtualcam") from None
        if not pyvirtualcam.camera.BACKENDS:
            raise NoVirtualCamera(f"no virtual camera backend for {platform.system()}; {setup_hint()}",
                                  f"no virtual camera backend for {platform.system()}", setup_hint())
        self.width, self.height = width, height
        try:
            self._cam = pyvirtualcam.Camera(
                width=width, height=height, fps=fps, fmt=pyvirtualcam.PixelFormat.BGR,
                device=device or None, print_fps=False,
            )
        except (RuntimeError, ValueError) as e:
            msg = _first_sentence(str(e)) or type(e).__name__
            where = f" {device}" if device else ""
            taken = _taken_devices() if not device and platform.system() == "Linux" else []
            if taken:  # they exist, so "run modprobe" would be the wrong advice
                reason = f"{', '.join(taken)} {'is' if len(taken) == 1 else 'are'} in use by another program"
                setup = ("close it (another livebg, OBS's virtual camera) or add a device: "
                         "sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback devices=2 exclusive_caps=1")
                raise NoVirtualCamera(f"virtual camera unavailable: {reason}; {setup}", reason, setup) from None
            raise NoVirtualCamera(f"virtual camera{where} unavailable: {msg}. To set one up, {setup_hint()}",
                                  msg.split("' backend: ", 1)[-1], setup_hint()) from None
        self.device = self._cam.device
        self.frames = 0

    def send(self, frame: np.ndarray) -> None:
        self._cam.send(frame)
        self.frames += 1

    def close(self) -> None:
        cam, self._cam = getattr(self, "_cam", None), None
        if cam is not None:
            cam.close()


def list_virtual_cameras() -> list[str]:
    """Backends and (on Linux) v4l2loopback devices found."""
    import glob

    try:
        import pyvirtualcam
    except ImportError:
        return ["pyvirtualcam not installed"]
    rows = [f"backend {name}" for name in pyvirtualcam.camera.BACKENDS] or ["no backend for this OS"]
    if platform.system() == "Linux":
        for node in sorted(glob.glob("/dev/video[0-9]*")):
            driver = _v4l2_driver(node)
            if driver == "v4l2 loopback":
                rows.append(f"{node}: v4l2loopback device")
        if len(rows) == len(pyvirtualcam.camera.BACKENDS):
            rows.append("no v4l2loopback device: " + setup_hint())
    return rows


def _taken_devices(count: int = 64) -> list[str]:
    """v4l2loopback nodes that exist but that pyvirtualcam could not use:
    busy on open, or a loopback device already fed by another program
    (with exclusive_caps=1 it then stops offering output)."""
    import errno
    import os

    found = []
    for i in range(count):
        node = f"/dev/video{i}"
        try:
            fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.EBUSY:
                found.append(node)
            continue
        os.close(fd)
        if _v4l2_driver(node) == "v4l2 loopback":
            found.append(node)
    return found


def _v4l2_driver(node: str) -> str | None:
    import fcntl
    import os

    VIDIOC_QUERYCAP = 0x80685600  # _IOR('V', 0, struct v4l2_capability), 104 bytes
    try:
        fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buf = bytearray(104)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf)
        return bytes(buf[:16]).split(b"\0", 1)[0].decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(fd)
