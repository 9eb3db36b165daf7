"""Real small and read-only file systems for the fault tests (tmpfs).

The tests run as root (here and in CI), which may mount. A tmpfs of a few
hundred kilobytes fills up for real (ENOSPC from the kernel), and a
read-only one refuses writes for real (EROFS), which no chmod does for root.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path


def mount_tmpfs(path: Path, size: str = "1m", read_only: bool = False) -> None:
    """Mount a tmpfs of ``size`` at ``path`` (created if needed). Raises
    RuntimeError with mount's own message when mounting is not permitted."""
    path.mkdir(parents=True, exist_ok=True)
    opts = f"size={size},mode=0777" + (",ro" if read_only else "")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"cannot mount a tmpfs at {path} (the fault tests need root): {r.stderr.strip()}")


def unmount(path: Path) -> None:
    r = subprocess.run(["umount", str(path)], capture_output=True, text=True)
    if r.returncode != 0:  # something still has a file open there: detach it now, freed when closed
        subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "1m", read_only: bool = False):
    mount_tmpfs(path, size, read_only)
    try:
        yield path
    finally:
        unmount(path)
