"""Files livebg reads and writes: which names are pictures and videos, checks
on output paths before any work starts, and writing so that nothing is ever
half-written or silently replaced.

Every file livebg creates (a processed video, its matte, a cutout, a
downloaded model) is written under a temporary name beside its final one,
``.NAME.part-XXXXXX``, and moved into place only when complete: a failure,
Ctrl-C or SIGTERM removes the temporary file, and the final name either
holds the whole file or is untouched. A kill (SIGKILL, power cut) can leave
a temporary file, which :func:`remove_stale_parts` clears later.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from livebg.errors import ConfigError, InputError

#: File name endings taken as pictures (cutout folders, the tray's backgrounds folder).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff")
#: ... and as videos (the tray's backgrounds folder).
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")

#: A temporary file untouched for this long was left by a process that died:
#: an active writer writes at least every few seconds, or gives up.
STALE_PART_AGE = 600.0


def cache_root() -> Path:
    """livebg's own cache folder (models, compiled kernels): ``$LIVEBG_CACHE_DIR``,
    else ``<user cache dir>/livebg`` (``~/.cache/livebg`` on Linux). It may not exist yet."""
    env = os.environ.get("LIVEBG_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("livebg", appauthor=False))


def part_prefix(final: Path) -> str:
    return f".{final.name}.part-"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(tmp: Path, final: Path, overwrite: bool) -> None:
    """Move ``tmp`` to ``final``. Without ``overwrite`` an existing ``final``
    (even one that appeared meanwhile) is left alone: FileExistsError."""
    if overwrite:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic, and fails if final exists
    except FileExistsError:
        raise
    except OSError:  # no hard links on this file system
        if final.exists():
            raise FileExistsError(str(final)) from None
        os.replace(tmp, final)
    else:
        os.unlink(tmp)


@contextlib.contextmanager
def atomic_file(final: str | os.PathLike, *, overwrite: bool = False, durable: bool = False) -> Iterator[Path]:
    """A temporary path beside ``final`` for the block to write; moved to
    ``final`` when the block ends normally, removed when it raises anything
    (KeyboardInterrupt and SystemExit included).

    overwrite: replace an existing ``final``; otherwise FileExistsError and
    the temporary file is removed. durable: fsync the file and its folder
    (for downloads, which are verified once and then trusted). The file gets
    the permissions a new file gets under the user's umask.
    """
    final = Path(final)
    folder = final.parent if str(final.parent) else Path(".")
    fd, name = tempfile.mkstemp(prefix=part_prefix(final), dir=folder)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        publish(tmp, final, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        _fsync_dir(folder)


def write_bytes(final: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` to ``final`` through :func:`atomic_file`."""
    with atomic_file(final, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)


def remove_stale_parts(final: Path) -> None:
    """Delete temporary files of ``final`` left by a process that was killed.
    Recent ones may belong to another livebg writing right now: kept."""
    now = time.time()
    folder = final.parent if str(final.parent) else Path(".")
    for part in folder.glob(part_prefix(final) + "*"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > STALE_PART_AGE:
                part.unlink()


# ---------------------------------------------------------------- checks before any work

def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when both name the same file (through links too); False if either is missing."""
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def background_path(spec: str | None) -> Path | None:
    """The file a background spec names, or None (blur, colour, none, or a bad spec,
    which open_background reports later with its own message)."""
    if not spec:
        return None
    from livebg.backgrounds import parse

    try:
        bs = parse(spec)
    except InputError:
        return None
    return bs.path


def refuse_clobbering(outputs: list[tuple[str, str | None]], inputs: list[tuple[str, str | os.PathLike | None]]) -> None:
    """Raise ConfigError when an output is a folder or the same file as an input
    (the writer would truncate it while it is still being read).

    outputs: (option, path) pairs such as ("--record", "a.mp4"); inputs:
    (what, path) pairs such as ("input video", "cam.mp4"). None entries are skipped.
    """
    for option, out in outputs:
        if not out:
            continue
        if Path(out).is_dir():
            raise ConfigError(f"{option} {out} is a folder; give a file name")
        for what, inp in inputs:
            if inp and same_file(out, inp):
                raise ConfigError(f"{option} {out} would overwrite the {what}; choose another file")


def refuse_existing(outputs: list[tuple[str, str | None]], overwrite: bool) -> None:
    """Raise ConfigError when an output file exists and ``overwrite`` is off:
    nothing the user owns is replaced without being asked."""
    if overwrite:
        return
    for option, out in outputs:
        if out and Path(out).exists():
            raise ConfigError(f"{option} {out} exists; choose another name or add --overwrite to replace it")


def writable_folder(option: str, path: str | None) -> None:
    """Raise ConfigError unless the folder of ``path`` exists and a file can be
    created in it, before any slow start-up work (os.access() would say nothing
    of a read-only or full file system, so a file is really created)."""
    if not path:
        return
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: output folder does not exist: {folder}")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot write to {folder}: {(e.strerror or str(e)).lower()}") from None
