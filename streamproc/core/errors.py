"""User-facing errors: each one becomes a single line on stderr and exit code 2."""


class StreamprocError(Exception):
    """An error the user can act on (bad input, missing model, bad config).

    The CLI prints ``str(err)`` on one line and exits with ``exit_code``; no traceback.
    """

    exit_code = 2


class InputError(StreamprocError):
    """The input cannot be opened or decoded."""


class ModelError(StreamprocError):
    """A model file is missing, corrupt, has the wrong layout or fails its sha256 check."""


class ConfigError(StreamprocError):
    """The configuration is malformed or names unknown keys."""


class OutputError(StreamprocError):
    """The output cannot be written (unwritable path, disk full)."""
