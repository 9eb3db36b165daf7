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
