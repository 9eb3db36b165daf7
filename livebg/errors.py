"""The few exception types livebg raises on purpose.

Every error a user can cause (a bad file, a bad option, a missing device)
is a :class:`LivebgError`; the command line prints its message on one line
and exits non-zero. Anything else escaping is a bug and shows a traceback
only with ``--debug``.
"""


class LivebgError(Exception):
    """A user-facing failure with a one-line message."""

    exit_code = 1


class ConfigError(LivebgError):
    """A config file or option value is invalid (unknown key, out of range)."""

    exit_code = 2


class InputError(LivebgError):
    """An input file, camera or background cannot be used."""


class ModelError(LivebgError):
    """A model is unknown, missing, corrupt or of the wrong interface."""


class DeviceError(LivebgError):
    """A virtual camera, camera or execution provider is not available."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first non-empty line of an exception's message (its type's name when
    it has none), at most ``limit`` characters: for one-line reports."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line[:limit]


def describe(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` (or just ``Type``), for one-line reports."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {first_line(exc, limit)}" if text else type(exc).__name__
