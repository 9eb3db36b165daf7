"""Checks on output paths before any work starts: never clobber an input.

A recording or an output file that names the input video or the
background file would destroy it (the writer truncates the file while it
is still being read), so such a command line is refused as a conflict.
"""

from __future__ import annotations

import os
from pathlib import Path

from livebg.errors import ConfigError, InputError


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
    """Raise ConfigError when an output is a folder or the same file as an input.

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


def writable_folder(option: str, path: str | None) -> None:
    """Raise ConfigError unless the folder of ``path`` exists and a file can be
    created in it, before any slow start-up work (os.access() would say nothing
    of a read-only or full file system, so a file is really created)."""
    if not path:
        return
    import tempfile

    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: output folder does not exist: {folder}")
    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise ConfigError(f"{option} {path}: cannot write to {folder}: {(e.strerror or str(e)).lower()}") from None


def as_if_created(*paths) -> None:
    """Give files made with mkstemp (always 0600) the permissions an ordinary
    new file gets under the user's umask, before they are moved into place."""
    mask = os.umask(0)
    os.umask(mask)
    for p in paths:
        if p is not None:
            os.chmod(p, 0o666 & ~mask)
